"""Offset-preserving text edits: every stage of cleaning deletes or replaces spans.

The text being cleaned is carried with ``offsets`` (``offsets[i]`` = index in the raw text
of ``text[i]``). Deleting a span drops those offsets; a replacement maps each new character
to the raw position of the character it replaces (clamped to the replaced span).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``repl`` (empty = delete); ``kind`` labels the reason."""

    start: int
    end: int
    repl: str = ""
    kind: str = ""


def apply_edits(
    text: str, offsets: list[int], edits: list[Edit]
) -> tuple[str, list[int], list[tuple[int, int, str]]]:
    """Apply non-overlapping edits (overlaps are resolved by keeping the earlier edit).

    Returns:
        (new text, new offsets, replaced spans in the new text as ``(start, end, kind)``).
    """
    if not edits:
        return text, offsets, []
    pieces: list[str] = []
    new_offsets: list[int] = []
    replaced: list[tuple[int, int, str]] = []
    pos = 0
    out_len = 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        if e.start < pos:  # overlaps an edit already applied
            continue
        pieces.append(text[pos:e.start])
        new_offsets.extend(offsets[pos:e.start])
        out_len += e.start - pos
        if e.repl:
            span = max(1, e.end - e.start)
            base = offsets[e.start] if e.start < len(offsets) else (offsets[-1] if offsets else 0)
            mapped = [
                offsets[min(e.start + min(j, span - 1), len(offsets) - 1)] if offsets else base
                for j in range(len(e.repl))
            ]
            pieces.append(e.repl)
            new_offsets.extend(mapped)
            replaced.append((out_len, out_len + len(e.repl), e.kind))
            out_len += len(e.repl)
        pos = max(pos, e.end)
    pieces.append(text[pos:])
    new_offsets.extend(offsets[pos:])
    return "".join(pieces), new_offsets, replaced


def shift_spans(spans: list[tuple[int, int, str]], edits: list[Edit]) -> list[tuple[int, int, str]]:
    """Move earlier replaced spans through a later set of edits (spans hit by an edit are dropped)."""
    if not edits or not spans:
        return spans
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    out = []
    for a, b, kind in spans:
        delta = 0
        keep = True
        for e in ordered:
            if e.end <= a:
                delta += len(e.repl) - (e.end - e.start)
            elif e.start >= b:
                break
            else:
                keep = False
                break
        if keep:
            out.append((a + delta, b + delta, kind))
    return out
