"""Compare regions on one measure: the latest key figure of each, as a bar chart (SVG).

Which regions: :func:`peer_regions` — the other recipients of a region's donors (``江苏省 → 沿河县``
and ``江苏省 → 铜仁市`` make 铜仁市 a peer of 沿河县), or a donor's recipients — or any set of
summaries the caller has. Which measure: a *term* that ends the labels of key figures in at least
two of the summaries (:func:`shared_measures`: ``帮扶资金`` matches ``帮扶资金`` and
``财政帮扶资金``; terms are whole segmenter words). A figure whose label names a pairing
(``甲区→乙村 帮扶资金``) counts only for the recipient it names.

Per region the figure compared is the latest (placed in time as on the timeline,
:func:`rag.summarize.charts.figure_date`); all bars share the unit most regions report the
measure in, and regions reporting it in another unit are listed in the note, not drawn.

>>> from rag.summarize.compare import compare_points, comparison_chart, shared_measures
>>> term = shared_measures([a, b, c])[0][0]
>>> chart = comparison_chart(compare_points([a, b, c], term)[0], term, highlight=a.region)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Sequence

from rag.summarize.charts import Chart, figure_date, link_artist, new_figure, render_svg, rendering, scale_unit
from rag.text.numbers import figure_spans

__all__ = ["ComparePoint", "peer_regions", "label_core", "shared_measures", "compare_points", "comparison_chart",
           "compare_anchor"]

MIN_TERM = 3  # characters: 帮扶资金, 贫困县; not 资金


@dataclass
class ComparePoint:
    """One bar: a region's latest figure for the measure, and the passage that states it."""

    region: str
    row: Any  # FigureRow
    passage: Any  # SummaryPassage (None when the row's number is unknown)
    when: date | None
    support: list[tuple[int, int]] = field(default_factory=list)  # the figure in passage.text


def compare_anchor(k: int) -> str:
    """Default anchor of bar ``k`` (1-based): ``cmp<k>``."""
    return f"cmp{int(k)}"


def peer_regions(store: Any, region: str, *, limit: int = 6) -> list[str]:
    """Regions that share a donor with ``region`` (directed pairings of the gazetteer), or the
    recipients of ``region`` when it is a donor; most mentioned first, ``region`` excluded.

    Args:
        store: a :class:`rag.regions.RegionStore`.
        region: any name or alias.
        limit: most peers returned.
    """
    found = store.find(region)
    if found is None:
        return []
    key = found.name
    directed = [p for p in store.pairs if p.directed]
    donors = {p.donor for p in directed if p.recipient == key} | {key}
    peers = {p.recipient for p in directed if p.donor in donors} - {key}
    mentions = {name: store.regions[name].mentions if name in store.regions else 0 for name in peers}
    return sorted(peers, key=lambda n: (-mentions[n], n))[:limit]


def _subject(label: str) -> tuple[str, str]:
    """``("甲区→乙村", "帮扶资金")`` for a label with a pairing subject, ``("", label)`` otherwise."""
    head, _, rest = (label or "").partition(" ")
    return (head, rest) if rest and "→" in head else ("", label or "")


def label_core(label: str) -> str:
    """A label without its ``donor→recipient`` subject."""
    return _subject(label)[1]


def _own_rows(s: Any) -> list[tuple[int, Any]]:
    """(table index, row) of the summary's figures about the region itself."""
    names = {s.region, *s.aliases}
    out = []
    for i, r in enumerate(s.figures):
        subject, _core = _subject(r.label)
        if subject and subject.split("→")[-1] not in names:
            continue  # about another recipient (a place under this one, or a neighbour)
        out.append((i, r))
    return out


def _suffixes(core: str) -> list[str]:
    from rag.text.tokenize import tagged_words

    words = [w[0] for w in tagged_words(core)]
    return [t for i in range(len(words)) if len(t := "".join(words[i:])) >= MIN_TERM]


def shared_measures(summaries: Sequence[Any], *, limit: int = 20) -> list[tuple[str, int]]:
    """Terms ending the labels of figures in at least two of ``summaries``, with how many regions
    have them; most regions first, then the more specific (longer) term."""
    regions: dict[str, set[str]] = {}
    for s in summaries:
        for _i, r in _own_rows(s):
            for term in _suffixes(label_core(r.label or r.measure)):
                regions.setdefault(term, set()).add(s.region)
    shared = {t: rs for t, rs in regions.items() if len(rs) >= 2}
    # 特产品 adds nothing when 农特产品 is in the same regions: keep the longer term
    kept = [t for t, rs in shared.items() if not any(u != t and u.endswith(t) and shared[u] == rs for u in shared)]
    return sorted(((t, len(shared[t])) for t in kept), key=lambda x: (-x[1], -len(x[0]), x[0]))[:limit]


def _latest(rows: list[tuple[int, Any]]) -> tuple[Any, date | None]:
    """The row placed last in time (undated rows last; table order breaks ties)."""
    dated = [(figure_date(r)[0], -i, r) for i, r in rows]
    when, _i, row = max(dated, key=lambda x: (x[0] or date.min, x[1]))
    return row, when


def compare_points(summaries: Sequence[Any], term: str) -> tuple[list[ComparePoint], str]:
    """The latest figure for ``term`` in each summary, largest first, and a note on regions left out.

    Args:
        summaries: :class:`rag.summarize.RegionSummary` objects (one per region).
        term: a measure (:func:`shared_measures`); it must end the figure's label.

    Returns:
        ``(points, note)``; all points share one unit (the one most regions use).
    """
    matches: dict[str, tuple[Any, list[tuple[int, Any]]]] = {}
    for s in summaries:
        rows = [(i, r) for i, r in _own_rows(s) if label_core(r.label or r.measure).endswith(term)]
        if rows and s.region not in matches:
            matches[s.region] = (s, rows)
    units = Counter(u for _s, rows in matches.values() for u in {r.unit for _i, r in rows})
    unit = units.most_common(1)[0][0] if units else ""
    points, other_unit = [], []
    for region, (s, rows) in matches.items():
        same = [(i, r) for i, r in rows if r.unit == unit]
        if not same:
            other_unit.append(region)
            continue
        row, when = _latest(same)
        passage = next((p for p in s.passages if p.n == row.n), None)
        spans = figure_spans(row.value, passage.text)[:1] if passage is not None else []
        points.append(ComparePoint(region, row, passage, when, spans))
    points.sort(key=lambda p: -p.row.amount)
    missing = [s.region for s in summaries if s.region not in matches]
    notes = []
    if missing:
        notes.append("没有该指标的地区：" + "、".join(missing))
    if other_unit:
        notes.append(f"单位不是“{unit}”的地区（未画入）：" + "、".join(other_unit))
    return points, "；".join(notes)


def _tip(p: ComparePoint, term: str) -> str:
    r = p.row
    return (f"{p.region} · {r.label or term}：{r.value}（{r.period or '时间未写明'}）\n"
            f"{r.source or '来源不详'} · 报道日期 {r.date or '不详'}")


def comparison_chart(points: Sequence[ComparePoint], term: str, *, anchor: Callable[[int], str] = compare_anchor,
                     highlight: str | None = None, note: str = "") -> Chart:
    """A horizontal bar chart of ``points`` (one bar per region, in the given order, top down).

    Args:
        points: from :func:`compare_points`.
        term: the measure compared (axis title).
        anchor: bar number (1-based, order of ``points``) → element id the bar links to.
        highlight: region drawn in the accent colour (the one the reader came from).
        note: text kept under the chart (regions left out).

    Returns:
        A :class:`rag.summarize.charts.Chart`; no SVG (just a note) with fewer than two regions.
    """
    if len(points) < 2:
        have = f"只有 {points[0].region} 有" if points else "没有地区有"
        why = f"对比：{have}“{term}”这一指标，至少需要两个地区才能对比"
        return Chart("", "；".join(x for x in (why, note) if x) + "。")
    div, unit = scale_unit(points[0].row.unit, [p.row.amount for p in points])
    with rendering():
        fig = new_figure(7.2, 0.55 * len(points) + 1.3)
        ax = fig.add_subplot()
        tips: dict[str, str] = {}
        ys = list(range(len(points)))[::-1]
        top = max(p.row.amount / div for p in points)
        for k, (p, y) in enumerate(zip(points, ys), start=1):
            color = "#e8743b" if p.region == highlight else "#2f7de1"
            (bar,) = ax.barh([y], [p.row.amount / div], color=color, height=0.6)
            link_artist(tips, bar, f"shp-bar-{k}", _tip(p, term), anchor(k))
            core = label_core(p.row.label)
            what = f"（{core}）" if core and core != term else ""
            inside = p.row.amount / div > 0.55 * top  # a long bar carries its label inside
            ax.annotate(f"{p.row.value}{what} · {p.row.source or '来源不详'} {p.row.date or '日期不详'}",
                        (p.row.amount / div, y), xytext=(-4 if inside else 4, 0), textcoords="offset points",
                        va="center", ha="right" if inside else "left", fontsize=7,
                        color="white" if inside else "#333")
        ax.set_yticks(ys, [p.region for p in points], fontsize=9)
        ax.set_xlim(0, top * 1.05 if top > 0 else 1)
        ax.set_xlabel(f"{term}（{unit or '数值'}）· 各地区最新的数字；点击条形查看原文段落", fontsize=8)
        ax.set_title(f"对比：{term}", fontsize=10, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(True, axis="x", color="#eee")
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        svg = render_svg(fig, title=f"{term} 地区对比", tips=tips)
    return Chart(svg, note + ("。" if note else ""), list(points))
