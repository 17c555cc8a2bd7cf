"""Library tab: the indexed documents, upload → ingest with progress, remove, cleaned vs original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ui import render
from ui.actions import UPLOAD_TYPES, friendly_error, ingest_uploads, remove_document, upload_message
from ui.context import UIContext

HEADERS = ["文档 ID", "标题", "来源", "日期", "片段数", "标记"]


def _listing(ctx: UIContext) -> tuple[list[list[Any]], list[tuple[str, str]], str]:
    """Table rows, dropdown choices and a one-line status for the current index."""
    try:
        metas = ctx.pipeline.documents()
    except Exception as exc:
        return [], [], friendly_error(exc)
    choices = [(f"{m.title}（{m.doc_id}）", m.doc_id) for m in metas]
    chunks = sum(int(m.n_chunks or 0) for m in metas)
    return render.doc_rows(metas), choices, f"共 {len(metas)} 篇文档，{chunks} 个片段。"


def _file_pairs(files: Any) -> list[tuple[str, str]]:
    pairs = []
    for f in files or []:
        path = getattr(f, "name", None) or (f.get("path") if isinstance(f, dict) else str(f))
        orig = getattr(f, "orig_name", None) or (f.get("orig_name") if isinstance(f, dict) else None)
        pairs.append((path, orig or Path(path).name))
    return pairs


def upload_files(ctx: UIContext, files: Any, progress: Any = None) -> dict[str, Any]:
    """Ingest uploaded files (Gradio file objects or paths); returns :func:`ingest_uploads`'s dict."""

    def report(done: int, total: int | None, message: str) -> None:
        if progress is not None:
            progress((done, total) if total else None, desc=f"导入中：{message[-60:]}" if message else "导入中…")

    return ingest_uploads(ctx.pipeline, _file_pairs(files), upload_dir=ctx.upload_dir,
                          max_mb=ctx.max_upload_mb, progress=report)


def view_document(ctx: UIContext, doc_id: str | None) -> tuple[str, str, str]:
    """(meta Markdown, cleaned text, raw text) for the viewer; all text escaped or plain."""
    if not doc_id:
        return "选择一篇文档查看清洗前后的文字。", "", ""
    try:
        doc = ctx.pipeline.document(doc_id)
    except Exception as exc:
        return "⚠️ " + render.md_escape(friendly_error(exc)), "", ""
    if doc is None:
        return f"⚠️ 找不到文档 {render.md_escape(doc_id)}：它可能已被删除，请刷新列表。", "", ""
    flags = render.flag_labels(doc.flags) or "无"
    meta = (f"**{render.md_escape(doc.title)}**  \n来源：{render.md_escape(doc.source or '不详')} · "
            f"日期：{render.md_escape(doc.date or '不详')} · 编码：{render.md_escape(doc.encoding)} · "
            f"字形：{render.md_escape(doc.script)}  \n清洗标记：{render.md_escape(flags)}")
    return meta, doc.original, doc.raw


def build(ctx: UIContext) -> None:
    """Build the library tab inside the current ``gr.Tab``."""
    rows, choices, status0 = _listing(ctx)
    status = gr.Markdown(render.md_escape(status0), elem_id="shanhai-library-status")
    table = gr.Dataframe(value=rows, headers=HEADERS, datatype="str", interactive=False, wrap=True,
                         elem_id="shanhai-doc-table", label="文档列表（点击一行查看）", max_height=360,
                         column_widths=["17%", "33%", "14%", "10%", "7%", "19%"])
    with gr.Row():
        with gr.Column(scale=3):
            files = gr.File(file_count="multiple", label=f"上传文章（{' '.join(UPLOAD_TYPES)}，每个不超过 "
                            f"{ctx.max_upload_mb:g} MB；上传后自动导入）", elem_id="shanhai-upload", height=130)
            upload_status = gr.Textbox(label="导入结果", interactive=False, lines=3, elem_id="shanhai-upload-status")
        with gr.Column(scale=2):
            doc = gr.Dropdown(choices=choices, value=None, label="选择文档", elem_id="shanhai-doc-select")
            with gr.Row():
                refresh = gr.Button("刷新列表", size="sm")
                remove = gr.Button("删除所选文档", size="sm", variant="stop", elem_id="shanhai-remove")
    meta = gr.Markdown("选择一篇文档查看清洗前后的文字。", elem_id="shanhai-doc-meta")
    with gr.Row():
        cleaned = gr.Textbox(label="清洗后（原文字形）", lines=16, max_lines=30, interactive=False,
                             elem_id="shanhai-doc-cleaned")
        raw = gr.Textbox(label="原始文本（导入时读到的）", lines=16, max_lines=30, interactive=False,
                         elem_id="shanhai-doc-raw")
    ctx.share("doc_select", doc)

    def on_upload(file_list, version, progress=gr.Progress()):
        try:
            result = upload_files(ctx, file_list, progress)
            text = upload_message(result)
        except Exception as exc:
            text, result = "导入失败：" + friendly_error(exc), {"doc_ids": []}
        first = next(iter(result.get("doc_ids") or []), None)
        line, rows, dd, version = _relist(ctx, version, first)
        return text, None, line, rows, dd, version

    def on_remove(doc_id, version):
        if not doc_id:
            return "请先在「选择文档」中选一篇要删除的文档。", *_relist(ctx, version)[:3], version
        try:
            removed = remove_document(ctx.pipeline, doc_id, upload_dir=ctx.upload_dir)
            text = f"已删除文档 {doc_id}。" if removed else f"文档 {doc_id} 不在索引中（可能已被删除）。"
        except Exception as exc:
            text = "删除失败：" + friendly_error(exc)
        line, rows, dd, version = _relist(ctx, version)
        return text, line, rows, dd, version

    vc = ctx.docs_changed
    private = dict(api_visibility="private")
    write = dict(private, concurrency_limit=1, concurrency_id="write")  # one index writer at a time
    files.upload(on_upload, [files, vc], [upload_status, files, status, table, doc, vc], **write)
    remove.click(on_remove, [doc, vc], [upload_status, status, table, doc, vc], **write)
    refresh.click(lambda v: _relist(ctx, v)[:3], [vc], [status, table, doc], **private)
    table.select(_clicked_doc, [table], [doc], **private)
    doc.change(lambda d: view_document(ctx, d), [doc], [meta, cleaned, raw], **private)


def _relist(ctx: UIContext, version: int, selected: str | None = None) -> tuple[str, list, Any, int]:
    """Status line, table rows, dropdown update (keeping ``selected`` if still indexed) and the
    next ``docs_changed`` version."""
    rows, choices, line = _listing(ctx)
    ids = {c[1] for c in choices}
    return (render.md_escape(line), rows, gr.update(choices=choices, value=selected if selected in ids else None),
            (version or 0) + 1)


def _clicked_doc(evt: gr.SelectData, current_rows: Any) -> Any:
    """The document id of the clicked table row."""
    row_value = getattr(evt, "row_value", None)  # the clicked row as shown (also when sorted)
    if row_value:
        return row_value[0]
    try:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        values = current_rows.values.tolist() if hasattr(current_rows, "values") else current_rows
        return values[row][0]
    except Exception:
        return gr.skip()
