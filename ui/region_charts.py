"""The Regions tab's pictures: the key figures' timeline and the comparison with other regions.

Pure functions over summaries (no Gradio). The charts are inline SVG from
:func:`rag.timeline_chart` / :func:`rag.comparison_chart`: matplotlib escapes the article text it
draws, and each point or bar is an ``<a href="#shanhai-…">`` that the page script
(:data:`ui.render.HEAD_JS`) turns into "scroll the passage card into view and flash it". Timeline
points link to the summary's own passage cards (panel ``regions``); comparison bars link to cards
drawn under the comparison chart (panel ``regions-cmp``), one per bar.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ui import render
from ui.actions import friendly_error

PANEL = "regions"  # the summary's passage cards (ui.regions_tab)
COMPARE_PANEL = "regions-cmp"
SCOPES = [("同一帮扶方的其他受援地区", "peers"), ("本次已生成摘要的地区", "session")]
MAX_PEERS = 6
COMPARE_HINT = ("对比：先生成一个地区的摘要，再点「对比」。其他地区的摘要用抽取式后端生成（快，不调用大模型），"
                "本次已生成过摘要的地区直接复用。")


def timeline_html(s: Any) -> str:
    """The timeline of summary ``s`` (or the note why there is none) as safe HTML."""
    from rag import timeline_chart

    return timeline_chart(s, anchor=lambda n: render.anchor_id(n, PANEL)).html()


def _note(text: str, kind: str = "info") -> str:
    return render.notice_html(kind, text)


def gather(current: Any, session: dict[str, Any], scope: str, *, regions: Callable[[], Any],
           summarize: Callable[[str], Any]) -> tuple[list[Any], list[str]]:
    """The summaries to compare with ``current`` and notes on regions that could not be used.

    Args:
        current: the summary on screen.
        session: summaries of this session by region (updated in place with new ones).
        scope: ``peers`` (other recipients of the region's donors, :func:`rag.peer_regions`) or
            ``session`` (every region summarised in this session).
        regions: returns the gazetteer (``pipeline.regions``).
        summarize: region name → summary (extractive), for regions not in ``session``.

    Returns:
        ``([current, *others], notes)``.
    """
    from rag import RegionNotFoundError, SummaryError, peer_regions

    session[current.region] = current
    if scope == "peers":
        names = peer_regions(regions(), current.region, limit=MAX_PEERS)
    else:
        names = [n for n in session if n != current.region]
    out, notes = [current], []
    for name in names:
        s = session.get(name)
        if s is None:
            try:
                s = session[name] = summarize(name)
            except (RegionNotFoundError, SummaryError) as exc:
                notes.append(f"{name}：{exc}")
                continue
        if s.region != current.region and all(s.region != o.region for o in out):
            out.append(s)
    return out, notes


def compare_html(summaries: list[Any], term: str | None, notes: Sequence[str] = ()) -> tuple[str, list, str | None]:
    """(HTML of the comparison, measure choices ``(label, term)``, the term shown).

    ``term`` is kept when the regions share it, else the measure most of them share is shown."""
    from rag import compare_points, comparison_chart, shared_measures

    current = summaries[0]
    extra = "".join(_note(n, "error") for n in notes)
    if len(summaries) < 2:
        return extra + _note(f"没有可与{current.region}对比的地区：地区索引中没有与它共享帮扶方的地区，"
                             "或本次还没有生成其他地区的摘要。"), [], None
    measures = shared_measures(summaries)
    if not measures:
        names = "、".join(s.region for s in summaries)
        return extra + _note(f"{names} 的关键数字里没有共同的指标，无法对比。"), [], None
    choices = [(f"{t}（{k} 个地区）", t) for t, k in measures]
    if term not in {t for t, _k in measures}:
        term = measures[0][0]
    points, note = compare_points(summaries, term)
    chart = comparison_chart(points, term, anchor=lambda k: render.anchor_id(k, COMPARE_PANEL),
                             highlight=current.region, note=note)
    cards = [{**p.passage.to_json(), "n": k, "title": f"{p.region}｜{p.passage.title}", "evidence_spans": []}
             for k, p in enumerate(points, start=1) if p.passage is not None]
    cites = [{"n": k, "support": [list(x) for x in p.support]} for k, p in enumerate(points, start=1)]
    head = (f'<div class="shp-subhead">对比 {len(summaries)} 个地区：'
            f'{render.esc("、".join(s.region for s in summaries))}（各地区最新的数字，点击条形查看原文）</div>')
    panel = render.passages_html(cards, citations=cites, panel=COMPARE_PANEL) if cards and chart.svg else ""
    return extra + head + chart.html() + panel, choices, term


def run_compare(ctx: Any, current: Any, session: dict[str, Any] | None, scope: str,
                term: str | None) -> tuple[str, list, str | None, dict[str, Any], list[str]]:
    """The comparison for the Regions tab: (HTML, measure choices, term, session, compared regions)."""
    session = dict(session or {})
    if current is None:
        return _note("请先生成一个地区的摘要，再点「对比」。"), [], None, session, []
    try:
        summaries, notes = gather(current, session, scope, regions=ctx.pipeline.regions,
                                  summarize=lambda n: ctx.pipeline.summarize(n, backend="extractive"))
    except Exception as exc:
        return _note(friendly_error(exc), "error"), [], None, session, []
    html, choices, term = compare_html(summaries, term, notes)
    return html, choices, term, session, [s.region for s in summaries]


def rerender(session: dict[str, Any] | None, compared: list[str] | None, term: str | None) -> str:
    """The comparison of the regions already gathered, for another measure (nothing recomputed)."""
    summaries = [session[n] for n in compared or [] if session and n in session]
    if not summaries:
        return _note(COMPARE_HINT)
    return compare_html(summaries, term)[0]
