"""Faults: a killed ingest, damaged index files, a full disk, readers during commits.

Data: a slice of the real CRUD news sample; the encoder is the deterministic fake from
test_scale.py (these tests are about the index folder, not the model).
"""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rag.cli import main
from rag.index import IndexCorruptError, IndexDiskFullError
from rag.index import store as store_mod
from rag.index.journal import JOURNAL_FILE, VectorJournal
from rag.index.repair import diagnose
from rag.ingest import Ingestor, text_hash
from test_scale import (CRUD_NAME, FAKE_DIM, FakeEncoder, config_for, crud_subset, open_index, prepared_chunks,
                        sigkill_when_marked)

ROOT = Path(__file__).resolve().parent.parent


def snapshot(path: Path) -> dict:
    """What a reader sees: docs, chunk ids, vectors, a few search results."""
    idx = open_index(path)
    enc = FakeEncoder()
    probe = idx.chunks_of(idx.docs()[3].doc_id)[0].text
    out = {
        "generation": idx.generation,
        "docs": [m.doc_id for m in idx.docs()],
        "chunks": list(idx.chunk_ids),
        "vectors": np.array(idx._vectors),
        "dense": idx.dense_search(enc.encode_query(probe), 5),
        "sparse": idx.sparse_search(probe[:30], 5),
    }
    idx.close()
    return out


@pytest.fixture()
def two_generations(tmp_path, shared_dir):
    """An index of 40 articles committed in two generations (30, then 10 more)."""
    src30 = crud_subset(shared_dir, tmp_path / "in30", 30)
    src40 = crud_subset(shared_dir, tmp_path / "in40", 40)
    path = tmp_path / "idx"
    Ingestor(config_for(path), FakeEncoder()).run([src30], path)
    Ingestor(config_for(path), FakeEncoder()).run([src40], path)
    assert open_index(path).generation == 2
    return path


def cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def flip_byte(path: Path, offset: int = -5) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# -- a killed ingest -------------------------------------------------------------------------------

KILL_SCRIPT = r"""
import sys, time, pathlib
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from rag.ingest import Ingestor
import test_scale as t
index, marker = pathlib.Path({index!r}), pathlib.Path({marker!r})
def block_after_first_checkpoint(texts):
    if (index / "manifest.json").exists():
        marker.write_text("checkpoint committed, embedding the next group")
        time.sleep(120)
cfg = t.config_for(index, **{{"ingest.checkpoint_every": 20, "ingest.embed_group": 12}})
Ingestor(cfg, t.FakeEncoder(hook=block_after_first_checkpoint)).run([pathlib.Path({src!r})], index)
"""


def test_sigkill_after_a_checkpoint_keeps_it_and_the_rerun_embeds_only_the_rest(tmp_path, shared_dir):
    src = crud_subset(shared_dir, tmp_path / "in", 60)
    index, marker = tmp_path / "idx", tmp_path / "marker"
    script = KILL_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), index=str(index), marker=str(marker), src=str(src))
    returncode = sigkill_when_marked(script, marker, cwd=ROOT, timeout=120, early="ingest subprocess ended before its first checkpoint")
    assert returncode == -signal.SIGKILL
    # the checkpoint is the live index, complete and consistent; the killed session left only tmp files
    assert diagnose(index).healthy
    committed = [m.doc_id for m in open_index(index).docs()]
    assert sorted(committed) == sorted(f"crud_news_sample:{i}" for i in range(1, 21))
    assert list(index.glob("tmp-*"))
    # the re-run skips the 20 committed articles and embeds exactly the texts they lack
    cfg = config_for(index, **{"ingest.checkpoint_every": 20, "ingest.embed_group": 12})
    enc = FakeEncoder()
    leftovers = sorted(p.name for p in index.glob("tmp-*"))
    journal = set(VectorJournal(index, FakeEncoder.name, FAKE_DIM).lookup_keys())
    report = Ingestor(cfg, enc).run([src], index)
    assert report.docs_unchanged == 20 and report.docs_added == 40 and not list(index.glob("tmp-*"))
    assert report.resumed_after == 20 and sorted(n for n, _size in report.cleaned) == leftovers
    chunks = prepared_chunks(src, cfg)
    done = {t for d in committed for t in chunks[d]}
    rest = {t for i in range(21, 61) for t in chunks[f"crud_news_sample:{i}"]}
    # vectors the killed run embedded after its checkpoint come from the resume journal
    journaled = {t for t in rest - done if text_hash(t) in journal}
    assert sorted(enc.texts) == sorted(rest - done - journaled)
    assert not (index / JOURNAL_FILE).exists()  # emptied once everything is committed
    assert open_index(index).counts["docs"] == 60 and diagnose(index).healthy


# -- damaged files ---------------------------------------------------------------------------------

def test_corrupt_faiss_is_reported_and_repaired_from_store_and_vectors(two_generations, capsys):
    path = two_generations
    before = snapshot(path)
    gen = path / "gen-000002"
    data = (gen / "dense.faiss").read_bytes()
    (gen / "dense.faiss").write_bytes(data[: len(data) // 3])
    with pytest.raises(IndexCorruptError) as err:
        open_index(path)
    assert "dense.faiss" in str(err.value) and "shanhai index check" in str(err.value) and "repair" in str(err.value)
    code, out = cli(capsys, "index", "check", "--index", str(path))
    assert code == 1 and "dense.faiss" in out and "可由存储和向量重建" in out and "shanhai index repair" in out
    code, out = cli(capsys, "index", "repair", "--index", str(path))
    assert code == 0 and "已由存储和向量重建" in out
    after = snapshot(path)
    assert after["generation"] == 3
    for key in ("docs", "chunks", "dense", "sparse"):
        assert after[key] == before[key], key
    np.testing.assert_array_equal(after["vectors"], before["vectors"])
    assert cli(capsys, "index", "check", "--index", str(path))[0] == 0


def test_silently_damaged_bm25_is_not_reused_by_the_repair(two_generations, capsys):
    path = two_generations
    before = snapshot(path)
    flip_byte(path / "gen-000002" / "bm25" / "token_ids.npy", -40)  # same size: only the checksum sees it
    report = json.loads(cli(capsys, "index", "check", "--index", str(path), "--json")[1])
    assert not report["healthy"] and report["problems"] == [
        {"file": "gen-000002/bm25/token_ids.npy", "detail": "校验和不一致（内容被改动或损坏）", "derived": True}
    ]
    assert cli(capsys, "index", "repair", "--index", str(path))[0] == 0
    after = snapshot(path)
    assert after["sparse"] == before["sparse"] and diagnose(path).healthy


def test_damaged_vectors_are_restored_exactly_from_the_flat_index(two_generations, capsys):
    path = two_generations
    before = snapshot(path)
    flip_byte(path / "gen-000002" / "vectors.npy", -7)
    problems = diagnose(path).problems
    assert [(p.file, p.derived) for p in problems] == [("gen-000002/vectors.npy", False)]
    code, out = cli(capsys, "index", "repair", "--index", str(path))
    assert code == 0 and "还原 vectors.npy" in out
    np.testing.assert_array_equal(snapshot(path)["vectors"], before["vectors"])
    assert diagnose(path).healthy


def test_damaged_store_says_what_to_do_and_can_roll_back(two_generations, capsys):
    path = two_generations
    store = path / "gen-000002" / "store.sqlite"
    size = store.stat().st_size
    store.write_bytes(b"\x00not a database" * (size // 15) + b"\x00" * (size % 15))
    with pytest.raises(IndexCorruptError, match="store.sqlite"):
        open_index(path)
    code, out = cli(capsys, "index", "repair", "--index", str(path))
    assert code == 1 and "store.sqlite" in out and "无法从其他文件推导" in out
    assert "--rollback" in out and "shanhai ingest --rebuild" in out
    code, out = cli(capsys, "index", "repair", "--rollback", "--index", str(path))
    assert code == 0 and "已回退到第 1 代" in out
    idx = open_index(path)
    assert idx.generation == 1 and idx.counts["docs"] == 30 and diagnose(path).healthy
    # the next ingest builds on the rolled-back generation and brings the 10 articles back
    enc = FakeEncoder()
    report = Ingestor(config_for(path), enc).run([path.parent / "in40" / CRUD_NAME], path)
    assert report.docs_unchanged == 30 and report.docs_added == 10 and open_index(path).counts["docs"] == 40


def test_lost_manifest_is_restored_from_the_generation_copy(two_generations, capsys):
    path = two_generations
    before = snapshot(path)
    (path / "manifest.json").unlink()
    with pytest.raises(IndexCorruptError, match="manifest.json"):
        open_index(path)
    code, out = cli(capsys, "index", "repair", "--index", str(path))
    assert code == 0 and "恢复清单文件" in out
    assert snapshot(path)["chunks"] == before["chunks"] and open_index(path).generation == 2


def test_a_silent_bit_flip_is_not_carried_into_the_next_generation(two_generations, tmp_path, shared_dir):
    path = two_generations
    flip_byte(path / "gen-000002" / "bm25" / "token_ids.npy", -40)
    src = crud_subset(shared_dir, tmp_path / "in50", 50)
    Ingestor(config_for(path), FakeEncoder()).run([src], path)  # 10 more articles, a normal commit
    fresh = tmp_path / "fresh"
    Ingestor(config_for(fresh), FakeEncoder()).run([src], fresh)
    inc, ref = open_index(path), open_index(fresh)
    assert diagnose(path).healthy and inc.generation == 3
    for doc in ("crud_news_sample:2", "crud_news_sample:33", "crud_news_sample:47"):
        query = inc.chunks_of(doc)[0].text[:25]
        got, want = dict(inc.sparse_search(query, 20)), dict(ref.sparse_search(query, 20))
        assert got.keys() == want.keys() and all(got[c] == pytest.approx(want[c], rel=1e-5) for c in want)
    # the source of truth itself damaged: the writer refuses instead of copying it forward
    flip_byte(path / inc.manifest["generation_dir"] / "vectors.npy", -7)
    with pytest.raises(IndexCorruptError, match="校验和"):
        Ingestor(config_for(path), FakeEncoder()).run([crud_subset(shared_dir, tmp_path / "in55", 55)], path)


def test_check_on_a_missing_index_says_how_to_create_one(tmp_path, capsys):
    code, out = cli(capsys, "index", "check", "--index", str(tmp_path / "nothing"))
    assert code == 1 and "shanhai ingest" in out


# -- a full disk -----------------------------------------------------------------------------------

def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["vectors", "faiss", "manifest", "sqlite"])
def test_disk_full_during_a_checkpoint_leaves_nothing_half_written(tmp_path, shared_dir, monkeypatch, where):
    src = crud_subset(shared_dir, tmp_path / "in", 45)
    path = tmp_path / "idx"
    cfg = config_for(path, **{"ingest.checkpoint_every": 15, "ingest.embed_group": 16})
    calls = {"n": 0}

    def second_checkpoint_fails(real, only=lambda *a: True):
        def wrapped(*a, **k):
            if only(*a):
                calls["n"] += 1
                if calls["n"] == 2:
                    _enospc()
            return real(*a, **k)
        return wrapped

    import faiss

    import rag.index.writer as writer_mod

    if where == "vectors":
        monkeypatch.setattr(np, "save", second_checkpoint_fails(np.save, lambda f, *a: str(f).endswith("vectors.npy")))
    elif where == "faiss":
        monkeypatch.setattr(faiss, "write_index", second_checkpoint_fails(faiss.write_index))
    elif where == "manifest":
        monkeypatch.setattr(writer_mod, "write_manifest", second_checkpoint_fails(writer_mod.write_manifest))
    else:  # a real SQLITE_FULL: the working copy may not grow beyond its size at the second session
        real_create = store_mod.Store.create

        def capped(target, source=None):
            st = real_create(target, source)
            calls["n"] += 1
            if calls["n"] == 2:
                pages = st.conn.execute("PRAGMA page_count").fetchone()[0]
                st.conn.execute(f"PRAGMA max_page_count={pages + 2}")
            return st

        monkeypatch.setattr(store_mod.Store, "create", staticmethod(capped))
    with pytest.raises(IndexDiskFullError) as err:
        Ingestor(cfg, FakeEncoder()).run([src], path)
    assert "磁盘空间不足" in str(err.value) and "重新运行同一命令" in str(err.value)
    assert isinstance(err.value, OSError) and err.value.errno == errno.ENOSPC
    # the first checkpoint is live and whole; the failed one left no files behind (the resume
    # journal of vectors embedded since the checkpoint is kept on purpose)
    assert open_index(path).counts["docs"] == 15 and diagnose(path).healthy
    names = sorted(p.name for p in path.iterdir() if not p.name.startswith(".writer"))
    assert names in (["gen-000001", "manifest.json"], ["gen-000001", "manifest.json", JOURNAL_FILE])
    monkeypatch.undo()  # space freed: the same command resumes
    enc = FakeEncoder()
    report = Ingestor(cfg, enc).run([src], path)
    assert report.docs_unchanged == 15 and report.docs_added == 30 and diagnose(path).healthy


# -- readers while an ingest commits ----------------------------------------------------------------

READER_SCRIPT = r"""
import sys, json, time, pathlib
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
import test_scale as t
path, stop, out = pathlib.Path({path!r}), pathlib.Path({stop!r}), pathlib.Path({out!r})
seen, errors = set(), []
while not stop.exists():
    try:
        idx = t.open_index(path)
        docs = idx.docs()
        assert len(docs) == idx.counts["docs"] == len({{c.rsplit("#", 1)[0] for c in idx.chunk_ids}})
        assert idx.sparse_search(idx.chunks_of(docs[-1].doc_id)[0].text[:20], 3)
        seen.add(idx.generation)
        idx.close()
    except Exception as exc:
        errors.append(repr(exc))
        break
out.write_text(json.dumps({{"seen": sorted(seen), "errors": errors}}))
"""


def test_readers_in_threads_and_another_process_while_an_ingest_commits(tmp_path, shared_dir):
    src = crud_subset(shared_dir, tmp_path / "in", 90)
    path = tmp_path / "idx"
    Ingestor(config_for(path), FakeEncoder()).run([crud_subset(shared_dir, tmp_path / "first", 10)], path)
    stop, out = tmp_path / "stop", tmp_path / "reader.json"
    script = READER_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), path=str(path), stop=str(stop), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    errors: list[BaseException] = []
    seen: set[int] = set()
    held = open_index(path)  # a long-lived reader keeps its snapshot while generations go by

    def reader():
        while not stop.exists():
            try:
                idx = open_index(path)
                assert len(idx.docs()) == idx.counts["docs"]
                seen.add(idx.generation)
                idx.close()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        time.sleep(1.0)  # let the reader process start reading
        report = Ingestor(config_for(path, **{"ingest.checkpoint_every": 10, "ingest.embed_group": 8}),
                          FakeEncoder(hook=lambda _t: time.sleep(0.02))).run([src], path)
    finally:
        stop.write_text("done")
        thread.join(30)
        proc.wait(60)
    assert report.checkpoints == 8 and not errors, errors
    result = json.loads(out.read_text())
    assert result["errors"] == [] and len(result["seen"]) >= 2, result
    assert len(seen) >= 2 and max(seen) == open_index(path).generation
    assert held.counts["docs"] == 10 and held.sparse_search(held.chunks_of(held.docs()[0].doc_id)[0].text[:20], 3)
