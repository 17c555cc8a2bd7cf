"""Key-figures table: one row per figure, with what it measures, its period and its source.

For each substantive figure of a fact (money, percentages, counts with a unit), the *measure*
is the phrase right before it in its clause (``社会各界累计捐赠沿河款物`` for ``2385万元``);
when that phrase is only a verb (``降至``) or empty, the previous figure's measure is reused
(``贫困发生率由2014年的10.3%降至0.4%`` → both rows measure ``贫困发生率``). The *period* is
the nearest time expression that governs the figure (``截至2019年底``, ``2017年以来``,
``今年`` → ``今年（2020年）`` from the article date), skipping one that belongs to an earlier
figure of its clause (``从2016年底13.13%下降到3.3%``).

Rows from different documents with similar measures (character-bigram containment) are
compared: equal values corroborate each other (one row, ``also_in``); different values are a
**conflict** — both rows are kept, with their dates, under one ``conflict`` id — unless both
state distinct points in time (2016年底 vs 2019年底 is a series, not a conflict).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from rag.summarize.facts import PEOPLE_UNITS, Fact, substantive
from rag.summarize.labels import SentenceLabeler
from rag.text.ngrams import char_bigrams, containment
from rag.text.numbers import Quantity, extract_quantities, same_quantity

__all__ = ["FigureRow", "Conflict", "figure_rows", "find_conflicts", "measure_similarity", "period_of"]

_PERIOD_RE = re.compile(
    r"(?:截至|截止|到)?(?:\d{4}年(?:\d{1,2}月)?(?:\d{1,2}日)?|今年|去年|前年|当年|同年|历年)"
    r"(?:底|末|初|上半年|下半年|一季度|前三季度)?(?:以来|来)?"
    r"|[一二三四五六七八九十两\d]+年(?:来|以来|累计)|近年来|近几年来?")
_CLAUSE_END = ",，;；:：。！？!?"
_LEAD = re.compile(r"^(?:[(（、“”\"\s]|是|其中|并且|并|同时|另外|此外|共有|共|已经|已|又|还|再|累计为|与|和|及|对|为)+")
_TRAIL = re.compile(r"(?:[(（、“”\"\s]|达到|达|为|至|到|共计|共|合计|约|近|超过|超|突破|逾|降至|下降到|下降|"
                    r"提高到|提高|增至|增长到|增长|增加到|增加|从|由|有|了|的|是|在)+$")
_WEAK = re.compile(r"^(?:[(（)）、“”\"\s]|其中|达到|达|为|至|到|约|近|超过|降至|下降到|下降|提高到|增至|增长|"
                   r"增加|从|由|有|了|的|和|及|与|共|合计|累计|分别|以上|余|多|左右)*$")
MAX_MEASURE = 24
_CLASSIFIER_UNITS = frozenset("个 家 所 座 项 批 期 场 名 位 支 条 处 间 套 台 辆".split())
_NOUN_STOP = re.compile(r"[,，;；。、：:()（）与和及到在向对为的从由\d]|进行|实现|开展|参与|建立|通过")
_KIND_ORDER = {"money": 0, "percent": 1}


@dataclass
class FigureRow:
    """One row of the key-figures table.

    Attributes:
        value: the figure as written (Simplified): ``2385万元``, ``3.3%``, ``60248人``.
        measure: what it measures, raw (the clause text before it: compared across documents).
        date: publication date of the source article.
        period: the time the figure refers to, as the text says (None when unstated).
        source: outlet.
        doc_id: source document.
        chunk_id: passage holding it (its citation).
        sentence: the fact sentence it comes from.
        kind: money | percent | count.
        unit: canonical unit.
        amount: numeric value (万/亿 applied).
        score: the fact's informativeness (for ordering).
        n: passage number in the summary (set when rendered), 0 until then.
        conflict: id of the conflict group it belongs to, or None.
        also_in: other documents stating the same figure for the same measure.
        start: start of ``sentence`` in the document text (its citation span).
        end: end of ``sentence`` in the document text.
        label: what it measures as shown: whole words, short (:mod:`rag.summarize.labels`).
    """

    value: str
    measure: str
    date: str | None
    period: str | None
    source: str
    doc_id: str
    chunk_id: str
    sentence: str
    kind: str
    unit: str
    amount: float
    score: float = 0.0
    n: int = 0
    conflict: int | None = None
    also_in: list[str] = field(default_factory=list)
    start: int = 0
    end: int = 0
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Conflict:
    """Figures for the same measure that differ between sources."""

    id: int
    measure: str
    rows: list[int]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _clause(text: str, pos: int) -> tuple[int, int]:
    lo = max(text.rfind(c, 0, pos) for c in _CLAUSE_END) + 1
    his = [i for c in _CLAUSE_END if (i := text.find(c, pos)) >= 0]
    return lo, min(his) if his else len(text)


def _clean(segment: str) -> str:
    seg = _PERIOD_RE.sub("", segment)
    seg = _TRAIL.sub("", _LEAD.sub("", seg.strip()))
    if len(seg) <= MAX_MEASURE:
        return seg
    tail = seg[-MAX_MEASURE:]
    cut = max(tail.find(c) for c in "、的与和及")  # start after a word boundary, not mid-word
    return tail[cut + 1:] if 0 <= cut and len(tail) - cut - 1 >= 6 else tail


def period_of(text: str, q: Quantity, qs: Sequence[Quantity], year: int | None = None) -> str | None:
    """The time expression governing figure ``q`` of ``text`` (see the module docstring)."""
    periods = [m for m in _PERIOD_RE.finditer(text) if m.end() <= q.start]
    for m in reversed(periods):
        lo, hi = _clause(text, m.start())
        if any(m.end() <= x.start < q.start and x.start < hi and substantive(x) for x in qs):
            continue  # 从2016年底13.13%下降到3.3%: 2016年底 is 13.13%'s
        p = m.group()
        if year and p.startswith(("今年", "去年", "前年")):
            p += f"（{year - {'今': 0, '去': 1, '前': 2}[p[0]]}年）"
        return p
    return None


def _year(date: str | None) -> int | None:
    m = re.match(r"(\d{4})", date or "")
    return int(m.group(1)) if m else None


def figure_rows(facts: Sequence[Fact]) -> list[FigureRow]:
    """Rows for every substantive figure of the facts, in fact order."""
    rows: list[FigureRow] = []
    for f in facts:
        qs = extract_quantities(f.text)
        subs = [q for q in qs if substantive(q)]
        prev_measure, prev_end = "", -1
        labeler = SentenceLabeler(f.text) if subs else None
        for q in subs:
            measure = _measure(f.text, q, subs, prev_measure, prev_end)
            prev_measure, prev_end = measure, q.end
            if _quoted(f.text, q.start):
                continue  # direct speech (“我每月收入5000元”) is an anecdote, not a key figure
            rows.append(FigureRow(q.surface, measure, f.date, period_of(f.text, q, qs, _year(f.date)), f.source,
                                  f.doc_id, f.chunk_id, f.text, q.kind, q.unit, q.value, f.score,
                                  start=f.start, end=f.end,
                                  label=labeler.label(q.start, q.end, measure, q.kind)))
    return rows


def _measure(text: str, q: Quantity, subs: Sequence[Quantity], prev_measure: str, prev_end: int) -> str:
    """What ``q`` measures: the phrase before it in its clause (since the previous figure), plus
    the counted noun after a classifier (``14个深度贫困县之一``)."""
    lo, hi = _clause(text, q.start)
    seg_start = max([lo] + [x.end for x in subs if lo <= x.start and x.end <= q.start])
    segment = text[seg_start:q.start]
    before = _clean(segment) if not _WEAK.match(_PERIOD_RE.sub("", segment)) else ""
    after = ""
    if q.kind == "count" and fold_unit(q) in _CLASSIFIER_UNITS:
        tail = text[q.end:hi]
        cut = _NOUN_STOP.search(tail)
        after = tail[:cut.start() if cut else len(tail)][:10]
        after = after if len(after) >= 2 else ""
    if before or after:
        return (before + after)[-MAX_MEASURE:]
    if prev_measure and prev_end >= lo:
        return prev_measure  # 由2014年的10.3%降至0.4%
    head = _clean(text[lo:q.start])
    return head or _clean(re.split(r"[,，;；。]", text[q.end:hi])[0])[:12]


def fold_unit(q: Quantity) -> str:
    """The unit as written after the number (个 for 18个, 名 for 265名)."""
    return q.unit


def _quoted(text: str, pos: int) -> bool:
    """Whether ``pos`` lies inside an open “…” quotation of ``text``."""
    before = text[:pos]
    return before.count("“") > before.count("”")


def _bigrams(s: str) -> set[str]:
    return char_bigrams(re.sub(r"[^\w]", "", s))


def measure_similarity(a: str, b: str) -> float:
    """Share of the shorter measure's character bigrams found in the other (0..1)."""
    ga, gb = _bigrams(a), _bigrams(b)
    if len(ga) < 2 or len(gb) < 2:
        return 0.0
    return containment(ga, gb)


def _point(period: str | None) -> bool:
    """A period that names one point in time (2016年底), not a span up to the report date."""
    return bool(period) and not re.search(r"以来|截至|截止|累计|历年|来$", period or "")


def _same_kind(a: FigureRow, b: FigureRow) -> bool:
    return a.kind == b.kind and (a.unit == b.unit or {a.unit, b.unit} <= {"人", "名", "位"})


def _comparable(a: FigureRow, b: FigureRow) -> bool:
    """Totals that can conflict: money, rates, people (counts of villages/projects legitimately
    differ by scope), with measures long enough to compare."""
    people = {a.unit, b.unit} <= PEOPLE_UNITS
    return (a.kind in ("money", "percent") or people) and min(len(a.measure), len(b.measure)) >= 4


def find_conflicts(rows: list[FigureRow], *, min_similarity: float = 0.7) -> list[Conflict]:
    """Group rows that disagree across documents; merge rows that agree (``also_in``).

    Mutates ``rows``: duplicates are removed (their doc ids go to ``also_in`` of the kept
    row) and ``conflict`` ids are set.

    Args:
        rows: figure rows (from several documents).
        min_similarity: :func:`measure_similarity` above which two measures are the same.

    Returns:
        The conflict groups (row indices refer to ``rows`` after merging).
    """
    i = 0
    while i < len(rows):
        a = rows[i]
        j = i + 1
        while j < len(rows):
            b = rows[j]
            if (b.doc_id != a.doc_id and _same_kind(a, b) and measure_similarity(a.measure, b.measure) >= min_similarity
                    and abs(a.amount - b.amount) <= 1e-9 * max(abs(a.amount), 1.0)):
                if b.doc_id not in a.also_in:
                    a.also_in.append(b.doc_id)
                del rows[j]
                continue
            j += 1
        i += 1
    groups: list[Conflict] = []
    for i, a in enumerate(rows):
        for j in range(i + 1, len(rows)):
            b = rows[j]
            if (b.doc_id == a.doc_id or not _same_kind(a, b) or not _comparable(a, b) or b.doc_id in a.also_in
                    or same_quantity_rows(a, b) or (_point(a.period) and _point(b.period) and a.period != b.period)
                    or measure_similarity(a.measure, b.measure) < min_similarity):
                continue
            gid = a.conflict if a.conflict is not None else b.conflict
            if gid is None:
                gid = len(groups) + 1
                groups.append(Conflict(gid, a.measure if len(a.measure) <= len(b.measure) else b.measure, []))
            for k, r in ((i, a), (j, b)):
                r.conflict = gid
                if k not in groups[gid - 1].rows:
                    groups[gid - 1].rows.append(k)
    return groups


def same_quantity_rows(a: FigureRow, b: FigureRow) -> bool:
    """Whether two rows state the same amount (1.1亿元 = 11000万元)."""
    qa, qb = extract_quantities(a.value), extract_quantities(b.value)
    return bool(qa and qb) and same_quantity(qa[0], qb[0])


def select_rows(rows: list[FigureRow], limit: int) -> list[FigureRow]:
    """The ``limit`` most useful rows: conflicts first (newest report first within a group), then
    money and percentages, counts of people, other counts, each by the informativeness of their
    sentence; returned in that order."""
    def order(r: FigureRow) -> int:
        return _KIND_ORDER.get(r.kind, 2 if r.unit in PEOPLE_UNITS else 3)

    keep = sorted(rows, key=lambda r: (r.conflict is None, order(r), -r.score))
    keep = keep[:max(limit, sum(1 for r in rows if r.conflict is not None))]
    by_date = sorted(keep, key=lambda r: r.date or "", reverse=True)
    return sorted(by_date, key=lambda r: (r.conflict is None, r.conflict or 0, order(r), -r.score if r.conflict is None
                                          else 0))
