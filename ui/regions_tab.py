"""Regions tab: search the gazetteer, summarise a region with citations, a timeline of its key figures,
the figures table, passages, a comparison with other regions, download.

Thin: the gazetteer comes from :meth:`rag.Pipeline.regions`, summaries from
:meth:`rag.Pipeline.summarize`, the charts from :mod:`ui.region_charts`. All article text and model output is escaped (Markdown via ``render.md_escape`` /
``render.answer_markdown``, HTML via ``render.passages_html``); the figures table is a plain
text ``gr.Dataframe``.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import gradio as gr

from ui import region_charts, render
from ui.actions import friendly_error
from ui.context import BACKEND_CHOICES, UIContext

PANEL = region_charts.PANEL
FIGURE_HEADERS = ["数字", "指标", "时间", "报道日期", "来源", "文档", "引用", "备注"]
_lock = threading.Lock()
_cache: dict[str, Any] = {}


def region_choices(ctx: UIContext, query: str = "", limit: int = 50) -> tuple[list[tuple[str, str]], str]:
    """Dropdown choices ``(label, name)`` for regions matching ``query`` and a status line."""
    try:
        store = ctx.pipeline.regions()  # brought up to date with the index
    except Exception as exc:
        return [], "⚠️ " + render.md_escape(friendly_error(exc))
    found = store.search(query or "", limit=limit)
    choices = [(f"{r.name}（{r.level}，提及 {r.mentions} 次，{len(r.docs)} 篇）", r.name) for r in found]
    if not found:
        return [], f"没有名称或别名包含“{render.md_escape(query)}”的地区。"
    return choices, f"地区 {len(store.regions)} 个，帮扶关系 {len(store.pairs)} 对；匹配 {len(found)} 个。"


def summary_markdown(s) -> str:
    """Header (aliases, pairs), the cited summary with clickable ``[n]``, checks — safe Markdown."""
    esc = render.md_escape
    valid = [p.n for p in s.passages]
    lines = [f"### {esc(s.region)}"]
    if s.aliases:
        lines.append("**别名**：" + esc("、".join(s.aliases)))
    if s.pairs:
        lines.append("**帮扶关系**：" + "；".join(esc(f"{p.arrow()}（{'、'.join(p.relations)}）") for p in s.pairs[:6]))
    paragraphs: dict[int, list[str]] = {}
    for sent in s.sentences:
        paragraphs.setdefault(sent.paragraph, []).append(sent.marked)
    for _n, items in sorted(paragraphs.items()):
        lines.append(render.answer_markdown("".join(items), panel=PANEL, valid=valid))
    if not s.sentences:
        lines.append("（没有通过核查的句子）")
    ch = s.checks
    note = (f"核查：{ch['sentences']} 句全部带引用" if ch["cited_sentences"] == ch["sentences"] else
            f"核查：{ch['cited_sentences']}/{ch['sentences']} 句带引用")
    note += f"；找不到出处的数字 {len(ch['ungrounded_numbers'])} 个；删除未通过核查的句子 {len(ch['removed_sentences'])} 句"
    if s.conflicts:
        note += f"；⚠ {len(s.conflicts)} 组数字在不同报道中不一致（见关键数字表）"
    lines.append(f"*{esc(note)}；后端 {esc(s.backend)}，用时 {s.timings.get('total', 0):.1f} 秒*")
    return "\n\n".join(lines)


def figure_rows(s) -> list[list[str]]:
    """Rows of the key-figures table (plain strings), rows of one measure together."""
    from rag import group_rows

    out = []
    for r in group_rows(s.figures):
        note = f"⚠ 数字不一致（第 {r.conflict} 组）" if r.conflict is not None else (
            "另见 " + "、".join(r.also_in) if r.also_in else "")
        out.append([r.value, r.label, r.period or "—", r.date or "—", r.source or "—", r.doc_id, f"[{r.n}]", note])
    return out


def passages_panel(s, script: str = "text") -> str:
    """The cited passages as cards (supporting spans highlighted), ids for the ``[n]`` links."""
    passages = [{**p.to_json(), "evidence_spans": []} for p in s.passages]
    citations = [{"n": p.n, "support": p.to_json()["support"]} for p in s.passages]
    return render.passages_html(passages, citations=citations, script=script, panel=PANEL)


def download_file(s) -> str:
    """Write the Markdown of ``s`` to a temporary file and return its path."""
    from rag import render_markdown

    with _lock:
        if "dir" not in _cache:
            _cache["dir"] = Path(tempfile.mkdtemp(prefix="shanhai-summaries-"))
    safe = "".join(c for c in s.region if c.isalnum()) or "region"
    path = _cache["dir"] / f"{safe}-{s.backend}-摘要.md"
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    tmp.write_text(render_markdown(s), encoding="utf-8")
    tmp.replace(path)
    return str(path)


def run_summary(ctx: UIContext, name: str | None, backend: str | None, script: str = "text"):
    """(summary Markdown, timeline HTML, figure rows, passages HTML, download path, summary or None)
    for one region."""
    from rag import RegionNotFoundError, SummaryError

    if not name:
        return "请先在上方搜索并选择一个地区。", "", [], render.passages_html([]), None, None
    try:
        s = ctx.pipeline.summarize(name, backend=backend or ctx.default_backend)
    except Exception as exc:
        message = str(exc) if isinstance(exc, (RegionNotFoundError, SummaryError)) else friendly_error(exc)
        panel = render.passages_html([], notice=render.notice_html("error", "无法生成摘要", message))
        return "⚠️ " + render.md_escape(message), "", [], panel, None, None
    return (summary_markdown(s), region_charts.timeline_html(s), figure_rows(s), passages_panel(s, script),
            download_file(s), s)


def build(ctx: UIContext) -> None:
    """Build the Regions tab inside the current ``gr.Tab``."""
    choices, status0 = region_choices(ctx)
    with gr.Row():
        query = gr.Textbox(label="搜索地区（名称或别名，简繁体均可）", placeholder="如：沿河、靖遠、广信区",
                           elem_id="shanhai-region-query", scale=2)
        region = gr.Dropdown(choices=choices, value=None, label="地区", elem_id="shanhai-region-select", scale=3)
        backend = gr.Dropdown(choices=BACKEND_CHOICES, value=ctx.default_backend, label="生成后端",
                              elem_id="shanhai-region-backend", scale=2)
    status = gr.Markdown(status0, elem_id="shanhai-region-status")
    with gr.Row():
        run = gr.Button("生成摘要", variant="primary", elem_id="shanhai-region-run")
        download = gr.DownloadButton("下载 Markdown", value=None, elem_id="shanhai-region-download")
    with gr.Row():
        with gr.Column(scale=3):
            summary = gr.Markdown("选择地区后点击「生成摘要」。摘要每句后的 [n] 可点击，查看右侧的原文段落。",
                                  elem_id="shanhai-region-summary")
            timeline = gr.HTML("", elem_id="shanhai-region-timeline")
            figures = gr.Dataframe(headers=FIGURE_HEADERS, datatype="str", interactive=False, wrap=True,
                                   label="关键数字（不同报道不一致的数字分行列出，并标出日期）", max_height=420,
                                   elem_id="shanhai-region-figures")
            with gr.Row():
                scope = gr.Radio(region_charts.SCOPES, value="peers", label="对比范围", elem_id="shanhai-region-scope",
                                 scale=3)
                measure = gr.Dropdown(choices=[], value=None, label="对比指标", elem_id="shanhai-region-measure",
                                      scale=2)
                compare = gr.Button("对比", elem_id="shanhai-region-compare-run", scale=1)
            comparison = gr.HTML(render.notice_html("info", region_charts.COMPARE_HINT),
                                 elem_id="shanhai-region-compare")
        with gr.Column(scale=2):
            script = gr.Radio([("简体", "text"), ("原文字形", "original")], value="text", label="段落显示",
                              elem_id="shanhai-region-script")
            panel = gr.HTML(render.passages_html([]), elem_id="shanhai-region-passages")

    last = gr.State(None)  # this session's last summary (for the script toggle and the comparison)
    session = gr.State({})  # region -> summary, every summary of this session (reused by the comparison)
    compared = gr.State([])  # the regions of the comparison on screen (the measure menu redraws it)
    private = dict(api_visibility="private")

    def on_query(q):
        found, line = region_choices(ctx, q)
        return gr.update(choices=found, value=found[0][1] if found and q else None), line

    def on_script(s, sc):
        return passages_panel(s, sc) if s is not None else gr.skip()

    query.submit(on_query, [query], [region, status], **private)
    query.change(on_query, [query], [region, status], **private, queue=False)
    def on_run(n, b, sc, known):
        *out, s = run_summary(ctx, n, b, sc)
        known = {**(known or {}), **({s.region: s} if s is not None else {})}
        hint = render.notice_html("info", region_charts.COMPARE_HINT)
        return (*out, s, known, hint, gr.update(choices=[], value=None), [])

    def on_compare(s, known, sc, term):
        html, choices, term, known, names = region_charts.run_compare(ctx, s, known, sc, term)
        return html, gr.update(choices=choices, value=term), known, names

    run.click(on_run, [region, backend, script, session],
              [summary, timeline, figures, panel, download, last, session, comparison, measure, compared],
              concurrency_limit=2, **private)
    compare.click(on_compare, [last, session, scope, measure], [comparison, measure, session, compared],
                  concurrency_limit=2, **private)
    measure.input(region_charts.rerender, [session, compared, measure], [comparison], **private)
    script.change(on_script, [last, script], [panel], **private, queue=False)
    if ctx.docs_changed is not None:
        ctx.docs_changed.change(lambda _v, q: on_query(q), [ctx.docs_changed, query], [region, status], **private)
