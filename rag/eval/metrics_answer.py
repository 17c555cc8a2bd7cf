"""Answer metrics: figure accuracy, char F1 / EM, ROUGE-L, refusal accuracy (pure functions).

All string comparisons first apply :func:`normalize_answer` (OpenCC t2s, half-width,
lower case, punctuation and whitespace removed), so a Traditional-script answer
(``5200萬元``) scores like its Simplified form. Functions score ONE item; aggregate with
:func:`rag.eval.metrics.mean_defined`. Marker stripping, answer normalisation and refusal
detection live in :mod:`rag.text.citations` and are re-exported here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from rag.text.citations import (CITATION_MARKERS_RE, REFUSAL_PATTERNS, is_punct, is_refusal,  # noqa: F401 (re-exported)
                                normalize_answer, strip_citations)
from rag.text.normalize import fold_text
from rag.text.numbers import figure_in_text

__all__ = ["normalize_answer", "strip_citations", "answer_accuracy", "char_f1", "exact_match",
           "rouge_l", "lcs_length", "REFUSAL_PATTERNS", "is_refusal", "refusal_accuracy"]

def _segments(s: str) -> list[str]:
    """CMRC-2018-style mixed segmentation: each CJK char is a token, ASCII words/numbers (1.5) are one."""
    t = fold_text(strip_citations(s or "")).lower()
    t = "".join(" " if is_punct(c) and not (c == "." and t[i - 1:i].isdigit() and t[i + 1:i + 2].isdigit())
                else c for i, c in enumerate(t))
    return re.findall(r"[0-9a-z]+(?:\.[0-9]+)*|\S", t)


def _golds(gold: str | Sequence[str]) -> list[str]:
    return [gold] if isinstance(gold, str) else list(gold)


def char_f1(pred: str, gold: str | Sequence[str]) -> float | None:
    """Character-level F1 between a prediction and the best-matching gold answer.

    Source: SQuAD v1.1 ``f1_score`` (bag-of-tokens overlap: P = common/|pred|,
    R = common/|gold|, F1 = 2PR/(P+R), max over gold answers) on CMRC 2018 mixed
    segmentation (one token per Chinese character, ASCII words/numbers whole) after
    :func:`normalize_answer`. Note: the CMRC 2018 script (often reused for DRCD) counts the
    longest common *substring* instead of the bag overlap, so it scores inserted or reordered
    characters lower. Empty-vs-empty is 1.0, empty-vs-non-empty 0.0 (SQuAD 2.0 convention).

    Args:
        pred: The system answer.
        gold: One gold answer or several.

    Returns:
        F1 in [0, 1]; None when no gold answer is given.
    """
    golds = _golds(gold)
    if not golds:
        return None
    p_toks = _segments(pred)
    best = 0.0
    for g in golds:
        g_toks = _segments(g)
        if not p_toks or not g_toks:
            best = max(best, float(p_toks == g_toks))
            continue
        common = sum((Counter(p_toks) & Counter(g_toks)).values())
        if common:
            prec, rec = common / len(p_toks), common / len(g_toks)
            best = max(best, 2 * prec * rec / (prec + rec))
    return best


def exact_match(pred: str, gold: str | Sequence[str]) -> float | None:
    """Exact match after :func:`normalize_answer`, max over gold answers (SQuAD v1.1 EM).

    Args:
        pred: The system answer.
        gold: One gold answer or several.

    Returns:
        1.0 or 0.0; None when no gold answer is given.
    """
    golds = _golds(gold)
    if not golds:
        return None
    p = normalize_answer(pred)
    return 1.0 if any(p == normalize_answer(g) for g in golds) else 0.0


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence, one numpy row update per token of ``a``.

    Row recurrence ``L[i][j] = L[i-1][j-1] + 1`` if ``a[i] == b[j]`` else
    ``max(L[i-1][j], L[i][j-1])`` is vectorised as a running maximum
    (``np.maximum.accumulate``), valid because rows of L are non-decreasing.

    Args:
        a: First token sequence.
        b: Second token sequence.

    Returns:
        The LCS length.
    """
    if not a or not b:
        return 0
    vocab: dict = {}
    bb = np.array([vocab.setdefault(t, len(vocab)) for t in b])
    prev = np.zeros(len(b) + 1, dtype=np.int64)
    for tok in a:
        match = bb == vocab.get(tok, -1)
        cand = np.where(match, prev[:-1] + 1, prev[1:])
        prev = np.concatenate(([0], np.maximum.accumulate(cand)))
    return int(prev[-1])


def _tokens(s: str, tokenizer: str) -> list[str]:
    if tokenizer == "char":
        return list(normalize_answer(s))
    if tokenizer == "jieba":
        import jieba

        jieba.setLogLevel(30)  # no "Building prefix dict" chatter on stderr
        text = fold_text(strip_citations(s or "")).lower()
        return [t for t in jieba.lcut(text) if not all(is_punct(c) for c in t)]
    raise ValueError(f"未知的分词方式 {tokenizer!r}：请使用 \"char\" 或 \"jieba\"")


def rouge_l(pred: str, gold: str | Sequence[str], tokenizer: str = "char", beta: float = 1.0) -> float | None:
    """ROUGE-L F-measure (LCS-based), max over gold answers.

    Source: Lin, *ROUGE: A Package for Automatic Evaluation of Summaries* (ACL 2004 workshop),
    §3.1: R = LCS/|gold|, P = LCS/|pred|, F = (1+β²)RP / (R+β²P); β = 1 as in Google's
    ``rouge-score``. Tokens are characters of :func:`normalize_answer` (``"char"``) or jieba
    words of the t2s/lower-cased text without punctuation (``"jieba"``, as CRUD-RAG does).

    Args:
        pred: The system answer.
        gold: One reference or several.
        tokenizer: ``"char"`` or ``"jieba"``.
        beta: Recall weight.

    Returns:
        F in [0, 1] (0.0 if either side is empty); None when no reference is given.
    """
    golds = _golds(gold)
    if not golds:
        return None
    p = _tokens(pred, tokenizer)
    best = 0.0
    for g in golds:
        r = _tokens(g, tokenizer)
        lcs = lcs_length(p, r)
        if lcs:
            prec, rec = lcs / len(p), lcs / len(r)
            best = max(best, (1 + beta**2) * prec * rec / (rec + beta**2 * prec))
    return best


def answer_accuracy(answer: str, must_include: Sequence[str], any_of: Sequence[str] | None = None) -> float | None:
    """Figure accuracy of the seed eval format.

    Correct when every ``must_include`` figure occurs in the answer and, if ``any_of`` is
    given, at least one of those does too; occurrence is judged modulo Chinese number
    normalisation (:func:`rag.text.numbers.figure_in_text`: ``1.1亿元`` = ``11000万元``,
    ``5200万`` = ``5200萬元``). Citation markers are removed first so ``[1]`` is not a figure.

    Args:
        answer: The system answer.
        must_include: Figures that must all appear.
        any_of: Figures of which at least one must appear (optional).

    Returns:
        1.0 or 0.0; None when both lists are empty (e.g. unanswerable items).
    """
    must = [f for f in must_include or [] if f and f.strip()]
    anyf = [f for f in any_of or [] if f and f.strip()]
    if not must and not anyf:
        return None
    text = strip_citations(answer or "")
    ok = all(figure_in_text(f, text) for f in must) and (not anyf or any(figure_in_text(f, text) for f in anyf))
    return 1.0 if ok else 0.0


def refusal_accuracy(items: Iterable[tuple[bool | str, bool]]) -> float | None:
    """Fraction of items whose refusal decision is right (refused ⇔ should refuse).

    Pass only unanswerable items to get the refusal rate on them (RGB "rejection"), only
    answerable ones for 1 − false-refusal rate, or both for overall accuracy.

    Args:
        items: ``(refused_or_answer, should_refuse)`` pairs; a str is judged with
            :func:`is_refusal`, a bool is taken as the pipeline's own ``refused`` flag.

    Returns:
        Accuracy in [0, 1]; None for no items.
    """
    scores = [float((is_refusal(a) if isinstance(a, str) else bool(a)) == bool(should)) for a, should in items]
    return sum(scores) / len(scores) if scores else None
