"""The public facade: one object the CLI, the UI and Python users call."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from rag.config import Config, load_config
from rag.index.folder import Index, IndexWriter
from rag.ingest import IngestReport, ProgressFn, ingest
from rag.llm.registry import default_backend, needs_llm
from rag.retrieve import Filters, Retriever
from rag.types import DocMeta, Document, Hit
from rag.validate import check_k, check_max_tokens, check_temperature

__all__ = ["Pipeline"]

SYNC_REGIONS_DOCS = 50  # Pipeline.regions(wait=False) analyses an index this small at once

if TYPE_CHECKING:
    from rag.types import Answer


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
    def ingest(self, paths: Sequence[str | Path], *, rebuild: bool = False, progress: ProgressFn | None = None,
               stop: Callable[[], bool] | None = None) -> IngestReport:
        """Ingest files/folders into this pipeline's index (atomic commit); ``stop`` ends it early,
        committing what is done (see :func:`rag.ingest.ingest`)."""
        encoder = self.encoder
        with self._write_lock:
            report = ingest(paths, self.config, encoder, index_dir=self.index_dir, rebuild=rebuild, progress=progress,
                            stop=stop)
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

    def unindexed_files(self, folder: str | Path) -> list[Path]:
        """Files under ``folder`` that no indexed document came from (all of them without an index)."""
        from rag.ingest.loaders import Skipped, discover

        files = [p for p in discover([Path(folder)]) if not isinstance(p, Skipped)]
        try:
            known = {str(Path(m.path).resolve()) for m in self.documents() if m.path}
        except Exception:  # no index yet
            return files
        return [f for f in files if str(f.resolve()) not in known]

    def document(self, doc_id: str) -> Document | None:
        return self.index.get_doc(doc_id)

    # -- input -------------------------------------------------------------------------------
    def check_question(self, question: str) -> str:
        """The stripped question, or :class:`~rag.answer.question.QuestionError` (empty, no content,
        longer than ``answer.max_question_chars``) — the one validation every entry point goes
        through, once per question."""
        from rag.answer.question import check_question, max_question_chars

        return check_question(question, max_question_chars(self.config))

    def _check_k(self, k: int | None, *, search: bool = False) -> int | None:
        r = self.config["retrieval"]
        limit = int(r.get("max_k") or 20)
        if search and int(r["candidates"]) > limit:
            return check_k(k, limit=int(r["candidates"]), setting="retrieval.candidates")
        return check_k(k, limit=limit)

    def standalone_question(self, question: str, history: Sequence[tuple[str, str]], *, llm=None) -> str:
        """A follow-up rewritten into a complete question (:func:`rag.chat.rewrite_followup`),
        with this index's region gazetteer deciding which slot a new place fills.

        Args:
            question: the new question (validated as in :meth:`check_question`).
            history: earlier ``(question, answer)`` turns, oldest first (the last 10 are used).
            llm: optional ``complete(messages) -> str`` for follow-ups the rules leave unresolved.

        Returns:
            The standalone question (the question itself when it needs no context, or when the
            rewrite would exceed the length limit).
        """
        return self._standalone(self.check_question(question), history, llm=llm)

    def _standalone(self, q: str, history: Sequence[tuple[str, str]], *, llm=None) -> str:
        """:meth:`standalone_question` for an already checked question."""
        from rag.answer.question import max_question_chars

        limit = max_question_chars(self.config)
        turns = [(str(h[0] or ""), str(h[1] or "")[:2000]) for h in list(history or [])[-10:]]
        turns = [t for t in turns if not (limit > 0 and len(t[0]) > limit)]  # never answerable, not context
        if not any(t[0].strip() for t in turns):
            return q
        from rag.chat import Places, rewrite_followup

        try:
            store = self.regions(wait=False)
        except Exception:  # no index yet: the rules work without the gazetteer
            store = None
        with self._lock:  # the alias table is built once per gazetteer
            cached = self.__dict__.get("_places")
            if cached is None or cached[0] is not store:
                cached = self._places = (store, Places(store))
        out = rewrite_followup(q, turns, places=cached[1], llm=llm).strip()
        return out if out and not (limit > 0 and len(out) > limit) else q

    def regions(self, *, wait: bool = True):
        """The region gazetteer of the current index (:class:`rag.regions.RegionStore`).

        Args:
            wait: bring it up to date now (analysing new documents can take minutes on a large
                corpus). False: return at once — the stored gazetteer even when stale, None when
                there is none yet — and update it in a background thread (an index of at
                most ``SYNC_REGIONS_DOCS`` documents is analysed at once).
        """
        from rag.regions import load_regions, regions_stale, update_regions

        index = self.index
        key = (str(index.path), index.generation)
        with self._lock:
            cached = self.__dict__.get("_regions")
            if cached and cached[0] == key:
                return cached[1]
        if wait or len(index.docs()) <= SYNC_REGIONS_DOCS or not regions_stale(index):
            store = update_regions(index)
            with self._lock:
                self._regions = (key, store)
            return store
        with self._lock:
            stale = self.__dict__.get("_regions_stale")
            if stale and stale[0] == key:
                return stale[1]
            if self.__dict__.get("_regions_updating") != key:
                self._regions_updating = key
                threading.Thread(target=self._update_regions, args=(index, key), daemon=True,
                                 name="shanhai-regions").start()
        store = load_regions(index.path)
        with self._lock:
            self._regions_stale = (key, store)
        return store

    def summarize(self, region: str, *, backend: str | None = None):
        """A cited summary of ``region`` (any alias or script) from this index, with the current
        gazetteer (:func:`rag.summarize.summarize`; raises its ``RegionNotFoundError`` / ``SummaryError``)."""
        from rag.summarize import summarize

        return summarize(self, region, backend=backend, store=self.regions())

    def _update_regions(self, index: Index, key: tuple) -> None:
        from rag.regions import update_regions

        try:
            store = update_regions(index)
            with self._lock:
                self._regions = (key, store)
        except Exception as exc:  # the rewrite goes on without the gazetteer
            import logging

            logging.getLogger(__name__).warning("地区索引更新失败：%s", exc)

    # -- retrieval ---------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None, *, filters: Filters | None = None,
               rerank: bool = False) -> list[Hit]:
        """Hybrid search; ``k`` defaults to ``retrieval.top_k``.

        With ``rerank``, ``judge.candidates`` chunks (at least ``k``) are retrieved and ordered by
        the evidence judge fused with the retrieval rank (:func:`rag.answer.rerank.fused_order`);
        chunks suspected of addressing the model are not judged and come last.
        """
        q = self.check_question(question)
        k = int(self._check_k(k, search=True) or self.config["retrieval"]["top_k"])
        if not rerank:
            return self.retriever().search(q, k, filters=filters)
        from rag.answer.rerank import judge_candidates
        from rag.judge.model import load_judge

        hits = self.retriever().search(q, max(k, int(self.config.get("judge.candidates") or 16)), filters=filters)
        j = judge_candidates(load_judge(self.config), q, [h.chunk.text for h in hits],
                             [h.doc.title or "" for h in hits], [bool(h.chunk.flagged) for h in hits],
                             float(self.config.get("judge.rrf_k") or 10))
        return ([hits[j.usable[i]] for i in j.order] + [hits[i] for i in j.withheld])[:k]

    # -- answers -----------------------------------------------------------------------------
    def warm_up(self, backend: str | None = None):
        """Load the encoder, open the index and start ``backend``'s local model worker process
        (``llm.llama_cpp.worker: process``), so the first question does not wait for them.

        Returns:
            The started worker backend (``pid``, ``runtime_info()``), or None when ``backend``
            runs no worker process.
        """
        from rag.llm.worker_backend import ProcessLlamaBackend

        self.index  # noqa: B018 - loads the encoder and opens the index
        name = backend or default_backend(self.config)
        llm = self.answerer(name).llm if needs_llm(name) else None
        if not isinstance(llm, ProcessLlamaBackend):
            return None
        llm.load()
        return llm

    def answerer(self, backend: str | None = None):
        """The :class:`rag.answer.Answerer` for ``backend`` (default ``answer.backend``), cached."""
        from rag.answer import Answerer

        name = backend or default_backend(self.config)
        with self._lock:
            cache = self.__dict__.setdefault("_answerers", {})
            if name not in cache:
                cache[name] = Answerer(self.config, backend=name, search=self._search_for_answer)
            return cache[name]

    def _search_for_answer(self, question: str, k: int, filters: Filters | None = None) -> list[Hit]:
        return self.retriever().search(question, int(k), filters=filters, normalized=True)

    def _generation(self, max_tokens: int | None, temperature: float | None) -> dict:
        limit = int(self.config.get("answer.max_tokens_limit") or 1024)
        return {"max_tokens": check_max_tokens(max_tokens, limit=limit), "temperature": check_temperature(temperature)}

    def ask(self, question: str, *, backend: str | None = None, k: int | None = None,
            filters: Filters | None = None, max_tokens: int | None = None,
            temperature: float | None = None) -> "Answer":
        """Answer a question from the index with cited passages.

        Args:
            question: the question (Simplified or Traditional).
            backend: a name of :mod:`rag.llm.registry` (``llama_cpp`` | ``openai`` | ``transformers``
                | ``extractive``; default ``answer.backend``).
            k: passages shown to the model at most, 1..``retrieval.max_k`` (default
                ``retrieval.top_k``).
            filters: optional retrieval filters (build them with :func:`rag.validate.check_filters`).
            max_tokens: tokens generated per (sub-)question, 1..``answer.max_tokens_limit``
                (default ``answer.max_tokens``).
            temperature: 0..2 (default ``answer.temperature``).

        Returns:
            The verified :class:`~rag.types.Answer` (``refused`` when the documents lack it).

        Raises:
            QuestionError: empty or too long question.
            rag.validate.InputError: ``k``, ``max_tokens`` or ``temperature`` out of range.
            rag.index.manifest.IndexNotFoundError / IndexMismatchError: no usable index.
            rag.llm.LLMError: the backend failed (missing model, endpoint down, timeout).
        """
        q = self.check_question(question)
        k = self._check_k(k)
        gen = self._generation(max_tokens, temperature)
        return self.answerer(backend).answer(q, k=k, filters=filters, **gen)

    def ask_stream(self, question: str, *, backend: str | None = None, k: int | None = None,
                   filters: Filters | None = None, max_tokens: int | None = None,
                   temperature: float | None = None) -> Iterator[dict]:
        """Like :meth:`ask`, streaming events (input errors are raised on the first ``next``).

        Yields:
            ``{"type": "passages", "passages": [...]}``, then ``{"type": "token", "text": str}``
            per streamed piece, then ``{"type": "answer", "answer": Answer}`` (the verified
            text may differ from the streamed one).
        """
        q = self.check_question(question)
        k = self._check_k(k)
        gen = self._generation(max_tokens, temperature)
        self.index  # fail fast (missing index) before any event is sent
        yield from self.answerer(backend).stream(q, k=k, filters=filters, **gen)

    def chat(self, question: str, history: Sequence[tuple[str, str]] = (), *, backend: str | None = None,
             k: int | None = None, filters: Filters | None = None, max_tokens: int | None = None,
             temperature: float | None = None, llm_rewrite: bool = False) -> Iterator[dict]:
        """One conversation turn: check the input once, rewrite a follow-up, stream the answer.

        The input is checked when this is called (not on the first ``next``), so a caller can
        report a bad question before it starts consuming events (possibly in another thread).

        Args:
            question: the new question.
            history: earlier ``(question, answer)`` turns, oldest first (see
                :meth:`standalone_question`).
            backend, k, filters, max_tokens, temperature: as in :meth:`ask`.
            llm_rewrite: let the backend's model rewrite follow-ups the rules leave unresolved,
                when ``chat.llm_rewrite`` is on (never for ``extractive``).

        Returns:
            An iterator of ``{"type": "rewrite", "question": str}`` when the follow-up was
            rewritten, then the events of :meth:`ask_stream`; the final answer's
            ``rewritten_question`` names the rewrite.

        Raises:
            QuestionError / rag.validate.InputError: as :meth:`ask`, at call time.
        """
        q = self.check_question(question)
        k = self._check_k(k)
        gen = self._generation(max_tokens, temperature)
        llm = self._rewrite_llm(backend) if llm_rewrite else None
        return self._chat_events(q, history, llm, backend=backend, k=k, filters=filters, gen=gen)

    def _rewrite_llm(self, backend: str | None) -> Callable[[list[dict]], str] | None:
        """The optional LLM fallback for follow-up rewriting (config ``chat.llm_rewrite``)."""
        name = backend or default_backend(self.config)
        if not self.config.get("chat.llm_rewrite", False) or not needs_llm(name):
            return None

        def complete(messages: list[dict]) -> str:
            return self.answerer(name).llm.complete(messages, max_tokens=64, temperature=0.0)

        return complete

    def _chat_events(self, q: str, history: Sequence[tuple[str, str]], llm, *, backend: str | None,
                     k: int | None, filters: Filters | None, gen: dict) -> Iterator[dict]:
        try:
            standalone = self._standalone(q, history, llm=llm)
        except Exception:  # rewriting is a convenience; never block the question on it
            standalone = q
        if standalone != q:
            yield {"type": "rewrite", "question": standalone}
        self.index  # fail fast (missing index) before the passages
        for event in self.answerer(backend).stream(standalone, k=k, filters=filters, **gen):
            if event["type"] == "answer" and standalone != q:
                event["answer"].rewritten_question = standalone
            yield event

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
        q = self.check_question(question)
        return self.answerer(backend).answer(q, passages=list(passages))
