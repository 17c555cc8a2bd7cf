"""Answer a question with cited passages: retrieve → support check → evidence → generate → verify.

Flow of :meth:`Answerer.stream` (the streaming events are the contract with the CLI and UI):

1. split a multi-part question (:func:`~rag.answer.multipart.split_question`) and retrieve
   ``answer.candidates`` chunks per part (or use the caller's passages);
2. per part: refuse without the LLM when the best dense similarity is below
   ``answer.min_relevance`` or no sentence supports the question
   (:func:`~rag.answer.support.check_support`); otherwise select compact evidence;
3. number the passages shown to the model ``[1]..[k]`` across parts
   (:func:`~rag.answer.parts.number_passages`) and emit
   ``{"type": "passages", "passages": [...]}``;
4. per part: generate with the backend (one without an LLM in :mod:`rag.llm.registry`,
   ``extractive``, quotes the best supporting sentences), streaming
   ``{"type": "token", "text": ...}`` with markers renumbered to the global numbers;
5. verify and repair citations (:func:`~rag.answer.verify.verify_answer`), reject answers
   whose figures/content do not come from supporting sentences
   (:func:`~rag.answer.postcheck.answer_grounded`), then emit
   ``{"type": "answer", "answer": Answer}`` (:func:`~rag.answer.parts.assemble_answer`) — its
   text may differ from the streamed one.

A passage from an article that addresses the model (``Passage.withheld``, detected at ingest
by :mod:`rag.text.injection`) is data: every step reads ``Passage.usable``, which is blank for
it, so it is never evidence, never quoted and never grounds a figure. Such hits do not count
towards ``answer.candidates`` (more are fetched) and are listed in ``checks["injection_withheld"]``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Iterator, Sequence

from rag.answer.budget import MARGIN, context_window, fit_evidence, prompt_budget, token_counter
from rag.answer.evidence import EvidenceConfig, select_evidence
from rag.answer.extractive import extractive_answer
from rag.answer.markers import MarkerRemapper, renumber
from rag.answer.multipart import split_question
from rag.answer.parts import Part, add_other_sources, assemble_answer, number_passages
from rag.answer.passages import passages_from_hits, passages_from_texts
from rag.answer.postcheck import answer_grounded
from rag.answer.prompt import build_messages, refusal_text
from rag.answer.question import analyze_question
from rag.answer.rerank import rerank
from rag.answer.support import check_support
from rag.answer.verify import complete_units, verify_answer
from rag.llm.registry import default_backend, needs_llm
from rag.text.citations import is_refusal
from rag.text.injection import INJECTION_FLAG
from rag.text.normalize import normalize
from rag.types import Answer, Hit

__all__ = ["Answerer", "SearchFn"]

SearchFn = Callable[[str, int], Sequence[Hit]]


class Answerer:
    """Answers questions from retrieved or supplied passages.

    Args:
        config: resolved ``Config`` (sections ``answer``, ``retrieval``, ``llm``).
        backend: a name of :mod:`rag.llm.registry` (``llama_cpp`` | ``openai`` | ``transformers`` |
            ``extractive``) or ``module:Class``; default ``answer.backend``.
        llm: an already created ``LLMBackend`` to use instead of creating one (tests, UI).
        search: ``(question, k) -> hits`` for a normalised (sub-)question; needed unless passages
            are given per call.

    The question handed to :meth:`stream` / :meth:`answer` is already checked
    (:func:`rag.answer.question.check_question`, done once by the :class:`rag.pipeline.Pipeline`
    entry point); it is normalised once here and only the normalised form travels on.
    """

    def __init__(self, config: Any, *, backend: str | None = None, llm: Any = None,
                 search: SearchFn | None = None):
        self.config = config
        self.backend_name = backend or (llm.name if llm is not None else None) or default_backend(config)
        self.uses_llm = needs_llm(self.backend_name)
        self._llm = llm
        self.search = search
        a = config.get("answer") or {}
        self.min_relevance = float(a.get("min_relevance", 0.0) or 0.0)
        self.min_coverage = float(a.get("min_coverage", 0.5))
        self.candidates = int(a.get("candidates", 8))
        j = config.get("judge") or {}
        # the evidence judge scores judge.candidates retrieved chunks and chooses answer.candidates
        self.rerank = bool(j.get("rerank", False))
        self.judge_candidates = int(j.get("candidates", 16))
        self.judge_rrf_k = float(j.get("rrf_k", 10))
        # refuse without the LLM when no judged window reaches this (0 = never)
        self.refuse_below = float(j.get("refuse_below", 0.0) or 0.0) if self.rerank else 0.0
        # a sentence the judge scores at least this supports without the keyword rules (> 1 = never)
        self.trust_above = float(j.get("trust_above", 2.0) or 2.0)
        self._judge: Any = None
        self.max_tokens = int(a.get("max_tokens", 200))
        self.temperature = float(a.get("temperature", 0.0))
        self.split_parts = bool(a.get("split_questions", True))
        self.evidence = EvidenceConfig(
            per_passage_chars=int(a.get("evidence_chars", 220)),
            total_chars=int(a.get("evidence_total_chars", 520)),
            neighbours=int(a.get("evidence_neighbours", 1)),
            max_passages=int(config.get("retrieval.top_k") or 5),
            judged=int(a.get("evidence_judged", 0)) if self.rerank else 0)

    # -- backend -------------------------------------------------------------------------------
    @property
    def llm(self):
        """The LLM backend (created on first use; None for a backend without one, ``extractive``)."""
        if not self.uses_llm:
            return None
        if self._llm is None:
            from rag.llm import create_backend

            self._llm = create_backend(self.backend_name, self.config)
        return self._llm

    # -- public API ----------------------------------------------------------------------------
    def answer(self, question: str, *, k: int | None = None, filters: Any = None,
               passages: Sequence[str | Hit] | None = None, max_tokens: int | None = None,
               temperature: float | None = None) -> Answer:
        """Answer ``question`` (see :meth:`stream`) and return only the final :class:`Answer`."""
        final = None
        for event in self.stream(question, k=k, filters=filters, passages=passages, max_tokens=max_tokens,
                                 temperature=temperature):
            if event["type"] == "answer":
                final = event["answer"]
        assert final is not None
        return final

    def stream(self, question: str, *, k: int | None = None, filters: Any = None,
               passages: Sequence[str | Hit] | None = None, max_tokens: int | None = None,
               temperature: float | None = None) -> Iterator[dict]:
        """Answer ``question``, yielding events as they happen.

        Args:
            question: the checked (stripped, non-empty) question, any script.
            k: passages shown to the model at most (default ``retrieval.top_k``).
            filters: retrieval filters (``rag.retrieve.Filters``), passed to ``search``.
            passages: answer from these passages (strings or hits) instead of retrieving.
            max_tokens: tokens generated per (sub-)question (default ``answer.max_tokens``); the
                evidence is trimmed so that prompt + answer fit the model's context window.
            temperature: sampling temperature (default ``answer.temperature``).

        Yields:
            ``{"type": "passages", "passages": [...]}`` once, ``{"type": "token", "text": str}``
            while generating, and finally ``{"type": "answer", "answer": Answer}``.

        Raises:
            rag.llm.LLMError: the backend failed (model missing, endpoint down, timeout).
        """
        started = time.perf_counter()
        q = question
        norm = normalize(q)
        gen = {"max_tokens": int(max_tokens or self.max_tokens),
               "temperature": self.temperature if temperature is None else float(temperature)}
        k = int(k or self.evidence.max_passages)
        # (question, normalised form) per part; split parts are normalised text already
        parts_q = [(p, p.strip()) for p in split_question(norm, normalized=True)] if self.split_parts else [(q, norm)]
        parts = self._retrieve(parts_q, k, filters, passages)
        t_retrieve = time.perf_counter() - started
        for part in parts:
            self._prepare(part, k, given=passages is not None, max_tokens=gen["max_tokens"])
        shown = number_passages(parts)
        yield {"type": "passages", "passages": [p.to_json() for p in shown]}
        timing: dict[str, float] = {"retrieve": round(t_retrieve, 4)}
        stats = {"prompt_tokens": 0, "cached_prompt_tokens": 0, "llm_calls": 0}
        for i, part in enumerate(parts):
            if i:
                yield {"type": "token", "text": "\n"}
            for delta in self._generate(part, stats, multi=len(parts) > 1, temperature=gen["temperature"]):
                if "first_token" not in timing:
                    timing["first_token"] = round(time.perf_counter() - started, 4)
                yield {"type": "token", "text": delta}
        timing["total"] = round(time.perf_counter() - started, 4)
        timing.setdefault("first_token", timing["total"])
        yield {"type": "answer", "answer": assemble_answer(q, parts, shown, timing, stats, self.backend_name)}

    # -- steps ---------------------------------------------------------------------------------
    def _retrieve(self, parts_q: list[tuple[str, str]], k: int, filters: Any,
                  passages: Sequence[str | Hit] | None) -> list[Part]:
        parts = []
        given = passages_from_texts(passages) if passages is not None else None
        for pq, pnorm in parts_q:
            if given is not None:
                cands = [replace(p, evidence_spans=[]) for p in given]
            else:
                if self.search is None:
                    raise ValueError("Answerer 需要检索函数（search）或直接给出段落（passages）")
                n = max(k, self.judge_candidates if self.rerank else self.candidates)
                cands = passages_from_hits(self._search(pnorm, n, filters))
            part = Part(pq, analyze_question(pq, norm=pnorm), cands)
            # supplied passages are all kept in their order: judged for the refusal gate and trust
            if self.rerank and cands and (given is None or self.refuse_below > 0 or self.trust_above <= 1):
                keep = len(cands) if given is not None else max(k, self.candidates)
                ranked = rerank(self.judge, pq, cands, keep=keep, rrf_k=self.judge_rrf_k)
                part.candidates, part.judge_top = ranked.passages, ranked.top
                part.judge_seconds = ranked.seconds
                part.judged = ranked.sentences
            parts.append(part)
        return parts

    @property
    def judge(self) -> Any:
        """The evidence judge (loaded on first use; section ``judge``)."""
        if self._judge is None:
            from rag.judge.model import load_judge

            self._judge = load_judge(self.config)
        return self._judge

    def _search(self, question: str, n: int, filters: Any) -> Sequence[Hit]:
        """``n`` hits plus one more for each hit holding suspected instructions (those are
        shown as data but give no evidence, so they must not crowd out real passages)."""
        def run(m: int) -> Sequence[Hit]:
            if filters is None:
                return self.search(question, m)  # type: ignore[misc]
            return self.search(question, m, filters=filters)  # type: ignore[misc,call-arg]

        hits = run(n)
        flagged = sum(map(_withheld_hit, hits))
        if flagged and len(hits) >= n:
            hits = run(n + flagged)
            more = sum(map(_withheld_hit, hits))
            if more > flagged and len(hits) >= n + flagged:  # once more, bounded
                hits = run(n + 2 * more)
        return hits

    def _prepare(self, part: Part, k: int, *, given: bool, max_tokens: int) -> None:
        if not part.candidates:
            part.refused_reason = "索引中没有检索到任何段落"
            return
        if all(p.withheld for p in part.candidates):
            part.refused_reason = "检索到的段落都含有写给 AI 的疑似指令，已按数据处理，没有可作依据的内容"
            return
        best = max((p.dense_score for p in part.candidates if p.dense_score is not None and not p.withheld),
                   default=None)
        part.best_dense = best
        if not given and best is not None and best < self.min_relevance:
            part.refused_reason = "没有检索到与问题相关的内容"
            return
        if part.judge_top is not None and part.judge_top < self.refuse_below:
            part.refused_reason = "证据判别模型认为检索到的段落都不能回答该问题"
            return
        part.support = check_support(part.info, part.candidates, min_coverage=self.min_coverage,
                                     judged=part.judged or None, trust=self.trust_above)
        if not part.support.supported:
            part.refused_reason = part.support.reason
            return
        cfg = replace(self.evidence, max_passages=k)
        part.shown = select_evidence(part.info, part.candidates, part.support.scores, cfg)
        part.max_tokens = max_tokens
        if self.uses_llm and part.shown:
            self._fit_prompt(part)

    def _fit_prompt(self, part: Part) -> None:
        """Trim the evidence so that prompt + ``max_tokens`` fit the model's context window."""
        llm = self.llm
        n_ctx = context_window(llm)
        if n_ctx is None:  # e.g. a remote endpoint: its server enforces its own limit
            return
        fit = fit_evidence(part.info.norm, part.shown, token_counter(llm), prompt_budget(n_ctx, part.max_tokens))
        part.shown = fit.passages
        if fit.trimmed:
            part.prompt_fit = {"question": part.question, **fit.to_json()}
        room = n_ctx - fit.tokens - MARGIN
        if room < part.max_tokens:  # even one short passage does not fit: shorten the answer instead
            from rag.llm import LLMError

            if room < 16:
                raise LLMError(f"上下文窗口太小：问题和说明已占 {fit.tokens} 个 token，n_ctx={n_ctx} 放不下回答。"
                               "请调大 llm.llama_cpp.n_ctx。")
            part.max_tokens = room

    def _generate(self, part: Part, stats: dict, *, multi: bool, temperature: float) -> Iterator[str]:
        if part.refused_reason:
            part.refused = True
            part.text = refusal_text(part.refused_reason, part.question if multi else "")
            yield part.text
            return
        local = part.shown
        remap = MarkerRemapper(part.local_to_global)
        if not self.uses_llm:
            cand_index = {id(p): i for i, p in enumerate(part.candidates)}
            pos = {cand_index[id(p)]: i for i, p in enumerate(local)}
            ordered = [replace(s, passage=pos[s.passage]) for s in part.support.best if s.passage in pos]
            raw = extractive_answer(part.info, local, ordered)
            out = remap.feed(raw) + remap.flush()
            if out:
                yield out
        else:
            llm = self.llm
            pieces: list[str] = []
            messages = build_messages(part.info.norm, local)
            for delta in llm.stream(messages, max_tokens=part.max_tokens or self.max_tokens, temperature=temperature):
                pieces.append(delta)
                out = remap.feed(delta)
                if out:
                    yield out
            tail = remap.flush()
            if tail:
                yield tail
            raw = "".join(pieces)
            st = llm.last_stats
            stats["llm_calls"] += 1
            if st is not None:
                stats["prompt_tokens"] += st.prompt_tokens
                stats["cached_prompt_tokens"] += st.cached_prompt_tokens or 0
                stats.setdefault("llm_first_token", st.first_token_s)
        self._finish(part, raw)

    def _finish(self, part: Part, raw: str) -> None:
        local = part.shown
        meta = [" ".join(x for x in (p.source, p.date or "") if x) for p in local]
        raw = complete_units(raw, [p.usable for p in local])
        v = verify_answer(raw, [p.usable for p in local], question=part.info.norm, meta=meta)
        part.checks = v.checks
        if is_refusal(raw) or not raw.strip():
            part.refused, part.refused_reason = True, "模型判断所给段落中没有答案"
        else:
            supported = [s for s in (part.support.best if part.support else []) if s.supported]
            ok, reason = answer_grounded(v.text, part.info, part.candidates, supported,
                                         part.support.scores if part.support else [])
            if not ok:
                part.refused, part.refused_reason = True, reason
        if part.refused:
            if raw.strip() and not is_refusal(raw):  # keep what was discarded, for transparency
                part.checks["discarded_answer"] = {"text": raw, "reason": part.refused_reason,
                                                   "ungrounded_numbers": v.checks["ungrounded_numbers"]}
            part.text = refusal_text(part.refused_reason)
            return
        if self.uses_llm:
            v.text = add_other_sources(part, v.text)
        part.text = renumber(v.text, part.local_to_global)
        for n, spans in v.support.items():
            g = part.local_to_global.get(n, n)
            part.support_spans.setdefault(g, []).extend(spans)


def _withheld_hit(h: Hit) -> bool:
    return bool(getattr(h.chunk, "flagged", None)) or INJECTION_FLAG in (h.doc.flags or [])

