"""Typed records passed between the pipeline stages (the module boundaries)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RawDocument:
    """One article as read from disk, before cleaning.

    ``raw`` is the decoded text; ``meta`` holds fields a structured source supplied
    (jsonl: title/date/source/url); ``bad_bytes`` counts undecodable input bytes.
    """

    doc_id: str
    path: str
    raw: str
    encoding: str
    meta: dict[str, Any] = field(default_factory=dict)
    # bytes that could not be decoded (replaced by U+FFFD; ``encoding`` ends in "+lossy")
    bad_bytes: int = 0


@dataclass
class Document:
    """A cleaned article.

    ``original`` is the cleaned text in its original script; ``text`` is its
    normalised (Simplified, half-width) form of the *same length*, so offsets
    into one are offsets into the other. ``raw_offsets[i]`` is the position in
    ``raw`` of ``original[i]``.
    """

    doc_id: str
    title: str
    source: str
    date: str | None
    url: str | None
    path: str
    original: str
    text: str
    raw: str
    raw_offsets: list[int]
    content_hash: str
    encoding: str = "utf-8"
    script: str = "simplified"  # simplified | traditional | mixed
    flags: list[str] = field(default_factory=list)
    # sentences of ``text`` addressing the answering model (``rag.text.injection``); when any,
    # the document carries the ``injection`` flag and none of it is used as evidence
    injected: list[tuple[int, int]] = field(default_factory=list)

    def meta(self) -> "DocMeta":
        return DocMeta(self.doc_id, self.title, self.source, self.date, self.url, self.path, list(self.flags))


@dataclass
class DocMeta:
    """What search results and citations show about a document."""

    doc_id: str
    title: str
    source: str
    date: str | None
    url: str | None = None
    path: str = ""
    flags: list[str] = field(default_factory=list)
    n_chunks: int = 0
    near_duplicates: list[str] = field(default_factory=list)


@dataclass
class Chunk:
    """A retrievable span of a document. ``start``/``end`` index ``Document.original``.

    ``flagged`` holds the spans of ``text`` (chunk-relative) of sentences that address the
    answering model (``rag.text.injection``): shown as data, never used as evidence.
    """

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    original: str
    start: int
    end: int
    flagged: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Hit:
    """A retrieved chunk with its fused score and ranks in the two lists (None = absent)."""

    chunk: Chunk
    doc: DocMeta
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    sparse_rank: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "doc_id": self.chunk.doc_id,
            "chunk_id": self.chunk.chunk_id,
            "title": self.doc.title,
            "source": self.doc.source,
            "date": self.doc.date,
            "text": self.chunk.text,
            "original": self.chunk.original,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "dense_rank": self.dense_rank,
            "sparse_rank": self.sparse_rank,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "flagged": bool(self.chunk.flagged) or "injection" in (self.doc.flags or []),
            "injection_spans": [list(s) for s in self.chunk.flagged],
        }


@dataclass
class Citation:
    """A passage the answer cites, with the span (in the passage text) that supports it."""

    n: int
    doc_id: str
    chunk_id: str
    text: str
    original: str
    start: int
    end: int
    title: str = ""
    source: str = ""
    date: str | None = None
    support: list[tuple[int, int]] = field(default_factory=list)
    # spans of the passage withheld from evidence (suspected instructions to the model)
    injection_spans: list[tuple[int, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["flagged"] = bool(self.injection_spans)
        return out


@dataclass
class Answer:
    """The result of a question: answer text with ``[n]`` markers, citations, checks, timings."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    passages: list[dict[str, Any]]
    checks: dict[str, Any]
    timings: dict[str, float]
    backend: str = ""
    rewritten_question: str | None = None
    parts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [c.to_json() for c in self.citations],
            "passages": self.passages,
            "checks": self.checks,
            "timings": self.timings,
            "backend": self.backend,
            "rewritten_question": self.rewritten_question,
            "parts": self.parts,
        }
