"""Character n-grams and their overlap: the cheap similarity of two short Chinese texts."""

from __future__ import annotations

from collections.abc import Set

__all__ = ["char_ngrams", "char_bigrams", "containment", "jaccard"]


def char_ngrams(text: str, n: int = 2) -> list[str]:
    """The overlapping ``n``-character pieces of ``text`` in order (empty when it is shorter).

    Args:
        text: Any string (callers normalise it first as their comparison needs).
        n: Piece length.

    Returns:
        ``[text[0:n], text[1:n+1], …]``.
    """
    return [text[i:i + n] for i in range(len(text) - n + 1)]


def char_bigrams(text: str) -> set[str]:
    """The set of character bigrams of ``text`` (empty for fewer than two characters)."""
    return set(char_ngrams(text, 2))


def containment(a: Set[str], b: Set[str]) -> float:
    """Share of the smaller set found in the other: ``|a & b| / min(|a|, |b|)`` (0.0 if one is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def jaccard(a: Set[str], b: Set[str]) -> float:
    """|a & b| / |a | b| (0.0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0
