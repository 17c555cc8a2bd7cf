"""Compare two evaluation runs: metric deltas and the items whose outcome changed.

``shanhai eval compare RUN_A RUN_B`` prints :func:`format_comparison` of
:func:`compare_runs`; B is "the new run", so a positive delta means B scored higher (for
latency, B was slower).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.eval.report import load_run, metric_label, status_text

__all__ = ["compare_runs", "flatten_metrics", "format_comparison"]


def flatten_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The comparable numbers of a ``metrics.json``: ``overall``, RGB and latency, one flat dict.

    Keys: metric names of ``overall`` (``accuracy``, ``hit@5``…), ``rgb.noise@0.4``,
    ``rgb.rejection``, ``rgb.integration@0``, ``rgb.counterfactual.ed``…, and
    ``latency.total.p50``… (seconds).
    """
    out: dict[str, float] = {}
    for k, v in (metrics.get("overall") or {}).items():
        if k != "n" and v is not None:
            out[k] = float(v)
    rgb = metrics.get("rgb") or {}
    for task in ("noise", "integration"):
        for ratio, v in (rgb.get(task) or {}).items():
            if v is not None:
                out[f"rgb.{task}@{ratio}"] = float(v)
    if rgb.get("rejection") is not None:
        out["rgb.rejection"] = float(rgb["rejection"])
    for k, v in (rgb.get("counterfactual") or {}).items():
        if v is not None:
            out[f"rgb.counterfactual.{k}"] = float(v)
    for stage, summary in (metrics.get("latency") or {}).items():
        for stat in ("p50", "p95"):
            if summary.get(stat) is not None:
                out[f"latency.{stage}.{stat}"] = float(summary[stat])
    return out


def compare_runs(run_a: str | Path, run_b: str | Path) -> dict[str, Any]:
    """Metric deltas (B − A) and per-item changes between two run folders.

    Args:
        run_a: the baseline run folder.
        run_b: the new run folder.

    Returns:
        ``{"a", "b"`` (run info), ``"metrics"``: ``[{"name", "a", "b", "delta"}]`` for metrics in
        either run, ``"changed"``: items whose pass/fail status differs, each
        ``{"id", "question", "a", "b", "answer_a", "answer_b", "kind"}`` with kind
        ``fixed`` | ``regressed`` | ``other``, ``"answer_changed"``: ids that kept their status
        but whose answer text differs, ``"only_a"`` / ``"only_b"``: ids in one run only}.

    Raises:
        FileNotFoundError: a folder is not a run folder.
    """
    (ma, rows_a), (mb, rows_b) = load_run(run_a), load_run(run_b)
    fa, fb = flatten_metrics(ma), flatten_metrics(mb)
    names = list(dict.fromkeys([*fa, *fb]))
    deltas = [{"name": n, "a": fa.get(n), "b": fb.get(n),
               "delta": None if n not in fa or n not in fb else fb[n] - fa[n]} for n in names]
    by_a, by_b = {r["id"]: r for r in rows_a}, {r["id"]: r for r in rows_b}
    changed, answer_changed = [], []
    for rid in [r["id"] for r in rows_a if r["id"] in by_b]:
        ra, rb = by_a[rid], by_b[rid]
        sa, sb = status_text(ra), status_text(rb)
        if sa != sb:
            kind = "fixed" if sb == "通过" else ("regressed" if sa == "通过" else "other")
            changed.append({"id": rid, "question": rb.get("question"), "a": sa, "b": sb,
                            "answer_a": ra.get("error") or ra.get("answer"),
                            "answer_b": rb.get("error") or rb.get("answer"), "kind": kind})
        elif (ra.get("answer") or "") != (rb.get("answer") or ""):
            answer_changed.append(rid)
    return {"a": {"dir": str(run_a), **ma.get("run", {})}, "b": {"dir": str(run_b), **mb.get("run", {})},
            "metrics": deltas, "changed": changed, "answer_changed": answer_changed,
            "only_a": [r for r in by_a if r not in by_b], "only_b": [r for r in by_b if r not in by_a]}


def _fmt(name: str, v: float | None, *, delta: bool = False) -> str:
    if v is None:
        return "—"
    if name.startswith("latency."):
        return f"{v:+.2f} 秒" if delta else f"{v:.2f} 秒"
    return f"{100 * v:+.1f} 点" if delta else f"{100 * v:.1f}%"


def _clip(text: Any, n: int) -> str:
    s = " ".join(str(text or "").split()).replace("|", "\\|")
    return s if len(s) <= n else s[:n] + "…"


def format_comparison(cmp: dict[str, Any], *, width: int = 60, show_unchanged_answers: bool = False) -> str:
    """A Markdown rendering of :func:`compare_runs` (Chinese headings).

    Args:
        cmp: the comparison.
        width: characters of question/answer text shown per cell.
        show_unchanged_answers: also list ids whose answer text changed without changing status.

    Returns:
        Markdown text.
    """
    a, b = cmp["a"], cmp["b"]
    lines = ["# 评测对比", "",
             f"- A：{a['dir']}（{a.get('dataset')}，后端 {a.get('backend')}）",
             f"- B：{b['dir']}（{b.get('dataset')}，后端 {b.get('backend')}）", ""]
    if a.get("dataset") != b.get("dataset"):
        lines += ["注意：两次运行的数据集不同，逐题对比只包含共同的题目 id。", ""]
    elif cmp["only_a"] or cmp["only_b"]:
        lines += ["注意：两次运行的题目不完全相同（例如 --limit 不同），指标变化有一部分来自题目不同。", ""]
    lines += ["## 指标变化（B − A）", "", "| 指标 | A | B | 变化 |", "|---|---|---|---|"]
    for m in cmp["metrics"]:
        label = metric_label(m["name"])
        label = label if label == m["name"] else f"{label} ({m['name']})"
        lines.append(f"| {label} | {_fmt(m['name'], m['a'])} | {_fmt(m['name'], m['b'])} | "
                     f"{_fmt(m['name'], m['delta'], delta=True)} |")
    fixed = sum(c["kind"] == "fixed" for c in cmp["changed"])
    regressed = sum(c["kind"] == "regressed" for c in cmp["changed"])
    lines += ["", f"## 结果变化的题目（{len(cmp['changed'])}：改对 {fixed}，改错 {regressed}）", ""]
    if cmp["changed"]:
        lines += ["| id | A | B | 问题 | A 的回答 | B 的回答 |", "|---|---|---|---|---|---|"]
        for c in cmp["changed"]:
            lines.append(f"| {c['id']} | {c['a']} | {c['b']} | {_clip(c['question'], width)} | "
                         f"{_clip(c['answer_a'], width)} | {_clip(c['answer_b'], width)} |")
    else:
        lines.append("（没有题目的通过/未通过状态发生变化）")
    lines += ["", f"结果未变但回答文字不同的题目：{len(cmp['answer_changed'])} 个"]
    if show_unchanged_answers and cmp["answer_changed"]:
        lines.append("：" + "、".join(cmp["answer_changed"]))
    if cmp["only_a"] or cmp["only_b"]:
        lines.append(f"只在 A 中的题目 {len(cmp['only_a'])} 个，只在 B 中的题目 {len(cmp['only_b'])} 个。")
    return "\n".join(lines) + "\n"
