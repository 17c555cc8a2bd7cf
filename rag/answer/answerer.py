"""Answer a question with cited passages: retrieve → support check → evidence → generate → verify.

Flow of :meth:`Answerer.stream` (the streaming events are the contract with the CLI and UI):

1. split a multi-part question (:func:`~rag.answer.multipart.split_question`) and retrieve
   ``answer.candidates`` chunks per part (or use the caller's passages);
2. per part: refuse without the LLM when the best dense similarity is below
   ``answer.min_relevance`` or no sentence supports the question
   (:func:`~rag.answer.support.check_support`); otherwise select compact evidence;
3. number the passages shown to the model ``[1]..[k]`` across parts and emit
   ``{"type": "passages", "passages": [...]}``;
4. per part: generate with the backend (one without an LLM in :mod:`rag.llm.registry`,
   ``extractive``, quotes the best supporting sentences), streaming
   ``{"type": "token", "text": ...}`` with markers renumbered to the global numbers;
5. verify and repair citations (:func:`~rag.answer.verify.verify_answer`), reject answers
   whose figures/content do not come from supporting sentences
   (:func:`~rag.answer.postcheck.answer_grounded`), then emit
   ``{"type": "answer", "answer": Answer}`` — its text may differ from the streamed one.

A passage from an article that addresses the model (``Passage.withheld``, detected at ingest
by :mod:`rag.text.injection`) is data: every step reads ``Passage.usable``, which is blank for
it, so it is never evidence, never quoted and never grounds a figure. Such hits do not count
towards ``answer.candidates`` (more are fetched) and are listed in ``checks["injection_withheld"]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Sequence

from rag.answer.budget import MARGIN, context_window, fit_evidence, prompt_budget, token_counter
from rag.answer.conflicts import origin, other_source_figures
from rag.answer.evidence import EvidenceConfig, render_evidence, select_evidence
from rag.answer.extractive import extractive_answer
from rag.answer.markers import MarkerRemapper, renumber
from rag.answer.multipart import split_question
from rag.answer.passages import Passage, passages_from_hits, passages_from_texts
from rag.answer.postcheck import answer_grounded
from rag.answer.prompt import build_messages, refusal_text
from rag.answer.question import QuestionInfo, analyze_question
from rag.answer.rerank import rerank
from rag.answer.support import SupportResult, check_support
from rag.answer.verify import complete_units, verify_answer
from rag.llm.registry import default_backend, needs_llm
from rag.text.citations import CITATION_MARKERS_RE, is_refusal, parse_markers
from rag.text.injection import INJECTION_FLAG
from rag.text.normalize import normalize
from rag.text.spans import merge_spans
from rag.types import Answer, Citation, Hit

__all__ = ["Answerer", "SearchFn"]

SearchFn = Callable[[str, int], Sequence[Hit]]


@dataclass
class _Part:
    question: str
    info: QuestionInfo
    candidates: list[Passage]
    support: SupportResult | None = None
    refused_reason: str = ""
    shown: list[Passage] = field(default_factory=list)
    local_to_global: dict[int, int] = field(default_factory=dict)
    text: str = ""
    refused: bool = False
    checks: dict = field(default_factory=dict)
    support_spans: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    best_dense: float | None = None
    judge_top: float | None = None
    judge_seconds: float = 0.0
    max_tokens: int = 0
    prompt_fit: dict | None = None


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
        self._judge: Any = None
        self.max_tokens = int(a.get("max_tokens", 200))
        self.temperature = float(a.get("temperature", 0.0))
        self.split_parts = bool(a.get("split_questions", True))
        self.evidence = EvidenceConfig(
            per_passage_chars=int(a.get("evidence_chars", 220)),
            total_chars=int(a.get("evidence_total_chars", 520)),
            neighbours=int(a.get("evidence_neighbours", 1)),
            max_passages=int(config.get("retrieval.top_k") or 5))

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
        shown = self._number(parts)
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
        yield {"type": "answer", "answer": self._assemble(q, parts, shown, timing, stats)}

    # -- steps ---------------------------------------------------------------------------------
    def _retrieve(self, parts_q: list[tuple[str, str]], k: int, filters: Any,
                  passages: Sequence[str | Hit] | None) -> list[_Part]:
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
            part = _Part(pq, analyze_question(pq, norm=pnorm), cands)
            # supplied passages are all kept in their order: judged only for the refusal gate
            if self.rerank and cands and (given is None or self.refuse_below > 0):
                keep = len(cands) if given is not None else max(k, self.candidates)
                ranked = rerank(self.judge, pq, cands, keep=keep, rrf_k=self.judge_rrf_k)
                part.candidates, part.judge_top = ranked.passages, ranked.top
                part.judge_seconds = ranked.seconds
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

    def _prepare(self, part: _Part, k: int, *, given: bool, max_tokens: int) -> None:
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
        part.support = check_support(part.info, part.candidates, min_coverage=self.min_coverage)
        if not part.support.supported:
            part.refused_reason = part.support.reason
            return
        cfg = EvidenceConfig(self.evidence.per_passage_chars, self.evidence.total_chars,
                             self.evidence.neighbours, k)
        part.shown = select_evidence(part.info, part.candidates, part.support.scores, cfg)
        part.max_tokens = max_tokens
        if self.uses_llm and part.shown:
            self._fit_prompt(part)

    def _fit_prompt(self, part: _Part) -> None:
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

    @staticmethod
    def _number(parts: list[_Part]) -> list[Passage]:
        shown: list[Passage] = []
        index: dict[str, int] = {}
        for part in parts:
            for local, p in enumerate(part.shown, 1):
                if p.key not in index:
                    shown.append(replace(p, n=len(shown) + 1))
                    index[p.key] = len(shown)
                else:  # the same chunk for two parts: show the union of their evidence
                    g = shown[index[p.key] - 1]
                    g.evidence_spans = merge_spans(g.evidence_spans + p.evidence_spans, keep_empty=True)
                    g.evidence = render_evidence(g, g.evidence_spans)
                part.local_to_global[local] = index[p.key]
        return shown

    def _generate(self, part: _Part, stats: dict, *, multi: bool, temperature: float) -> Iterator[str]:
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

    def _finish(self, part: _Part, raw: str) -> None:
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
            v.text = self._add_other_sources(part, v.text)
        part.text = renumber(v.text, part.local_to_global)
        for n, spans in v.support.items():
            g = part.local_to_global.get(n, n)
            part.support_spans.setdefault(g, []).extend(spans)

    @staticmethod
    def _add_other_sources(part: _Part, text: str) -> str:
        """Complete a number/date answer with differing figures from other documents (with outlet
        and date), so two sources that disagree are both shown (:mod:`rag.answer.conflicts`)."""
        if part.support is None:
            return text
        local = part.shown
        pos = {id(p): i for i, p in enumerate(local)}
        supported = [replace(s, passage=pos[id(part.candidates[s.passage])]) for s in part.support.best
                     if s.supported and id(part.candidates[s.passage]) in pos]
        cited = [n for m in CITATION_MARKERS_RE.finditer(text) for n in parse_markers(m.group())]
        extra = other_source_figures(text, part.info, local, supported, cited)
        if not extra:
            return text
        for n, _sentence, sc in extra:  # the added sentences support their passages
            part.support_spans.setdefault(part.local_to_global.get(n, n), []).append((sc.start, sc.end))
        first = next((local[n - 1] for n in cited if 1 <= n <= len(local)), None)
        head = text.rstrip()
        if first is not None and origin(first):
            head = head.rstrip("。") + f"（{origin(first)}）。"
        lines = [f"另据{origin(local[n - 1]) or '另一篇报道'}：{sentence}[{n}]。" for n, sentence, _ in extra]
        part.checks["other_sources_added"] = [n for n, _, _ in extra]
        return "\n".join([head, *lines])

    def _assemble(self, question: str, parts: list[_Part], shown: list[Passage],
                  timing: dict[str, float], stats: dict) -> Answer:
        multi = len(parts) > 1
        texts = []
        for part in parts:
            if multi and part.refused:
                texts.append(refusal_text(part.refused_reason, part.question))
            else:
                texts.append(part.text)
        text = "\n".join(texts)
        cited = list(dict.fromkeys(n for m in CITATION_MARKERS_RE.finditer(text) for n in parse_markers(m.group())))
        spans: dict[int, list[tuple[int, int]]] = {}
        for part in parts:
            for n, s in part.support_spans.items():
                spans.setdefault(n, []).extend(s)
        citations = []
        for n in cited:
            if 1 <= n <= len(shown):
                p = shown[n - 1]
                citations.append(Citation(n=n, doc_id=p.doc_id, chunk_id=p.chunk_id, text=p.text,
                                          original=p.original, start=p.start, end=p.end, title=p.title,
                                          source=p.source, date=p.date, support=merge_spans(spans.get(n, []), keep_empty=True),
                                          injection_spans=list(p.flagged) if p.withheld else []))
        checks = _merge_checks(parts)
        timing = {**timing, "prompt_tokens": stats["prompt_tokens"],
                  "cached_prompt_tokens": stats["cached_prompt_tokens"], "llm_calls": stats["llm_calls"]}
        if stats.get("llm_first_token") is not None:
            timing["llm_first_token"] = round(stats["llm_first_token"], 4)
        return Answer(question=question, answer=text, refused=all(p.refused for p in parts),
                      citations=citations, passages=[p.to_json() for p in shown], checks=checks,
                      timings=timing, backend=self.backend_name,
                      parts=[p.question for p in parts] if multi else [])


def _merge_checks(parts: list[_Part]) -> dict:
    answered = [p for p in parts if not p.refused]
    checks = {
        "citations_valid": all(p.checks.get("citations_valid", True) for p in parts),
        "invalid_citations": sorted({n for p in parts for n in p.checks.get("invalid_citations", [])}),
        "repaired_citations": [r for p in answered for r in p.checks.get("repaired_citations", [])],
        "uncited_claims": sum(p.checks.get("uncited_claims", 0) for p in answered),
        "ungrounded_numbers": [x for p in answered for x in p.checks.get("ungrounded_numbers", [])],
        "unsupported_sentences": [x for p in answered for x in p.checks.get("unsupported_sentences", [])],
        "no_citation": any(p.checks.get("no_citation", False) for p in answered),
        "discarded_answers": [{"question": p.question, **p.checks["discarded_answer"]}
                              for p in parts if "discarded_answer" in p.checks],
        "prompt_trimmed": [p.prompt_fit for p in parts if p.prompt_fit],
        "injection_withheld": _withheld(parts),
        "support": [{"question": p.question, "supported": bool(p.support and p.support.supported),
                     "refused": p.refused, "reason": p.refused_reason,
                     "best_dense": None if p.best_dense is None else round(p.best_dense, 4),
                     "judge_top": None if p.judge_top is None else round(p.judge_top, 4),
                     "judge_seconds": round(p.judge_seconds, 4)} for p in parts],
    }
    return checks


def _withheld_hit(h: Hit) -> bool:
    return bool(getattr(h.chunk, "flagged", None)) or INJECTION_FLAG in (h.doc.flags or [])


def _withheld(parts: list[_Part]) -> list[dict]:
    """Retrieved passages holding suspected instructions to the model (used as data only)."""
    out: dict[str, dict] = {}
    for part in parts:
        for p in part.candidates:
            if p.withheld and p.key not in out:
                out[p.key] = {"doc_id": p.doc_id, "chunk_id": p.chunk_id, "title": p.title,
                              "injection_spans": [list(s) for s in p.flagged]}
    return list(out.values())
