"""Passage-encoding throughput of the embedding backends on the same chunks, and the batch/thread sweep.

The chunks are those `shanhai ingest` makes of the first ``--articles`` archive articles
(cleaning and chunking are not timed). Each backend runs in its own subprocess (so its peak
RSS is its own) on the same slice of chunks; the slices are processed in rounds with the
backend order rotated every round, so all backends see the same machine noise. Reported per
backend: model load seconds, chunks/s and tokens/s (e5 tokens incl. ``<s>``/``</s>``, the
work the model does; padded tokens also given), peak RSS.

``--sweep``: one subprocess per ONNX backend runs the forward passes of the same 256 chunks
with every batch size (1-64) x ONNX Runtime thread count (interleaved passes), plus batch 16
with spin-waiting threads and batch 16 without sorting by length (padding waste), to choose
``models.embedding.batch_size``/``threads``/``spin_wait`` (the encoder itself runs int8 one
text per pass, see ``Encoder._batch_size``).

Usage:
    python benchmarks/embed_speed.py [--articles 300] [--rounds 3]
    python benchmarks/embed_speed.py --sweep [--passes 2] [--sweep-backends onnx-int8,onnx]

Writes benchmarks/results/embed_speed.json (and embed_sweep.json with --sweep).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, machine, write_result  # noqa: E402

BACKENDS = ("torch", "onnx", "onnx-int8")
ARCHIVE = SHARED / "corpus" / "external" / "crud_news_sample.jsonl.gz"


def archive_chunks(n_articles: int) -> list[str]:
    """Chunk texts of the first ``n_articles`` archive lines, as ingest makes them."""
    from rag.config import load_config
    from rag.ingest import chunk_params_of, prepare_document
    from rag.ingest.loaders import read_raw

    work = Path(tempfile.mkdtemp(prefix="shanhai-embed-speed-"))
    part = work / ARCHIVE.name
    with gzip.open(ARCHIVE, "rb") as src, gzip.open(part, "wb") as dst:
        for line in itertools.islice(src, n_articles):
            dst.write(line)
    params = chunk_params_of(load_config())
    texts = []
    for raw in read_raw(part, max_file_mb=200):
        prepared = prepare_document(raw, params) if not hasattr(raw, "reason") else None
        if prepared is not None:
            texts += [c.text for c in prepared.chunks]
    return texts


def encoder_for(backend: str, batch_size: int, threads: int, spin: bool = False):
    from rag.config import load_config
    from rag.models import build_encoder

    cfg = load_config(overrides={"models.embedding.backend": backend, "models.embedding.batch_size": batch_size,
                                 "models.embedding.threads": threads, "models.embedding.spin_wait": spin})
    return build_encoder(cfg)


def child_speed(args) -> dict:
    texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
    lo, hi = (int(x) for x in args.slice.split(":"))
    texts = texts[lo:hi]
    t = time.perf_counter()
    enc = encoder_for(args.child, args.batch_size, args.threads)
    enc.load()
    enc.encode_passages(["预热"])
    load_s = time.perf_counter() - t
    enc.stats.update({"texts": 0, "tokens": 0, "padded_tokens": 0, "seconds": 0.0})
    cpu0 = time.process_time()
    enc.encode_passages(texts)
    return {"backend": args.child, "active_backend": enc.active_backend, "load_s": round(load_s, 3),
            "texts": int(enc.stats["texts"]), "tokens": int(enc.stats["tokens"]),
            "padded_tokens": int(enc.stats["padded_tokens"]), "encode_s": round(enc.stats["seconds"], 3),
            "cpu_s": round(time.process_time() - cpu0, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _timed_batches(runner, ids: list[list[int]], batch: int, sort: bool) -> dict:
    """Run the runner's forward passes directly (any backend, any batch size) and time them."""
    from embeddings.onnx_runtime import length_batches

    groups = (length_batches([len(x) for x in ids], batch) if sort
              else [list(range(i, min(i + batch, len(ids)))) for i in range(0, len(ids), batch)])
    t = time.perf_counter()
    for rows in groups:
        runner.embed_batch(None, [ids[i] for i in rows])
    return {"seconds": time.perf_counter() - t, "tokens": sum(map(len, ids)),
            "padded_tokens": sum(len(rows) * max(len(ids[i]) for i in rows) for rows in groups)}


def child_sweep(args) -> dict:
    """Forward passes of the same 256 chunks under every batch size x threads (x spin, x sorting)."""
    texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))[:256]
    rows = []
    configs = [(b, t, False, True) for b in (1, 4, 16, 32, 64) for t in (1, 2)]
    configs += [(16, 2, True, True), (16, 2, False, False)]  # spin-waiting threads; not sorted by length
    runners = {}
    for c in configs:
        enc = encoder_for(args.child, c[0], c[1], c[2])
        runners[c] = enc._load()
        runners[c].embed_batch(None, runners[c].token_ids(["passage: 预热"]))
    ids = runners[configs[0]].token_ids(["passage: " + x for x in texts])
    for rep in range(args.passes):
        for c in (configs if rep % 2 == 0 else configs[::-1]):
            rows.append({"batch_size": c[0], "threads": c[1], "spin_wait": c[2], "sorted": c[3],
                         **_timed_batches(runners[c], ids, c[0], c[3])})
    return {"backend": args.child, "texts": len(texts), "rows": rows}


def spawn(argv: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarize(runs: list[dict]) -> dict:
    by: dict[str, dict] = {}
    for b in BACKENDS:
        rs = [r for r in runs if r["backend"] == b]
        enc, texts, tokens = sum(r["encode_s"] for r in rs), sum(r["texts"] for r in rs), sum(r["tokens"] for r in rs)
        by[b] = {"texts": texts, "tokens": tokens, "encode_s": round(enc, 2),
                 "chunks_per_s": round(texts / enc, 2), "tokens_per_s": round(tokens / enc, 1),
                 "padding_overhead": round(sum(r["padded_tokens"] for r in rs) / tokens - 1, 4),
                 "load_s_median": round(float(np.median([r["load_s"] for r in rs])), 2),
                 "peak_rss_mb_max": max(r["peak_rss_mb"] for r in rs),
                 "cpu_per_wall": round(sum(r["cpu_s"] for r in rs) / enc, 2)}
    for b in BACKENDS:
        by[b]["speedup_vs_torch"] = round(by[b]["chunks_per_s"] / by["torch"]["chunks_per_s"], 2)
    return by


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--passes", type=int, default=2, help="interleaved passes of the sweep")
    ap.add_argument("--sweep-backends", default="onnx-int8,onnx", help="backends the sweep measures")
    ap.add_argument("--child", choices=BACKENDS)
    ap.add_argument("--texts")
    ap.add_argument("--slice")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child_sweep(args) if args.sweep else child_speed(args)))
        return
    texts = archive_chunks(args.articles)
    tfile = Path(tempfile.mkdtemp(prefix="shanhai-embed-speed-")) / "texts.json"
    tfile.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    common = ["--texts", str(tfile), "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    if args.sweep:
        result = {"machine": machine(), "passes": args.passes,
                  "sweep": [spawn(["--child", b, "--sweep", "--passes", str(args.passes), *common])
                            for b in args.sweep_backends.split(",")]}
        print(json.dumps(result, indent=1))
        write_result("embed_sweep", result)
        return
    bounds = np.linspace(0, len(texts), args.rounds + 1).astype(int)
    runs = []
    for r in range(args.rounds):
        order = BACKENDS[r % 3:] + BACKENDS[:r % 3]
        for b in order:
            run = spawn(["--child", b, "--slice", f"{bounds[r]}:{bounds[r + 1]}", *common])
            run["round"] = r
            runs.append(run)
            print(f"round {r} {b}: {run['texts'] / run['encode_s']:.1f} chunks/s, "
                  f"{run['tokens'] / run['encode_s']:.0f} tokens/s, RSS {run['peak_rss_mb']} MB", file=sys.stderr)
    result = {"machine": machine(), "articles": args.articles, "chunks": len(texts), "rounds": args.rounds,
              "batch_size": args.batch_size, "threads": args.threads or os.cpu_count(),
              "note": "2-core machine shared with other helpers' jobs; backends interleaved per round",
              "summary": summarize(runs), "runs": runs}
    print(json.dumps(result["summary"], indent=1))
    write_result("embed_speed", result)


if __name__ == "__main__":
    main()
