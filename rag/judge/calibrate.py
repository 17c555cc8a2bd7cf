"""Calibrate the judge alone (no LLM): refusal curves, a default threshold, plots.

``python -m rag.judge.calibrate`` scores, with the prepared judge:

* RGB dev, the half **not** trained on (the honest number) and the trained half (shown apart):
  noise-0.8 and noise-0 sets (answerable) vs the 5-negative rejection sets;
* DRCD dev: each question with its own paragraph vs the most similar other paragraph;
* the seed dev set over an index of the seed articles: the retrieved candidate chunks of the 28
  answerable questions vs those of the 2 unanswerable ones, and vs the candidates from the
  *other* seed articles (same-topic distractors; chunks containing an expected figure dropped).

For each: AUC and, over a threshold grid, refusal on negatives vs false refusal on answerable
sets. The default threshold is chosen on the calibration sets only (DRCD and seed, never RGB):
the largest threshold whose false refusal stays within ``--max-false-refusal`` on both. Writes a
JSON (``benchmarks/results/judge_calibration.json``) and a PNG of the curves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.judge.evalsets import auc, curve, drcd_sets, rgb_sets, set_scores

GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)


def seed_sets(pipe: Any, seeds: Path, qa: Path, k: int) -> dict[str, list[tuple[str, list]]]:
    """Seed dev sets from an index of the seed articles (``pipe``'s index, a :class:`rag.Pipeline`;
    built from ``seeds`` when missing); passages as (title, text), as the answer path judges them."""
    index_dir = Path(pipe.index_dir)
    if not index_dir.is_dir() or not any(index_dir.iterdir()):
        pipe.ingest([seeds])
    out: dict[str, list[tuple[str, list[str]]]] = {"answerable": [], "unanswerable": [], "distractors": []}
    with open(qa, encoding="utf-8") as fh:
        for rec in map(json.loads, fh):
            hits = pipe.search(rec["question"], k=k)
            texts = [(h.doc.title, h.chunk.text) for h in hits]
            if rec.get("answer_type") == "unanswerable":
                out["unanswerable"].append((rec["question"], texts))
                continue
            out["answerable"].append((rec["question"], texts))
            gold = set(rec.get("gold_docs") or [])
            must = (rec.get("must_include") or []) + (rec.get("any_of") or [])
            others = [(h.doc.title, h.chunk.text) for h in pipe.search(rec["question"], k=min(4 * k, 50))
                      if h.chunk.doc_id not in gold and not any(m in h.chunk.text for m in must)]
            out["distractors"].append((rec["question"], others[:k]))
    return out


def summarise(pos: Sequence[float], neg: Sequence[float]) -> dict[str, Any]:
    """AUC, sizes and the curve of one answerable-vs-negative comparison."""
    return {"answerable": len(pos), "negative": len(neg), "auc": round(auc(pos, neg), 4),
            "curve": curve(pos, neg, GRID)}


def choose_threshold(results: dict[str, dict], keys: Sequence[str], max_false_refusal: float) -> float:
    """Largest grid threshold whose false refusal is within the limit on every ``keys`` comparison."""
    ok = [t for i, t in enumerate(GRID)
          if all(results[k]["curve"][i]["false_refusal"] <= max_false_refusal + 1e-9 for k in keys)]
    return float(max(ok)) if ok else float(GRID[0])


def at(result: dict, threshold: float) -> dict[str, float]:
    """The curve point at ``threshold``."""
    point = min(result["curve"], key=lambda c: abs(c["threshold"] - threshold))
    return {"false_refusal": round(point["false_refusal"], 3), "refusal": round(point["refusal"], 3)}


def plot(results: dict[str, dict], threshold: float, path: Path) -> Path:
    """Refusal on negatives vs false refusal on answerable sets, one line per comparison."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 5.2), dpi=110)
    for name, res in results.items():
        xs = [100 * c["false_refusal"] for c in res["curve"]]
        ys = [100 * c["refusal"] for c in res["curve"]]
        line, = ax.plot(xs, ys, label=f"{name} (AUC {res['auc']:.3f})", lw=1.6)
        p = at(res, threshold)
        ax.plot(100 * p["false_refusal"], 100 * p["refusal"], "o", color=line.get_color())
    ax.set_xlabel("false refusal on answerable sets (%)")
    ax.set_ylabel("refusal on negative sets (%)")
    ax.set_title(f"Evidence judge alone, thresholds 0.01-0.99 (dots: default {threshold:.2f})")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    from rag.judge.train import _shared

    shared = _shared()
    p = argparse.ArgumentParser(prog="python -m rag.judge.calibrate", description="证据判别模型的阈值校准与曲线")
    p.add_argument("--rgb", default=str(shared / "eval/external/rgb_zh_dev.jsonl"))
    p.add_argument("--drcd", default=str(shared / "eval/external/drcd_dev.jsonl"))
    p.add_argument("--seed-qa", default=str(shared / "eval/seed_qa_dev.jsonl"))
    p.add_argument("--seeds", default=str(shared / "corpus/seeds"))
    p.add_argument("--index", default="/tmp/shanhai-judge-calibrate/index", help="种子文章索引目录（没有则新建）")
    p.add_argument("--k", type=int, default=8, help="每题取多少个候选片段（answer.candidates）")
    p.add_argument("--engine", default=None, help="onnx / torch（默认取配置）")
    p.add_argument("--max-false-refusal", type=float, default=0.10)
    p.add_argument("--json", default="benchmarks/results/judge_calibration.json")
    p.add_argument("--png", default="docs/judge/judge_curves.png")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Score every set, choose the threshold, write JSON and PNG, print the summary."""
    from rag import Pipeline  # this entry point sits above the facade, like the CLI
    from rag.config import load_config
    from rag.judge.model import load_judge

    args = parse_args(argv)
    config = load_config()
    if args.engine:
        config = config.with_overrides({"judge.engine": args.engine})
    judge = load_judge(config)
    scorer = judge.engine
    started = time.time()
    scores: dict[str, dict[str, np.ndarray]] = {}
    for half in ("eval", "train"):
        scores[f"rgb_{half}"] = {k: set_scores(scorer, v) for k, v in rgb_sets(args.rgb, half).items()}
    scores["drcd"] = {k: set_scores(scorer, v) for k, v in drcd_sets(args.drcd).items()}
    pipe = Pipeline(config.with_overrides({"index_dir": str(args.index)}))
    seed = seed_sets(pipe, Path(args.seeds), Path(args.seed_qa), args.k)
    scores["seed"] = {k: set_scores(scorer, v) for k, v in seed.items()}
    results = {
        "RGB eval half: noise 0.8 vs negative": summarise(scores["rgb_eval"]["noise=0.8"], scores["rgb_eval"]["rejection"]),
        "RGB eval half: noise 0 vs negative": summarise(scores["rgb_eval"]["noise=0"], scores["rgb_eval"]["rejection"]),
        "RGB trained half: noise 0.8 vs negative": summarise(scores["rgb_train"]["noise=0.8"],
                                                              scores["rgb_train"]["rejection"]),
        "DRCD dev: own vs other paragraph": summarise(scores["drcd"]["own"], scores["drcd"]["other"]),
        "seed dev: answerable vs unanswerable": summarise(scores["seed"]["answerable"], scores["seed"]["unanswerable"]),
        "seed dev: answerable vs other-article chunks": summarise(scores["seed"]["answerable"],
                                                                   scores["seed"]["distractors"]),
    }
    calib = ["DRCD dev: own vs other paragraph", "seed dev: answerable vs other-article chunks"]
    threshold = choose_threshold(results, calib, args.max_false_refusal)
    summary = {name: {"auc": r["auc"], "n": [r["answerable"], r["negative"]], **at(r, threshold)}
               for name, r in results.items()}
    out = {"threshold": threshold, "rule": f"largest threshold with false refusal <= {args.max_false_refusal:.0%} on "
           + " and ".join(calib), "engine": scorer.name, "judge": str(judge.folder), "summary": summary,
           "seconds": round(time.time() - started, 1), "results": results}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    plot(results, threshold, Path(args.png))
    print(json.dumps({"threshold": threshold, "engine": scorer.name, "summary": summary}, ensure_ascii=False, indent=1))
    print(f"-> {args.json}, {args.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
