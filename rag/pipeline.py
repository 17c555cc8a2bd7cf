"""The public facade: one object the CLI, the UI and Python users call."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from rag.config import Config, load_config
from rag.index.folder import Index, IndexWriter
from rag.ingest import IngestReport, ProgressFn, ingest
from rag.retrieve import Filters, Retriever
from rag.types import DocMeta, Document, Hit

if TYPE_CHECKING:
    from rag.types import Answer


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
        self._lock = threading.RLock()  # guards lazily created components (short holds)
        self._write_lock = threading.Lock()  # one writer at a time; readers are never blocked by it

    # -- components -------------------------------------------------------------------------
    @property
    def encoder(self):
        """The embedding model, loaded (and prepared if needed) on first use."""
        with self._lock:
            if self._encoder is None:
                from rag.models import build_encoder

                self._encoder = build_encoder(self.config)
            return self._encoder

    @property
    def index(self) -> Index:
        """The current committed index; reopened when another writer committed since."""
        with self._lock:
            if self._index is None or self._index.is_stale():
                self._index = Index.open(
                    self.index_dir, model_name=self.encoder.name, dim=self.encoder.dim, search_params=self.config["index"],
                    embedding=getattr(self.encoder, "index_info", None),
                )
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
            collapse_jaccard=float(r["collapse_jaccard"]),
        )

    # -- documents --------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], *, rebuild: bool = False, progress: ProgressFn | None = None) -> IngestReport:
        """Ingest files/folders into this pipeline's index (atomic commit)."""
        encoder = self.encoder
        with self._write_lock:
            report = ingest(paths, self.config, encoder, index_dir=self.index_dir, rebuild=rebuild, progress=progress)
        with self._lock:
            self._index = None
        return report

    def remove(self, doc_id: str) -> bool:
        """Remove one document; returns False when it was not in the index."""
        encoder = self.encoder
        with self._write_lock:
            with IndexWriter(self.index_dir, model_name=encoder.name, dim=encoder.dim, params=None) as w:
                removed = w.remove_document(doc_id)
                if removed:
                    w.commit()
        with self._lock:
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

    # -- answers -----------------------------------------------------------------------------
    def answerer(self, backend: str | None = None):
        """The :class:`rag.answer.Answerer` for ``backend`` (default ``answer.backend``), cached."""
        from rag.answer import Answerer

        name = backend or self.config.get("answer.backend") or "llama_cpp"
        with self._lock:
            cache = self.__dict__.setdefault("_answerers", {})
            if name not in cache:
                cache[name] = Answerer(self.config, backend=name, search=self._search_for_answer)
            return cache[name]

    def _search_for_answer(self, question: str, k: int, filters: Filters | None = None) -> list[Hit]:
        return self.retriever().search(question, int(k), filters=filters)

    def ask(self, question: str, *, backend: str | None = None, k: int | None = None,
            filters: Filters | None = None) -> "Answer":
        """Answer a question from the index with cited passages.

        Args:
            question: the question (Simplified or Traditional).
            backend: ``llama_cpp`` | ``openai`` | ``transformers`` | ``extractive`` (default
                ``answer.backend``).
            k: passages shown to the model at most (default ``retrieval.top_k``).
            filters: optional retrieval filters.

        Returns:
            The verified :class:`~rag.types.Answer` (``refused`` when the documents lack it).

        Raises:
            QuestionError: empty question.
            rag.index.manifest.IndexNotFoundError / IndexMismatchError: no usable index.
            rag.llm.LLMError: the backend failed (missing model, endpoint down, timeout).
        """
        q = check_question(question)
        return self.answerer(backend).answer(q, k=k, filters=filters)

    def ask_stream(self, question: str, *, backend: str | None = None, k: int | None = None,
                   filters: Filters | None = None) -> Iterator[dict]:
        """Like :meth:`ask`, streaming events.

        Yields:
            ``{"type": "passages", "passages": [...]}``, then ``{"type": "token", "text": str}``
            per streamed piece, then ``{"type": "answer", "answer": Answer}`` (the verified
            text may differ from the streamed one).
        """
        q = check_question(question)
        self.index  # fail fast (missing index) before any event is sent
        yield from self.answerer(backend).stream(q, k=k, filters=filters)

    def answer_from_passages(self, question: str, passages: Sequence[str] | Sequence[Hit], *,
                             backend: str | None = None) -> "Answer":
        """Answer from the given passages only, without the index (RGB protocol, evaluation).

        Args:
            question: the question.
            passages: passage strings (any script) or hits, numbered ``[1]..`` in this order
                before evidence selection.
            backend: as in :meth:`ask`.

        Returns:
            The verified answer.
        """
        q = check_question(question)
        return self.answerer(backend).answer(q, passages=list(passages))
