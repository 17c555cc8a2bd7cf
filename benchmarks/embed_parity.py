"""Retrieval parity of the embedding backends (torch fp32, ONNX fp32, ONNX int8).

For each corpus (the five seed articles with the 30 seed dev questions; the RGB dev passage
pool: all positive + negative passages of all 100 items in one index, with their questions)
one index is built per backend. Every backend's queries then run against every index:

* matched runs (queries and index from one backend): bearing@5 (a passage containing an
  answer string in the top 5; seed: all ``must_include`` figures), hit@1 (seed: top-1 from
  a gold document; RGB: top-1 passage contains an answer);
* against the torch-built reference index: top-5 overlap and top-1 agreement of the hybrid
  result and of the dense list alone with torch's own queries, and the dense-score deltas
  (cosine of the same chunk) — the tolerance within which vectors of two backends compare;
* query-vector cosine of each backend to torch (same question).

Usage:
    python benchmarks/embed_parity.py [--rgb-items 100] [--skip-rgb] [--skip-seed] [--work DIR]

Writes benchmarks/results/embed_parity.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RESULTS, SHARED, load_jsonl, machine, write_result  # noqa: E402
from benchmarks.peer_compare import rgb_item_hit, rgb_pool, seed_item_hit  # noqa: E402
from rag.config import load_config  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402

BACKENDS = ("torch", "onnx", "onnx-int8")
K = 5


def pipeline(index: Path, backend: str) -> Pipeline:
    return Pipeline(load_config(overrides={"index_dir": str(index), "models.embedding.backend": backend}))


def build(inputs: list[Path], work: Path, name: str) -> dict[str, Path]:
    """One index per backend over the same inputs."""
    out = {}
    for backend in BACKENDS:
        index = work / f"{name}-{backend}"
        out[backend] = index
        if (index / "manifest.json").is_file():  # --work of an earlier run: reuse what was built
            print(f"  reusing {index}", file=sys.stderr)
            continue
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            pipeline(index, backend).ingest(inputs, rebuild=True)
        print(f"  built {name} with {backend} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return out


def run_queries(index: Path, backend: str, questions: list[str]) -> dict:
    """Hybrid top-5 (chunk ids, texts, docs, dense cosines), dense top-5 and query vectors."""
    pipe = pipeline(index, backend)
    pipe.search("预热")
    hybrid, dense, qvecs = [], [], []
    for q in questions:
        hits = pipe.search(q, K)
        hybrid.append([(h.chunk.chunk_id, h.chunk.text, h.chunk.doc_id, h.dense_score) for h in hits])
        from rag.text.normalize import normalize as _normalize_query

        v = pipe.encoder.encode_query(_normalize_query(q))
        qvecs.append(v)
        dense.append(pipe.index.dense_search(v, K))
    return {"hybrid": hybrid, "dense": dense, "qvecs": np.stack(qvecs)}


def overlap(a: list, b: list) -> float:
    return len(set(a) & set(b)) / max(1, len(b))


def compare(run: dict, ref: dict) -> dict:
    """Top-5 overlap, top-1 agreement and dense-score deltas of ``run`` against ``ref``."""
    h_over = [overlap([c for c, *_ in a], [c for c, *_ in b]) for a, b in zip(run["hybrid"], ref["hybrid"])]
    h_top1 = [float(a[0][0] == b[0][0]) for a, b in zip(run["hybrid"], ref["hybrid"]) if a and b]
    d_over = [overlap([c for c, _ in a], [c for c, _ in b]) for a, b in zip(run["dense"], ref["dense"])]
    d_top1 = [float(a[0][0] == b[0][0]) for a, b in zip(run["dense"], ref["dense"]) if a and b]
    deltas = []
    for a, b in zip(run["dense"], ref["dense"]):
        mine = dict(a)
        deltas += [abs(mine[c] - s) for c, s in b if c in mine]
    qcos = (run["qvecs"] * ref["qvecs"]).sum(1)
    return {
        "hybrid_top5_overlap": round(float(np.mean(h_over)), 4),
        "hybrid_top5_identical_sets": round(float(np.mean([o == 1.0 for o in h_over])), 4),
        "hybrid_top1_agreement": round(float(np.mean(h_top1)), 4),
        "dense_top5_overlap": round(float(np.mean(d_over)), 4),
        "dense_top1_agreement": round(float(np.mean(d_top1)), 4),
        "dense_score_delta_mean": round(float(np.mean(deltas)), 5) if deltas else None,
        "dense_score_delta_max": round(float(np.max(deltas)), 5) if deltas else None,
        "query_cosine_min": round(float(qcos.min()), 5),
        "query_cosine_mean": round(float(qcos.mean()), 5),
    }


def quality(run: dict, items: list[dict], kind: str) -> dict:
    bearing, hit1 = [], []
    for hits, it in zip(run["hybrid"], items):
        texts = [t for _c, t, _d, _s in hits]
        if kind == "seed":
            bearing.append(seed_item_hit(texts, it, K))
            hit1.append(float(bool(hits) and hits[0][2] in set(it["gold_docs"])) if it.get("gold_docs") else None)
        else:
            bearing.append(rgb_item_hit(texts, it, K))
            hit1.append(rgb_item_hit(texts, it, 1))
    vals = lambda xs: [x for x in xs if x is not None]  # noqa: E731
    return {"bearing@5": round(float(np.mean(vals(bearing))), 4), "hit@1": round(float(np.mean(vals(hit1))), 4),
            "n": len(vals(bearing))}


def evaluate(indexes: dict[str, Path], items: list[dict], kind: str) -> dict:
    questions = [it["question"] for it in items]
    runs = {(qb, ib): run_queries(indexes[ib], qb, questions) for qb, ib in itertools.product(BACKENDS, BACKENDS)}
    ref = runs[("torch", "torch")]
    return {
        "questions": len(questions),
        "matched": {b: quality(runs[(b, b)], items, kind) for b in BACKENDS},
        "vs_torch_reference": {f"{qb} queries / {ib} index": compare(runs[(qb, ib)], ref)
                               for qb, ib in itertools.product(BACKENDS, BACKENDS) if (qb, ib) != ("torch", "torch")},
        "cross_quality": {f"{qb} queries / {ib} index": quality(runs[(qb, ib)], items, kind)
                          for qb, ib in itertools.product(BACKENDS, BACKENDS) if qb != ib},
    }


def table(name: str, block: dict) -> str:
    lines = [f"\n### {name} ({block['questions']} questions)\n", "| backend (queries + index) | bearing@5 | hit@1 |",
             "|---|---|---|"]
    lines += [f"| {b} | {q['bearing@5']:.3f} | {q['hit@1']:.3f} |" for b, q in block["matched"].items()]
    lines += ["", "| vs torch queries on torch index | hybrid top-5 overlap | hybrid top-1 same | dense top-5 overlap "
              "| dense top-1 same | dense score Δ mean / max | query cosine min |", "|---|---|---|---|---|---|---|"]
    for key, c in block["vs_torch_reference"].items():
        lines.append(f"| {key} | {c['hybrid_top5_overlap']:.3f} | {c['hybrid_top1_agreement']:.3f} | "
                     f"{c['dense_top5_overlap']:.3f} | {c['dense_top1_agreement']:.3f} | "
                     f"{c['dense_score_delta_mean']} / {c['dense_score_delta_max']} | {c['query_cosine_min']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rgb-items", type=int, default=100)
    ap.add_argument("--skip-rgb", action="store_true")
    ap.add_argument("--skip-seed", action="store_true", help="keep the seed block of an earlier result file")
    ap.add_argument("--work", help="work folder (indexes already built there are reused)")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="shanhai-embed-parity-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"machine": machine(), "backends": list(BACKENDS), "k": K,
                    "note": "machine shared with other jobs; quality numbers do not depend on load"}
    previous = RESULTS / "embed_parity.json"
    if args.skip_seed and previous.is_file():
        result["seed"] = json.loads(previous.read_text(encoding="utf-8")).get("seed")
    else:
        seed_items = load_jsonl(SHARED / "eval" / "seed_qa_dev.jsonl")
        result["seed"] = evaluate(build([SHARED / "corpus" / "seeds"], work, "seed"), seed_items, "seed")
        print(table("Seed dev", result["seed"]))
        write_result("embed_parity", result)
    if not args.skip_rgb:
        pool, rgb_items = rgb_pool(work, args.rgb_items)
        result["rgb_pool"] = evaluate(build([pool], work, "rgb"), rgb_items, "rgb")
        result["rgb_pool"]["passages"] = sum(1 for _ in pool.open(encoding="utf-8"))
        print(table(f"RGB dev pool ({result['rgb_pool']['passages']} passages)", result["rgb_pool"]))
    print(f"\nwrote {write_result('embed_parity', result)}", file=sys.stderr)
    print(json.dumps({"work": str(work)}), file=sys.stderr)


if __name__ == "__main__":
    main()
