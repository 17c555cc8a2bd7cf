"""Sentence windows: the text units the evidence judge scores.

A window is one sentence (the *centre*) plus whole neighbouring sentences, added alternately
before and after while the window stays within ``max_chars``. A centre sentence longer than
``max_chars`` becomes several overlapping pieces. Spans index the text they were cut from, so
a caller working on normalised text (``Passage.text``) can map a window back to its sentence.

Training (:mod:`rag.judge.data`) and inference (:mod:`rag.judge.model`) use the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rag.text.sentences import split_sentences
from rag.text.normalize import normalize

# Inference defaults: one neighbour each side, at most 150 characters (~100 e5 tokens).
WINDOW_CHARS = 150
NEIGHBOURS = 1
_LONG_OVERLAP = 30


@dataclass(frozen=True)
class Window:
    """A scored unit: ``text[start:end]``, built around sentence number ``centre``.

    Attributes:
        start: window start in the source text.
        end: window end (exclusive).
        centre: index of the centre sentence in the text's sentence list.
        sent_start: centre sentence start (for a long sentence cut in pieces: the piece's).
        sent_end: centre sentence end (exclusive).
    """

    start: int
    end: int
    centre: int
    sent_start: int
    sent_end: int


def prepare(text: str) -> str:
    """Normalise like the index does (OpenCC t2s, full-width -> half-width; same length)."""
    return normalize(text)


def titled(title: str | None, window: str) -> str:
    """The text the judge scores for a window: the article title on a line before it (a sentence
    often names its place only through the article), or the window alone without a title."""
    title = (title or "").strip()
    return f"{title}\n{window}" if title else window


def _long_pieces(a: int, b: int, max_chars: int) -> list[tuple[int, int]]:
    """Overlapping pieces of at most ``max_chars`` covering ``[a, b)``."""
    step = max(1, max_chars - _LONG_OVERLAP)
    pieces = []
    pos = a
    while True:
        end = min(b, pos + max_chars)
        pieces.append((pos, end))
        if end >= b:
            return pieces
        pos += step


def grow(spans: Sequence[tuple[int, int]], i: int, *, before: int, after: int,
         max_chars: int) -> tuple[int, int]:
    """Span of sentence ``i`` plus up to ``before``/``after`` whole neighbours within ``max_chars``.

    Neighbours are added alternately (previous first); a side stops at the first sentence that
    would make the window longer than ``max_chars``.
    """
    lo, hi = i, i
    start, end = spans[i]
    want_b, want_a = before, after
    while want_b or want_a:
        grew = False
        if want_b and lo > 0 and end - spans[lo - 1][0] <= max_chars:
            lo -= 1
            start = spans[lo][0]
            want_b -= 1
            grew = True
        else:
            want_b = 0
        if want_a and hi + 1 < len(spans) and spans[hi + 1][1] - start <= max_chars:
            hi += 1
            end = spans[hi][1]
            want_a -= 1
            grew = True
        else:
            want_a = 0
        if not grew:
            break
    return start, end


def sentence_windows(text: str, *, max_chars: int = WINDOW_CHARS, neighbours: int = NEIGHBOURS,
                     spans: Sequence[tuple[int, int]] | None = None) -> list[Window]:
    """One window per sentence of ``text`` (several for a sentence longer than ``max_chars``).

    Args:
        text: normalised text (see :func:`prepare`).
        max_chars: window length limit in characters.
        neighbours: whole sentences to add on each side when they fit.
        spans: precomputed sentence spans of ``text`` (default: :func:`rag.text.sentences.split_sentences`).

    Returns:
        Windows in text order; empty for a text without sentences.
    """
    spans = list(split_sentences(text) if spans is None else spans)
    out: list[Window] = []
    for i, (a, b) in enumerate(spans):
        if b - a > max_chars:
            out += [Window(pa, pb, i, pa, pb) for pa, pb in _long_pieces(a, b, max_chars)]
            continue
        start, end = grow(spans, i, before=neighbours, after=neighbours, max_chars=max_chars)
        out.append(Window(start, end, i, a, b))
    return out
