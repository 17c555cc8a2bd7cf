"""Retrieval quality and search latency on the seed dev set, computed from `shanhai search --json`.

Usage:
    python benchmarks/retrieval.py [--index DIR] [-k 5]

Without --index it ingests ../shared/corpus/seeds into a temporary index first. Writes
benchmarks/results/retrieval.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED, load_jsonl, machine, peak_rss_mb, write_result  # noqa: E402
from rag.cli import main as shanhai  # noqa: E402
from rag.eval.metrics import answer_bearing_hit, hit_at_k, latency_summary, mrr, unique_in_order  # noqa: E402


def search_json(question: str, index: str, k: int) -> list[dict]:
    """Run `shanhai search QUESTION --json` in-process (model stays loaded) and parse its output."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = shanhai(["search", question, "--json", "-k", str(k), "--index", index])
    if code != 0:
        raise RuntimeError(f"shanhai search failed ({code}) for {question}")
    return json.loads(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", help="existing index of the seed articles")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--dataset", default=str(SHARED / "eval" / "seed_qa_dev.jsonl"))
    args = ap.parse_args()
    index = args.index
    if not index:
        index = str(Path(tempfile.mkdtemp(prefix="shanhai-bench-")) / "index")
        with contextlib.redirect_stdout(io.StringIO()):
            shanhai(["ingest", str(SHARED / "corpus" / "seeds"), "--index", index])
    items = [it for it in load_jsonl(Path(args.dataset)) if it["gold_docs"]]
    search_json("预热", index, args.k)  # load the model before timing
    rows, latencies = [], []
    for it in items:
        t = time.perf_counter()
        hits = search_json(it["question"], index, args.k)
        latencies.append(time.perf_counter() - t)
        docs = unique_in_order([h["doc_id"] for h in hits])
        figures = it["must_include"]
        rows.append(
            {
                "id": it["id"],
                "hit@1": hit_at_k(docs, it["gold_docs"], 1),
                "hit@5": hit_at_k(docs, it["gold_docs"], 5),
                "mrr": mrr(docs, it["gold_docs"]),
                "figures@5": answer_bearing_hit([h["text"] for h in hits], figures, 5, require_all=True) if figures else None,
            }
        )
    # The same questions through the Python API with one open pipeline (index opened once).
    from rag.config import load_config
    from rag.pipeline import Pipeline

    pipe = Pipeline(load_config(overrides={"index_dir": index}))
    pipe.search("预热", args.k)
    api_latencies = []
    for it in items:
        t = time.perf_counter()
        pipe.search(it["question"], args.k)
        api_latencies.append(time.perf_counter() - t)
    n = len(rows)
    fig_rows = [r for r in rows if r["figures@5"] is not None]
    summary = {
        "questions": n,
        "hit@1": sum(r["hit@1"] for r in rows) / n,
        "hit@5": sum(r["hit@5"] for r in rows) / n,
        "mrr": sum(r["mrr"] for r in rows) / n,
        "all_must_include_in_top5": sum(bool(r["figures@5"]) for r in fig_rows) / len(fig_rows),
        "questions_with_figures": len(fig_rows),
        "cli_search_latency_s": latency_summary(latencies),
        "api_search_latency_s": latency_summary(api_latencies),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "misses": [r["id"] for r in rows if not r["hit@5"] or r["figures@5"] == 0],
    }
    out = write_result("retrieval", {"machine": machine(), "summary": summary, "items": rows})
    cli, api = summary["cli_search_latency_s"], summary["api_search_latency_s"]
    print("| questions | hit@1 | hit@5 | MRR | all must_include in top-5 | API search p50 / p95 | CLI search (opens index) p50 / p95 |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {n} | {summary['hit@1']:.3f} | {summary['hit@5']:.3f} | {summary['mrr']:.3f} | "
        f"{summary['all_must_include_in_top5']:.3f} ({len(fig_rows)} q) | {api['p50'] * 1000:.0f} / {api['p95'] * 1000:.0f} ms | "
        f"{cli['p50'] * 1000:.0f} / {cli['p95'] * 1000:.0f} ms |"
    )
    print(f"misses: {summary['misses']}  → {out}")


if __name__ == "__main__":
    main()
