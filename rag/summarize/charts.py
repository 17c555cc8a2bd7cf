"""Pictures of a region summary: a timeline of each measure's key figures (SVG, matplotlib).

Each key figure is placed at the time it refers to: the point in time its period names
(``截至2019年底`` → 2019-12-31, ``2016年底``, ``2020年6月``), else — for running totals
(``2017年以来``, ``三年累计``), the current year (``今年``) or no period — the reporting date of its
article. Figures without either are left out (the note says how many). One small panel per
measure and unit (values in different units never share an axis), at most :data:`MAX_PANELS`,
measures with the most points first; a measure needs two points to get a panel.

Every point is a link to its passage (``anchor(n)``, e.g. ``p3`` in the HTML export or
``shanhai-regions-p-3`` in the UI) with a ``<title>`` tooltip, and is labelled with its value and
source. The SVG keeps text as text (``svg.fonttype: none``) in a CJK font list, so Chinese stays
searchable and sharp; matplotlib escapes the text it writes, and our tooltips go through
:func:`rag.text.escape.esc`. Rendering uses :class:`matplotlib.figure.Figure` (no pyplot state)
under a lock, since the SVG settings are read from matplotlib's global ``rcParams``.

>>> from rag.summarize.charts import timeline_chart
>>> chart = timeline_chart(summary)          # anchors "p<n>", as in `summarize --format html`
>>> chart.svg or chart.note
"""

from __future__ import annotations

import calendar
import io
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Iterator, Sequence

from rag.summarize.labels import group_rows
from rag.text.escape import esc

__all__ = ["FONTS", "MAX_PANELS", "Chart", "ChartPoint", "figure_date", "timeline_points", "timeline_chart",
           "html_anchor", "scale_unit", "render_svg", "link_artist", "new_figure", "rendering"]

# CJK fonts first (matplotlib uses the first one installed; browsers get the whole list).
FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Microsoft YaHei",
         "PingFang SC", "DejaVu Sans"]
MAX_PANELS = 6
COLORS = ["#2f7de1", "#e8743b", "#19a979", "#945ecf", "#ed4a7b", "#13a4b4"]
_RC = {"svg.fonttype": "none", "svg.hashsalt": "shanhai", "font.family": "sans-serif", "font.sans-serif": FONTS,
       "axes.unicode_minus": False, "font.size": 9}
_LOCK = threading.Lock()
_POINT_RE = re.compile(r"(\d{4})年(?:(\d{1,2})月(?:(\d{1,2})日)?)?(底|末|初|上半年|下半年|一季度|前三季度)?")
_RUNNING_RE = re.compile(r"以来|来$|累计|今年|当年|同年|历年")
_PART_END = {"初": (1, 1), "一季度": (3, 31), "上半年": (6, 30), "前三季度": (9, 30)}
_ROOT_STYLE = "stroke-linejoin:round;stroke-linecap:butt"
_A_RE = re.compile(r'<a xlink:href="(#[^"]*)" target="_blank">')


def html_anchor(n: int) -> str:
    """The anchor of passage ``n`` in `summarize --format html` (``p<n>``)."""
    return f"p{int(n)}"


@dataclass
class ChartPoint:
    """One plotted figure: its series, the time it is placed at and the row it comes from."""

    series: str
    unit: str
    when: date
    basis: str  # "period" (the time the text names) or "date" (the article's reporting date)
    row: Any  # FigureRow
    anchor: str = ""


@dataclass
class Chart:
    """A rendered chart: ``svg`` (inline markup, "" when there is nothing to draw) and a ``note``
    (why some figures are not drawn, or why there is no chart)."""

    svg: str
    note: str
    points: list[Any] = field(default_factory=list)

    def html(self) -> str:
        """The chart as safe HTML: the SVG in a ``<figure>``, the note as its caption (or alone)."""
        note = f'<p class="shp-chart-note">{esc(self.note)}</p>' if self.note else ""
        if not self.svg:
            return f'<div class="shp-chart shp-chart-empty">{note}</div>'
        return f'<figure class="shp-chart">{self.svg}<figcaption>{note}</figcaption></figure>'

    def standalone_svg(self) -> str:
        """The SVG as a file of its own: fixed size (the viewBox's, in points) instead of 100% width."""
        m = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', self.svg)
        if not m:
            return self.svg
        return re.sub(r'width="100%" style="[^"]*"', f'width="{m.group(1)}pt" height="{m.group(2)}pt" '
                      f'style="{_ROOT_STYLE}"', self.svg, count=1)


def _parse_date(text: str | None) -> date | None:
    m = re.match(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?", text or "")
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
    except ValueError:
        return None


def figure_date(row: Any) -> tuple[date | None, str]:
    """Where a key figure sits on the time axis, and on what basis.

    Args:
        row: a :class:`rag.summarize.FigureRow` (``period``, ``date``).

    Returns:
        ``(day, "period")`` when the period names a point in time (``截至2019年底``: the year's
        last day; a year alone: its last day; a month: its last day; ``上半年``: 30 June …);
        ``(reporting date, "date")`` for running totals, the current year or no period;
        ``(None, "")`` when neither is known.
    """
    period = row.period or ""
    m = _POINT_RE.search(period)
    if m and not _RUNNING_RE.search(period):
        year, month, day, part = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        try:
            if month:
                mo = int(month)
                return date(year, mo, int(day) if day else calendar.monthrange(year, mo)[1]), "period"
            mo, d = _PART_END.get(part or "", (12, 31))
            return date(year, mo, d), "period"
        except ValueError:
            pass
    reported = _parse_date(row.date)
    return (reported, "date") if reported else (None, "")


def scale_unit(unit: str, values: Sequence[float]) -> tuple[float, str]:
    """A divisor and the unit to show for ``values`` (``元`` → ``万元`` / ``亿元``; ``%`` unchanged)."""
    top = max((abs(v) for v in values), default=0.0)
    if unit == "%" or not unit:
        return 1.0, unit
    if top >= 1e8:
        return 1e8, "亿" + unit
    if top >= 1e4:
        return 1e4, "万" + unit
    return 1.0, unit


def timeline_points(s: Any, *, anchor: Callable[[int], str] = html_anchor) -> tuple[list[ChartPoint], int]:
    """The plottable key figures of summary ``s`` and the number left out (no date at all).

    Series are the table's groups (:func:`rag.summarize.labels.group_rows`: one label, and all
    rows of one conflict group) split by unit."""
    names: dict[int, str] = {}
    points, undated = [], 0
    for r in group_rows(s.figures):
        label = r.label or r.measure
        if r.conflict is not None:
            label = names.setdefault(r.conflict, label)
        when, basis = figure_date(r)
        if when is None:
            undated += 1
            continue
        points.append(ChartPoint(label, r.unit, when, basis, r, anchor(r.n) if r.n else ""))
    return points, undated


def render_svg(fig: Any, *, title: str, tips: dict[str, str] | None = None) -> str:
    """``fig`` as inline SVG: no XML prolog, responsive width, links opening in place, and a
    ``<title>`` tooltip in each group whose gid is a key of ``tips`` (see :func:`link_artist`)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.S)
    svg = re.sub(r"<style[^>]*>.*?</style>\s*", "", svg, flags=re.S)  # a <style> would apply to the whole page
    m = re.match(r'<svg ([^>]*?)width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    if m:
        width = float(m.group(2)) * 4 / 3
        svg = (f'<svg {m.group(1)}width="100%" style="max-width:{width:.0f}px;height:auto;{_ROOT_STYLE}" role="img" '
               f'aria-label="{esc(title)}"' + svg[m.end():])
    svg = _A_RE.sub(lambda a: f'<a href="{esc(a.group(1))}" class="shp-chart-link">', svg)
    for gid, tip in (tips or {}).items():
        svg = svg.replace(f'<g id="{gid}">', f'<g id="{gid}"><title>{esc(tip)}</title>', 1)
    return svg


def link_artist(tips: dict[str, str], artist: Any, gid: str, tip: str, url: str) -> None:
    """Make ``artist`` a link to ``#url`` whose SVG group (id ``gid``) gets tooltip ``tip`` (kept in ``tips``)."""
    artist.set_gid(gid)
    if url:
        artist.set_url("#" + url)
    tips[gid] = tip


@contextmanager
def rendering() -> Iterator[None]:
    """Hold the render lock with our SVG settings (text as text, CJK fonts) in matplotlib's rcParams."""
    from matplotlib import rc_context

    with _LOCK, rc_context(_RC):
        yield


def new_figure(width: float, height: float) -> Any:
    """A pyplot-free figure (Agg canvas)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _tip(p: ChartPoint) -> str:
    r = p.row
    when = r.period or "时间未写明"
    return (f"{p.series}：{r.value}（{when}）\n{r.source or '来源不详'} · 报道日期 {r.date or '不详'}"
            + (f" · 段落 [{r.n}]" if r.n else ""))


def _series(points: list[ChartPoint], max_panels: int) -> list[list[ChartPoint]]:
    """Points by (series, unit); series of two points or more, most distinct dates first."""
    groups: dict[tuple[str, str], list[ChartPoint]] = {}
    for p in points:
        groups.setdefault((p.series, p.unit), []).append(p)
    multi = [g for g in groups.values() if len(g) >= 2]
    multi.sort(key=lambda g: (-len({p.when for p in g}), -len(g)))  # stable: table order breaks ties
    return multi[:max_panels]


def _panel(tips: dict[str, str], ax: Any, group: list[ChartPoint], color: str, k0: int) -> None:
    import matplotlib.dates as mdates

    group = sorted(group, key=lambda p: p.when)
    div, unit = scale_unit(group[0].unit, [p.row.amount for p in group])
    xs = [p.when for p in group]
    ys = [p.row.amount / div for p in group]
    if len(set(xs)) >= 2:
        ax.plot(xs, ys, "-", color=color, linewidth=1.2, alpha=0.6)
    seen: dict[date, int] = {}
    for i, (p, x, y) in enumerate(zip(group, xs, ys)):
        hollow = p.basis == "date"
        (dot,) = ax.plot([x], [y], "o", markersize=7, color=color, markerfacecolor="white" if hollow else color,
                         markeredgewidth=1.6, clip_on=False, zorder=3)
        link_artist(tips, dot, f"shp-pt-{k0 + i}", _tip(p), p.anchor)
        nth = seen[x] = seen.get(x, -1) + 1
        ax.annotate(f"{p.row.value}\n{p.row.source or '来源不详'}", (x, y), xytext=(7, 4 - 16 * nth),
                    textcoords="offset points", fontsize=7, color="#333", va="center")
    pad = timedelta(days=max(60, (max(xs) - min(xs)).days // 4))
    ax.set_xlim(min(xs) - pad, max(xs) + pad * 3)
    lo, hi = min(ys), max(ys)
    ax.set_ylim(0 if lo >= 0 else lo * 1.2, hi * 1.25 if hi > 0 else 1)
    lo_x, hi_x = ax.get_xlim()
    if hi_x - lo_x > 730:  # years apart: one tick per year or so
        ax.xaxis.set_major_locator(mdates.YearLocator(base=max(1, int((hi_x - lo_x) / 365 / 4))))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    else:
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=2, maxticks=5))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.set_title(group[0].series, fontsize=9, loc="left")
    ax.set_ylabel(unit or "数值", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, axis="y", color="#eee")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def timeline_chart(s: Any, *, anchor: Callable[[int], str] = html_anchor, max_panels: int = MAX_PANELS) -> Chart:
    """A timeline of the key figures of summary ``s``, one small panel per measure and unit.

    Args:
        s: a :class:`rag.summarize.RegionSummary`.
        anchor: passage number → element id its point links to (``#`` is added).
        max_panels: most measures drawn (those with the most distinct dates first).

    Returns:
        A :class:`Chart`; ``svg`` is "" with an explanatory ``note`` when no measure has two
        dated figures.
    """
    points, undated = timeline_points(s, anchor=anchor)
    groups = _series(points, max_panels)
    left = len({(p.series, p.unit) for p in points}) - len(groups)
    notes = []
    if undated:
        notes.append(f"{undated} 个数字没有报道日期，也没有写明时间，未画入")
    if not groups:
        why = ("没有带日期的关键数字" if not points else "每个指标都只有一个带日期的数字")
        return Chart("", f"时间线：{why}，无法画出变化（见关键数字表）" + ("；" + notes[0] if notes else "") + "。", points)
    if left > 0:
        notes.append(f"另有 {left} 个指标只有一个数字或超出 {max_panels} 个图的上限，见关键数字表")
    drawn = [p for g in groups for p in g]
    cols = 1 if len(groups) == 1 else 2
    rows = (len(groups) + cols - 1) // cols
    with rendering():
        fig = new_figure(7.6 if cols == 2 else 5.6, 2.5 * rows + 0.4)
        k, tips = 0, {}
        for i, g in enumerate(groups):
            ax = fig.add_subplot(rows, cols, i + 1)
            _panel(tips, ax, g, COLORS[i % len(COLORS)], k)
            k += len(g)
        fig.supxlabel("实心点：文中写明的时间；空心点：报道日期。点击数字查看原文段落。", fontsize=7, color="#555")
        svg = render_svg(fig, title=f"{s.region} 关键数字时间线", tips=tips)
    return Chart(svg, "；".join(notes) + ("。" if notes else ""), drawn)
