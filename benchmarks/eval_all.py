"""The evaluation benchmark of issue 7: every run of docs/benchmarks.md (section 6), then one summary.

Usage::

    # everything (about 1,050 LLM answers: ~3 h on 2 idle cores), in the background:
    mkdir -p runs && nohup python benchmarks/eval_all.py > runs/eval_all.log 2>&1 &
    python benchmarks/eval_all.py --limit 2                 # quick check of every run
    python benchmarks/eval_all.py --only seed-extractive,rgb-zh
    python benchmarks/eval_all.py --summary-only            # rebuild the summary from finished runs

Runs (``runs/eval-benchmark/<name>/``, git-ignored full run folders with results.jsonl):

=====================  ====================================================================
seed-llama_cpp         seed_qa_dev over an index of the five seed articles, default backend
seed-extractive        the same with the extractive backend
rgb-zh                 RGB zh_refine dev: noise 0/0.2/0.4/0.6/0.8 + negative rejection
rgb-zh-int             RGB zh_int dev: information integration at noise 0/0.2/0.4
rgb-zh-fact            RGB zh_fact dev: counterfactual passages
drcd-passages          DRCD dev sample answered from each question's own paragraph
drcd-index             DRCD dev sample answered by retrieval over all its paragraphs
=====================  ====================================================================

An interrupted benchmark continues where it stopped when started again (finished runs are
skipped, a half-done run resumes from its ``results.partial.jsonl``); ``--fresh`` starts over.
Each finished run is also exported to ``docs/eval/<name>/`` (metrics, config, report with
texts cut to 20 characters, plots) and ``summary.md`` (in both places) collects the tables
for docs/benchmarks.md (section 6). Numbers measured on a busy machine are provisional until
re-run on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import Pipeline  # noqa: E402
from rag.config import load_config  # noqa: E402
from rag.eval import rgb_published  # noqa: E402
from rag.eval.report import export_run, metric_label  # noqa: E402
from rag.eval.runner import PARTIAL, run_eval  # noqa: E402

SHARED = Path(os.environ.get("SHANHAI_SHARED", ROOT.parent / "shared"))
EVAL = SHARED / "eval"
# Full run folders hold corpus text (answers, passages): git-ignored runs/, never the repo.
OUT = ROOT / "runs" / "eval-benchmark"
DOCS = ROOT / "docs" / "eval"

RUNS: dict[str, dict] = {
    "seed-llama_cpp": {"dataset": EVAL / "seed_qa_dev.jsonl", "backend": "llama_cpp", "seed_index": True},
    "seed-extractive": {"dataset": EVAL / "seed_qa_dev.jsonl", "backend": "extractive", "seed_index": True},
    "rgb-zh": {"dataset": EVAL / "external" / "rgb_zh_dev.jsonl", "backend": "llama_cpp"},
    "rgb-zh-int": {"dataset": EVAL / "external" / "rgb_zh_int_dev.jsonl", "backend": "llama_cpp"},
    "rgb-zh-fact": {"dataset": EVAL / "external" / "rgb_zh_fact_dev.jsonl", "backend": "llama_cpp"},
    "drcd-passages": {"dataset": EVAL / "external" / "drcd_dev.jsonl", "backend": "llama_cpp"},
    "drcd-index": {"dataset": EVAL / "external" / "drcd_dev.jsonl", "backend": "llama_cpp", "retrieval": "index"},
}


def seed_index(config, out: Path) -> Path:
    """An index of the seed articles, built once and shared by the seed runs."""
    path = out / "seed-index"
    if not (path / "manifest.json").exists():
        print(f"建立种子文章索引：{path}", flush=True)
        Pipeline(config, index_dir=path).ingest([SHARED / "corpus" / "seeds"])
    return path


def run_one(name: str, spec: dict, config, out: Path, limit: int | None, fresh: bool) -> dict | None:
    """Run (or resume, or skip when finished) one benchmark run; returns its metrics."""
    run_dir = out / name
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    if (run_dir / "metrics.json").is_file() and not (run_dir / PARTIAL).exists():
        print(f"[{name}] 已完成，跳过（--fresh 可重跑）", flush=True)
        return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    index = str(seed_index(config, out)) if spec.get("seed_index") else None
    started = time.time()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.time()
        if done in (0, total) or now - last[0] > 60:
            last[0] = now
            rate = done / (now - started) if now > started else 0
            eta = f"预计还需 {(total - done) / rate / 60:.0f} 分钟" if rate else "正在估计剩余时间"
            print(f"[{name}] {done}/{total} 题，{rate:.3f} 题/秒，{eta}", flush=True)

    summary = run_eval(spec["dataset"], config, make_pipeline=Pipeline, out=run_dir, backend=spec["backend"], index=index, limit=limit,
                       retrieval=spec.get("retrieval", "passages"), resume=run_dir.exists(), progress=progress,
                       log=lambda m: print(f"[{name}] {m}", flush=True))
    return summary.metrics


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def _metric_row(metrics: dict[str, dict], runs: list[str], key: str) -> str:
    return f"| {metric_label(key)} (`{key}`) | " + " | ".join(_pct(metrics[n]["overall"].get(key)) for n in runs) + " |"


def summary_markdown(metrics: dict[str, dict]) -> str:
    """The tables of docs/benchmarks.md (section 6) from the finished runs' metrics."""
    lines = []
    seeds = [n for n in ("seed-llama_cpp", "seed-extractive") if n in metrics]
    if seeds:
        keys = list(dict.fromkeys(k for n in seeds for k in metrics[n]["overall"] if k != "n"))
        lines += ["### Seed dev set (30 questions, index of the 5 seed articles)", "",
                  "| metric | " + " | ".join(seeds) + " |", "|---|" + "---|" * len(seeds)]
        lines += [_metric_row(metrics, seeds, k) for k in keys]
        for stage in ("retrieve", "first_token", "total"):
            cells = [metrics[n]["latency"][stage] for n in seeds]
            lines.append(f"| latency {stage} p50 / p95 (s) | "
                         + " | ".join(f"{c['p50'] or 0:.2f} / {c['p95'] or 0:.2f}" for c in cells) + " |")
        lines.append("| decode tokens/s | " + " | ".join(
            "—" if not metrics[n]["tokens"].get("decode_tokens_per_second")
            else f"{metrics[n]['tokens']['decode_tokens_per_second']:.1f}" for n in seeds) + " |")
        lines.append("")
    rgb = {k: metrics[k]["rgb"] for k in ("rgb-zh", "rgb-zh-int", "rgb-zh-fact") if k in metrics}
    if rgb:
        noise = rgb.get("rgb-zh", {}).get("noise", {})
        integ = rgb.get("rgb-zh-int", {}).get("integration", {})
        cf = rgb.get("rgb-zh-fact", {}).get("counterfactual", {})
        n_items = {k: metrics[k]["n_items"] for k in rgb}
        lines += ["### RGB Chinese (dev split) next to the published numbers", "",
                  "Noise robustness accuracy at noise 0 / 0.2 / 0.4 / 0.6 / 0.8, rejection rate (Rej) on 5 negative "
                  "passages, information-integration accuracy at noise 0 / 0.2 / 0.4, counterfactual error "
                  "detection (ED) and correction rate (CR). Published rows: AAAI-24 paper, original `zh.json`, "
                  "temperature 0.2; ours: `zh_refine` dev split, our prompt and checks, greedy decoding.", "",
                  "| model | 0 | 0.2 | 0.4 | 0.6 | 0.8 | Rej | Int 0 | Int 0.2 | Int 0.4 | ED | CR |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        ours = [_pct(noise.get(f"{r:g}")) for r in rgb_published.NOISE_RATIOS]
        ours += [_pct(rgb.get("rgb-zh", {}).get("rejection"))]
        ours += [_pct(integ.get(r)) for r in ("0", "0.2", "0.4")] + [_pct(cf.get("ed")), _pct(cf.get("cr"))]
        lines.append("| **shanhai / llama_cpp (Qwen2.5-1.5B Q4)** | " + " | ".join(ours) + " |")
        for name, vals in rgb_published.NOISE.items():
            rej = rgb_published.REJECTION[name][0]
            integ_p = rgb_published.INTEGRATION[name]
            c = rgb_published.COUNTERFACTUAL.get(name, {})
            row = [f"{v:.2f}" for v in vals] + [f"{rej:.2f}"] + [f"{v:g}" for v in integ_p]
            row += [f"{c['ed']:g}" if c else "—", f"{c['cr']:g}" if c else "—"]
            lines.append(f"| {name} (paper) | " + " | ".join(row) + " |")
        lines += ["", "Items: " + ", ".join(f"{k} {v}" for k, v in n_items.items())
                  + (f"; counterfactual Acc_doc {_pct(cf.get('acc_doc'))}, repeats the false figure "
                     f"{_pct(cf.get('fake_answer'))}" if cf else "") + ".", ""]
    drcd = [n for n in ("drcd-passages", "drcd-index") if n in metrics]
    if drcd:
        keys = ["contains", "contains_raw", "exact_match", "char_f1", "rouge_l", "refused", "hit@1", "hit@5", "mrr"]
        lines += ["### DRCD dev sample (Traditional script)", "", "| metric | " + " | ".join(drcd) + " |",
                  "|---|" + "---|" * len(drcd)]
        lines += [_metric_row(metrics, drcd, k) for k in keys]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="逗号分隔的运行名：" + ",".join(RUNS))
    parser.add_argument("--limit", type=int, help="每个数据集只跑前 N 条记录（快速检查）")
    parser.add_argument("--out", help=f"运行目录的上级目录（默认 {OUT}；带 --limit 时为其下的 check-limitN）")
    parser.add_argument("--docs", help=f"导出报告摘录的目录（默认 {DOCS}；带 --limit 时不导出；空字符串 = 不导出）")
    parser.add_argument("--fresh", action="store_true", help="删除已有结果，从头重跑")
    parser.add_argument("--summary-only", action="store_true", help="只根据已完成的运行重写 summary.md")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        parser.error(f"未知的运行名：{', '.join(unknown)}")
    # A --limit check never mixes with (or exports over) the full benchmark's results.
    out = Path(args.out) if args.out else (OUT / f"check-limit{args.limit}" if args.limit else OUT)
    docs = args.docs if args.docs is not None else ("" if args.limit else str(DOCS))
    out.mkdir(parents=True, exist_ok=True)
    config = load_config()
    results: dict[str, dict] = {}
    failed = []
    for name in names:
        try:
            if args.summary_only:
                path = out / name / "metrics.json"
                if path.is_file():
                    results[name] = json.loads(path.read_text(encoding="utf-8"))
                continue
            results[name] = run_one(name, RUNS[name], config, out, args.limit, args.fresh)
            if docs and results[name] is not None:
                export_run(out / name, Path(docs) / name, excerpt_chars=20)
        except Exception:  # noqa: BLE001 - one broken run must not stop the others
            failed.append(name)
            print(f"[{name}] 失败：\n{traceback.format_exc()}", flush=True)
    text = summary_markdown({k: v for k, v in results.items() if v})
    (out / "summary.md").write_text(text, encoding="utf-8")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        (Path(docs) / "summary.md").write_text(text, encoding="utf-8")
    print(text)
    if failed:
        print(f"失败的运行：{', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
