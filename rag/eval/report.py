"""Run reports: ``report.md`` and ``report.html`` (self-contained, plots embedded) from a run folder.

Both renderings come from the same list of tables (:func:`build_tables`), so they always
agree. All dataset and model text is escaped: HTML with :func:`html.escape`; Markdown table
cells have ``|``, ``<``, ``>`` and newlines neutralised, so an article or answer cannot inject
markup into a report. ``excerpt_chars`` cuts questions and answers (for reports kept in the
repository: no long quotes from the corpora there).
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.eval import rgb_published
from rag.eval.plots import write_plots

__all__ = ["METRIC_LABELS", "metric_label", "status_text", "expected_text", "Table", "load_run", "build_tables",
           "render_markdown", "render_html", "write_report", "export_run"]

METRIC_LABELS: dict[str, str] = {
    "correct": "通过率（按题型的目标行为）",
    "accuracy": "答案准确率",
    "char_f1": "字符 F1",
    "rouge_l": "ROUGE-L（字符）",
    "exact_match": "精确匹配",
    "contains": "包含标准答案（简繁归一）",
    "contains_raw": "包含标准答案（不做简繁转换）",
    "refused": "拒答比例",
    "refusal_correct": "无答案题的拒答率",
    "false_refusal": "有答案题的误拒率",
    "rejected": "拒答率（RGB Rej）",
    "error_detected": "事实错误识别率（RGB ED）",
    "fake_answer": "复述了错误答案的比例",
    "hit@1": "文档命中@1",
    "mrr": "文档 MRR",
    "ab_mrr": "含答案片段 MRR",
    "citation_precision": "引用精确率",
    "citation_recall": "引用召回率",
    "number_grounding": "数字有据率",
}
STAGE_LABELS = {"retrieve": "检索", "first_token": "首字", "total": "总计"}


def metric_label(name: str) -> str:
    """Chinese label of a metric key (``hit@5`` → 文档命中@5); unknown keys are returned as is."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    parts = name.split(".")
    if parts[0] == "latency" and len(parts) == 3:
        return f"延迟·{STAGE_LABELS.get(parts[1], parts[1])} {parts[2]}"
    if parts[0] == "rgb":
        rest = ".".join(parts[1:])
        for task, text in (("noise@", "RGB 噪声 {} 准确率"), ("integration@", "RGB 信息整合 噪声 {} 准确率")):
            if rest.startswith(task):
                return text.format(rest[len(task):])
        return {"rejection": "RGB 拒答率", "counterfactual.ed": "RGB 事实错误识别率 ED",
                "counterfactual.cr": "RGB 纠正率 CR", "counterfactual.acc_doc": "RGB 反事实 Acc_doc",
                "counterfactual.fake_answer": "RGB 复述错误答案比例"}.get(rest, name)
    for prefix, text in (("ab_hit@", "含答案片段命中@"), ("hit@", "文档命中@"), ("recall@", "文档召回@")):
        if name.startswith(prefix):
            return text + name[len(prefix):]
    return name


def _pct(v: Any) -> str:
    return "—" if v is None else f"{100 * float(v):.1f}%"


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


@dataclass
class Table:
    """A titled table of plain-text cells (rendered and escaped by the renderers)."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    collapsed: bool = False  # HTML: inside a <details> block
    row_classes: list[str] = field(default_factory=list)


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(metrics, rows)`` of a run folder.

    Raises:
        FileNotFoundError: not a run folder (no metrics.json / results.jsonl).
    """
    d = Path(run_dir)
    if not (d / "metrics.json").is_file() or not (d / "results.jsonl").is_file():
        raise FileNotFoundError(f"{d} 不是评测运行目录：缺少 metrics.json 或 results.jsonl")
    metrics = json.loads((d / "metrics.json").read_text(encoding="utf-8"))
    rows = [json.loads(x) for x in (d / "results.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    return metrics, rows


def _cut(text: Any, n: int | None) -> str:
    s = " ".join(str(text or "").split())
    return s if n is None or len(s) <= n else s[:n] + "…"


def status_text(row: dict[str, Any]) -> str:
    """通过 / 未通过 / 出错 for a result row."""
    if row.get("error"):
        return "出错"
    return "通过" if row.get("correct") else "未通过"


def expected_text(row: dict[str, Any]) -> str:
    """What a result row expected, as one line (figures, answer groups, or 应拒答)."""
    e = row.get("expected") or {}
    if e.get("unanswerable"):
        return "（应拒答）"
    if e.get("must_include") or e.get("any_of"):
        parts = ["、".join(e.get("must_include") or [])]
        if e.get("any_of"):
            parts.append("其一：" + " / ".join(e["any_of"]))
        return "；".join(p for p in parts if p)
    return " + ".join("/".join(g) for g in e.get("answer_groups") or [])


def _run_table(m: dict[str, Any]) -> Table:
    r = m.get("run", {})
    s = r.get("settings", {})
    rows = [["数据集", f"{r.get('dataset')}（{r.get('format')}）"], ["回答后端", str(r.get("backend"))],
            ["题数 / 出错", f"{m.get('n_items')} / {m.get('n_errors')}"],
            ["设置", "；".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                             for k, v in s.items() if v not in (None, [], ""))],
            ["并行", f"{r.get('parallel')} × {r.get('workers')}"],
            ["耗时", f"{_num(r.get('wall_seconds'), '{:.1f}')} 秒（{_num(r.get('items_per_second'), '{:.3f}')} 题/秒）"],
            ["开始时间", str(r.get("started"))]]
    return Table("运行信息", ["项目", "值"], rows)


def _metric_table(m: dict[str, Any]) -> Table:
    overall = m.get("overall") or {}
    rows = [[metric_label(k), _pct(v), k] for k, v in overall.items() if k != "n" and v is not None]
    return Table("总体指标", ["指标", "值", "键名"], rows,
                 note="各指标只在有定义的题目上取平均（例如无答案题不计入准确率）；出错的题目不计入。")


def _group_table(m: dict[str, Any]) -> Table:
    groups = m.get("by_group") or {}
    names = [k for k in (m.get("overall") or {}) if k not in ("n", "correct")]
    cols = [k for k in names if any((g.get(k) is not None) for g in groups.values())][:8]
    rows = [[g, str(v["n"]), _pct(v.get("correct"))] + [_pct(v.get(k)) for k in cols]
            for g, v in sorted(groups.items())]
    return Table("分组结果", ["分组", "题数", "通过率"] + [metric_label(k) for k in cols], rows)


def _rgb_tables(m: dict[str, Any]) -> list[Table]:
    rgb = m.get("rgb") or {}
    backend = m.get("run", {}).get("backend", "")
    ours = f"shanhai / {backend}（zh_refine 开发集）"
    note = "论文数字来自 RGB（AAAI-24）在原始 zh.json 上的结果，温度 0.2；本表为不同数据版本与不同提示，仅供参照。"
    out = []
    if rgb.get("noise"):
        ratios = [f"{x:g}" for x in rgb_published.NOISE_RATIOS]
        rows = [[ours] + [_pct(rgb["noise"].get(x)) for x in ratios]]
        rows += [[name + "（论文）"] + [f"{v:.2f}%" for v in vals] for name, vals in rgb_published.NOISE.items()]
        out.append(Table("RGB 噪声鲁棒性：不同噪声比例下的准确率", ["模型"] + ratios, rows, note=note))
    if rgb.get("rejection") is not None:
        rows = [[ours, _pct(rgb["rejection"]), "—"]]
        rows += [[n + "（论文）", f"{a:.2f}%", f"{b:.2f}%"] for n, (a, b) in rgb_published.REJECTION.items()]
        out.append(Table("RGB 负例拒答（5 段均不含答案）", ["模型", "Rej", "Rej*（ChatGPT 评判）"], rows, note=note))
    if rgb.get("integration"):
        ratios = ["0", "0.2", "0.4"]
        rows = [[ours] + [_pct(rgb["integration"].get(x)) for x in ratios]]
        rows += [[n + "（论文）"] + [f"{v:g}%" for v in vals] for n, vals in rgb_published.INTEGRATION.items()]
        out.append(Table("RGB 信息整合：准确率", ["模型"] + ratios, rows, note=note))
    cf = rgb.get("counterfactual")
    if cf:
        rows = [[ours, "—", _pct(cf.get("acc_doc")), _pct(cf.get("ed")), _pct(cf.get("cr"))]]
        rows += [[n + "（论文）", f"{v['acc']:g}%", f"{v['acc_doc']:g}%", f"{v['ed']:g}%", f"{v['cr']:g}%"]
                 for n, v in rgb_published.COUNTERFACTUAL.items()]
        out.append(Table("RGB 反事实鲁棒性", ["模型", "Acc（无文档）", "Acc_doc", "ED", "CR"], rows,
                         note=note + f" 本系统复述错误答案的比例：{_pct(cf.get('fake_answer'))}。"))
    return out


def _latency_table(m: dict[str, Any]) -> Table:
    lat = m.get("latency") or {}
    rows = [[STAGE_LABELS.get(st, st), _num(v.get("p50")), _num(v.get("p95")), _num(v.get("mean")), str(v.get("n"))]
            for st, v in lat.items()]
    t = m.get("tokens") or {}
    note = (f"LLM 调用的题目 {t.get('llm_items', 0)} 个；平均提示 {_num(t.get('prompt_tokens_mean'), '{:.0f}')} token，"
            f"平均生成 {_num(t.get('completion_tokens_mean'), '{:.0f}')} token；生成速度 "
            f"{_num(t.get('decode_tokens_per_second'), '{:.1f}')} token/秒，提示处理 "
            f"{_num(t.get('prefill_tokens_per_second'), '{:.1f}')} token/秒。")
    return Table("延迟（秒）", ["阶段", "p50", "p95", "平均", "题数"], rows, note=note)


def _item_rows(rows: list[dict[str, Any]], cut: int | None) -> tuple[list[list[str]], list[str]]:
    out, classes = [], []
    for r in rows:
        status = status_text(r)
        answer = r.get("error") or r.get("answer")
        out.append([str(r["id"]), str(r.get("group")), status, _cut(r.get("question"), cut),
                    _cut(expected_text(r), cut), _cut(answer, cut)])
        classes.append("ok" if status == "通过" else "fail")
    return out, classes


def build_tables(metrics: dict[str, Any], rows: list[dict[str, Any]], *,
                 excerpt_chars: int | None = None) -> list[Table]:
    """Every table of the report, in order (text not yet escaped)."""
    head = ["id", "分组", "结果", "问题", "期望", "回答"]
    failed = [r for r in rows if not r.get("correct")]
    fail_rows, fail_cls = _item_rows(failed, excerpt_chars)
    all_rows, all_cls = _item_rows(rows, excerpt_chars)
    return [_run_table(metrics), _metric_table(metrics), _group_table(metrics), *_rgb_tables(metrics),
            _latency_table(metrics),
            Table(f"未通过的题目（{len(failed)}）", head, fail_rows, row_classes=fail_cls),
            Table(f"全部题目（{len(rows)}）", head, all_rows, collapsed=True, row_classes=all_cls)]


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(metrics: dict[str, Any], tables: list[Table], plots: list[str]) -> str:
    """The Markdown report (the long all-items table is left to the HTML report and results.jsonl)."""
    r = metrics.get("run", {})
    lines = [f"# 评测报告：{_md_cell(r.get('dataset', ''))} · {_md_cell(r.get('backend', ''))}", ""]
    for t in tables:
        if t.collapsed:
            continue
        lines += [f"## {_md_cell(t.title)}", ""]
        if t.note:
            lines += [_md_cell(t.note), ""]
        if not t.rows:
            lines += ["（无）", ""]
            continue
        lines.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
        lines.append("|" + "---|" * len(t.headers))
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
        lines.append("")
    if plots:
        lines += ["## 图", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    return "\n".join(lines)


_CSS = """body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;
vertical-align:top;text-align:left}th{background:#f3f3f3}tr.fail td:nth-child(3){color:#b00}
tr.ok td:nth-child(3){color:#070}.note{color:#666;font-size:12px}img{max-width:100%;margin:.3em 0}"""


def render_html(metrics: dict[str, Any], tables: list[Table], plots: dict[str, bytes], *,
                standalone: bool = True) -> str:
    """HTML report (plots embedded as data URIs; every text escaped).

    Args:
        metrics: the run's metrics.
        tables: from :func:`build_tables`.
        plots: PNG bytes by name.
        standalone: a whole page with its stylesheet; False gives a fragment wrapped in
            ``<div class="shanhai-eval-report">`` (for embedding, e.g. the UI's Eval tab).
    """
    e = html.escape
    r = metrics.get("run", {})
    title = f"评测报告：{r.get('dataset', '')} · {r.get('backend', '')}"
    parts = [f"<h1>{e(title)}</h1>"]
    for t in tables:
        body = [f"<p class=\"note\">{e(t.note)}</p>"] if t.note else []
        body.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.headers) + "</tr></thead><tbody>")
        for i, row in enumerate(t.rows):
            cls = f" class=\"{e(t.row_classes[i])}\"" if i < len(t.row_classes) else ""
            body.append(f"<tr{cls}>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>")
        body.append("</tbody></table>")
        if t.collapsed:
            parts.append(f"<details><summary>{e(t.title)}</summary>{''.join(body)}</details>")
        else:
            parts.append(f"<h2>{e(t.title)}</h2>{''.join(body)}")
    if plots:
        parts.append("<h2>图</h2>")
        for name, data in plots.items():
            parts.append(f"<img alt=\"{e(name)}\" src=\"data:image/png;base64,{base64.b64encode(data).decode()}\">")
    if not standalone:
        return "<div class=\"shanhai-eval-report\">" + "\n".join(parts) + "</div>"
    return (f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
            f"<style>{_CSS}</style></head><body>" + "\n".join(parts) + "</body></html>")


def write_report(run_dir: str | Path, *, out_dir: str | Path | None = None,
                 excerpt_chars: int | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` for a run.

    Args:
        run_dir: the run folder (metrics.json + results.jsonl).
        out_dir: where to write (default ``run_dir``).
        excerpt_chars: cut questions/answers/expectations to this many characters.

    Returns:
        ``{"md": path, "html": path, "plots": [paths]}``.
    """
    metrics, rows = load_run(run_dir)
    out = Path(out_dir or run_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(metrics, rows, out / "plots")
    tables = build_tables(metrics, rows, excerpt_chars=excerpt_chars)
    md = out / "report.md"
    md.write_text(render_markdown(metrics, tables, [f"plots/{p.name}" for p in plots]), encoding="utf-8")
    page = out / "report.html"
    page.write_text(render_html(metrics, tables, {p.stem: p.read_bytes() for p in plots}), encoding="utf-8")
    return {"md": md, "html": page, "plots": plots}


def export_run(run_dir: str | Path, dest: str | Path, *, excerpt_chars: int = 20) -> Path:
    """Copy a run's metrics, config and an excerpted report to ``dest`` (for docs/eval/).

    Per-item texts are cut to ``excerpt_chars`` characters, and results.jsonl (full answers
    and passages) is not copied: corpora text stays out of the repository.
    """
    src, dst = Path(run_dir), Path(dest)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("metrics.json", "config.yaml"):
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
    write_report(src, out_dir=dst, excerpt_chars=excerpt_chars)
    return dst
