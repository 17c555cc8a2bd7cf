"""Index folder: round trip, incremental changes, embedding cache, errors, crash safety, ANN path.

The documents are hand-written here; the encoder is a deterministic fake (hashed character
n-grams), since these tests are about the index, not the model.
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rag.index import (
    Index, IndexCorruptError, IndexLockedError, IndexMismatchError, IndexNotFoundError, IndexWriter,
    check_index,
)
from rag.index import dense as dense_mod
from rag.index import writer as writer_mod
from rag.index.sparse import SparseIndex, top_positive
from rag.index.store import decode_offsets, encode_offsets, text_hash
from rag.text.normalize import normalize
from rag.text.tokenize import tokenize
from rag.types import Chunk, Document
from test_scale import sigkill_when_marked

ROOT = Path(__file__).resolve().parent.parent
DIM = 64
MODEL = "fake-ngram-64"


class FakeEncoder:
    """Deterministic stand-in for the e5 encoder: hashed character 1-3-grams, L2-normalised."""

    name = MODEL
    dim = DIM

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(DIM, np.float32)
        for n in (1, 2, 3):
            for i in range(len(text) - n + 1):
                h = int.from_bytes(hashlib.md5(text[i : i + n].encode()).digest()[:4], "little")
                v[h % DIM] += 1.0 if n > 1 else 0.3
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def encode_query(self, text: str) -> np.ndarray:
        return self._vec(text)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)


ENC = FakeEncoder()

# Hand-written sample articles (our own text, not from the seed corpus).
ARTICLES = {
    "alpha": ("青禾县引进蔬菜加工厂", "山城日报", "2021-03-05",
              "青禾县今年引进一家蔬菜加工厂。工厂投资3200万元，可带动周边农户增收。"
              "县里还修建了冷链仓库，容量达到1.5万吨。当地干部表示，产业帮扶比单纯发钱更有效。"),
    "beta": ("石门村修通了新公路", "河谷晚报", "2020-11-20",
             "石门村过去只有一条泥路。去年在东部城市的支持下修通了十二公里的水泥路。"
             "村民卖菜的时间从半天缩短到一小时。村里的合作社年收入增长了18.5%。"),
    "gamma": ("海滨市与青禾县签订协作协议", "海滨新闻网", "2019-06-01",
              "海滨市与青禾县签订东西部协作协议。双方约定每年选派二十名教师交流。"
              "海滨市还将安排专项资金用于青禾县的学校建设。"),
    "trad": ("龍泉鄉發展茶葉產業", "港灣時報", "2022-01-15",
             "龍泉鄉的茶園面積達到四千畝。鄉裡成立了茶葉合作社，幫助茶農拓展銷路。"),
}


def make_doc(doc_id: str, title: str, source: str, date: str | None, original: str) -> tuple[Document, list[Chunk]]:
    """A Document plus sentence chunks (two sentences each), spans into the text."""
    text = normalize(original)
    raw = "【标题】" + original
    doc = Document(
        doc_id=doc_id, title=title, source=source, date=date, url=None, path=f"/data/{doc_id}.txt",
        original=original, text=text, raw=raw, raw_offsets=[i + 4 for i in range(len(original))],
        content_hash=hashlib.sha256(raw.encode()).hexdigest(), encoding="utf-8",
        script="traditional" if text != original else "simplified",
    )
    ends = [i + 1 for i, ch in enumerate(text) if ch == "。"]
    bounds, start = [], 0
    for j in range(1, len(ends) + 1, 2):
        end = ends[min(j, len(ends) - 1)]
        bounds.append((start, end))
        start = end
    if start < len(text):
        bounds.append((start, len(text)))
    chunks = [
        Chunk(f"{doc_id}#{k:03d}", doc_id, k, text[s:e], original[s:e], s, e) for k, (s, e) in enumerate(bounds)
    ]
    return doc, chunks


def add(writer: IndexWriter, doc_id: str, original: str | None = None, *, near=(), source=None, date=None):
    title, src, dt, body = ARTICLES.get(doc_id, ("标题", "来源", None, ""))
    doc, chunks = make_doc(doc_id, title, source or src, date or dt, original or body)
    writer.add_document(doc, chunks, ENC.encode_passages([c.text for c in chunks]), list(near))
    return doc, chunks


PARAMS = {"chunk_chars": 300, "chunk_overlap": 80, "index": {"type": "flat"}}


def build(path: Path, ids=("alpha", "beta", "gamma", "trad"), params=PARAMS) -> dict:
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=params) as w:
        for doc_id in ids:
            add(w, doc_id)
        return w.commit()


def open_index(path: Path) -> Index:
    return Index.open(path, model_name=MODEL, dim=DIM)


def test_round_trip(tmp_path):
    manifest = build(tmp_path / "idx")
    assert manifest["schema_version"] == 1 and manifest["generation"] == 1
    assert manifest["embedding"] == {"model": MODEL, "dim": DIM}
    assert manifest["counts"]["docs"] == 4 and manifest["counts"]["chunks"] == manifest["counts"]["vectors"]
    assert manifest["params"]["chunk_chars"] == 300 and manifest["index"]["type"] == "flat"
    idx = open_index(tmp_path / "idx")
    assert [m.doc_id for m in idx.docs()] == ["alpha", "beta", "gamma", "trad"]
    doc, chunks = make_doc("trad", *ARTICLES["trad"])
    stored = idx.get_doc("trad")
    assert stored == doc  # text, original (traditional), raw, raw_offsets, hash, script all survive
    assert stored.original != stored.text and "龙泉乡" in stored.text
    got = idx.chunks_of("trad")
    assert got == chunks
    assert idx.get_chunk(chunks[0].chunk_id).original == doc.original[chunks[0].start : chunks[0].end]
    assert idx.doc_hash("trad") == doc.content_hash and idx.doc_hash("nope") is None
    assert idx.get_doc("nope") is None and idx.get_chunk("nope") is None
    # a chunk's own vector finds it first with cosine ~1
    target = idx.chunks_of("beta")[1]
    best_id, score = idx.dense_search(ENC.encode_query(target.text), 3)[0]
    assert best_id == target.chunk_id and score == pytest.approx(1.0, abs=1e-5)
    # BM25 on jieba tokens: a number and a place name
    assert idx.sparse_search("18.5%", 5)[0][0].startswith("beta#")
    assert idx.sparse_search("龙泉乡的茶园", 5)[0][0].startswith("trad#")
    assert idx.sparse_search("火箭发射卫星轨道", 5) == []
    # restricted (exact) searches only return the given chunks
    gamma = idx.chunk_ids_of(["gamma"])
    assert gamma == [c.chunk_id for c in idx.chunks_of("gamma")]
    assert {c for c, _ in idx.dense_search(ENC.encode_query(target.text), 10, among=gamma)} == set(gamma)
    assert [c for c, _ in idx.sparse_search("青禾县", 10, among=gamma)] and all(
        c in gamma for c, _ in idx.sparse_search("青禾县", 10, among=gamma))
    assert idx.sparse_search("18.5%", 10, among=gamma) == []
    meta = {m.doc_id: m for m in idx.docs()}["alpha"]
    assert meta.n_chunks == len(idx.chunks_of("alpha")) and meta.source == "山城日报"


def test_offsets_codec_round_trip():
    offsets = [3, 4, 5, 9, 10, 11, 12, 40, 41]
    assert decode_offsets(encode_offsets(offsets)) == offsets
    assert decode_offsets(encode_offsets([])) == []


def test_bm25_builder_matches_bm25s_reference(tmp_path):
    import random

    import bm25s

    rnd = random.Random(3)
    vocab = [f"词{i}" for i in range(60)]
    corpus = [[rnd.choice(vocab[: rnd.randint(5, 60)]) for _ in range(rnd.randint(0, 40))] for _ in range(300)]
    ours = SparseIndex.build(corpus)
    ref = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    ref.index(corpus, show_progress=False)
    ours.save(tmp_path / "bm25")
    loaded = SparseIndex.load(tmp_path / "bm25")
    for _ in range(30):
        query = rnd.sample(vocab[:50], rnd.randint(1, 6))
        expect = ref.get_scores(query)
        np.testing.assert_allclose(ours.scores(query), expect, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(loaded.scores(query), expect, rtol=1e-5, atol=1e-6)
    assert not ours.scores(["未见过的词"]).any()
    rows, scores = top_positive(np.array([0.0, 2.0, 1.0, 2.0, -1.0]), 3)
    assert rows.tolist() == [1, 3, 2] and scores.tolist() == [2.0, 2.0, 1.0]


def test_incremental_add_replace_remove(tmp_path):
    path = tmp_path / "idx"
    build(path, ids=("alpha", "beta"))
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        add(w, "gamma")
        add(w, "beta", "石门村的公路后来又延长了五公里。合作社开始做网上销售。")
        assert w.remove_document("alpha") is True
        assert w.remove_document("alpha") is False
        manifest = w.commit()
    assert manifest["generation"] == 2 and manifest["counts"]["docs"] == 2
    idx = open_index(path)
    assert sorted(m.doc_id for m in idx.docs()) == ["beta", "gamma"]
    assert "网上销售" in idx.get_doc("beta").text
    assert all("泥路" not in c.text for c in idx.chunks_of("beta"))
    assert idx.sparse_search("冷链仓库", 5) == []  # alpha's words are gone from BM25
    ids = [c for c, _ in idx.dense_search(ENC.encode_query("网上销售"), 10)]
    assert set(ids) == {c.chunk_id for d in ("beta", "gamma") for c in idx.chunks_of(d)}
    # previous generation kept for open readers, older ones collected on the next commit
    assert sorted(p.name for p in path.glob("gen-*")) == ["gen-000001", "gen-000002"]
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        add(w, "alpha")
    assert sorted(p.name for p in path.glob("gen-*")) == ["gen-000002", "gen-000003"]
    assert open_index(path).counts["docs"] == 3


def test_incremental_bm25_equals_fresh_build(tmp_path, monkeypatch):
    inc, fresh = tmp_path / "inc", tmp_path / "fresh"
    build(inc, ids=("alpha", "beta", "gamma"))
    reused = []
    real = SparseIndex.load_ids
    monkeypatch.setattr(SparseIndex, "load_ids", staticmethod(lambda folder: reused.append(real(folder)) or reused[-1]))
    with IndexWriter(inc, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        w.remove_document("beta")
        add(w, "trad")
        add(w, "alpha", "青禾县的蔬菜加工厂扩建了第二条生产线。冷链仓库也扩容了。")
    with IndexWriter(fresh, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        add(w, "trad")
        add(w, "gamma")
        add(w, "alpha", "青禾县的蔬菜加工厂扩建了第二条生产线。冷链仓库也扩容了。")
    assert reused and reused[0] is not None  # the token ids of unchanged chunks were reused
    a, b = open_index(inc), open_index(fresh)
    assert sorted(a.chunk_ids) == sorted(b.chunk_ids)
    for q in ("青禾县冷链仓库", "龙泉乡茶叶合作社", "海滨市教师交流", "石门村"):
        got, want = dict(a.sparse_search(q, 50)), dict(b.sparse_search(q, 50))
        assert got.keys() == want.keys() and all(got[c] == pytest.approx(want[c], rel=1e-5) for c in want)


def test_embedding_cache_and_has_doc(tmp_path):
    path = tmp_path / "idx"
    build(path, ids=("alpha",))
    _doc, chunks = make_doc("alpha", *ARTICLES["alpha"])
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        assert w.has_doc("alpha", _doc.content_hash) and w.has_doc("alpha", None)
        assert not w.has_doc("alpha", "0" * 64) and not w.has_doc("zeta", None)
        hashes = [text_hash(c.text) for c in chunks] + [text_hash("一段从未出现过的文字。")]
        cached = w.cached_vectors(hashes)
        assert set(cached) == set(hashes[:-1])  # unchanged chunk text is never re-embedded
        np.testing.assert_allclose(cached[hashes[0]], ENC.encode_query(chunks[0].text), atol=1e-6)
        # replacing the document keeps its old vectors available to the cache within the session
        add(w, "alpha", "完全改写后的内容。只有一句话。")
        assert set(w.cached_vectors(hashes[:1])) == set(hashes[:1])
        w.close()  # discard: nothing committed
    assert open_index(path).generation == 1
    # other chunk settings -> has_doc is False so the ingester re-chunks the document
    other = {**PARAMS, "chunk_chars": 200}
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=other) as w:
        assert not w.has_doc("alpha", _doc.content_hash)
        w.close()


def test_noop_commit_writes_nothing(tmp_path):
    path = tmp_path / "idx"
    build(path)
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        assert w.commit()["generation"] == 1
    assert sorted(p.name for p in path.iterdir() if p.is_dir()) == ["gen-000001"]


def test_mismatch_and_not_found(tmp_path):
    path = tmp_path / "idx"
    with pytest.raises(IndexNotFoundError, match="shanhai ingest"):
        open_index(path)
    build(path)
    with pytest.raises(IndexMismatchError) as err:
        Index.open(path, model_name="other-model", dim=DIM)
    assert MODEL in str(err.value) and "other-model" in str(err.value) and "--rebuild" in str(err.value)
    with pytest.raises(IndexMismatchError, match="128"):
        Index.open(path, model_name=MODEL, dim=128)
    with pytest.raises(IndexMismatchError):
        IndexWriter(path, model_name="other-model", dim=128, params=PARAMS)
    # --rebuild path: a fresh index with the new model replaces the old one atomically
    with IndexWriter(path, model_name="other-model", dim=8, params=PARAMS, rebuild=True) as w:
        doc, chunks = make_doc("solo", "标题", "来源", None, "只有一篇文章。")
        w.add_document(doc, chunks, np.ones((len(chunks), 8), np.float32), [])
    assert Index.open(path, model_name="other-model", dim=8).counts["docs"] == 1
    # the replaced generation stays on disk for readers that still have it open
    assert sorted(p.name for p in path.glob("gen-*")) == ["gen-000001", "gen-000002"]


def test_schema_version_mismatch(tmp_path):
    path = tmp_path / "idx"
    build(path)
    data = json.loads((path / "manifest.json").read_text())
    data["schema_version"] = 99
    (path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        open_index(path)


@pytest.mark.parametrize(
    "damage, where",
    [
        ("truncate_dense", "dense.faiss"),
        ("delete_store", "store.sqlite"),
        ("garble_store", "store.sqlite"),
        ("garble_manifest", "manifest.json"),
        ("delete_manifest", "manifest.json"),
        ("wrong_counts", "store.sqlite"),
        ("delete_bm25", "bm25"),
    ],
)
def test_corrupt_files_are_named(tmp_path, damage, where):
    path = tmp_path / "idx"
    manifest = build(path)
    gen = path / manifest["generation_dir"]
    if damage == "truncate_dense":
        data = (gen / "dense.faiss").read_bytes()
        (gen / "dense.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "delete_store":
        (gen / "store.sqlite").unlink()
    elif damage == "garble_store":
        size = (gen / "store.sqlite").stat().st_size
        (gen / "store.sqlite").write_bytes(b"\x00garbage" * (size // 8) + b"\x00" * (size % 8))
    elif damage == "garble_manifest":
        (path / "manifest.json").write_text("{ not json", encoding="utf-8")
    elif damage == "delete_manifest":
        (path / "manifest.json").unlink()
    elif damage == "wrong_counts":
        data = json.loads((path / "manifest.json").read_text())
        data["counts"]["docs"] += 1
        (path / "manifest.json").write_text(json.dumps(data))
    elif damage == "delete_bm25":
        next((gen / "bm25").glob("vocab*")).unlink()
    with pytest.raises(IndexCorruptError) as err:
        open_index(path)
    assert where in str(err.value) and "shanhai index check" in str(err.value)
    assert check_index(path) and where in check_index(path)[0]
    if damage in ("truncate_dense", "delete_bm25"):  # derived files: a forced commit rebuilds them
        with IndexWriter(path, model_name=MODEL, dim=DIM, params=None) as w:
            assert w.commit(force=True)["generation"] == 2
        assert open_index(path).counts["docs"] == 4 and not check_index(path)
        return
    with pytest.raises(IndexCorruptError):  # a plain update refuses to build on a damaged store
        with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
            w.has_doc("alpha", None)
    build(tmp_path / "other")  # unrelated folder unaffected; --rebuild recovers this one
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS, rebuild=True) as w:
        add(w, "beta")
    assert [m.doc_id for m in open_index(path).docs()] == ["beta"]


def test_check_index_catches_silent_bit_flip(tmp_path):
    path = tmp_path / "idx"
    manifest = build(path)
    vec = path / manifest["generation_dir"] / "vectors.npy"
    data = bytearray(vec.read_bytes())
    data[-3] ^= 0xFF  # same size: only the checksum notices
    vec.write_bytes(bytes(data))
    open_index(path)  # fast open checks sizes only
    problems = check_index(path)
    assert len(problems) == 1 and "vectors.npy" in problems[0] and "校验和" in problems[0]
    assert check_index(tmp_path / "missing") and check_index(path.parent / "missing")[0].startswith("索引不存在")


def test_exception_inside_writer_keeps_old_generation(tmp_path):
    path = tmp_path / "idx"
    build(path, ids=("alpha",))
    with pytest.raises(RuntimeError, match="boom"):
        with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
            add(w, "beta")
            w.remove_document("alpha")
            raise RuntimeError("boom")
    idx = open_index(path)
    assert [m.doc_id for m in idx.docs()] == ["alpha"] and idx.generation == 1
    assert not list(path.glob("tmp-*"))


def test_failure_during_commit_leaves_nothing_half_written(tmp_path):
    path = tmp_path / "idx"
    build(path, ids=("alpha",))

    def disk_full():
        raise OSError(28, "No space left on device")

    for stage in ("files_written", "before_manifest"):
        writer_mod._HOOKS[stage] = disk_full
        try:
            with pytest.raises(OSError):
                with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
                    add(w, "beta")
                    w.commit()
        finally:
            writer_mod._HOOKS.pop(stage)
        assert [m.doc_id for m in open_index(path).docs()] == ["alpha"]
        assert sorted(p.name for p in path.iterdir() if p.is_dir()) == ["gen-000001"]


def test_duplicate_chunk_id_and_bad_vectors_are_refused(tmp_path):
    path = tmp_path / "idx"
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        add(w, "alpha")
        doc, chunks = make_doc("beta", *ARTICLES["beta"])
        clash = [Chunk("alpha#000", "beta", 0, chunks[0].text, chunks[0].original, chunks[0].start, chunks[0].end)]
        with pytest.raises(ValueError, match="重复"):
            w.add_document(doc, clash, ENC.encode_passages([clash[0].text]), [])
        with pytest.raises(ValueError, match="向量"):
            w.add_document(doc, chunks, np.zeros((1, DIM), np.float32), [])
        bad = [Chunk("beta#x", "beta", 0, "不是原文", "不是原文", 0, 4)]
        with pytest.raises(ValueError, match="切片"):
            w.add_document(doc, bad, ENC.encode_passages(["不是原文"]), [])
    idx = open_index(path)
    assert [m.doc_id for m in idx.docs()] == ["alpha"]


def test_single_writer_lock_and_staleness(tmp_path):
    path = tmp_path / "idx"
    build(path, ids=("alpha",))
    reader = open_index(path)
    w = IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS)
    try:
        with pytest.raises(IndexLockedError, match="另一个进程"):
            IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS)
        add(w, "beta")
        w.commit()
    finally:
        w.close()
    assert reader.is_stale() and not open_index(path).is_stale()
    assert reader.counts["docs"] == 1 and [m.doc_id for m in reader.docs()] == ["alpha"]  # snapshot
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w2:
        add(w2, "gamma")
    assert not (path / "gen-000001").exists()  # collected, yet the open snapshot still works
    target = reader.chunks_of("alpha")[0]
    assert reader.get_doc("alpha").doc_id == "alpha" and reader.sparse_search("冷链仓库", 3)
    cosine = reader.dense_scores(ENC.encode_query(target.text), [target.chunk_id])[target.chunk_id]
    assert cosine == pytest.approx(1.0, abs=1e-5)


def test_near_duplicates_are_symmetric_and_follow_removal(tmp_path):
    path = tmp_path / "idx"
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        add(w, "alpha")
        add(w, "gamma", near=["alpha"])
        w.set_signature("gamma", np.arange(8, dtype=np.uint32))
    idx = open_index(path)
    assert idx.near_duplicates("alpha") == ["gamma"] and idx.near_duplicates("gamma") == ["alpha"]
    assert {m.doc_id: m.near_duplicates for m in idx.docs()} == {"alpha": ["gamma"], "gamma": ["alpha"]}
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        np.testing.assert_array_equal(w.signatures()["gamma"], np.arange(8, dtype=np.uint32))
        w.remove_document("gamma")
        assert "gamma" not in w.signatures()
    assert open_index(path).near_duplicates("alpha") == []


def test_ivf_used_above_threshold_and_hnsw_and_custom_backend(tmp_path):
    rng = np.random.default_rng(0)
    texts = [f"第{i}号样本段落，数值{rng.integers(1000)}。" for i in range(120)]
    body = "".join(texts)
    for kind, expect in (({"type": "auto", "ann_threshold": 50, "ivf_nprobe": 64}, "ivf"),
                         ({"type": "hnsw"}, "hnsw"),
                         ({"type": "rag.index.dense:FlatBackend"}, "rag.index.dense:FlatBackend")):
        path = tmp_path / expect.replace(":", "_")
        with IndexWriter(path, model_name=MODEL, dim=DIM, params={"index": kind}) as w:
            add(w, "bulk", body)
            manifest = w.commit()
        assert manifest["index"]["type"] == expect
        idx = open_index(path)
        target = idx.chunks_of("bulk")[17]
        assert idx.dense_search(ENC.encode_query(target.text), 5)[0][0] == target.chunk_id
    # an incremental IVF commit keeps the trained centroids while the size stays within 2x
    ivf_path = tmp_path / "ivf"
    with IndexWriter(ivf_path, model_name=MODEL, dim=DIM, params={"index": {"type": "ivf"}}) as w:
        add(w, "alpha")
    import faiss

    gens = sorted(ivf_path.glob("gen-*"))
    a, b = (faiss.read_index(str(g / "dense.faiss")) for g in gens)
    assert a.nlist == b.nlist and b.ntotal == a.ntotal + len(open_index(ivf_path).chunks_of("alpha"))
    np.testing.assert_array_equal(a.quantizer.reconstruct_n(0, a.nlist), b.quantizer.reconstruct_n(0, b.nlist))
    assert dense_mod.resolve_kind({"type": "auto", "ann_threshold": 50}, 50) == "flat"
    assert dense_mod.IVFBackend(DIM).nlist_for(60_000) == 980
    with pytest.raises(ValueError, match="未知"):
        dense_mod.create("annoy", DIM)


def test_concurrent_readers_during_commits(tmp_path):
    path = tmp_path / "idx"
    build(path, ids=("alpha",))
    stop = threading.Event()
    seen: set[int] = set()
    errors: list[BaseException] = []

    def reader():
        while not stop.is_set():
            try:
                idx = open_index(path)
                n = idx.counts["docs"]
                assert len(idx.docs()) == n and idx.sparse_search("青禾县", 3)
                seen.add(n)
                idx.close()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for doc_id in ("beta", "gamma", "trad"):
        with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
            add(w, doc_id)
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert seen <= {1, 2, 3, 4} and 4 in {open_index(path).counts["docs"]}


KILL_SCRIPT = r"""
import sys, time, pathlib
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from rag.index import writer as writer_mod
from rag.index import IndexWriter
import test_index as t
marker = pathlib.Path({marker!r})
def pause():
    marker.write_text("here")
    time.sleep(60)
writer_mod._HOOKS[{stage!r}] = pause
w = IndexWriter(pathlib.Path({path!r}), model_name=t.MODEL, dim=t.DIM, params=t.PARAMS)
t.add(w, "beta"); t.add(w, "gamma"); w.remove_document("alpha")
if {stage!r} == "adding":
    pause()
w.commit()
"""


@pytest.mark.parametrize("stage", ["adding", "files_written", "before_manifest"])
def test_sigkill_mid_commit_leaves_previous_index_usable(tmp_path, stage):
    path = tmp_path / "idx"
    build(path, ids=("alpha",))
    marker = tmp_path / "marker"
    script = KILL_SCRIPT.format(
        root=str(ROOT), tests=str(ROOT / "tests"), marker=str(marker), stage=stage, path=str(path)
    )
    returncode = sigkill_when_marked(script, marker, cwd=ROOT, timeout=60, early="writer subprocess died early")
    assert returncode == -signal.SIGKILL
    idx = open_index(path)
    assert [m.doc_id for m in idx.docs()] == ["alpha"] and idx.generation == 1
    assert list(path.glob("tmp-*")) or list(path.glob("gen-000002"))  # the killed writer's leftovers
    # the next writer cleans up and works normally
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        add(w, "beta")
    assert not list(path.glob("tmp-*"))
    assert sorted(m.doc_id for m in open_index(path).docs()) == ["alpha", "beta"]


def test_tokenize_numbers_punctuation_and_place_names():
    toks = tokenize("贫困发生率从13.13%降到3.3%，2017年起，共投入5200万元！")
    assert {"13.13%", "3.3%", "2017", "5200"} <= set(toks)
    assert not any(t in {"，", "！", "%", " "} for t in toks)
    # question and passage spellings of a county meet on shared tokens
    q, p = set(tokenize("靖远县有哪些企业？")), set(tokenize("企业落户靖远后带动就业"))
    assert "靖远" in q & p
    q, p = set(tokenize("沿河县的情况")), set(tokenize("沿河土家族自治县的情况"))
    assert "沿河" in q & p
    assert "富坪" in set(tokenize("富坪村建了温室"))
    assert tokenize("ＡＢＣ公司") == tokenize("abc公司")
    assert "#远县" in tokenize("靖远县")  # character bigrams of CJK runs, in their own namespace
