"""RGB benchmark scoring, reproducing ``evalue.py`` of github.com/chen700564/RGB @ 65ec39e.

Chen, Lin, Han & Sun, *Benchmarking Large Language Models in Retrieval-Augmented
Generation*, AAAI-24 (arXiv:2309.01431). Upstream logic, per item:

1. zh: ``prediction = prediction.replace(" ", "")`` (ASCII spaces only).
2. If ``信息不足`` (or ``insufficient information``) is in the prediction, labels = [-1];
   otherwise ``checkanswer``: lower-case the prediction; for each answer group (a list: any
   member is a substring; a bare string: it must be a substring, also lower-cased) → 1/0.
3. Accuracy counts an item when ``0 not in labels and 1 in labels``; rejection (noise 1.0)
   when ``labels[0] == -1``; ``factlabel`` = ``事实性错误`` (or ``factual errors``) in the
   prediction; correction rate = items with factlabel and ``0 not in labels`` / items with
   factlabel (0 when none).

Documented deviation (``t2s=True``, the default): OpenCC t2s on the prediction and the
answers before matching, so Traditional-script outputs are scored fairly. With
``t2s=False`` the functions are exactly upstream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rag.text.normalize import opencc_t2s

__all__ = ["rgb_labels", "rgb_accuracy", "rgb_rejected", "rgb_error_detected", "rgb_correction_rate"]

AnswerGroups = Sequence[str | Sequence[str]]


def _t2s(text: str) -> str:
    return opencc_t2s().convert(text) if text else text


def _prep(output: str, t2s: bool) -> str:
    text = (output or "").replace(" ", "")
    return _t2s(text) if t2s else text


def rgb_labels(output: str, answer_groups: AnswerGroups, *, t2s: bool = True) -> list[int]:
    """RGB's per-item labels (``predict`` + ``checkanswer`` of ``evalue.py``).

    Args:
        output: The model output.
        answer_groups: Answer groups; a group is a list of alternatives or a single string.
        t2s: Apply OpenCC t2s to output and answers (our deviation; False = upstream).

    Returns:
        ``[-1]`` if the output says 信息不足, else one 1/0 per group.
    """
    pred = _prep(output, t2s)
    if "信息不足" in pred or "insufficient information" in pred:
        return [-1]
    pred = pred.lower()
    norm = (lambda s: _t2s(s).lower()) if t2s else str.lower
    labels = []
    for group in answer_groups:
        alts = [group] if isinstance(group, str) else list(group)
        labels.append(int(any(norm(a) in pred for a in alts)))
    return labels


def rgb_accuracy(output: str, answer_groups: AnswerGroups, *, t2s: bool = True) -> bool:
    """RGB accuracy for one item (noise robustness, information integration).

    Correct when every answer group has a member that is a substring of the output (spaces
    removed, lower-cased); an output containing ``信息不足`` is never correct, and neither
    is an item with no answer groups (upstream requires ``1 in labels``).

    Args:
        output: The model output.
        answer_groups: Answer groups (every group must match; any member of a group counts).
        t2s: See :func:`rgb_labels`.

    Returns:
        True when correct.
    """
    labels = rgb_labels(output, answer_groups, t2s=t2s)
    return 0 not in labels and 1 in labels


def rgb_rejected(output: str, *, t2s: bool = True) -> bool:
    """RGB rejection (negative-only contexts): ``信息不足`` in the space-free output.

    Args:
        output: The model output.
        t2s: See :func:`rgb_labels`.

    Returns:
        True when the output rejects.
    """
    pred = _prep(output, t2s)
    return "信息不足" in pred or "insufficient information" in pred


def rgb_error_detected(output: str, *, t2s: bool = True) -> bool:
    """RGB counterfactual error detection (ED): ``事实性错误`` in the space-free output.

    Args:
        output: The model output.
        t2s: See :func:`rgb_labels`.

    Returns:
        True when the output flags factual errors.
    """
    pred = _prep(output, t2s)
    return "事实性错误" in pred or "factual errors" in pred


def rgb_correction_rate(items: Iterable[tuple[str, AnswerGroups]], *, t2s: bool = True) -> float:
    """RGB correction rate (CR): among outputs that detect an error, those that are right.

    "Right" is upstream's ``0 not in labels``: every group of the TRUE answers matched — or
    the output also says 信息不足 (labels ``[-1]``), an upstream quirk kept for comparability.

    Args:
        items: ``(output, true_answer_groups)`` pairs.
        t2s: See :func:`rgb_labels`.

    Returns:
        CR in [0, 1]; 0.0 when no output detected an error (as upstream).
    """
    detected = corrected = 0
    for output, groups in items:
        if rgb_error_detected(output, t2s=t2s):
            detected += 1
            corrected += 0 not in rgb_labels(output, groups, t2s=t2s)
    return corrected / detected if detected else 0.0
