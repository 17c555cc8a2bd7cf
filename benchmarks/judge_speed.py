"""Evidence judge cost per question: p50/p95 of ``EvidenceJudge.judge`` (windowing + tokenising + model).

Workloads:
* ``fixed40``: 40 windows of ~150 characters (<= 128 tokens with the question) per question, cut
  from RGB dev passages - the brief's reference load;
* ``rgb_noise0.8``: every window of an RGB noise-0.8 item's 5 passages (~21 windows);
* ``seed_top16``: every window of the 16 chunks retrieved for a seed dev question, each window
  after its article title (what rag/answer/rerank.py judges: ``judge.candidates``; index of the
  5 seed articles in a temporary folder).

Run: ``python benchmarks/judge_speed.py [--engines onnx,torch] [--threads 2] [--repeat 3] [--max-windows 0,16]``
-> ``benchmarks/results/judge_speed.json``. Tokens per pair and the load average are recorded:
on a shared machine the numbers are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED, load_jsonl, machine, peak_rss_mb, write_result  # noqa: E402


def fixed40(records: list[dict]) -> list[tuple[str, list[str]]]:
    """(question, 40 passages of one ~150-char window each) per RGB record."""
    from rag.judge.windows import prepare, sentence_windows

    out = []
    for rec in records:
        pieces = []
        for passage in rec["positive"] + rec["negative"]:
            text = prepare(passage)
            pieces += [text[w.start:w.end] for w in sentence_windows(text) if w.end - w.start >= 100]
        if len(pieces) >= 40:
            out.append((rec["question"], pieces[:40]))
    return out


def rgb_noise(path: Path) -> list[tuple[str, list[str]]]:
    """RGB dev noise-0.8 sets (the evaluation's own samples)."""
    from rag.judge.evalsets import rgb_sets

    return rgb_sets(path, None, noises=(0.8,))["noise=0.8"]


def seed_top16(config, k: int = 16) -> list[tuple[str, list]]:
    """Seed dev questions with their top-k retrieved chunks (temporary seed index)."""
    import tempfile

    from rag.pipeline import Pipeline

    tmp = Path(tempfile.mkdtemp(prefix="judge-speed-")) / "index"
    pipe = Pipeline(config.with_overrides({"index_dir": str(tmp)}))
    pipe.ingest([SHARED / "corpus" / "seeds"])
    return [(r["question"], [(h.doc.title, h.chunk.text) for h in pipe.search(r["question"], k=k)])
            for r in load_jsonl(SHARED / "eval" / "seed_qa_dev.jsonl")]


def _judge(judge, question: str, passages: list):
    """judge.judge with (title, text) passages split into texts and titles."""
    if passages and isinstance(passages[0], tuple):
        return judge.judge(question, [t for _, t in passages], titles=[h for h, _ in passages])
    return judge.judge(question, passages)


def measure(judge, sets: list[tuple[str, list[str]]], repeat: int) -> dict:
    """Per-question latency of judge.judge over ``sets`` (first call is a warm-up)."""
    from rag.judge.encode import encode_pairs

    _judge(judge, *sets[0])
    times, windows, tokens = [], [], []
    for _ in range(repeat):
        for question, passages in sets:
            t = time.perf_counter()
            j = _judge(judge, question, passages)
            times.append(1000 * (time.perf_counter() - t))
            windows.append(len(j.windows))
    question, passages = sets[0]
    j = _judge(judge, question, passages)
    tokens = [len(r) for r in encode_pairs(judge.engine.tok, [question] * len(j.windows), [w.text for w in j.windows])]
    return {"questions": len(sets), "calls": len(times), "windows_mean": round(statistics.mean(windows), 1),
            "tokens_per_pair_mean_first_set": round(statistics.mean(tokens), 1),
            "p50_ms": round(float(np.percentile(times, 50)), 1), "p95_ms": round(float(np.percentile(times, 95)), 1),
            "mean_ms": round(statistics.mean(times), 1)}


def main() -> int:
    """Measure every workload with every engine and write the result file."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engines", default="onnx,torch")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--limit", type=int, default=30, help="questions per workload")
    p.add_argument("--max-windows", default="0", help="judge.max_windows values to compare, e.g. 0,16 (0 = all)")
    args = p.parse_args()
    from rag.config import load_config
    from rag.judge.model import EvidenceJudge, load_judge

    config = load_config()
    base = load_judge(config)  # prepares the folder if needed
    rgb_path = SHARED / "eval" / "external" / "rgb_zh_dev.jsonl"
    work = {"fixed40": fixed40(load_jsonl(rgb_path))[: args.limit], "rgb_noise0.8": rgb_noise(rgb_path)[: args.limit],
            "seed_top16": seed_top16(config)[: args.limit]}
    out = {"machine": machine(), "threads": args.threads, "judge": str(base.folder), "results": {}}
    for engine in args.engines.split(","):
        for mw in (int(x) for x in args.max_windows.split(",")):
            judge = EvidenceJudge(base.folder, engine=engine, threads=args.threads, max_windows=mw)
            for name, sets in work.items():
                res = measure(judge, sets, args.repeat)
                key = f"{engine}/{name}" + (f"/max_windows={mw}" if mw else "")
                out["results"][key] = res
                print(f"{key:36s} {json.dumps(res)}", file=sys.stderr, flush=True)
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    out["peak_rss_mb"] = round(peak_rss_mb())
    print(write_result("judge_speed", out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
