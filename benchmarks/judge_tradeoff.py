"""Refusal threshold trade-off of the evidence judge, exact, from one eval run without the gate.

``judge.refuse_below`` refuses a question before the LLM when no judged window reaches it; every
other step is unchanged and the LLM runs at temperature 0, so one run with the gate off
(``--set judge.refuse_below=0``) gives the outcome at *every* threshold: an item whose best
window (``checks.support[].judge_top``) is below the threshold is refused, the others keep their
answer. Curves per set:

* RGB (``task`` noise / rejection): accuracy at each noise ratio and the rejection rate;
* DRCD: contains-the-answer and refused;
* seed: accuracy, unanswerable refused.

Usage (the runs are ordinary ``shanhai eval`` run directories)::

    shanhai eval ../shared/eval/external/rgb_zh_dev.jsonl --noise 0,0.8 --set judge.refuse_below=0 --out R
    shanhai eval ../shared/eval/external/drcd_dev.jsonl --retrieval passages --set judge.refuse_below=0 --out D
    python benchmarks/judge_tradeoff.py --rgb R --drcd D [--seed S] [--mark 0.44]

-> ``benchmarks/results/judge_tradeoff.json`` and ``docs/judge/tradeoff.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import ROOT, load_jsonl, write_result  # noqa: E402

THRESHOLDS = [round(0.05 * i, 2) for i in range(0, 19)]


def judge_top(rec: dict) -> float:
    """The item's best judged window (the highest over its parts; 1.0 when not judged)."""
    tops = [s.get("judge_top") for s in (rec.get("checks") or {}).get("support") or []]
    tops = [t for t in tops if t is not None]
    return max(tops) if tops else 1.0


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def rgb_point(recs: list[dict], t: float) -> dict:
    """RGB metrics when items below ``t`` are refused."""
    out: dict = {}
    noise = sorted({r["noise"] for r in recs if r["task"] == "noise"})
    for n in noise:
        out[f"noise{n:g}"] = _share([bool(r["correct"]) and judge_top(r) >= t
                                     for r in recs if r["task"] == "noise" and r["noise"] == n])
    rej = [bool(r["refused"]) or judge_top(r) < t for r in recs if r["task"] == "rejection"]
    if rej:
        out["rejection"] = _share(rej)
    return out


def drcd_point(recs: list[dict], t: float) -> dict:
    """DRCD metrics when items below ``t`` are refused."""
    gated = [judge_top(r) < t for r in recs]
    return {"contains": _share([bool((r.get("scores") or {}).get("contains")) and not g for r, g in zip(recs, gated)]),
            "refused": _share([bool(r["refused"]) or g for r, g in zip(recs, gated)])}


def seed_point(recs: list[dict], t: float) -> dict:
    """Seed metrics when items below ``t`` are refused (answerable accuracy, unanswerable refused)."""
    ans = [r for r in recs if not (r.get("expected") or {}).get("unanswerable")]
    una = [r for r in recs if (r.get("expected") or {}).get("unanswerable")]
    return {"accuracy": _share([bool(r["correct"]) and judge_top(r) >= t for r in ans]),
            "unanswerable_refused": _share([bool(r["refused"]) or judge_top(r) < t for r in una])}


POINT = {"rgb": rgb_point, "drcd": drcd_point, "seed": seed_point}


def plot(curves: dict, rules: dict, mark: float, path: Path) -> None:
    """RGB rejection vs noise-0.8 accuracy, and DRCD contains vs refused, over thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    panels = [("rgb", "rejection", "noise0.8", "RGB dev: rejection vs accuracy at noise 0.8"),
              ("drcd", "refused", "contains", "DRCD dev: refused vs contains the answer")]
    for i, (name, x, y, title) in enumerate(p for p in panels if p[0] in curves):
        ax = fig.add_subplot(1, 2, i + 1)
        pts = curves[name]
        xs, ys = [p[x] for p in pts], [p[y] for p in pts]
        ax.plot(xs, ys, marker="o", ms=3, label="judge + rules, refuse_below = t")
        if rules.get(name):
            r = rules[name]
            ax.plot([r[x]], [r[y]], marker="*", ms=12, ls="none", color="tab:red", label="rules only")
        ax.legend(fontsize=8, loc="lower left")
        for p in pts:
            if abs(p["threshold"] - mark) < 1e-9 or p["threshold"] in (0.0, 0.6, 0.8):
                ax.annotate(f"t={p['threshold']:g}", (p[x], p[y]), fontsize=8, xytext=(4, 4),
                            textcoords="offset points")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in POINT:
        p.add_argument(f"--{name}", type=Path, help=f"{name} eval run directory (judge.refuse_below=0)")
    for name in ("rgb", "drcd"):
        p.add_argument(f"--{name}-rules", type=Path, help=f"{name} run with judge.rerank=false (one point)")
    p.add_argument("--mark", type=float, default=0.44, help="the configured threshold, marked on the plot")
    p.add_argument("--plot", type=Path, default=ROOT / "docs/judge/tradeoff.png")
    args = p.parse_args(argv)
    curves: dict[str, list[dict]] = {}
    for name, point in POINT.items():
        run = getattr(args, name)
        if run is None:
            continue
        recs = [r for r in load_jsonl(run / "results.jsonl") if not r.get("error")]
        thresholds = sorted(set(THRESHOLDS) | {args.mark})
        curves[name] = [{"threshold": t, **point(recs, t)} for t in thresholds]
        at = next(c for c in curves[name] if c["threshold"] == args.mark)
        print(name, len(recs), "items; at", args.mark, json.dumps(at, ensure_ascii=False))
    if not curves:
        p.error("give at least one of --rgb, --drcd, --seed")
    rules = {}
    for name in ("rgb", "drcd"):
        run = getattr(args, f"{name}_rules")
        if run is not None:
            rules[name] = POINT[name]([r for r in load_jsonl(run / "results.jsonl") if not r.get("error")], 0.0)
            print(name, "rules only:", json.dumps(rules[name]))
    plot(curves, rules, args.mark, args.plot)
    write_result("judge_tradeoff", {"mark": args.mark, "runs": {k: getattr(args, k).name for k in curves},
                                    "rules_only": rules, "curves": curves})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
