"""The pure stages of ingest: clean + chunk + tokenise one document, embed a list of passages.

No index and no threads here (:mod:`rag.ingest.local` orchestrates; :mod:`rag.ingest.ray_runner` runs
these in Ray workers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from rag.config import Config
from rag.ingest.chunk import chunk_document
from rag.ingest.dedup import minhash_signature
from rag.ingest.loaders import build_document
from rag.text.hashing import text_hash
from rag.text.tokenize import word_tokens
from rag.types import Chunk, Document, RawDocument

__all__ = ["text_hash", "Prepared", "WorkItem", "where", "chunk_params_of", "prepare_document", "embed_texts"]


@dataclass
class Prepared:
    """A cleaned, chunked document with what the writer needs besides vectors.

    ``vectors`` holds one row per chunk once embedded (None while a row is still missing).
    """

    doc: Document
    chunks: list[Chunk]
    tokens: list[list[str]]
    signature: np.ndarray
    vectors: list[np.ndarray | None] = field(default_factory=list)
    from_journal: int = 0


@dataclass
class WorkItem:
    """One document on its way through the pipeline, in input order.

    ``prepared`` is None when nothing was left after cleaning (the document is skipped).
    """

    raw: RawDocument
    replaced: bool
    prepared: Prepared | None = None
    embed_seconds: float = 0.0
    embedded: int = 0


def where(raw: RawDocument) -> str:
    """``path`` of a file, ``path:line`` of a jsonl line (as the loader's own messages say)."""
    stem, _, line = raw.doc_id.rpartition(":")
    return f"{raw.path}:{line}" if stem and line.isdigit() and ".jsonl" in raw.path.lower() else raw.path


def chunk_params_of(config: Config) -> dict[str, int]:
    """The chunking settings recorded in the index (``ingest.chunk_*``)."""
    ing = config["ingest"]
    return {
        "chunk_chars": int(ing["chunk_chars"]),
        "chunk_overlap": int(ing["chunk_overlap"]),
        "chunk_max_chars": int(ing["chunk_max_chars"]),
    }


def prepare_document(raw: RawDocument, chunk_params: dict[str, int]) -> Prepared | None:
    """Clean, normalise, chunk and tokenise one document (pure; no model, no index).

    Args:
        raw: from ``read_raw``.
        chunk_params: ``chunk_chars``, ``chunk_overlap``, ``chunk_max_chars``.

    Returns:
        The prepared document, or None when nothing is left after cleaning.
    """
    doc = build_document(raw)
    if not doc.text.strip():
        return None
    chunks = chunk_document(
        doc, target=chunk_params["chunk_chars"], overlap=chunk_params["chunk_overlap"],
        max_chars=chunk_params["chunk_max_chars"],
    )
    return Prepared(doc, chunks, [word_tokens(c.text) for c in chunks], minhash_signature(doc.text), [None] * len(chunks))


def embed_texts(encoder, texts: Sequence[str], *, call_size: int, progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
    """Embed passages longest-first, each distinct text once; rows come back in input order.

    Batches of similar length pad less, so the model does less work for the same vectors
    (sentence-transformers sorts within one ``encode`` call too; here the whole group is
    sorted and handed over ``call_size`` texts at a time, which keeps progress reports).

    Args:
        encoder: anything with ``encode_passages(list[str]) -> (n, dim) array`` and ``dim``.
        texts: passages.
        call_size: texts per ``encode_passages`` call (the embedding batch size locally).
        progress: called with the number of distinct texts embedded so far.

    Returns:
        (vectors ``(len(texts), dim)`` float32, number of texts actually embedded).
    """
    slot: dict[str, int] = {}
    where = [slot.setdefault(t, len(slot)) for t in texts]
    distinct = list(slot)
    out = np.zeros((len(distinct), int(encoder.dim)), np.float32)
    order = sorted(range(len(distinct)), key=lambda i: -len(distinct[i]))
    step = max(1, int(call_size))
    for lo in range(0, len(order), step):
        rows = order[lo : lo + step]
        out[rows] = np.asarray(encoder.encode_passages([distinct[i] for i in rows]), np.float32)
        if progress:
            progress(min(lo + step, len(order)))
    return out[where] if where else np.zeros((0, int(encoder.dim)), np.float32), len(distinct)
