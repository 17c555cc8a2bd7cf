"""PNG plots for evaluation reports (matplotlib, Agg backend, no display needed).

Labels are in English: the machine has no CJK font, and CJK glyphs would render as boxes.
Each function writes one file and returns its path, or None when the run has nothing to plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

__all__ = ["accuracy_by_group", "rgb_noise_curve", "latency_histogram", "write_plots"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _ascii(label: str) -> str:
    """Group names are ASCII for our datasets; fall back to a placeholder for anything else."""
    return label if label.isascii() else label.encode("ascii", "replace").decode()


def accuracy_by_group(metrics: dict[str, Any], path: Path) -> Path | None:
    """Bar chart: share of items passing (``correct``) per group (answer type, RGB setting…)."""
    groups = metrics.get("by_group") or {}
    if not groups:
        return None
    names = sorted(groups)
    values = [100 * (groups[g].get("correct") or 0.0) for g in names]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(names) + 2), 3.4), dpi=110)
    bars = ax.bar([_ascii(n) for n in names], values, color="#4C72B0")
    for bar, g in zip(bars, names):
        ax.annotate(f"{bar.get_height():.0f}%\n(n={groups[g]['n']})", (bar.get_x() + bar.get_width() / 2,
                    bar.get_height()), ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 118)
    ax.set_ylabel("items correct (%)")
    ax.set_title(f"Accuracy by group - {_ascii(metrics.get('run', {}).get('dataset', ''))}", fontsize=10)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def rgb_noise_curve(metrics: dict[str, Any], path: Path, published: dict[str, Sequence[float]] | None = None,
                    ratios: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8)) -> Path | None:
    """Line plot: RGB accuracy vs noise ratio, ours against published models (dashed)."""
    ours = (metrics.get("rgb") or {}).get("noise") or {}
    if not ours:
        return None
    xs = sorted(float(x) for x in ours)
    ys = [100 * (ours[f"{x:g}"] or 0.0) for x in xs]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.6), dpi=110)
    for name, vals in (published or {}).items():
        ax.plot(ratios, vals, linestyle="--", linewidth=1, alpha=0.6, label=f"{name} (paper, zh.json)")
    backend = metrics.get("run", {}).get("backend", "ours")
    ax.plot(xs, ys, marker="o", linewidth=2.2, color="black", label=f"shanhai / {backend} (zh_refine dev)")
    ax.set_xlabel("noise ratio (negative passages / 5)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 102)
    ax.set_xticks(list(ratios))
    ax.set_title("RGB zh: noise robustness", fontsize=10)
    ax.legend(fontsize=6, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def latency_histogram(rows: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Histogram of per-item total and first-token latency (seconds)."""
    total = [r["timings"]["total"] for r in rows if not r.get("error") and (r.get("timings") or {}).get("total")]
    if not total:
        return None
    first = [r["timings"]["first_token"] for r in rows
             if not r.get("error") and (r.get("timings") or {}).get("first_token") is not None]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.4), dpi=110)
    bins = min(30, max(5, len(total) // 3))
    ax.hist(total, bins=bins, alpha=0.75, label=f"total (n={len(total)})", color="#4C72B0")
    if first:
        ax.hist(first, bins=bins, alpha=0.6, label="first token", color="#DD8452")
    ax.set_xlabel("seconds per item")
    ax.set_ylabel("items")
    ax.set_title("Latency per item", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(metrics: dict[str, Any], rows: Sequence[dict[str, Any]], folder: Path) -> list[Path]:
    """Write every applicable plot into ``folder`` (created); return the files written."""
    from rag.eval import rgb_published

    folder.mkdir(parents=True, exist_ok=True)
    out = [
        accuracy_by_group(metrics, folder / "accuracy_by_group.png"),
        rgb_noise_curve(metrics, folder / "rgb_noise.png",
                        {k: rgb_published.NOISE[k] for k in ("ChatGPT (gpt-3.5-turbo)", "Qwen-7B-Chat",
                                                             "ChatGLM2-6B")}),
        latency_histogram(rows, folder / "latency.png"),
    ]
    return [p for p in out if p is not None]
