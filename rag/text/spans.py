"""Character spans ``(start, end)``: merge, clip to a window, subtract (one home for span arithmetic).

Evidence, support and injection marks are all spans over a passage; answering, chunking, the
CLI and the UI combine them with these helpers.
"""

from __future__ import annotations

from typing import Iterable, Sequence

__all__ = ["merge_spans", "clip_spans", "subtract_spans"]


def merge_spans(spans: Iterable[Sequence[int]], length: int | None = None, *,
                keep_empty: bool = False) -> list[tuple[int, int]]:
    """The sorted union of ``spans``: overlapping or touching spans merge.

    Args:
        spans: ``(start, end)`` pairs in any order (longer sequences: the first two items count).
        length: When given, spans are first clipped to ``[0, length)``.
        keep_empty: Keep empty spans (``start >= end``) that touch no other span instead of
            dropping them.

    Returns:
        Disjoint, non-touching spans in order.
    """
    pairs = [(int(s[0]), int(s[1])) for s in spans if len(s) >= 2]
    if length is not None:
        pairs = [(max(0, a), min(length, b)) for a, b in pairs]
    merged: list[tuple[int, int]] = []
    for a, b in sorted(pairs):
        if a >= b and not keep_empty:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def clip_spans(spans: Iterable[Sequence[int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of ``spans`` inside ``[start, end)``, relative to ``start`` (a chunk's view of a document)."""
    out = []
    for a, b in spans:
        lo, hi = max(int(a), start), min(int(b), end)
        if lo < hi:
            out.append((lo - start, hi - start))
    return out


def subtract_spans(spans: Sequence[tuple[int, int]], cut: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` without the parts covered by ``cut`` (both merged and sorted)."""
    out = []
    for a, b in spans:
        for x, y in cut:
            if y <= a or x >= b:
                continue
            if x > a:
                out.append((a, x))
            a = max(a, y)
        if a < b:
            out.append((a, b))
    return out
