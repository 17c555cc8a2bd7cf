"""Reading/cleaning/chunking overlapped with embedding (``ingest.read_ahead``): the gain, measured.

Usage:
    python benchmarks/overlap.py [--crud 300] [--rounds 2] [--read-ahead 64]

The first N articles of the CRUD archive are ingested into fresh temporary indexes with the real
embedding model (loaded once), alternating ``read_ahead = 0`` (prepare, then embed, one after
another as before) and ``read_ahead = R`` (a reader thread prepares while the model embeds), for
``--rounds`` rounds each, so a change in machine load hits both modes alike. Also timed: the
preparation alone (read + clean + t2s + chunk + tokenise + MinHash of the same articles, no model),
the most an overlap can save. The indexes of both modes are compared (same chunk ids and texts).
Writes benchmarks/results/overlap.json.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED, machine, write_result  # noqa: E402
from rag.config import load_config  # noqa: E402
from rag.ingest import Ingestor, chunk_params_of, prepare_document  # noqa: E402
from rag.ingest.loaders import read_raw  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402

CRUD = SHARED / "corpus" / "external" / "crud_news_sample.jsonl.gz"


def slice_archive(folder: Path, n: int) -> Path:
    out = folder / "crud_news_sample.jsonl.gz"
    with gzip.open(CRUD, "rb") as src, gzip.open(out, "wb") as dst:
        for line in itertools.islice(src, n):
            dst.write(line)
    return out


def run(src: Path, work: Path, encoder, ahead: int, tag: str) -> dict:
    index = work / f"index-{tag}"
    config = load_config(overrides={"index_dir": str(index), "ingest.read_ahead": ahead}, environ={})
    t = time.perf_counter()
    report = Ingestor(config, encoder).run([src], index)
    wall = time.perf_counter() - t
    return {"read_ahead": ahead, "seconds": round(wall, 2), "embed_seconds": round(report.embed_seconds, 2),
            "other_seconds": round(wall - report.embed_seconds, 2), "docs": report.docs_added,
            "chunks": report.chunks_added, "index": str(index)}


def chunk_rows(index: Path, encoder) -> list[tuple[str, str]]:
    from rag.index import Index

    idx = Index.open(index, model_name=encoder.name, dim=encoder.dim)
    rows = [(c, idx.get_chunk(c).text) for c in idx.chunk_ids]
    idx.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--crud", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--read-ahead", type=int, default=64)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shanhai-overlap-"))
    src = slice_archive(work, args.crud)
    encoder = Pipeline(load_config(overrides={"index_dir": str(work / "unused")})).encoder
    encoder.encode_passages(["预热"])
    params = chunk_params_of(load_config(environ={}))
    t = time.perf_counter()
    for raw in read_raw(src, max_file_mb=20):
        prepare_document(raw, params)
    prepare_s = time.perf_counter() - t
    runs = []
    for r in range(args.rounds):
        for ahead in (0, args.read_ahead):
            runs.append(run(src, work, encoder, ahead, f"{ahead}-{r}"))
            print(runs[-1], flush=True)
    same = chunk_rows(Path(runs[0]["index"]), encoder) == chunk_rows(Path(runs[1]["index"]), encoder)
    def median(key: str, ahead: int) -> float:
        return round(statistics.median(x[key] for x in runs if x["read_ahead"] == ahead), 2)

    seq, ovl = median("seconds", 0), median("seconds", args.read_ahead)
    # Wall time minus model time is what the overlap can shrink; it is far less sensitive to
    # other load on the machine than the wall time, which the model time dominates.
    other_seq, other_ovl = median("other_seconds", 0), median("other_seconds", args.read_ahead)
    summary = {
        "articles": args.crud, "chunks": runs[0]["chunks"], "prepare_only_s": round(prepare_s, 2),
        "median_s_sequential": seq, "median_s_overlapped": ovl,
        "median_other_s_sequential": other_seq, "median_other_s_overlapped": other_ovl,
        "saved_other_s": round(other_seq - other_ovl, 2),
        "saved_pct_of_sequential": round(100 * (other_seq - other_ovl) / seq, 2),
        "same_chunks": same,
    }
    out = write_result("overlap", {"machine": machine(), "runs": runs, "summary": summary})
    print(summary)
    print(f"written {out}")


if __name__ == "__main__":
    main()
