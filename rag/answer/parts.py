"""One (sub-)question's state through :class:`~rag.answer.answerer.Answerer`, and the assembly
of all parts into the final :class:`~rag.types.Answer`.

The answerer fills a :class:`Part` per sub-question (retrieve → support → evidence → generate →
verify); this module numbers the passages shown across parts (:func:`number_passages`), adds
differing figures from other sources (:func:`add_other_sources`) and merges the parts' texts,
citations, checks and timings (:func:`assemble_answer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rag.answer.conflicts import origin, other_source_figures
from rag.answer.evidence import render_evidence
from rag.answer.passages import Passage
from rag.answer.prompt import refusal_text
from rag.answer.question import QuestionInfo
from rag.answer.support import SupportResult
from rag.text.citations import CITATION_MARKERS_RE, parse_markers
from rag.text.spans import merge_spans
from rag.types import Answer, Citation

__all__ = ["Part", "number_passages", "add_other_sources", "assemble_answer"]


@dataclass
class Part:
    """The state of one (sub-)question while it is answered."""

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
    # per candidate: its judged centre sentences (sent_start, sent_end, score); empty without the judge
    judged: list[list[tuple[int, int, float]]] = field(default_factory=list)
    max_tokens: int = 0
    prompt_fit: dict | None = None


def number_passages(parts: list[Part]) -> list[Passage]:
    """Number the passages shown to the model ``[1]..[k]`` across parts (a chunk shown for two
    parts once, with the union of their evidence) and fill each part's ``local_to_global``."""
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


def add_other_sources(part: Part, text: str) -> str:
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


def assemble_answer(question: str, parts: list[Part], shown: list[Passage], timing: dict[str, float],
                    stats: dict, backend: str) -> Answer:
    """The final :class:`Answer` from the answered parts.

    Args:
        question: the question as asked.
        parts: the parts, generated and verified.
        shown: the passages shown to the model, numbered (:func:`number_passages`).
        timing: seconds per step (``retrieve``, ``first_token``, ``total``).
        stats: LLM counters (``prompt_tokens``, ``cached_prompt_tokens``, ``llm_calls`` and
            optionally ``llm_first_token``).
        backend: the backend name recorded on the answer.
    """
    multi = len(parts) > 1
    texts = []
    for part in parts:
        if multi and part.refused:
            texts.append(refusal_text(part.refused_reason, part.question))
        else:
            texts.append(part.text)
    text = "\n".join(texts)
    timing = {**timing, "prompt_tokens": stats["prompt_tokens"],
              "cached_prompt_tokens": stats["cached_prompt_tokens"], "llm_calls": stats["llm_calls"]}
    if stats.get("llm_first_token") is not None:
        timing["llm_first_token"] = round(stats["llm_first_token"], 4)
    return Answer(question=question, answer=text, refused=all(p.refused for p in parts),
                  citations=_citations(text, parts, shown), passages=[p.to_json() for p in shown],
                  checks=_merge_checks(parts), timings=timing, backend=backend,
                  parts=[p.question for p in parts] if multi else [])


def _citations(text: str, parts: list[Part], shown: list[Passage]) -> list[Citation]:
    """A citation per passage cited in ``text``, with its supporting spans from all parts."""
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
    return citations


def _merge_checks(parts: list[Part]) -> dict:
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


def _withheld(parts: list[Part]) -> list[dict]:
    """Retrieved passages holding suspected instructions to the model (used as data only)."""
    out: dict[str, dict] = {}
    for part in parts:
        for p in part.candidates:
            if p.withheld and p.key not in out:
                out[p.key] = {"doc_id": p.doc_id, "chunk_id": p.chunk_id, "title": p.title,
                              "injection_spans": [list(s) for s in p.flagged]}
    return list(out.values())
