"""Scale benchmark: the CRUD news archive (gzip JSONL, 19,720 articles) through `shanhai ingest`'s
code path with the real model; throughput, peak RSS, index size, resume after a kill, and search
latency as the index grows (with a plot).

Stages, for sizes 1000 / 5000 / 19720 articles (``--sizes``, cut by ``--limit``):

1. Ingest the first S1 articles into a fresh index (a child process, so its peak RSS is its own).
2. Grow to S2: the child is SIGKILLed after its first checkpoint; the index must still be whole
   (``shanhai index check``); a second child resumes, skipping what was committed.
3. Grow to each further size.

After each stage: search latency (this process, model loaded once, no LLM) over the seed dev
and RGB dev questions: total ``Pipeline.search`` p50/p95 and its parts (query embedding, dense
top-50, BM25 top-50). ``--also-ivf`` re-measures the largest index with IVF. ``--ray-docs N``
ingests the first N articles again through Ray with 2 local workers (same code, workers embed).

``--time-budget S``: ingest stops gracefully when S seconds of ingest are spent (what is done is
committed); the full-archive time is then extrapolated from the measured rate, and says so.
``--fake-encoder``: a hashed n-gram stand-in for the model, to check memory, index sizes and
index-side latency at full size in minutes (throughput numbers are then meaningless).

Usage::

    python benchmarks/scale.py                                   # full run, ~1 h on an idle 2-core CPU
    python benchmarks/scale.py --limit 300 --sizes 100,300 --checkpoint-every 50
    python benchmarks/scale.py --time-budget 1200 --ray-docs 200

Writes benchmarks/results/scale*.json and docs/scale_latency*.png.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks._common import SHARED, load_jsonl, machine, write_result  # noqa: E402

CRUD = SHARED / "corpus" / "external" / "crud_news_sample.jsonl.gz"
FULL = 19720


class FakeEncoder:
    """384-d hashed character n-grams: no model, for checking the index side at full size."""

    name, dim, batch_size = "fake-ngram-384", 384, 32

    def encode_passages(self, texts, **_kw):
        return np.stack([self.encode_query(t) for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def encode_query(self, text):
        v = np.zeros(384, np.float32)
        for i in range(len(text) - 1):
            v[int.from_bytes(hashlib.md5(text[i : i + 2].encode()).digest()[:4], "little") % 384] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v


# -- the child: one ingest, reporting its own numbers ---------------------------------------------

def child(args) -> None:
    from rag.config import load_config
    from rag.ingest import ingest
    from rag.pipeline import Pipeline

    overrides = json.loads(args.child_overrides)
    config = load_config(overrides=overrides)
    t = time.perf_counter()
    encoder = FakeEncoder() if args.fake_encoder else Pipeline(config).encoder
    if not args.fake_encoder:
        encoder.encode_passages(["预热"])
    load_s = time.perf_counter() - t
    deadline = time.perf_counter() + args.child_budget if args.child_budget else None
    r = ingest([args.child_input], config, encoder, index_dir=Path(overrides["index_dir"]),
               stop=(lambda: time.perf_counter() > deadline) if deadline else None)
    out = {"docs_added": r.docs_added, "docs_unchanged": r.docs_unchanged, "chunks_added": r.chunks_added,
           "chunks_embedded": r.chunks_embedded, "seconds": r.seconds, "embed_seconds": r.embed_seconds,
           "checkpoints": r.checkpoints, "stopped": r.stopped, "model_load_s": load_s,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    Path(args.child_report).write_text(json.dumps(out), encoding="utf-8")


def run_child(src: Path, overrides: dict, report: Path, args, budget: float | None = None, kill_after_checkpoint: bool = False):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-input", str(src), "--child-report", str(report),
           "--child-overrides", json.dumps(overrides)]
    if budget:
        cmd += ["--child-budget", str(budget)]
    if args.fake_encoder:
        cmd.append("--fake-encoder")
    report.unlink(missing_ok=True)
    index = Path(overrides["index_dir"])
    start_gen = _generation(index)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    if not kill_after_checkpoint:
        proc.wait()
        if proc.returncode:
            raise SystemExit(f"ingest child failed ({proc.returncode})")
        return json.loads(report.read_text()), time.perf_counter() - t0
    while proc.poll() is None and _generation(index) == start_gen:
        time.sleep(0.5)
    if proc.poll() is not None:
        raise SystemExit("the ingest child ended before its first checkpoint: lower --checkpoint-every")
    checkpoint_at = time.perf_counter() - t0
    time.sleep(args.kill_delay)  # let it embed part of the next interval, which the kill loses
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return {"killed_after_s": round(time.perf_counter() - t0, 1), "first_checkpoint_s": round(checkpoint_at, 1),
            "returncode": proc.returncode}, time.perf_counter() - t0


def _generation(index: Path) -> int | None:
    try:
        return json.loads((index / "manifest.json").read_text())["generation"]
    except (OSError, ValueError, KeyError):
        return None


# -- the parent -----------------------------------------------------------------------------------

def prefix_file(work: Path, n: int) -> Path:
    """The first ``n`` archive lines under the archive's own file name (same doc ids)."""
    out = work / f"first{n}" / CRUD.name
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(CRUD, "rb") as src, gzip.open(out, "wb") as dst:
        for line in itertools.islice(src, n):
            dst.write(line)
    return out


def index_mb(index: Path) -> float:
    live = json.loads((index / "manifest.json").read_text())["generation_dir"]
    return round(sum(p.stat().st_size for p in (index / live).rglob("*") if p.is_file()) / 1e6, 1)


def measure_latency(index: Path, encoder, config, questions: list[str], search_overrides: dict | None = None) -> dict:
    from rag.pipeline import Pipeline
    from rag.text.normalize import normalize

    pipe = Pipeline(config.with_overrides({"index_dir": str(index), **(search_overrides or {})}))
    pipe._encoder = encoder
    idx = pipe.index
    pipe.search("预热：模型与索引已加载", 5)
    parts: dict[str, list[float]] = {"search": [], "query_embedding": [], "dense_top50": [], "bm25_top50": []}
    for q in questions:
        t = time.perf_counter()
        pipe.search(q, 5)
        parts["search"].append(time.perf_counter() - t)
        t = time.perf_counter()
        vec = encoder.encode_query(normalize(q))
        parts["query_embedding"].append(time.perf_counter() - t)
        t = time.perf_counter()
        idx.dense_search(vec, 50)
        parts["dense_top50"].append(time.perf_counter() - t)
        t = time.perf_counter()
        idx.sparse_search(normalize(q), 50)
        parts["bm25_top50"].append(time.perf_counter() - t)
    out = {k: {"p50_ms": round(float(np.percentile(v, 50)) * 1000, 2), "p95_ms": round(float(np.percentile(v, 95)) * 1000, 2)}
           for k, v in parts.items()}
    out["n"] = len(questions)
    out["index_type"] = idx.manifest["index"]["type"]
    out["chunks"] = idx.counts["chunks"]
    idx.close()
    return out


def plot(stages: list[dict], path: Path, fake: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [s["articles"] for s in stages]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for key, label, style in (("search", "search total p95", "o-"), ("search", "search total p50", "o--"),
                              ("query_embedding", "query embedding p50", "s:"), ("dense_top50", "dense top-50 p50", "^:"),
                              ("bm25_top50", "BM25 top-50 p50", "v:")):
        pct = "p95_ms" if "p95" in label else "p50_ms"
        ax.plot(xs, [s["latency"][key][pct] for s in stages], style, label=label)
    ax.axhline(100, color="grey", lw=0.8, ls="-.", label="goal: p95 ≤ 100 ms")
    ax.set_xscale("log")
    ax.set_xlabel("articles in the index (CRUD news sample)")
    ax.set_ylabel("ms per query (model loaded, no LLM)")
    ax.set_title("shanhai search cost vs index size" + (" (fake encoder)" if fake else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parent(args) -> dict:
    from rag.config import load_config
    from rag.index.repair import diagnose
    from rag.pipeline import Pipeline

    limit = min(args.limit or FULL, FULL)
    sizes = sorted({min(int(s), limit) for s in args.sizes.split(",")} | {limit})
    work = Path(args.work or tempfile.mkdtemp(prefix="shanhai-scale-"))
    index = work / "index"
    overrides = {"index_dir": str(index)}
    if args.checkpoint_every:
        overrides["ingest.checkpoint_every"] = args.checkpoint_every
    for item in args.set:
        key, _, value = item.partition("=")
        import yaml

        overrides[key.strip()] = yaml.safe_load(value)
    config = load_config(overrides=overrides)
    encoder = FakeEncoder() if args.fake_encoder else Pipeline(config).encoder
    questions = [it["question"] for it in load_jsonl(SHARED / "eval" / "seed_qa_dev.jsonl")]
    questions += [it["question"] for it in load_jsonl(SHARED / "eval" / "external" / "rgb_zh_dev.jsonl")]
    result: dict = {"machine": machine(), "settings": {"sizes": sizes, "limit": args.limit, "time_budget_s": args.time_budget,
                                                      "fake_encoder": args.fake_encoder, "overrides": overrides}, "stages": []}
    spent, totals = 0.0, {"docs": 0, "chunks": 0, "seconds": 0.0}
    reached = 0
    for n, size in enumerate(sizes):
        budget = None
        if args.time_budget:
            budget = args.time_budget - spent
            if budget <= 0:
                break
        src = prefix_file(work, size)
        stage: dict = {"target_articles": size}
        if n == 1 and not args.no_kill:
            killed, secs = run_child(src, overrides, work / "child.json", args, kill_after_checkpoint=True)
            spent += secs
            diag = diagnose(index)
            from rag.index import Index

            idx = Index.open(index, model_name=encoder.name, dim=encoder.dim)
            killed.update({"index_healthy_after_kill": diag.healthy, "articles_committed_at_kill": idx.counts["docs"],
                           "generation_at_kill": idx.generation})
            idx.close()
            stage["kill"] = killed
            print(f"killed after {killed['killed_after_s']} s; committed {killed['articles_committed_at_kill']} articles; healthy={diag.healthy}", flush=True)
            if budget:
                budget = args.time_budget - spent
        rep, wall = run_child(src, overrides, work / "child.json", args, budget=budget)
        spent += wall
        stage["ingest"] = rep
        if "kill" in stage:
            stage["kill"]["resume_skipped_committed"] = rep["docs_unchanged"] == stage["kill"]["articles_committed_at_kill"]
        totals["docs"] += rep["docs_added"]
        totals["chunks"] += rep["chunks_added"]
        totals["seconds"] += rep["seconds"]
        from rag.index import Index

        idx = Index.open(index, model_name=encoder.name, dim=encoder.dim)
        reached = idx.counts["docs"]
        idx.close()
        stage["articles"] = reached
        stage["index_mb"] = index_mb(index)
        stage["latency"] = measure_latency(index, encoder, config, questions)
        result["stages"].append(stage)
        print(f"{reached} articles: ingest {rep['docs_added']} in {rep['seconds']:.0f} s, peak RSS {rep['peak_rss_mb']:.0f} MB, "
              f"index {stage['index_mb']} MB, search p50/p95 {stage['latency']['search']['p50_ms']}/{stage['latency']['search']['p95_ms']} ms", flush=True)
        if rep["stopped"]:
            break
    rate = totals["docs"] / totals["seconds"] if totals["seconds"] else None
    result["ingest"] = {
        "articles": totals["docs"], "chunks": totals["chunks"], "seconds": round(totals["seconds"], 1),
        "articles_per_s": round(rate, 3) if rate else None,
        "chunks_per_s": round(totals["chunks"] / totals["seconds"], 3) if totals["seconds"] else None,
        "chunks_per_article": round(totals["chunks"] / max(1, totals["docs"]), 3),
        "peak_rss_mb": round(max(s["ingest"]["peak_rss_mb"] for s in result["stages"]), 1) if result["stages"] else None,
        "reached_articles": reached,
        "full_archive_seconds": round(FULL / rate, 0) if rate else None,
        "full_archive_seconds_is": "measured" if reached >= FULL else "extrapolated from the measured rate",
    }
    if args.also_ivf and result["stages"]:
        result["ivf_latency"] = measure_ivf(index, encoder, config, questions)
    if args.ray_docs:
        result["ray"] = measure_ray(work, min(args.ray_docs, limit), overrides, args)
    png = ROOT / "docs" / f"scale_latency{args.suffix}.png"
    png.parent.mkdir(exist_ok=True)
    plot([s for s in result["stages"]], png, args.fake_encoder)
    result["plot"] = str(png.relative_to(ROOT))
    return result


def measure_ivf(index: Path, encoder, config, questions) -> dict:
    """Switch the largest index to IVF (rebuilds the dense index only) and measure again."""
    from rag.index import IndexWriter

    t = time.perf_counter()
    params = {k: v for k, v in config["index"].items()}
    params["type"] = "ivf"
    with IndexWriter(index, model_name=encoder.name, dim=encoder.dim, params={**_chunk(config), "index": params}) as w:
        w.commit()
    rebuild = time.perf_counter() - t
    out = measure_latency(index, encoder, config, questions, {"index.type": "ivf"})
    out["rebuild_s"] = round(rebuild, 1)
    return out


def _chunk(config) -> dict:
    from rag.ingest import chunk_params_of

    return chunk_params_of(config)


def measure_ray(work: Path, n: int, overrides: dict, args) -> dict:
    """The first n articles through the local path and through Ray (2 local workers), fresh indexes."""
    src = prefix_file(work, n)
    out = {"articles": n}
    for label, extra in (("local", {}), ("ray_2_workers", {"ray.address": "local", "ray.num_cpus": 2, "ray.workers": 2,
                                                          "ray.threads_per_worker": 1})):
        rep, wall = run_child(src, {**overrides, "index_dir": str(work / f"index-{label}"), **extra}, work / "child.json", args)
        out[label] = {"seconds": round(rep["seconds"], 1), "wall_with_startup_s": round(wall, 1),
                      "articles_per_s": round(rep["docs_added"] / rep["seconds"], 3),
                      "chunks_per_s": round(rep["chunks_added"] / rep["seconds"], 3), "peak_rss_mb_driver": round(rep["peak_rss_mb"])}
    out["speedup"] = round(out["ray_2_workers"]["articles_per_s"] / out["local"]["articles_per_s"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, help="archive articles to use at most (default all 19,720)")
    ap.add_argument("--sizes", default="1000,5000,19720", help="index sizes to measure, in articles")
    ap.add_argument("--time-budget", type=float, help="seconds of ingest in total; the rest is extrapolated")
    ap.add_argument("--checkpoint-every", type=int, help="override ingest.checkpoint_every")
    ap.add_argument("--kill-delay", type=float, default=5.0, help="seconds after the first checkpoint before the kill")
    ap.add_argument("--no-kill", action="store_true", help="skip the kill-and-resume step")
    ap.add_argument("--also-ivf", action="store_true", help="measure the largest index with IVF too")
    ap.add_argument("--ray-docs", type=int, default=0, help="also compare Ray (2 local workers) on this many articles")
    ap.add_argument("--fake-encoder", action="store_true", help="no model: check the index side only")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    ap.add_argument("--work", help="working folder (default: a temporary folder)")
    ap.add_argument("--suffix", default="", help="appended to result and plot names")
    ap.add_argument("--child-input", help=argparse.SUPPRESS)
    ap.add_argument("--child-report", help=argparse.SUPPRESS)
    ap.add_argument("--child-overrides", help=argparse.SUPPRESS)
    ap.add_argument("--child-budget", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_input:
        child(args)
        return
    if not args.suffix:
        args.suffix = ("_fake" if args.fake_encoder else "") + (f"_limit{args.limit}" if args.limit else "") + (
            f"_budget{int(args.time_budget)}" if args.time_budget else "")
    result = parent(args)
    out = write_result(f"scale{args.suffix}", result)
    ing = result["ingest"]
    print(f"ingest: {ing['articles']} articles, {ing['articles_per_s']} articles/s, {ing['chunks_per_s']} chunks/s, "
          f"peak RSS {ing['peak_rss_mb']} MB; full archive {ing['full_archive_seconds']} s ({ing['full_archive_seconds_is']})")
    print(f"→ {out}")


if __name__ == "__main__":
    main()
