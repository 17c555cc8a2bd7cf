"""What a checkpoint (a full commit of a new generation) costs as the index grows.

Usage:
    python benchmarks/checkpoint_cost.py [--every 2000]

All 19,720 CRUD articles are ingested with a stand-in encoder (a random unit vector seeded by the
text's hash: no model, so the run takes minutes and only the index side is timed) and
``ingest.checkpoint_every`` = ``--every`` (time-based checkpoints off); every commit is timed.
This is why a checkpoint every 60 s cannot be a full commit on a large index, and why the ingester
saves embedded vectors to the resume journal instead (``rag/index/journal.py``).
Writes benchmarks/results/checkpoint_cost.json.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, machine, write_result  # noqa: E402
from rag.config import load_config  # noqa: E402
from rag.index.writer import IndexWriter  # noqa: E402
from rag.ingest import Ingestor  # noqa: E402

CRUD = SHARED / "corpus" / "external" / "crud_news_sample.jsonl.gz"


class RandomEncoder:
    """384-d unit vectors seeded by the text: deterministic, nearly free."""

    name, dim = "fake-rand-384", 384

    def encode_passages(self, texts, **_kw):
        out = [np.random.default_rng(int.from_bytes(hashlib.md5(t.encode()).digest()[:8], "little"))
               .standard_normal(384).astype(np.float32) for t in texts]
        return np.stack([v / np.linalg.norm(v) for v in out]) if out else np.zeros((0, 384), np.float32)

    def encode_query(self, text):
        return self.encode_passages([text])[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--every", type=int, default=2000)
    args = ap.parse_args()
    index = Path(tempfile.mkdtemp(prefix="shanhai-ckpt-")) / "index"
    commits: list[dict] = []
    real = IndexWriter.commit

    def timed(self, **kw):
        t = time.perf_counter()
        manifest = real(self, **kw)
        commits.append({"docs": manifest["counts"]["docs"], "chunks": manifest["counts"]["chunks"],
                        "seconds": round(time.perf_counter() - t, 2)})
        print(commits[-1], flush=True)
        return manifest

    IndexWriter.commit = timed
    config = load_config(overrides={"index_dir": str(index), "ingest.checkpoint_every": args.every,
                                    "ingest.checkpoint_seconds": 0}, environ={})
    t = time.perf_counter()
    report = Ingestor(config, RandomEncoder()).run([CRUD], index)
    result = {"machine": machine(), "every": args.every, "commits": commits,
              "total_seconds": round(time.perf_counter() - t, 1), "articles": report.docs_added}
    print(f"written {write_result('checkpoint_cost', result)}")


if __name__ == "__main__":
    main()
