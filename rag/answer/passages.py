"""The passages an answer is built from: retrieved hits or caller-supplied texts.

A :class:`Passage` is what the answer numbers ``[n]``: the chunk text (normalised, Simplified),
the original-script text of the same length, where it comes from, and the compact
evidence sent to the model (filled by :mod:`rag.answer.evidence`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from rag.text.injection import INJECTION_FLAG, injected_spans
from rag.text.normalize import normalize
from rag.types import Hit

__all__ = ["Passage", "passages_from_hits", "passages_from_texts", "passage_year"]


@dataclass
class Passage:
    """One numbered passage.

    Attributes:
        n: its number in the answer (``[n]``), 1-based; 0 until numbered.
        text: normalised text (Simplified, half-width); offsets equal ``original``'s.
        original: the passage in its original script.
        doc_id: source document id ("" for supplied texts).
        chunk_id: chunk id ("" for supplied texts).
        title: document title.
        source: outlet.
        date: document date (as stored).
        start: chunk start in the document's text.
        end: chunk end in the document's text.
        score: retrieval score (fused), 0.0 for supplied texts.
        dense_score: cosine of the dense retriever, None when unknown.
        evidence: the compact evidence shown to the model ("" = not selected).
        evidence_spans: spans of ``text`` that make up ``evidence``.
        flagged: spans of ``text`` of sentences that address the answering model
            (``rag.text.injection``).
        withheld: the passage is data only (it, or its document, addresses the model): set
            whenever ``flagged`` is non-empty.
        usable: what the support check, evidence selection and verification read: ``text``,
            or blanks of the same length when ``withheld``.
    """

    n: int
    text: str
    original: str
    doc_id: str = ""
    chunk_id: str = ""
    title: str = ""
    source: str = ""
    date: str | None = None
    start: int = 0
    end: int = 0
    score: float = 0.0
    dense_score: float | None = None
    evidence: str = ""
    evidence_spans: list[tuple[int, int]] = field(default_factory=list)
    flagged: list[tuple[int, int]] = field(default_factory=list)
    withheld: bool = False
    usable: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        self.withheld = self.withheld or bool(self.flagged)
        self.usable = "".join(c if c == "\n" else " " for c in self.text) if self.withheld else self.text

    @property
    def key(self) -> str:
        """Identity used to merge passages found by several sub-questions."""
        return self.chunk_id or f"text:{hash(self.text)}"

    def to_json(self) -> dict[str, Any]:
        """The ``passages`` entry of :meth:`rag.types.Answer.to_json`."""
        return {
            "n": self.n, "doc_id": self.doc_id, "chunk_id": self.chunk_id, "title": self.title,
            "source": self.source, "date": self.date, "text": self.text, "original": self.original,
            "start": self.start, "end": self.end, "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "evidence": self.evidence, "evidence_spans": [list(s) for s in self.evidence_spans],
            "flagged": self.withheld, "injection_spans": [list(s) for s in self.flagged],
        }


def passages_from_hits(hits: Sequence[Hit]) -> list[Passage]:
    """Turn retrieval hits into passages numbered 1..len(hits) in order.

    Args:
        hits: from :meth:`rag.retrieve.Retriever.search`.

    Returns:
        One :class:`Passage` per hit.
    """
    out = []
    for i, h in enumerate(hits, 1):
        out.append(Passage(
            n=i, text=h.chunk.text, original=h.chunk.original, doc_id=h.chunk.doc_id,
            chunk_id=h.chunk.chunk_id, title=h.doc.title or "", source=h.doc.source or "",
            date=h.doc.date, start=h.chunk.start, end=h.chunk.end, score=float(h.score),
            dense_score=None if h.dense_score is None else float(h.dense_score),
            flagged=list(getattr(h.chunk, "flagged", None) or []),
            withheld=INJECTION_FLAG in (h.doc.flags or [])))
    return out


def passages_from_texts(texts: Sequence[str | Hit]) -> list[Passage]:
    """Passages from plain strings (e.g. the RGB protocol) or hits, numbered in order.

    Args:
        texts: passage strings (any script) or :class:`~rag.types.Hit` objects.

    Returns:
        The passages; strings get ``original`` = the string and ``text`` = its normalised form
        (checked for text addressing the model like ingested articles).
    """
    out: list[Passage] = []
    for item in texts:
        if isinstance(item, Hit):
            p = passages_from_hits([item])[0]
        else:
            raw = str(item or "")
            text = normalize(raw)
            p = Passage(n=0, text=text, original=raw, flagged=injected_spans(text))
        p.n = len(out) + 1
        out.append(p)
    return out


def passage_year(p: Passage) -> int | None:
    """The year of the passage's document date, if any (for 今年/去年 in its sentences)."""
    m = re.search(r"(19|20)\d{2}", p.date or "")
    return int(m.group(0)) if m else None
