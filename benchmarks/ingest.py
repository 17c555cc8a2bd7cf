"""Ingest throughput vs raw encoding (the configured embedding backend) on the same chunks, in one run.

Usage:
    python benchmarks/ingest.py [--crud N]

Corpus: the five seed articles plus the first N articles of the CRUD news sample (default
200, read from the gzip JSONL) so the timing is not dominated by noise. Steps:
1. load the encoder (not timed);
2. `shanhai`'s ingest into a fresh temporary index (timed end to end: read, clean, t2s,
   chunk, embed, BM25, FAISS, commit);
3. raw ``Encoder.encode_passages`` of exactly the chunk texts ingest produced, same
   prefix and batch size (timed);
4. overhead = (ingest - raw encode) / raw encode (goal <= 15%).
Writes benchmarks/results/ingest.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED, machine, peak_rss_mb, write_result  # noqa: E402
from rag.config import load_config  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402


def build_corpus(folder: Path, crud: int) -> Path:
    """Copy-free corpus list: the seed folder plus a JSONL slice of the CRUD sample."""
    paths = [SHARED / "corpus" / "seeds"]
    if crud > 0:
        out = folder / "crud_slice.jsonl"
        with gzip.open(SHARED / "corpus" / "external" / "crud_news_sample.jsonl.gz", "rt", encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i >= crud:
                    break
                dst.write(line)
        paths.append(out)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--crud", type=int, default=200, help="CRUD news articles added to the seeds")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shanhai-ingest-bench-"))
    paths = build_corpus(work, args.crud)
    pipe = Pipeline(load_config(overrides={"index_dir": str(work / "index")}))
    encoder = pipe.encoder
    encoder.encode_passages(["预热"])  # load before timing

    t = time.perf_counter()
    report = pipe.ingest(paths)
    ingest_s = time.perf_counter() - t

    texts = [c.text for d in pipe.documents() for c in pipe.index.chunks_of(d.doc_id)]
    t = time.perf_counter()
    encoder.encode_passages(texts)  # the configured backend, length-sorted batches of batch_size
    raw_s = time.perf_counter() - t

    size = sum(p.stat().st_size for p in (work / "index").rglob("*") if p.is_file())
    result = {
        "docs": report.docs_added,
        "chunks": report.chunks_added,
        "chars": sum(len(x) for x in texts),
        "ingest_s": round(ingest_s, 2),
        "ingest_embed_s": round(report.embed_seconds, 2),
        "raw_encode_s": round(raw_s, 2),
        "ingest_chunks_per_s": round(report.chunks_added / ingest_s, 2),
        "raw_encode_chunks_per_s": round(len(texts) / raw_s, 2),
        "overhead_vs_raw_encode": round((ingest_s - raw_s) / raw_s, 4),
        "index_size_mb": round(size / 1e6, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    out = write_result("ingest", {"machine": machine(), "crud_articles": args.crud, "summary": result})
    print("| docs | chunks | ingest | chunks/s | raw encode | chunks/s | overhead | index size | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {result['docs']} | {result['chunks']} | {result['ingest_s']} s | {result['ingest_chunks_per_s']} | "
        f"{result['raw_encode_s']} s | {result['raw_encode_chunks_per_s']} | {result['overhead_vs_raw_encode']:.1%} | "
        f"{result['index_size_mb']} MB | {result['peak_rss_mb']:.0f} MB |"
    )
    print(f"→ {out}")


if __name__ == "__main__":
    main()
