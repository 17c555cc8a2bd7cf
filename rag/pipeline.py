"""The public facade: one object the CLI, the UI and Python users call."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

from rag.config import Config, load_config
from rag.index.folder import Index, IndexWriter
from rag.ingest import IngestReport, ProgressFn, ingest
from rag.retrieve import Filters, Retriever
from rag.types import DocMeta, Document, Hit


class QuestionError(ValueError):
    """The question is empty or has no searchable content."""


def check_question(question: str) -> str:
    """Strip a question and reject empty / punctuation-only input with a clear message."""
    q = (question or "").strip()
    if not q:
        raise QuestionError("问题为空：请输入要查询的问题。")
    if not any(ch.isalnum() for ch in q):
        raise QuestionError("问题只包含标点或符号：请输入有实际内容的问题。")
    return q


class Pipeline:
    """Index + encoder + retriever (+ answerer) behind a small API.

    Args:
        config: resolved config; ``load_config()`` when omitted.
        index_dir: overrides ``config.index_dir``.
    """

    def __init__(self, config: Config | None = None, *, index_dir: str | Path | None = None):
        self.config = config or load_config()
        self.index_dir = Path(index_dir) if index_dir else self.config.index_dir
        self._encoder = None
        self._index: Index | None = None
        self._lock = threading.RLock()

    # -- components -------------------------------------------------------------------------
    @property
    def encoder(self):
        """The embedding model, loaded (and prepared if needed) on first use."""
        with self._lock:
            if self._encoder is None:
                from embeddings.encoder import Encoder

                emb = self.config["models"]["embedding"]
                model_dir = Path(emb["dir"]).expanduser() if emb.get("dir") else self.config.models_dir / emb["name"]
                self._encoder = Encoder(model_dir, batch_size=int(emb["batch_size"]), threads=int(emb["threads"]))
            return self._encoder

    @property
    def index(self) -> Index:
        """The current committed index; reopened when another writer committed since."""
        with self._lock:
            if self._index is None or self._index.is_stale():
                self._index = Index.open(self.index_dir, model_name=self.encoder.name, dim=self.encoder.dim)
            return self._index

    def retriever(self) -> Retriever:
        r = self.config["retrieval"]
        return Retriever(
            self.index,
            self.encoder,
            candidates=int(r["candidates"]),
            rrf_k=int(r["rrf_k"]),
            dense_weight=float(r["dense_weight"]),
            sparse_weight=float(r["sparse_weight"]),
            collapse_near_duplicates=bool(r["collapse_near_duplicates"]),
        )

    # -- documents --------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], *, rebuild: bool = False, progress: ProgressFn | None = None) -> IngestReport:
        """Ingest files/folders into this pipeline's index (atomic commit)."""
        with self._lock:
            report = ingest(paths, self.config, self.encoder, index_dir=self.index_dir, rebuild=rebuild, progress=progress)
            self._index = None
            return report

    def remove(self, doc_id: str) -> bool:
        """Remove one document; returns False when it was not in the index."""
        with self._lock:
            with IndexWriter(self.index_dir, model_name=self.encoder.name, dim=self.encoder.dim, params=None) as w:
                removed = w.remove_document(doc_id)
                if removed:
                    w.commit()
            self._index = None
            return removed

    def documents(self) -> list[DocMeta]:
        return self.index.docs()

    def document(self, doc_id: str) -> Document | None:
        return self.index.get_doc(doc_id)

    # -- retrieval ---------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None, *, filters: Filters | None = None) -> list[Hit]:
        """Hybrid search; ``k`` defaults to ``retrieval.top_k``."""
        q = check_question(question)
        return self.retriever().search(q, int(k or self.config["retrieval"]["top_k"]), filters=filters)
