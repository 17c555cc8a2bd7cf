"""Sentence-aware chunking of a normalised document.

Whole sentences (:func:`rag.text.sentences.split_sentences`) are packed up to ``target``
characters; the next chunk starts with the trailing whole sentences of the previous one that
fit in ``overlap`` characters. A sentence longer than ``max_chars`` is cut at a clause
boundary (，、：, : ;), never inside a number (:func:`rag.text.sentences.number_spans`).
Sentence splitting itself belongs to the text layer (answers and summaries use it too).

Spans index ``Document.text``, which has the same length as ``Document.original``.
"""

from __future__ import annotations

import re

from rag.text.sentences import number_spans, split_sentences
from rag.text.spans import clip_spans
from rag.types import Chunk, Document

_CLAUSE_RE = re.compile(r"[，、：,:；;）)]+|\s+")


def _inside_number(pos: int, nums: list[tuple[int, int]]) -> bool:
    return any(a < pos < b for a, b in nums)


def _cut_long(text: str, start: int, end: int, target: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into pieces <= max_chars at clause boundaries, not inside numbers."""
    nums = [(a + start, b + start) for a, b in number_spans(text[start:end])]
    cuts = [start + m.end() for m in _CLAUSE_RE.finditer(text, start, end)]
    pieces = []
    pos = start
    while end - pos > max_chars:
        ok = [c for c in cuts if pos < c <= pos + max_chars and c < end and not _inside_number(c, nums)]
        near = [c for c in ok if c <= pos + target]
        if near and near[-1] - pos >= target // 3:
            cut = near[-1]
        elif ok:
            cut = ok[0] if ok[0] - pos >= target // 3 else ok[-1]
        else:
            cut = pos + max_chars
            while cut > pos + 1 and _inside_number(cut, nums):
                cut -= 1
            if cut <= pos + 1:  # a single "number" longer than max_chars: cut anyway
                cut = pos + max_chars
        pieces.append((pos, cut))
        pos = cut
        while pos < end and text[pos].isspace():
            pos += 1
    if pos < end:
        pieces.append((pos, end))
    return [(a, b) for a, b in pieces if text[a:b].strip()]


def _units(text: str, target: int, max_chars: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in split_sentences(text):
        if b - a > max_chars:
            out.extend(_cut_long(text, a, b, target, max_chars))
        else:
            out.append((a, b))
    return out


def chunk_spans(text: str, *, target: int = 300, overlap: int = 80, max_chars: int = 600) -> list[tuple[int, int]]:
    """Chunk spans of ``text`` (see ``chunk_document``)."""
    if target <= 0 or max_chars < target or overlap < 0:
        raise ValueError("分块参数无效：需要 chunk_chars > 0、chunk_max_chars >= chunk_chars、chunk_overlap >= 0")
    sents = _units(text, target, max_chars)
    spans: list[tuple[int, int]] = []
    i = 0
    prev_end = -1
    while i < len(sents):
        j = i + 1
        while j < len(sents):
            length = sents[j][1] - sents[i][0]
            current = sents[j - 1][1] - sents[i][0]
            if length > max_chars or (length > target and current >= target // 2):
                break
            j += 1
        if sents[j - 1][1] <= prev_end:  # overlap only, nothing new: restart without overlap
            i = j
            continue
        spans.append((sents[i][0], sents[j - 1][1]))
        prev_end = sents[j - 1][1]
        if j >= len(sents):
            break
        k = j
        while k - 1 > i and sents[j - 1][1] - sents[k - 1][0] <= overlap:
            k -= 1
        i = k
    return spans


def chunk_document(doc: Document, *, target: int = 300, overlap: int = 80, max_chars: int = 600) -> list[Chunk]:
    """Split a document into overlapping, sentence-aligned chunks.

    Args:
        doc: a cleaned document (``doc.text`` and ``doc.original`` have the same length).
        target: preferred chunk size in characters.
        overlap: at most this many characters of whole trailing sentences are repeated
            at the start of the next chunk.
        max_chars: hard cap; longer sentences are cut at clause boundaries.

    Returns:
        Chunks with ``chunk_id = f"{doc_id}#{ordinal}"``, ``text = doc.text[start:end]``,
        ``original = doc.original[start:end]`` and ``flagged`` = the part of
        ``doc.injected`` inside the chunk (chunk-relative).
    """
    return [
        Chunk(
            chunk_id=f"{doc.doc_id}#{n}",
            doc_id=doc.doc_id,
            ordinal=n,
            text=doc.text[a:b],
            original=doc.original[a:b],
            start=a,
            end=b,
            flagged=clip_spans(doc.injected, a, b),
        )
        for n, (a, b) in enumerate(chunk_spans(doc.text, target=target, overlap=overlap, max_chars=max_chars))
    ]
