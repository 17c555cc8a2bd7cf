"""Citation metrics: does each ``[n]`` point at a passage that supports its claim (pure functions).

Definitions (ours; in the spirit of ALCE, Gao et al. 2023, "Enabling LLMs to generate text
with citations", but judged mechanically instead of by an NLI model):

* A **claim** is the answer text between a sentence start (or the previous marker group)
  and a marker group ``[1]``/``[1][2]``/``[1,2]``; text after the last marker of a sentence
  is an uncited claim. Its **figures** are :func:`rag.text.numbers.numbers_in` of the claim.
* A **citation** (claim, passage n) is **correct** when passage n was given and
  - the claim has figures: the passage contains at least one of them
    (:func:`~rag.text.numbers.figure_in_text`, so 1.1亿元 is found as 11000万元);
  - the claim has none: at least ``min_overlap`` of the claim's character bigrams
    (after normalisation) occur in the passage.
* **Citation precision** = correct citations / all citations.
* **Citation recall** = answer figures that carry at least one correct citation / all
  answer figures (a figure in an uncited claim is never covered).
* **Number-grounding rate** = answer numbers found in a cited passage / answer numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.text.citations import (CITATION_MARKERS_RE, cited_numbers, claim_overlap, normalize_answer,
                                parse_markers)  # parse_markers re-exported
from rag.text.numbers import figure_in_text, numbers_in

__all__ = ["CitedClaim", "parse_markers", "claims_from_answer", "citation_correct",
           "citation_precision", "citation_recall", "number_grounding_rate"]

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")


@dataclass(frozen=True)
class CitedClaim:
    """One claim of an answer with the passages it cites.

    Attributes:
        text: The claim without markers.
        cited_n: The passage numbers cited, in order.
        cited: The cited passage texts, aligned with ``cited_n``; None for a number that
            was not among the given passages.
        figures: Surfaces of the numbers in the claim (see :func:`numbers_in`).
    """

    text: str
    cited_n: tuple[int, ...]
    cited: tuple[str | None, ...]
    figures: tuple[str, ...]


def claims_from_answer(answer: str, passages_by_n: Mapping[int, str]) -> list[CitedClaim]:
    """Split an answer into claims with their citations (see the module docstring).

    A marker group right after sentence-final punctuation (``…亿元。[1]``) cites that
    sentence. Claims with no content (only punctuation) are dropped.

    Args:
        answer: Answer text with ``[n]`` markers.
        passages_by_n: Passage text by its number in the prompt.

    Returns:
        The claims in order.
    """
    pieces: list[tuple[str, list[int]]] = []
    pos = 0
    for m in CITATION_MARKERS_RE.finditer(answer or ""):
        parts = _SENTENCE_END.split(answer[pos:m.start()])
        while len(parts) > 1 and not normalize_answer(parts[-1]):
            parts.pop()  # "…。[1]": the marker belongs to the sentence before it
        pieces += [(p, []) for p in parts[:-1]] + [(parts[-1], parse_markers(m.group()))]
        pos = m.end()
    pieces += [(p, []) for p in _SENTENCE_END.split((answer or "")[pos:])]
    claims = []
    for text, ns in pieces:
        if not normalize_answer(text):
            continue
        text = text.strip().lstrip("，,、；;：:")
        figures = tuple(q.surface for q in numbers_in(text))
        claims.append(CitedClaim(text, tuple(ns), tuple(passages_by_n.get(n) for n in ns), figures))
    return claims


def citation_correct(claim: CitedClaim, passage: str | None, min_overlap: float = 0.5) -> bool:
    """Whether one citation of ``claim`` supports it (definition in the module docstring).

    Args:
        claim: The claim.
        passage: The cited passage text, None if the number was not given.
        min_overlap: Bigram share needed for claims without figures.

    Returns:
        True for a correct citation.
    """
    if passage is None:
        return False
    if claim.figures:
        return any(figure_in_text(f, passage) for f in claim.figures)
    return bool(normalize_answer(claim.text)) and claim_overlap(claim.text, passage) >= min_overlap


def citation_precision(claims: Sequence[CitedClaim], min_overlap: float = 0.5) -> float | None:
    """Correct citations / all citations.

    Args:
        claims: From :func:`claims_from_answer`.
        min_overlap: See :func:`citation_correct`.

    Returns:
        Precision in [0, 1]; None when the answer cites nothing.
    """
    verdicts = [citation_correct(c, p, min_overlap) for c in claims for p in c.cited]
    return sum(verdicts) / len(verdicts) if verdicts else None


def citation_recall(claims: Sequence[CitedClaim]) -> float | None:
    """Answer figures carrying at least one correct citation / all answer figures.

    Args:
        claims: From :func:`claims_from_answer`.

    Returns:
        Recall in [0, 1]; None when the answer states no figures.
    """
    flags = [any(p is not None and figure_in_text(f, p) for p in c.cited) for c in claims for f in c.figures]
    return sum(flags) / len(flags) if flags else None


def number_grounding_rate(answer: str, passages_by_n: Mapping[int, str], *, cited_only: bool = True) -> float | None:
    """Fraction of the answer's numbers that appear in a passage the answer cites.

    Looser than :func:`citation_recall`: a number counts as grounded if ANY cited passage
    contains it, whichever claim cited it (``cited_only=False``: any given passage), which
    measures invented figures independently of citation placement. Numbers are
    :func:`rag.text.numbers.numbers_in` (citation markers, ordinals and one-character
    Chinese numerals such as 一个 are skipped).

    Args:
        answer: Answer text with ``[n]`` markers.
        passages_by_n: Passage text by number.
        cited_only: Only search the passages the answer cites.

    Returns:
        Rate in [0, 1]; None when the answer contains no numbers.
    """
    numbers = numbers_in(answer or "")
    if not numbers:
        return None
    if cited_only:
        pool = [passages_by_n[n] for n in sorted(cited_numbers(answer)) if n in passages_by_n]
    else:
        pool = list(passages_by_n.values())
    grounded = [any(figure_in_text(q.surface, p) for p in pool) for q in numbers]
    return sum(grounded) / len(grounded)
