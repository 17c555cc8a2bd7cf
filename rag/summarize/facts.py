"""Map step: the sentences of each document that state facts about a region, with citations.

A document contributes sentences that name the region (any alias, a place under it, or a
reference such as ``该区`` resolved to it); when the region is the document's subject (named
in its headline — the title, or the first clause of an article without one — or its
most-mentioned place) every sentence is eligible. Unless the headline names the region, a
sentence counts only if the passage (chunk) it is cited by names the region itself
(:func:`naming_chunks`), so every passage shown says whom it is about; a document that
names it only by a bare word, without a full form or a place above it, is not used
(:func:`confirmed`). Each sentence is scored
for how much checkable information it carries — generic signals only:

* figures (money, percentages, counts of people/households, other counts with a unit),
* naming the region explicitly, or one of its pairing partners,
* named initiatives in quotation marks (“…”), time anchors (截至2019年底, 2017年以来) and
  dated events (2018年7月…, 2010年,…),
* corroboration: a figure or named term that another document about the region repeats,
* the lead sentence of a document.

Long sentences are trimmed to the clauses that carry figures or names (never inside a
number), so the summary and the LLM prompt stay compact. Articles that address the answering
model (``rag.text.injection``) contribute nothing.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from rag.regions.corpus import RegionStore
from rag.text.injection import INJECTION_FLAG
from rag.text.numbers import Quantity, extract_quantities
from rag.text.sentences import split_sentences
from rag.types import Document

__all__ = ["Fact", "collect_facts", "confirmed", "ancestors", "naming_chunks", "headline_keys", "substantive",
           "trim_sentence", "informative", "is_event", "family_of", "answer_kind", "PEOPLE_UNITS"]

PEOPLE_UNITS = frozenset({"人", "名", "位", "户", "人次"})
_DURATION_UNITS = frozenset({"年", "月", "日", "天", "周", "周年", "小时", "分钟", "秒", "岁", "个月", "届", "轮"})
_QUOTED_RE = re.compile(r"[“\"]([^”\"]{2,12})[”\"]")
_TIME_RE = re.compile(r"截至|截止|以来|年底|年末|今年|去年|上半年|一季度|\d{4}年")
_EVENT_RE = re.compile(r"\d{4}年\d{1,2}月|^\d{4}年[,，]")  # a dated event: 2018年7月…, 2010年,…
_CLAUSE_RE = re.compile(r"[,，;；:：]")
MAX_FACT_CHARS = 120
DocLoader = Callable[[str], "Document | None"]


@dataclass
class Fact:
    """One sentence about the region, with where it comes from.

    Attributes:
        doc_id: source document.
        chunk_id: the chunk that holds the sentence (what its citation opens).
        start: sentence start in the document text (after trimming).
        end: sentence end.
        text: the (trimmed) sentence, Simplified.
        original: the same span in the original script.
        title: document title.
        source: outlet.
        date: document date.
        ordinal: sentence number in the document.
        explicit: the sentence names the region (or a place under it, or 该区/全县 for it).
        figures: surfaces of its substantive figures.
        terms: named terms in quotation marks.
        partners: pairing partners of the region it names.
        corroborated: how many of its totals (money, rates, people) and named terms another
            document repeats.
        named_repeats: how many of its named terms another document repeats.
        score: informativeness (higher is better; the judge's share included when it ran).
        judged: the evidence judge's best probability over the typed questions (0.0 = not judged).
        answers: the judge's probability per typed question (:mod:`rag.summarize.judged`).
        focus: the document is about the region (named in its headline, or its most-mentioned place).
    """

    doc_id: str
    chunk_id: str
    start: int
    end: int
    text: str
    original: str
    title: str
    source: str
    date: str | None
    ordinal: int
    explicit: bool
    figures: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)
    corroborated: int = 0
    named_repeats: int = 0
    score: float = 0.0
    judged: float = 0.0
    answers: list[float] = field(default_factory=list)
    focus: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def substantive(q: Quantity) -> bool:
    """Whether a quantity is a figure worth reporting (not a year, date, duration or small count)."""
    if q.kind in ("money", "percent"):
        return True
    return q.kind == "count" and q.unit not in _DURATION_UNITS and q.value >= 10


def answer_kind(q: Quantity) -> str | None:
    """The answer type a substantive figure gives: ``money``, ``percent``, ``people`` (a count of
    people or households), or None for other counts — the totals a reader compares."""
    if q.kind in ("money", "percent"):
        return q.kind
    return "people" if q.unit in PEOPLE_UNITS else None


def informative(f: Fact) -> bool:
    """Whether the fact carries a figure, a named term, the region or a pairing partner (not a
    slogan or scene-setting)."""
    return bool(f.figures or f.terms or f.explicit or f.partners)


def is_event(f: Fact) -> bool:
    """Whether the fact reports a dated event (``2018年7月…``, ``2010年,…``)."""
    return bool(_EVENT_RE.search(f.text))


def _figure_weight(q: Quantity) -> float:
    if q.kind in ("money", "percent"):
        return 1.0
    return 0.8 if q.unit in PEOPLE_UNITS else 0.3


def trim_sentence(text: str, start: int, end: int, keep: list[tuple[int, int]], limit: int = MAX_FACT_CHARS
                  ) -> tuple[int, int]:
    """Shrink ``text[start:end]`` to at most ``limit`` chars of whole clauses around ``keep`` spans.

    Args:
        text: the document text.
        start: sentence start.
        end: sentence end.
        keep: spans (document offsets) worth keeping: figures, names.
        limit: target length.

    Returns:
        The new ``(start, end)``; the sentence itself when it is short enough.
    """
    if end - start <= limit:
        return start, end
    cuts = [start] + [start + m.end() for m in _CLAUSE_RE.finditer(text[start:end])] + [end]
    clauses = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    weight = [sum(1 for s, e in keep if a <= s < b) for a, b in clauses]
    best, best_w = (clauses[0][0], clauses[0][1]), -1.0
    for i in range(len(clauses)):
        w = 0.0
        for j in range(i, len(clauses)):
            if clauses[j][1] - clauses[i][0] > limit and j > i:
                break
            w += weight[j]
            score = w - 0.01 * i  # prefer earlier windows on ties (the subject comes first)
            if score > best_w:
                best, best_w = (clauses[i][0], clauses[j][1]), score
    a, b = best
    while b > a and text[b - 1] in ",，;；:： ":
        b -= 1
    return a, b


def _chunk_for(chunks: list[list], start: int, end: int) -> str:
    whole = next((c for c, a, b in chunks if a <= start and end <= b), None)
    return whole or next((c for c, a, b in chunks if a <= start < b), "")


_HEADLINE_END_RE = re.compile(r"[。！？!?\n\s]")
_DATELINE_RE = re.compile(r"[^\s，。：:]{0,20}?\d{1,2}月\d{1,2}日[电讯]")
_HEADLINE_MAX = 60


def headline_keys(store: RegionStore, doc_id: str, text: str) -> set[str]:
    """Regions named in the document's headline: its title or, for an article stored without a
    separate title (its first line serves as one), its first clause up to a full stop or a space
    (at most 60 characters), datelines such as ``新华社武汉8月14日电`` excepted."""
    if store.docs.get(doc_id, {}).get("title_end", 0):
        return store.title_keys(doc_id)
    stop = _HEADLINE_END_RE.search(text, 8, _HEADLINE_MAX)
    end = stop.start() if stop else min(len(text), _HEADLINE_MAX)
    datelines = [(d.start(), d.end()) for d in _DATELINE_RE.finditer(text, 0, end + 20)]
    return {m.key for m in store.mentions(doc_id) if m.start < end and m.key and m.form != "ref"
            and not any(a <= m.start < b for a, b in datelines)}


def _focus(store: RegionStore, doc_id: str, key: str, family: set[str], headline: set[str]) -> bool:
    """Whether the document is about the region: named in its headline or its most-mentioned place."""
    if headline & family:
        return True
    counts: dict[str, int] = {}
    for m in store.mentions(doc_id):
        counts[m.key] = counts.get(m.key, 0) + 1
    if not counts:
        return False
    top = max(counts.values())
    mine = sum(n for k, n in counts.items() if k in family)
    return mine >= 3 and mine >= top


def family_of(store: RegionStore, key: str) -> set[str]:
    """The region and every place written under it (沿河县 → 思渠镇, 新景镇 …)."""
    fam = {key}
    for other in store.regions:
        p, seen = store.regions[other].parent, set()
        while p and p not in seen:
            if p == key:
                fam.add(other)
                break
            seen.add(p)
            p = store.regions[p].parent if p in store.regions else None
    return fam


def collect_facts(store: RegionStore, key: str, load: DocLoader, *, max_docs: int = 40) -> list[Fact]:
    """Per-document facts about region ``key``, scored, in document order.

    Args:
        store: the gazetteer.
        key: canonical region name.
        load: ``doc_id -> Document`` (e.g. ``index.get_doc``).
        max_docs: read at most this many documents (those naming the region in their title
            first, then by mentions), so a region named in thousands of articles stays cheap.

    Returns:
        Every eligible sentence as a :class:`Fact` (callers select from them).
    """
    region = store.regions[key]
    family = family_of(store, key)
    partners = {p.recipient if p.donor in family else p.donor for p in store.pairs
                if p.donor in family or p.recipient in family}
    docs = sorted(region.docs, key=lambda d: (not store.title_keys(d) & family, -region.docs[d], d))[:max_docs]
    facts: list[Fact] = []
    for doc_id in docs:
        doc = load(doc_id)
        entry = store.docs.get(doc_id)
        if doc is None or entry is None or doc.injected or INJECTION_FLAG in doc.flags:
            continue  # missing, or an article addressing the model: data only, never a fact
        ms = store.mentions(doc_id)
        if not confirmed(store, ms, key):
            continue  # only a bare word names it: 沿河 in 沿河城站 or 沿河步道 is not 沿河县
        headline = headline_keys(store, doc_id, doc.text)
        focus = _focus(store, doc_id, key, family, headline)
        citable = None if key in headline else naming_chunks(entry["chunks"], ms, key)
        title_end = entry.get("title_end", 0)
        for ordinal, (s, e) in enumerate(split_sentences(doc.text)):
            if s < title_end or e - s < 8:
                continue
            inside = [m for m in ms if s <= m.start < e]
            mine = [m for m in inside if m.key in family]
            if not mine and not focus:
                continue
            fact = _fact(doc, entry, ordinal, s, e, mine, [m for m in inside if m.key in partners], bool(mine))
            fact.focus = focus
            if citable is None or fact.chunk_id in citable:
                facts.append(fact)
    _corroborate(facts)
    return facts


def ancestors(store: RegionStore, key: str) -> set[str]:
    """The places the gazetteer puts ``key`` under (沿河县 → 铜仁市, 贵州省)."""
    up: set[str] = set()
    p = store.regions[key].parent if key in store.regions else None
    while p and p not in up:
        up.add(p)
        p = store.regions[p].parent if p in store.regions else None
    return up


def confirmed(store: RegionStore, mentions: list, key: str) -> bool:
    """Whether a document's mentions really name region ``key``.

    A bare dictionary word (``沿河``, ``中国``) is linked to a region across the whole corpus, so in
    an unrelated article it may be a common word or another place (``沿河城站`` in Beijing,
    ``沿河步道``). It counts only with support in the same document: a full or short form of the
    region (``沿河县``, ``沿河土家族自治县`` … ``沿河``), or a place the region lies in (``贵州``).
    Provinces are linked from a fixed list and always count.
    """
    own = [m for m in mentions if m.key == key and m.form != "ref"]
    if not own:
        return False
    if store.regions[key].level == "省" or any(m.form != "bare" for m in own):
        return True
    up = ancestors(store, key)
    return any(m.key in up for m in mentions if m.form != "ref")


def naming_chunks(chunks: list[list], mentions: list, key: str) -> set[str]:
    """Ids of the chunks that name region ``key`` itself (a name or alias; ``该县``-style references
    and places under it do not count).

    A fact is cited by its chunk, so a fact may only come from a chunk that names the region
    (or from a document whose title does): otherwise a passage shown as evidence about the
    region would not say it is about the region, which is how passing mentions in off-topic
    articles (a place named once in a court report, ``全市`` resolved to the wrong city) would
    leak into a summary.
    """
    spots = [m.start for m in mentions if m.key == key and m.form != "ref"]
    return {c for c, a, b in chunks if any(a <= x < b for x in spots)}


def _fact(doc: Document, entry: dict, ordinal: int, s: int, e: int, mine, partner_ms, explicit: bool) -> Fact:
    sentence = doc.text[s:e]
    qs = [q for q in extract_quantities(sentence) if substantive(q)]
    terms = [m for m in _QUOTED_RE.finditer(sentence)]
    keep = [(s + q.start, s + q.end) for q in qs] + [(m.start, m.end) for m in [*mine, *partner_ms]]
    keep += [(s + t.start(), s + t.end()) for t in terms]
    a, b = trim_sentence(doc.text, s, e, keep)
    text = doc.text[a:b]
    figures = [q.surface for q in qs if a <= s + q.start and s + q.end <= b]
    totals = [_key(q) for q in qs if a <= s + q.start and s + q.end <= b and answer_kind(q)]
    fig_w = sum(sorted((_figure_weight(q) for q in qs if a <= s + q.start and s + q.end <= b), reverse=True)[:3])
    names = [t.group(1) for t in terms if a <= s + t.start() and s + t.end() <= b]
    partner_names = sorted({m.key for m in partner_ms if a <= m.start < b})
    score = fig_w + (1.0 if explicit else 0.0) + 0.5 * bool(partner_names) + min(0.6, 0.3 * len(names))
    score += 0.2 * bool(_TIME_RE.search(text)) + (0.3 if ordinal <= 2 else 0.0)
    score += 0.8 * bool(_EVENT_RE.search(text))
    fact = Fact(doc.doc_id, _chunk_for(entry["chunks"], a, b), a, b, text, doc.original[a:b], doc.title, doc.source,
                doc.date, ordinal, explicit, figures, names, partner_names)
    fact.score = round(score - (0.0 if informative(fact) else 0.5), 3)  # slogans and scene-setting lose
    fact._totals = totals  # type: ignore[attr-defined]  # for corroboration only
    return fact


def _key(q: Quantity) -> tuple[float, str]:
    """Identity of a total for corroboration: value and unit group (名 = 人)."""
    return round(q.value, 6), {"名": "人", "位": "人"}.get(q.unit, q.unit)


def _name_like(term: str) -> bool:
    """A quoted name (``两江家园``, ``东渡纺织班``) rather than a slogan or formula (``一对一``, ``2+1``)."""
    return len(term) >= 4 and not re.search(r"[0-9+＋、,，]", term)


def _corroborate(facts: list[Fact]) -> None:
    """Bonus for totals (money, rates, people) and named terms that another document repeats
    (small counts such as 12个 coincide by chance and are not counted)."""
    keys: dict[str, set] = {}
    texts: dict[str, str] = {}
    for f in facts:
        keys.setdefault(f.doc_id, set()).update(getattr(f, "_totals", ()))
        texts[f.doc_id] = texts.get(f.doc_id, "") + f.text
    for f in facts:
        totals = getattr(f, "_totals", ())
        if not totals and not f.terms:
            continue
        others = [d for d in texts if d != f.doc_id]
        f.named_repeats = sum(1 for t in f.terms if _name_like(t) and any(t in texts[d] for d in others))
        hits = f.named_repeats + sum(1 for k in totals if any(k in keys[d] for d in others))
        f.corroborated = hits
        if hits:
            f.score = round(f.score + 0.8 * min(hits, 2), 3)
