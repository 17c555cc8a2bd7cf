"""Eval tab: pick a dataset and settings, run with progress, read the report and per-item results
(failures filter, item detail with its passages), compare two runs.

The plain functions (:func:`dataset_choices`, :func:`run_view`, :func:`item_rows`,
:func:`item_detail`, :func:`compare_view`) hold the logic and are tested without a browser;
:func:`build` only wires components. Everything shown is escaped: the report HTML comes from
:func:`rag.eval.report.render_html` (escapes all text), Markdown goes through ``render.md_escape``
and tables are plain-text cells.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import gradio as gr

from rag.config import PROJECT_ROOT, Config
from ui import render
from ui.context import BACKEND_CHOICES, UIContext

ITEM_HEADERS = ["id", "分组", "结果", "问题", "回答"]
MODE_HELP = "RGB：noise（噪声鲁棒性）、rejection（负例拒答）；留空 = 该格式的全部模式"


def dataset_dirs(config: Config) -> list[Path]:
    """Folders searched for datasets: ``eval.datasets_dirs`` or ``../shared/eval`` (+ ``external``)."""
    dirs = config.get("eval.datasets_dirs")
    if dirs:
        return [Path(str(d)).expanduser() for d in ([dirs] if isinstance(dirs, str) else dirs)]
    shared = Path(os.environ.get("SHANHAI_SHARED", PROJECT_ROOT.parent / "shared"))
    return [shared / "eval", shared / "eval" / "external"]


def file_format(path: str | Path) -> str | None:
    """The dataset format of a JSONL file judged by its first record; None if it is no QA set."""
    from rag import detect_format

    try:
        with Path(path).open(encoding="utf-8") as fh:
            return detect_format([json.loads(fh.readline())], name=Path(path).name)
    except (OSError, ValueError):  # unreadable, not JSON, or not a QA set (DatasetError is a ValueError)
        return None


def dataset_choices(config: Config) -> list[tuple[str, str]]:
    """``(label, path)`` for every JSONL question set found in :func:`dataset_dirs`."""
    out = []
    for folder in dataset_dirs(config):
        for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
            fmt = file_format(path)
            if fmt:
                out.append((f"{path.name}（{fmt}）", str(path)))
    return out


def run_choices(config: Config) -> list[tuple[str, str]]:
    """``(label, path)`` of earlier runs under ``eval.runs_dir``, newest first."""
    from rag import list_runs, runs_root

    return [(d.name, str(d)) for d in list_runs(runs_root(config))]


def _floats(text: str | None) -> list[float] | None:
    parts = [x for x in (text or "").replace("，", ",").split(",") if x.strip()]
    return [float(x) for x in parts] or None


def run_view(run_dir: str | Path) -> tuple[str, str]:
    """``(status Markdown, report HTML fragment)`` of a finished run."""
    from rag import build_tables, load_run, render_html

    metrics, rows = load_run(run_dir)
    plots = {p.stem: p.read_bytes() for p in sorted((Path(run_dir) / "plots").glob("*.png"))}
    status = (f"运行目录：{render.md_escape(str(run_dir))} · {metrics['n_items']} 题，"
              f"出错 {metrics['n_errors']} · 通过率 {100 * (metrics['overall'].get('correct') or 0):.1f}%")
    return status, render_html(metrics, build_tables(metrics, rows), plots, standalone=False)


def item_rows(run_dir: str | Path | None, failures_only: bool = False) -> list[list[str]]:
    """Per-item table rows (plain text); only failed/errored items when ``failures_only``."""
    if not run_dir:
        return []
    from rag import load_run, status_text

    _, rows = load_run(run_dir)
    out = []
    for r in rows:
        if failures_only and r.get("correct"):
            continue
        status = status_text(r)
        answer = " ".join(str(r.get("error") or r.get("answer") or "").split())
        out.append([r["id"], str(r.get("group")), status, r.get("question") or "", answer[:200]])
    return out


def item_detail(run_dir: str | Path | None, item_id: str | None) -> tuple[str, str]:
    """``(Markdown, passages HTML)`` for one item: question, expected, answer, scores, its passages."""
    if not run_dir or not item_id:
        return "在上表中点击一行查看该题的回答与段落。", ""
    from rag import expected_text, load_run, metric_label

    _, rows = load_run(run_dir)
    row = next((r for r in rows if r["id"] == item_id), None)
    if row is None:
        return f"找不到题目 {render.md_escape(item_id)}。", ""
    scores = "；".join(f"{metric_label(k)} {v:.2f}" for k, v in (row.get("scores") or {}).items() if v is not None)
    answer = (render.md_escape(row["error"]) if row.get("error")
              else render.answer_markdown(row.get("answer") or "", panel="eval"))
    md = (f"**{render.md_escape(row['id'])}** · {render.md_escape(row.get('group'))}\n\n"
          f"**问题**：{render.md_escape(row.get('question'))}\n\n**期望**：{render.md_escape(expected_text(row))}\n\n"
          f"**回答**：{answer}\n\n**得分**：{render.md_escape(scores or '—')}")
    html = render.passages_html(row.get("passages") or [], citations=row.get("citations") or [],
                                checks=row.get("checks"), panel="eval")
    return md, html


def compare_view(run_a: str | None, run_b: str | None) -> str:
    """Markdown comparison of two runs (text cells escaped)."""
    if not run_a or not run_b:
        return "请选择两次运行（A 为基准，B 为新的一次）。"
    from rag import compare_runs, format_comparison

    cmp = compare_runs(run_a, run_b)
    for c in cmp["changed"]:
        for key in ("question", "answer_a", "answer_b"):
            c[key] = render.md_escape(c.get(key) or "")
    return format_comparison(cmp, width=80)


def start_run(ctx: UIContext, dataset: str, backend: str, limit: float | None, workers: float | None, noise: str,
              mode: str, retrieval: str, progress: Any = None) -> Path:
    """Run an evaluation with the tab's settings (seed sets use the library's index); returns the run folder."""
    from rag import Pipeline, get_format, run_eval

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress((done, total), desc=f"评测中：{done}/{total} 题", unit="题")

    modes = [m.strip() for m in (mode or "").replace("，", ",").split(",") if m.strip()] or None
    fmt = file_format(dataset)
    index = str(ctx.pipeline.index_dir) if fmt and get_format(fmt).needs_library_index(retrieval) else None
    summary = run_eval(dataset, ctx.config, make_pipeline=Pipeline, backend=backend, index=index,
                       limit=int(limit) if limit else None, workers=int(workers or 1), noises=_floats(noise),
                       modes=modes, retrieval=retrieval or "passages", progress=report)
    return summary.run_dir


def build(ctx: UIContext) -> None:
    """Build the Eval tab inside the current ``gr.Tab``."""
    gr.Markdown("批量评测一个问答集：种子格式的题目从「文档库」的索引检索作答；RGB / DRCD 使用各题自带的段落"
                "（DRCD 也可对全部段落建临时索引检索）。结果保存在运行目录中，可随时重新打开或两两对比。")
    with gr.Row():
        dataset = gr.Dropdown(choices=dataset_choices(ctx.config), label="评测集", allow_custom_value=True, scale=3,
                              elem_id="shanhai-eval-dataset")
        backend = gr.Dropdown(choices=BACKEND_CHOICES, value=ctx.default_backend, label="回答后端", scale=2)
    with gr.Row():
        limit = gr.Number(value=5, precision=0, minimum=0, label="只评测前 N 条（0 = 全部）")
        workers = gr.Number(value=1, precision=0, minimum=1, maximum=16, label="并行题数")
        noise = gr.Textbox(label="RGB 噪声比例（逗号分隔，留空 = 默认）", placeholder="0,0.2,0.4,0.6,0.8")
        mode = gr.Textbox(label="模式", placeholder=MODE_HELP)
        retrieval = gr.Radio([("自带段落", "passages"), ("建索引检索", "index")], value="passages",
                             label="DRCD 作答方式")
    run = gr.Button("开始评测", variant="primary", elem_id="shanhai-eval-run")
    status = gr.Markdown("", elem_id="shanhai-eval-status")
    with gr.Row():
        run_dir = gr.Dropdown(choices=run_choices(ctx.config), label="查看已有运行", scale=4, elem_id="shanhai-eval-runs")
        refresh = gr.Button("刷新", size="sm", scale=1)
    with gr.Accordion("报告", open=True):
        report = gr.HTML(elem_id="shanhai-eval-report")
    failures = gr.Checkbox(value=True, label="只看未通过的题目")
    table = gr.Dataframe(headers=ITEM_HEADERS, datatype="str", interactive=False, wrap=True, max_height=360,
                         label="逐题结果（点击一行查看详情）", elem_id="shanhai-eval-items")
    with gr.Row():
        detail = gr.Markdown(elem_id="shanhai-eval-detail")
        passages = gr.HTML(elem_id="shanhai-eval-passages")
    with gr.Accordion("对比两次运行", open=False):
        with gr.Row():
            run_a = gr.Dropdown(choices=run_choices(ctx.config), label="A（基准）", elem_id="shanhai-eval-compare-a")
            run_b = gr.Dropdown(choices=run_choices(ctx.config), label="B（新）", elem_id="shanhai-eval-compare-b")
        compare = gr.Button("对比")
        comparison = gr.Markdown(elem_id="shanhai-eval-compare")

    def on_run(ds, be, lim, wk, nz, md, rt, only_failed, progress=gr.Progress()):
        if not ds:
            return "请先选择评测集。", gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            path = str(start_run(ctx, ds, be, lim, wk, nz, md, rt, progress))
        except Exception as exc:
            return _warning(exc, "评测失败："), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        choices = run_choices(ctx.config)
        line, html, rows = _show_run(path, only_failed)
        return (line, html, rows, gr.update(choices=choices, value=path), gr.update(choices=choices),
                gr.update(choices=choices), "")

    def on_refresh():
        choices = run_choices(ctx.config)
        return gr.update(choices=choices), gr.update(choices=choices), gr.update(choices=choices)

    private = dict(api_visibility="private")
    run.click(on_run, [dataset, backend, limit, workers, noise, mode, retrieval, failures],
              [status, report, table, run_dir, run_a, run_b, detail], concurrency_limit=1,
              concurrency_id="eval", **private)
    run_dir.change(_show_run, [run_dir, failures], [status, report, table], **private)
    failures.change(lambda p, f: item_rows(p, f), [run_dir, failures], [table], **private)
    table.select(_select_item, [run_dir, table], [detail, passages], **private)
    refresh.click(on_refresh, None, [run_dir, run_a, run_b], **private)
    compare.click(_compare, [run_a, run_b], [comparison], **private)


def _warning(exc: BaseException, what: str = "") -> str:
    """``⚠️ <what><friendly message>`` as Markdown."""
    from ui.actions import friendly_error

    return "⚠️ " + what + render.md_escape(friendly_error(exc))


def _show_run(path: str | None, only_failed: bool) -> tuple[str, str, list[list[str]]]:
    """Status line, report HTML and item rows of a run (nothing without a run)."""
    if not path:
        return "", "", []
    try:
        line, html = run_view(path)
        return line, html, item_rows(path, only_failed)
    except Exception as exc:
        return _warning(exc), "", []


def _select_item(evt: gr.SelectData, path: str, current: Any) -> tuple[Any, Any]:
    """The detail of the clicked item row."""
    try:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        values = current.values.tolist() if hasattr(current, "values") else current
        return item_detail(path, values[row][0])
    except Exception:
        return gr.skip(), gr.skip()


def _compare(run_a: str | None, run_b: str | None) -> str:
    """:func:`compare_view`, or the error as a warning."""
    try:
        return compare_view(run_a, run_b)
    except Exception as exc:
        return _warning(exc)
