"""Sentences and number spans of Chinese news text (shared by chunking, evidence, regions, summaries).

Sentences end at 。！？；… (and ! ? ; ...) plus any closing quotes/brackets, and at newlines.
A number span covers a figure with its separators and units or a date (``1.1亿``, ``13.13%``,
``2020年7月13日``, ``1,000``): text must never be cut inside one.
"""

from __future__ import annotations

import re

__all__ = ["split_sentences", "number_spans"]

_END_RE = re.compile(r"(?:[。！？；!?;]|…+|\.{3,})+[”’」』〕）)\]】》\"'〉]*")
_NUMBER_RE = re.compile(
    r"\d{2,4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?"  # dates
    r"|\d{1,2}\s*月\s*\d{1,2}\s*[日号]"
    r"|\d+(?:[.,，．]\d+)*(?:\s*[%％‰])?(?:[十百千万亿]+)?"  # numbers with separators/units
    r"|[零〇一二三四五六七八九十百千万亿两]{2,}"  # Chinese numerals
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text``, whitespace trimmed, empty ones dropped.

    Args:
        text: any text; newlines always end a sentence.

    Returns:
        Spans in order; ``text[start:end]`` is one sentence including its end mark and
        closing quotes.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        base = pos
        pos += len(line) + 1
        last = 0
        for m in _END_RE.finditer(line):
            _add(spans, line, base, last, m.end())
            last = m.end()
        _add(spans, line, base, last, len(line))
    return spans


def _add(spans: list[tuple[int, int]], line: str, base: int, a: int, b: int) -> None:
    seg = line[a:b]
    stripped = seg.strip()
    if not stripped:
        return
    lead = len(seg) - len(seg.lstrip())
    spans.append((base + a + lead, base + a + lead + len(stripped)))


def number_spans(text: str) -> list[tuple[int, int]]:
    """Spans of numbers (with units/separators) and dates; a cut must not fall inside one."""
    return [m.span() for m in _NUMBER_RE.finditer(text)]
