"""Summarise one region: facts (map) → cited summary + key-figures table (reduce), verified.

>>> from rag.summarize import summarize
>>> s = summarize(pipeline, "沿河", backend="extractive")
>>> s.sentences[0].marked, s.figures[0].value, s.checks["ungrounded_numbers"]
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from rag.answer.verify import verify_answer
from rag.llm.registry import EXTRACTIVE, default_backend, needs_llm
from rag.regions.corpus import RegionStore
from rag.regions.model import Pair
from rag.summarize.facts import Fact, collect_facts, family_of
from rag.summarize.judged import JUDGE_DEFAULTS, judge_facts, typed_questions
from rag.summarize.figures import Conflict, FigureRow, figure_rows, find_conflicts, select_rows
from rag.summarize.reduce import (SummarySentence, Verified, add_coverage, build_summary_messages,
                                  conflict_sentence, conflict_stated, extractive_sentences, select_facts, split_marked,
                                  verify_sentences)
from rag.text.numbers import figure_spans
from rag.types import Document

__all__ = ["RegionSummary", "SummaryPassage", "RegionNotFoundError", "SummaryError", "summarize_region",
           "summarize", "summary_backend", "DEFAULTS"]

# Settings read from the ``summarize`` config section (these defaults apply when a key is absent).
DEFAULTS = {"facts": 12, "digest_sentences": 10, "coverage": 6, "max_figures": 30, "max_tokens": 420,
            "min_mentions": 3, "max_docs": 40}


class RegionNotFoundError(LookupError):
    """The name matches no region of the gazetteer."""


class SummaryError(RuntimeError):
    """The region has no material to summarise."""


@dataclass
class SummaryPassage:
    """A numbered passage (index chunk) cited by the summary or the figures table."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    source: str
    date: str | None
    text: str
    original: str
    start: int
    end: int
    support: list[tuple[int, int]] = field(default_factory=list)

    def header(self) -> str:
        """``来源：…；日期：…`` as shown to the model (also where a cited date is grounded)."""
        return "；".join(x for x in (f"来源：{self.source}" if self.source else "",
                                     f"日期：{self.date}" if self.date else "") if x)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["support"] = [list(s) for s in sorted(set(self.support))]
        return out


class _Book:
    """Passage numbering: chunks get numbers in order of first use."""

    def __init__(self, store: RegionStore, load: Callable[[str], Document | None]):
        self.store, self.load = store, load
        self.by_chunk: dict[str, SummaryPassage] = {}
        self.docs: dict[str, Document | None] = {}

    def doc(self, doc_id: str) -> Document | None:
        if doc_id not in self.docs:
            self.docs[doc_id] = self.load(doc_id)
        return self.docs[doc_id]

    def number(self, doc_id: str, chunk_id: str) -> int:
        if chunk_id not in self.by_chunk:
            doc = self.doc(doc_id)
            span = next(((a, b) for c, a, b in self.store.docs[doc_id]["chunks"] if c == chunk_id), (0, 0))
            self.by_chunk[chunk_id] = SummaryPassage(
                len(self.by_chunk) + 1, doc_id, chunk_id, doc.title if doc else "", doc.source if doc else "",
                doc.date if doc else None, doc.text[span[0]:span[1]] if doc else "",
                doc.original[span[0]:span[1]] if doc else "", span[0], span[1])
        return self.by_chunk[chunk_id].n

    @property
    def passages(self) -> list[SummaryPassage]:
        return sorted(self.by_chunk.values(), key=lambda p: p.n)


@dataclass
class RegionSummary:
    """Everything `shanhai summarize` prints (see :mod:`rag.summarize.render`)."""

    region: str
    level: str
    aliases: list[str]
    parent: str | None
    pairs: list[Pair]
    sentences: list[SummarySentence]
    figures: list[FigureRow]
    conflicts: list[Conflict]
    passages: list[SummaryPassage]
    checks: dict[str, Any]
    backend: str
    timings: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region, "level": self.level, "aliases": self.aliases, "parent": self.parent,
            "pairs": [p.to_json() for p in self.pairs],
            "sentences": [s.to_json() for s in self.sentences],
            "figures": [f.to_json() for f in self.figures],
            "conflicts": [c.to_json() for c in self.conflicts],
            "passages": [p.to_json() for p in self.passages],
            "checks": self.checks, "backend": self.backend, "timings": self.timings,
        }


def _settings(config: Any) -> dict[str, int]:
    section = (config.get("summarize") if config is not None else None) or {}
    return {k: int(section.get(k, v)) for k, v in DEFAULTS.items()}


def _judge_settings(config: Any) -> dict[str, float] | None:
    """The judge settings of section ``summarize`` (None when ``summarize.judge`` is off or no config)."""
    if config is None:
        return None
    section = config.get("summarize") or {}
    if not section.get("judge", True):
        return None
    return {k: float(section.get(k, v)) for k, v in JUDGE_DEFAULTS.items()}


def _judge_facts(facts: list[Fact], region: Any, store: RegionStore, config: Any, judge: Any
                 ) -> tuple[dict[str, Any], float]:
    """Score the facts with the evidence judge against the region's typed questions (in place).

    Returns:
        The judge's stats (facts, pairs, questions, seconds; empty when off) and the score a
        best-judged fact needs to be kept first (``summarize.judge_min``; 1.0 when off).
    """
    settings = _judge_settings(config)
    if settings is None:
        return {}, 1.0
    if judge is None:
        from rag.judge.model import load_judge

        judge = load_judge(config)
    questions = typed_questions(region.name, facts, paired=bool(store.pairs_of(region.name)))
    stats = judge_facts(facts, questions, judge, limit=int(settings["judge_facts"]),
                        per_doc=int(settings["judge_per_doc"]), weight=settings["judge_weight"])
    return {**stats, "questions": [q for q, _ in questions]}, settings["judge_min"]


def _suggest(store: RegionStore, name: str) -> str:
    near = [r.name for r in store.search(name[:1], limit=5)] if name else []
    near = near or [r.name for r in store.search("", limit=5)]
    return "、".join(near)


def summarize_region(store: RegionStore, name: str, load: Callable[[str], Document | None], *,
                     config: Any = None, backend: str = EXTRACTIVE, llm: Any = None, judge: Any = None
                     ) -> RegionSummary:
    """Summarise the region ``name`` (any alias or script).

    Args:
        store: the gazetteer (:func:`rag.regions.update_regions`).
        name: region name, e.g. ``沿河``, ``靖遠縣``, ``天津和平区``.
        load: ``doc_id -> Document`` (``index.get_doc``).
        config: resolved config (section ``summarize``; LLM settings).
        backend: a backend name of :mod:`rag.llm.registry` (used for the label; ``llm`` generates);
            one without an LLM (``extractive``) digests the facts instead.
        llm: an :class:`rag.llm.LLMBackend`, required when ``backend`` needs an LLM.
        judge: an :class:`rag.judge.model.EvidenceJudge` to pick facts with (default: the
            configured one when ``summarize.judge`` is on and ``config`` is given).

    Returns:
        The verified :class:`RegionSummary`.

    Raises:
        RegionNotFoundError: unknown name (the message suggests known regions).
        SummaryError: no sentence of the corpus is about the region.
        rag.llm.LLMError: the backend failed.
        rag.judge.model.JudgeMissingError: the judge is on but not prepared (names ``shanhai models prepare``).
    """
    t0 = time.perf_counter()
    opts = _settings(config)
    region = store.find(name)
    if region is None:
        raise RegionNotFoundError(f"地区索引中没有“{name}”。可用 `shanhai regions` 查看全部地区，例如：{_suggest(store, name)}")
    book = _Book(store, load)
    facts = collect_facts(store, region.name, book.doc, max_docs=opts["max_docs"])
    if not facts:
        raise SummaryError(f"文档中没有关于“{region.name}”的可用句子，无法生成摘要")
    figures = _figures(facts, opts["max_figures"])
    timings: dict[str, float] = {"map": time.perf_counter() - t0}
    judged, min_judged = _judge_facts(facts, region, store, config, judge)
    timings["judge"] = judged.pop("seconds", 0.0)  # time goes in timings, never in checks
    chosen = select_facts(facts, opts["facts"] if needs_llm(backend) else opts["digest_sentences"],
                          min_judged=min_judged)
    for f in chosen:
        book.number(f.doc_id, f.chunk_id)
    number = {c: p.n for c, p in book.by_chunk.items()}
    pairs = _pairs(store, region.name)
    t1 = time.perf_counter()
    if not needs_llm(backend):
        pieces, origin, stats = extractive_sentences(chosen, number), "extractive", None
    else:
        pieces = _generate(llm, backend, _messages(region, chosen, pairs, figures, book), opts["max_tokens"])
        origin, stats = "llm", llm.last_stats
    timings["generate"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    ver = verify_sentences(pieces, [p.text for p in book.passages], [p.header() for p in book.passages], origin)
    if origin == "llm":
        # the key facts an LLM summary must not drop (same quotas as the selection: best-judged
        # answers, partner, one per document, dated events, named initiatives, top scores);
        # missing ones are appended, cited
        must = select_facts(chosen, opts["coverage"], in_document_order=False, min_judged=min_judged)
        _extend(ver, book, add_coverage(ver.kept, must, number), "coverage")
    for r in figures:
        r.n = book.number(r.doc_id, r.chunk_id)
    conflicts = _add_conflicts(ver, book, figures)
    _attach_support(book, ver.support, figures)
    checks = _final_checks(ver, book, len(facts))
    checks["judge"] = judged
    timings["verify"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    if stats is not None:
        timings.update(prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
                       first_token=stats.first_token_s or 0.0)
    return RegionSummary(region.name, region.level, region.aliases, region.parent, pairs, ver.kept, figures,
                         conflicts, book.passages, checks, backend, {k: round(v, 3) for k, v in timings.items()})


def _figures(facts: list[Fact], max_figures: int) -> list[FigureRow]:
    """The key-figures table: at most ``max_figures`` rows, conflicting figures marked."""
    rows = figure_rows(facts)
    find_conflicts(rows)
    return select_rows(rows, max_figures)


def _pairs(store: RegionStore, region: str) -> list[Pair]:
    """The pairing (对口帮扶) relations of ``region`` or of a place under it."""
    family = family_of(store, region)
    return [p for p in store.pairs if p.donor in family or p.recipient in family]


def _generate(llm: Any, backend: str, messages: list[dict], max_tokens: int) -> list[tuple[int, str]]:
    """The LLM summary, split into (paragraph, marked sentence) pieces."""
    if llm is None:
        raise ValueError(f"summarize_region: 后端 {backend} 需要大模型，必须提供 llm")
    return split_marked("".join(llm.stream(messages, max_tokens=max_tokens, temperature=0.0)))


def _add_conflicts(ver: Verified, book: _Book, figures: list[FigureRow]) -> list[Conflict]:
    """The conflicts among the table's figures; each one the summary does not state yet is
    appended as a sentence of its own, verified."""
    conflicts = [Conflict(gid, min((r.measure for r in figures if r.conflict == gid), key=len),
                          [i for i, r in enumerate(figures) if r.conflict == gid])
                 for gid in sorted({r.conflict for r in figures if r.conflict is not None})]
    para = max((s.paragraph for s in ver.kept), default=-1) + 1
    stated = [(para, conflict_sentence(c, figures)) for c in conflicts if not conflict_stated(c, figures, ver.kept)]
    _extend(ver, book, stated, "conflict")
    return conflicts


def _extend(ver: Verified, book: _Book, pieces: list[tuple[int, str]], origin: str) -> None:
    """Verify mechanically written sentences (coverage, conflicts) and add them to ``ver``."""
    if not pieces:
        return
    extra = verify_sentences(pieces, [p.text for p in book.passages], [p.header() for p in book.passages], origin)
    ver.kept += extra.kept
    ver.removed += extra.removed
    ver.repaired += extra.repaired
    for n, spans in extra.support.items():
        ver.support.setdefault(n, []).extend(spans)


def _messages(region, chosen, pairs, figures, book: _Book) -> list[dict]:
    blocks: dict[int, list] = {}
    for f in chosen:
        blocks.setdefault(book.number(f.doc_id, f.chunk_id), []).append(f)
    rendered = []
    for n in sorted(blocks):
        p = book.passages[n - 1]
        rendered.append((n, p.header(), "".join(f.text.rstrip("，,；; ") + ("" if f.text.endswith("。") else "。")
                                               for f in sorted(blocks[n], key=lambda f: f.start))))
    conflict_lines = []
    for gid in sorted({r.conflict for r in figures if r.conflict is not None}):
        rows = [r for r in figures if r.conflict == gid]
        for r in rows:
            book.number(r.doc_id, r.chunk_id)
        conflict_lines.append(f"{rows[0].measure}：" + "、".join(
            f"{r.value}[{book.number(r.doc_id, r.chunk_id)}]（{r.date or '日期不详'}）" for r in rows))
    aliases = [a for a in region.aliases if a != region.name][:3]
    return build_summary_messages(region.name, aliases, [p.arrow() for p in pairs[:3]], rendered, conflict_lines)


def _attach_support(book: _Book, support: dict[int, list], figures: list[FigureRow]) -> None:
    for p in book.passages:
        p.support = list(support.get(p.n, []))
    for r in figures:
        p = book.passages[r.n - 1]
        p.support += figure_spans(r.value, p.text)[:1]


def _final_checks(ver: Verified, book: _Book, n_facts: int) -> dict[str, Any]:
    """Re-verify the whole summary as one text: the numbers the benchmark reports."""
    sentences, removed, repaired = ver.kept, ver.removed, ver.repaired
    passages = book.passages
    valid = set(range(1, len(passages) + 1))
    whole = "".join(s.marked for s in sentences)
    v = verify_answer(whole, [p.text for p in passages], meta=[p.header() for p in passages]) if sentences else None
    invalid = sorted({n for s in sentences for n in s.citations if n not in valid})
    return {
        "sentences": len(sentences),
        "cited_sentences": sum(1 for s in sentences if s.citations and set(s.citations) <= valid),
        "citations_valid": not invalid,
        "invalid_citations": invalid,
        "ungrounded_numbers": v.checks["ungrounded_numbers"] if v else [],
        "unsupported_sentences": v.checks["unsupported_sentences"] if v else [],
        "removed_sentences": removed,
        "repaired_citations": repaired,
        "coverage_added": sum(1 for s in sentences if s.origin == "coverage"),
        "conflicts_stated": sum(1 for s in sentences if s.origin == "conflict"),
        "facts": n_facts,
    }


def summarize(pipeline: Any, name: str, *, backend: str | None = None, llm: Any = None,
              store: RegionStore | None = None) -> RegionSummary:
    """Summarise a region of ``pipeline``'s index (gazetteer brought up to date first).

    Args:
        pipeline: a :class:`rag.pipeline.Pipeline`.
        name: region name (any alias or script).
        backend: a name of :mod:`rag.llm.registry` (default :func:`summary_backend`).
        llm: a ready backend instance to reuse (``--all``); created from ``backend`` otherwise.
        store: a gazetteer already loaded for this index.

    Returns:
        The :class:`RegionSummary`.
    """
    from rag.regions import update_regions

    config = pipeline.config
    name_b = summary_backend(config, backend)
    store = store or update_regions(pipeline.index)
    if llm is None:
        from rag.llm.factory import create_llm

        llm = create_llm(name_b, config)
    return summarize_region(store, name, pipeline.index.get_doc, config=config, backend=name_b, llm=llm)


def summary_backend(config: Any, backend: str | None = None) -> str:
    """The backend that summarises: ``backend``, else ``summarize.backend``, else the configured
    default (:func:`rag.llm.registry.default_backend`)."""
    return backend or config.get("summarize.backend") or default_backend(config)
