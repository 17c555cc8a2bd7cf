"""Large-archive ingest on a slice of the real CRUD news sample (gzip JSONL, read directly).

The encoder is a deterministic fake here (hashed character n-grams): these tests are about
streaming, bounded memory, checkpoints, resuming and index types, not about the model.
The helpers at the top are shared with test_faults.py.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import rag.ingest.local as ingest_mod  # the local runner, whose prepare_document is patched
from rag.config import load_config
from rag.index import Index, IndexWriter
from rag.ingest import Ingestor, embed_texts, prepare_document
from rag.ingest.loaders import read_raw

CRUD_NAME = "crud_news_sample.jsonl.gz"
FAKE_DIM = 48


class FakeEncoder:
    """Deterministic stand-in for e5: hashed character 1-3-grams, L2-normalised.

    Records every ``encode_passages`` call (texts per call, all texts) so tests can see
    what was embedded; ``hook`` (if set) is called before each call.
    """

    name = "fake-ngram-48"
    dim = FAKE_DIM

    def __init__(self, hook=None):
        self.calls: list[int] = []
        self.texts: list[str] = []
        self.hook = hook

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(FAKE_DIM, np.float32)
        for n in (1, 2, 3):
            for i in range(len(text) - n + 1):
                h = int.from_bytes(hashlib.md5(text[i : i + n].encode()).digest()[:4], "little")
                v[h % FAKE_DIM] += 1.0 if n > 1 else 0.3
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def encode_query(self, text: str) -> np.ndarray:
        return self._vec(text)

    def encode_passages(self, texts, **_kw) -> np.ndarray:
        if self.hook:
            self.hook(texts)
        self.calls.append(len(texts))
        self.texts.extend(texts)
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, FAKE_DIM), np.float32)


def crud_subset(shared: Path, folder: Path, n: int) -> Path:
    """The first ``n`` articles of the CRUD sample as ``folder/crud_news_sample.jsonl.gz``
    (same file name, so doc ids are ``crud_news_sample:<line>`` as in the full file)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / CRUD_NAME
    with gzip.open(shared / "corpus" / "external" / CRUD_NAME, "rb") as src, gzip.open(out, "wb") as dst:
        for line in itertools.islice(src, n):
            dst.write(line)
    return out


def config_for(index: Path, **overrides):
    """Default config pointed at ``index`` with test-sized ingest settings."""
    base = {"index_dir": str(index), "ingest.checkpoint_every": 1000, "ingest.embed_group": 64,
            "ingest.checkpoint_seconds": 0}  # count-based checkpoints only: deterministic tests
    return load_config(overrides={**base, **overrides}, environ={})


def open_index(path: Path) -> Index:
    return Index.open(path, model_name=FakeEncoder.name, dim=FAKE_DIM)


def prepared_chunks(src: Path, config) -> dict[str, list[str]]:
    """doc_id -> chunk texts, as the ingester will cut them."""
    params = ingest_mod.chunk_params_of(config)
    out = {}
    for raw in read_raw(src, max_file_mb=20):
        prep = prepare_document(raw, params)
        out[raw.doc_id] = [c.text for c in prep.chunks] if prep else []
    return out


# ---------------------------------------------------------------------------------------------


def test_gzip_jsonl_ingest_is_streamed_with_bounded_work_and_checkpoints(tmp_path, shared_dir, monkeypatch):
    src = crud_subset(shared_dir, tmp_path / "in", 150)
    cfg = config_for(tmp_path / "idx", **{"ingest.checkpoint_every": 60, "ingest.embed_group": 40,
                                          "models.embedding.batch_size": 8, "ingest.read_ahead": 4})
    outstanding = {"now": 0, "max": 0, "writer_pending_max": 0}
    real_prepare, real_add = ingest_mod.prepare_document, IndexWriter.add_document

    def counting_prepare(raw, params):
        prep = real_prepare(raw, params)
        outstanding["now"] += len(prep.chunks) if prep else 0
        outstanding["max"] = max(outstanding["max"], outstanding["now"])
        return prep

    def counting_add(self, doc, chunks, vectors, near, tokens=None):
        real_add(self, doc, chunks, vectors, near, tokens=tokens)
        outstanding["now"] -= len(chunks)
        outstanding["writer_pending_max"] = max(outstanding["writer_pending_max"], len(self._pending))

    monkeypatch.setattr(ingest_mod, "prepare_document", counting_prepare)
    monkeypatch.setattr(IndexWriter, "add_document", counting_add)
    enc = FakeEncoder()
    report = Ingestor(cfg, enc).run([src], tmp_path / "idx")

    chunks = prepared_chunks(src, cfg)
    assert report.docs_added == 150 and report.checkpoints == 2 and not report.skipped
    assert report.chunks_added == sum(len(c) for c in chunks.values())
    # each distinct chunk text embedded exactly once, in calls of at most ENCODE_CALL texts (the
    # encoder batches within a call) and never more than one embedding group
    distinct = {t for texts in chunks.values() for t in texts}
    assert sorted(enc.texts) == sorted(distinct) and report.chunks_embedded == len(distinct)
    longest = max(len(c) for c in chunks.values())
    assert max(enc.calls) <= min(ingest_mod.ENCODE_CALL, 40 + longest) and max(enc.calls) > 8
    # bounded: chunks waiting for the model stay within one embedding group (plus one article)
    # and the reader thread's queue (4 articles, plus the one it holds), vectors waiting for a
    # commit within one checkpoint interval
    assert outstanding["max"] <= 40 + longest + (4 + 1) * longest
    per_interval = max(sum(len(chunks[f"crud_news_sample:{i}"]) for i in range(lo + 1, lo + 61)) for lo in (0, 60))
    assert outstanding["writer_pending_max"] <= per_interval
    idx = open_index(tmp_path / "idx")
    assert idx.generation == 3  # two checkpoints, then the final commit
    assert idx.counts["docs"] == 150 and idx.manifest["index"]["type"] == "flat"
    doc = idx.get_doc("crud_news_sample:7")
    assert doc.date and doc.path.endswith(CRUD_NAME)
    # BM25 and dense search both find an article from its own words
    target = idx.chunks_of("crud_news_sample:42")[0]
    assert idx.dense_search(enc.encode_query(target.text), 1)[0][0] == target.chunk_id
    assert target.chunk_id in [c for c, _ in idx.sparse_search(target.text[:40], 5)]


def test_length_sorted_embedding_returns_rows_in_input_order():
    enc = FakeEncoder()
    texts = ["短句。", "一个长得多的句子，里面有更多的字。", "短句。", "中等长度的句子。", "x" * 30]
    vectors, embedded = embed_texts(enc, texts, call_size=2)
    assert embedded == 4 and enc.texts == sorted(set(texts), key=len, reverse=True)
    for text, row in zip(texts, vectors):
        np.testing.assert_array_equal(row, enc._vec(text))
    assert embed_texts(enc, [], call_size=2)[0].shape == (0, FAKE_DIM)


def test_dense_index_type_follows_size_and_override(tmp_path, shared_dir):
    src = crud_subset(shared_dir, tmp_path / "in", 40)
    n_chunks = sum(len(c) for c in prepared_chunks(src, config_for(tmp_path)).values())
    small = config_for(tmp_path / "a", **{"index.ann_threshold": n_chunks + 1})
    Ingestor(small, FakeEncoder()).run([src], tmp_path / "a")
    assert open_index(tmp_path / "a").manifest["index"]["type"] == "flat"
    large = config_for(tmp_path / "b", **{"index.ann_threshold": n_chunks // 2, "index.ivf_nprobe": 64})
    Ingestor(large, FakeEncoder()).run([src], tmp_path / "b")
    idx = open_index(tmp_path / "b")
    assert idx.manifest["index"]["type"] == "ivf" and idx.counts["chunks"] == n_chunks
    target = idx.chunks_of("crud_news_sample:3")[1]
    assert idx.dense_search(FakeEncoder().encode_query(target.text), 3)[0][0] == target.chunk_id
    # an explicit type overrides the size rule; switching rebuilds the vectors index only
    enc = FakeEncoder()
    Ingestor(config_for(tmp_path / "b", **{"index.type": "hnsw"}), enc).run([src], tmp_path / "b")
    assert open_index(tmp_path / "b").manifest["index"]["type"] == "hnsw" and enc.texts == []


def test_stop_commits_what_is_done_and_the_rerun_continues(tmp_path, shared_dir):
    src = crud_subset(shared_dir, tmp_path / "in", 50)
    cfg = config_for(tmp_path / "idx", **{"ingest.embed_group": 16})
    written = []
    first = Ingestor(cfg, FakeEncoder()).run([src], tmp_path / "idx", stop=lambda: written.append(1) or len(written) >= 20)
    assert first.stopped and first.docs_added == 20 and "提前停止" in first.summary()
    assert open_index(tmp_path / "idx").counts["docs"] == 20
    enc = FakeEncoder()
    second = Ingestor(cfg, enc).run([src], tmp_path / "idx")
    assert second.docs_unchanged == 20 and second.docs_added == 30 and not second.stopped
    done = prepared_chunks(src, cfg)
    first_texts = {t for i in range(1, 21) for t in done[f"crud_news_sample:{i}"]}
    assert enc.texts and not first_texts & set(enc.texts)


def test_empty_after_cleaning_line_is_reported_with_its_line(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [{"text": "这是一篇用于测试的短文。它只有两句话。"}, {"text": "（责任编辑：某某）"}]
    with gzip.open(folder / "mini.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    report = Ingestor(config_for(tmp_path / "idx"), FakeEncoder()).run([folder], tmp_path / "idx")
    assert report.docs_added == 1 and len(report.skipped) == 1
    assert report.skipped[0].path.endswith("mini.jsonl.gz:2") and "清洗" in report.skipped[0].reason


def test_report_lists_checkpoints_in_chinese(tmp_path, shared_dir):
    src = crud_subset(shared_dir, tmp_path / "in", 30)
    report = Ingestor(config_for(tmp_path / "idx", **{"ingest.checkpoint_every": 10}), FakeEncoder()).run([src], tmp_path / "idx")
    assert report.checkpoints == 3 and "检查点 3 次" in report.summary()


def sigkill_when_marked(script: str, marker: Path, *, cwd: Path, timeout: float, early: str) -> int:
    """Run ``python -c script``; SIGKILL it as soon as it writes ``marker``; its return code.

    ``early`` is the assertion message when the process ends before writing the marker.
    """
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=cwd)
    try:
        deadline = time.time() + timeout
        while not marker.exists():
            assert proc.poll() is None, early
            assert time.time() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode
