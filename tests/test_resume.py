"""Resuming a killed ingest: time-based checkpoints, the resume journal, leftovers reported by
``index check`` and cleaned, the reader thread (same index with and without it).

Real archive slices and the real index code; the encoder is test_scale's deterministic fake
(these tests are about what is saved and redone, not about the model).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rag.cli import main
from rag.index.journal import JOURNAL_FILE, VectorJournal
from rag.index.repair import diagnose
from rag.ingest import NOTE, Ingestor, text_hash
from rag.ingest.prefetch import ReadAhead
from test_scale import FAKE_DIM, FakeEncoder, config_for, crud_subset, open_index, prepared_chunks, sigkill_when_marked

ROOT = Path(__file__).resolve().parent.parent

# Count checkpoints never come (every 1000); a time checkpoint after 0.5 s does. After it, the
# next embedded group is journaled, then the process blocks until it is killed: those
# documents are embedded but neither written nor committed.
KILL_AFTER_TIME_CHECKPOINT = r"""
import sys, time, pathlib
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from rag.index.journal import VectorJournal
from rag.ingest import Ingestor
import test_scale as t
index, marker = pathlib.Path({index!r}), pathlib.Path({marker!r})
real_append = VectorJournal.append
def append(self, hashes, vectors):
    real_append(self, hashes, vectors)
    if (index / "manifest.json").exists():
        marker.write_text("a time checkpoint is committed and one more group journaled")
        time.sleep(120)
VectorJournal.append = append
cfg = t.config_for(index, **{{"ingest.checkpoint_every": 1000, "ingest.checkpoint_seconds": 0.5,
                              "ingest.checkpoint_max_share": 1.0, "ingest.embed_group": 12}})
Ingestor(cfg, t.FakeEncoder(hook=lambda texts: time.sleep(0.05))).run([pathlib.Path({src!r})], index)
"""


def _kill_after_time_checkpoint(tmp_path: Path, shared_dir: Path, n: int = 80) -> tuple[Path, Path]:
    src = crud_subset(shared_dir, tmp_path / "in", n)
    index, marker = tmp_path / "idx", tmp_path / "marker"
    script = KILL_AFTER_TIME_CHECKPOINT.format(root=str(ROOT), tests=str(ROOT / "tests"), index=str(index),
                                               marker=str(marker), src=str(src))
    code = sigkill_when_marked(script, marker, cwd=ROOT, timeout=180, early="ingest ended before a time checkpoint")
    assert code == -signal.SIGKILL
    return src, index


def test_kill_after_a_time_checkpoint_resumes_past_it(tmp_path, shared_dir, capsys):
    src, index = _kill_after_time_checkpoint(tmp_path, shared_dir)
    assert diagnose(index).healthy
    committed = sorted(m.doc_id for m in open_index(index).docs())
    assert 0 < len(committed) < 80  # a time checkpoint: the count (1000) was never reached
    n_done = len(committed)
    assert committed == sorted(f"crud_news_sample:{i}" for i in range(1, n_done + 1))
    journal = set(VectorJournal(index, FakeEncoder.name, FAKE_DIM).lookup_keys())
    assert journal  # the group embedded after the checkpoint survived the kill

    # index check names the killed run's working copy and the journal
    leftovers = sorted(p.name for p in index.glob("tmp-*"))
    assert leftovers
    assert main(["index", "check", "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "上次中断留下的临时目录" in out and leftovers[0] in out and JOURNAL_FILE in out

    notes: list[str] = []
    enc = FakeEncoder()
    cfg = config_for(index, **{"ingest.embed_group": 12})
    report = Ingestor(cfg, enc, progress=lambda d, t, m: notes.append(m) if m.startswith(NOTE) else None).run([src], index)
    assert report.docs_unchanged == n_done and report.docs_added == 80 - n_done
    assert report.resumed_after == n_done and f"从第 {n_done + 1} 篇" in report.summary()
    assert any(f"从第 {n_done + 1} 篇" in m for m in notes) and any("临时目录" in m for m in notes)
    assert sorted(n for n, _ in report.cleaned) == leftovers and not list(index.glob("tmp-*"))
    # nothing committed is embedded again; what the journal holds is not embedded again either
    chunks = prepared_chunks(src, cfg)
    done = {t for d in committed for t in chunks[d]}
    rest = {t for i in range(n_done + 1, 81) for t in chunks[f"crud_news_sample:{i}"]} - done
    journaled = {t for t in rest if text_hash(t) in journal}
    assert journaled and report.chunks_from_journal >= len(journaled)
    assert sorted(enc.texts) == sorted(rest - journaled)
    assert not (index / JOURNAL_FILE).exists()
    assert open_index(index).counts["docs"] == 80 and diagnose(index).healthy
    assert main(["index", "check", "--index", str(index)]) == 0
    assert "临时目录" not in capsys.readouterr().out


def test_repair_removes_leftovers_and_check_reports_them_as_json(tmp_path, shared_dir, capsys):
    import json

    src = crud_subset(shared_dir, tmp_path / "in", 10)
    index = tmp_path / "idx"
    Ingestor(config_for(index), FakeEncoder()).run([src], index)
    stale = index / "tmp-000007-12345-deadbeef"
    stale.mkdir()
    (stale / "store.sqlite").write_bytes(b"x" * 4096)
    assert main(["index", "check", "--index", str(index), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["healthy"] and out["leftovers"] == [{"name": stale.name, "bytes": 4096}] and not out["writing"]
    assert main(["index", "repair", "--index", str(index)]) == 0
    assert "已清理" in capsys.readouterr().out and not stale.exists()


def test_check_does_not_call_a_running_writers_folder_a_leftover(tmp_path, shared_dir):
    from rag.index import IndexWriter

    src = crud_subset(shared_dir, tmp_path / "in", 5)
    index = tmp_path / "idx"
    Ingestor(config_for(index), FakeEncoder()).run([src], index)
    with IndexWriter(index, model_name=FakeEncoder.name, dim=FAKE_DIM) as w:
        w.stored_versions()  # opens the working copy (a tmp folder)
        diag = diagnose(index)
        assert diag.writing and diag.leftovers and "正在导入" in diag.notes()[0]


# -- the journal -----------------------------------------------------------------------------------
def test_journal_survives_a_torn_tail_and_ignores_another_model(tmp_path):
    vecs = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    j = VectorJournal(tmp_path, "m", 4)
    j.append(["aa" * 32, "bb" * 32], vecs[:2])
    j.append(["cc" * 32], vecs[2:])
    path = tmp_path / JOURNAL_FILE
    path.write_bytes(path.read_bytes()[:-7])  # the last block torn by a kill
    again = VectorJournal(tmp_path, "m", 4)
    assert sorted(again.lookup_keys()) == ["aa" * 32, "bb" * 32]
    assert np.array_equal(again.lookup(["bb" * 32])["bb" * 32], vecs[1])
    again.append(["dd" * 32], vecs[:1])  # appends after the cut stay readable
    assert len(VectorJournal(tmp_path, "m", 4)) == 3
    again.drop({"aa" * 32})
    assert sorted(VectorJournal(tmp_path, "m", 4).lookup_keys()) == ["bb" * 32, "dd" * 32]
    assert len(VectorJournal(tmp_path, "other-model", 4)) == 0 and not path.exists()


def test_groups_are_sized_to_the_checkpoint_interval():
    ing = Ingestor(config_for(Path("/nonexistent"), **{"ingest.checkpoint_seconds": 60, "ingest.embed_group": 512,
                                                       "models.embedding.batch_size": 32}), FakeEncoder())
    assert ing._group_limit() == 64  # two batches until a rate is measured
    ing._rate = 7.0  # chunks/s, e5 on 2 cores
    assert ing._group_limit() == 210  # about 30 s of embedding
    ing._rate = 1000.0
    assert ing._group_limit() == 512


# -- the reader thread -----------------------------------------------------------------------------
def test_read_ahead_bounds_the_queue_and_passes_errors():
    produced = []

    def source():
        for i in range(100):
            produced.append(i)
            yield i
        raise ValueError("broken input")

    reader = ReadAhead(source(), 3)
    time.sleep(0.3)
    assert len(produced) <= 3 + 1  # the queue and the item waiting to go in
    assert [next(reader) for _ in range(10)] == list(range(10))
    with pytest.raises(ValueError, match="broken input"):
        list(reader)
    stopped = ReadAhead(iter(range(10**9)), 2)
    next(stopped)
    stopped.close()
    assert not stopped.alive and threading.active_count() < 50


def test_the_reader_thread_does_not_change_what_is_indexed(tmp_path, shared_dir):
    src = crud_subset(shared_dir, tmp_path / "in", 60)
    snaps = []
    for ahead in (0, 16):
        index = tmp_path / f"idx-{ahead}"
        cfg = config_for(index, **{"ingest.read_ahead": ahead, "ingest.embed_group": 24, "ingest.checkpoint_every": 25})
        report = Ingestor(cfg, FakeEncoder()).run([src], index)
        assert report.docs_added == 60 and report.checkpoints == 2
        idx = open_index(index)
        rows = [(c, idx.get_chunk(c).text) for c in idx.chunk_ids]
        snaps.append((rows, np.asarray(idx._vectors), [(m.doc_id, m.flags, m.near_duplicates) for m in idx.docs()]))
    (rows0, vec0, docs0), (rows1, vec1, docs1) = snaps
    assert rows0 == rows1 and docs0 == docs1 and np.allclose(vec0, vec1, atol=1e-6)


def test_a_stop_with_the_reader_thread_running_commits_and_ends_it(tmp_path, shared_dir):
    src = crud_subset(shared_dir, tmp_path / "in", 60)
    before = threading.active_count()
    written = []
    cfg = config_for(tmp_path / "idx", **{"ingest.read_ahead": 8, "ingest.embed_group": 8})
    report = Ingestor(cfg, FakeEncoder()).run([src], tmp_path / "idx", stop=lambda: written.append(1) or len(written) >= 15)
    assert report.stopped and open_index(tmp_path / "idx").counts["docs"] == 15
    time.sleep(0.2)
    assert threading.active_count() <= before


@pytest.mark.slow
def test_ctrl_c_during_a_real_ingest_stops_and_commits_what_is_done(tmp_path, shared_dir):
    """`shanhai ingest` with the real model: the first Ctrl-C ends the run after the current
    document, committing it (exit 0, JSON report); the index is whole and the re-run continues."""
    import json
    import os
    import subprocess
    import sys

    src = crud_subset(shared_dir, tmp_path / "in", 200)
    index = tmp_path / "idx"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rag", "ingest", str(src), "--index", str(index), "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = bytearray()

    def read_err():
        while chunk := proc.stderr.read1(4096):
            seen.extend(chunk)

    reader = threading.Thread(target=read_err, daemon=True)
    reader.start()
    deadline = time.time() + 600
    while "向量".encode() not in seen:  # embedding has started
        assert proc.poll() is None and time.time() < deadline, seen.decode("utf-8", "replace")[-500:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)  # communicate reads stderr too: keep what it got
    reader.join(5)
    seen.extend(err or b"")
    assert proc.returncode == 0, seen.decode("utf-8", "replace")[-500:]
    assert "正在停止" in seen.decode("utf-8", "replace")
    report = json.loads(out)
    assert 0 < report["docs_added"] < 200
    assert diagnose(index).healthy
    from rag.index.manifest import read_manifest

    assert read_manifest(index)["counts"]["docs"] == report["docs_added"]
