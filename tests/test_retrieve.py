"""Hybrid retrieval: RRF math, hits, filters with over-fetch, near-duplicate collapse, neighbours.

Uses the fake encoder and hand-written articles of ``test_index``; the collapse and
tokenisation checks also run on the real seed articles (read from ../shared at run time).
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from rag.index import Index, IndexMismatchError, IndexWriter
from rag.retrieve import EmptyQueryError, Filters, Retriever, doc_matches, iso_date, jaccard, rrf_fuse, shingles
from rag.text.normalize import normalize
from rag.text.tokenize import ADMIN_SUFFIXES, tokenize
from rag.types import Chunk, DocMeta, Document
from test_index import ARTICLES, DIM, ENC, MODEL, PARAMS, add, build, make_doc, open_index


def reference_rrf(rankings, weights, k):
    """Straightforward RRF, for comparison."""
    ids = {x for r in rankings for x in r}
    return {x: sum(w / (k + r.index(x) + 1) for r, w in zip(rankings, weights) if x in r) for x in ids}


def test_rrf_hand_computed():
    fused = rrf_fuse([["a", "b", "c"], ["c", "a", "d"]], [1.0, 1.0], k=60)
    assert [x for x, _ in fused] == ["a", "c", "b", "d"]
    assert dict(fused)["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert dict(fused)["d"] == pytest.approx(1 / 63)
    weighted = dict(rrf_fuse([["a", "b"], ["b", "a"]], [2.0, 1.0], k=1))
    assert weighted["a"] == pytest.approx(2 / 2 + 1 / 3) and weighted["b"] == pytest.approx(2 / 3 + 1 / 2)
    # ties: best single rank first, then first appearance; duplicates inside a list are ignored
    assert [x for x, _ in rrf_fuse([["x", "y"], ["y", "x"]])] == ["x", "y"]
    assert dict(rrf_fuse([["a", "a", "b"]], k=0))["b"] == pytest.approx(1 / 3)
    assert rrf_fuse([[], []]) == []
    with pytest.raises(ValueError):
        rrf_fuse([["a"]], [1.0, 2.0])


def test_rrf_matches_reference_on_random_lists():
    rnd = random.Random(7)
    for _ in range(50):
        pool = [f"c{i}" for i in range(30)]
        rankings = [rnd.sample(pool, rnd.randint(0, 20)) for _ in range(rnd.randint(1, 3))]
        weights = [rnd.uniform(0.1, 2.0) for _ in rankings]
        fused = rrf_fuse(rankings, weights, k=60)
        ref = reference_rrf(rankings, weights, 60)
        assert {x: pytest.approx(s) for x, s in fused} == ref
        assert all(a[1] >= b[1] for a, b in zip(fused, fused[1:]))


def test_pure_helpers():
    assert iso_date("2020年8月19日") == "2020-08-19" and iso_date("2021/3") == "2021-03" and iso_date("无") is None
    meta = DocMeta("d", "t", "人民网-扶贫频道", "2020-08-19")
    assert doc_matches(meta, Filters(sources=["人民网"])) and not doc_matches(meta, Filters(sources=["新华"]))
    assert doc_matches(meta, Filters(date_from="2020-08", date_to="2020-08"))
    assert not doc_matches(meta, Filters(date_from="2020-08-20"))
    assert not doc_matches(DocMeta("x", "", "", None), Filters(date_to="2030"))
    assert jaccard(shingles("甲乙丙丁戊己"), shingles("甲乙丙丁戊己！")) == 1.0
    assert jaccard(set(), set()) == 0.0


@pytest.fixture()
def small_index(tmp_path) -> Index:
    build(tmp_path / "idx")
    return open_index(tmp_path / "idx")


def test_search_hits_carry_scores_ranks_and_spans(small_index):
    r = Retriever(small_index, ENC, candidates=10, rrf_k=60)
    hits = r.search("石门村修路以后合作社收入增长了多少？", k=3)
    assert hits[0].chunk.doc_id == "beta" and "18.5%" in hits[0].chunk.text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for h in hits:
        expect = 0.0
        if h.dense_rank:
            expect += 1 / (60 + h.dense_rank)
        if h.sparse_rank:
            expect += 1 / (60 + h.sparse_rank)
        assert h.score == pytest.approx(expect)
        cosine = float(ENC.encode_query(normalize("石门村修路以后合作社收入增长了多少？")) @ ENC.encode_query(h.chunk.text))
        assert h.dense_score == pytest.approx(cosine, abs=1e-5)
        assert h.doc.doc_id == h.chunk.doc_id and h.doc.source
    js = hits[0].to_json()
    doc = small_index.get_doc("beta")
    assert doc.original[js["start"] : js["end"]] == js["original"] and js["text"] == hits[0].chunk.text


def test_traditional_query_is_normalised_and_original_kept(small_index):
    hits = Retriever(small_index, ENC).search("龍泉鄉的茶園面積有多大？", k=1)
    assert hits[0].chunk.doc_id == "trad" and hits[0].sparse_rank == 1
    assert "茶園" in hits[0].chunk.original and "茶园" in hits[0].chunk.text


def test_empty_query_and_encoder_mismatch(small_index):
    r = Retriever(small_index, ENC)
    for q in ("", "   ", "？！。，"):
        with pytest.raises(EmptyQueryError, match="问题"):
            r.search(q)

    class Other:
        name, dim = "other-model", DIM

    with pytest.raises(IndexMismatchError, match="other-model"):
        Retriever(small_index, Other())


def test_filters_sources_dates_docs(small_index):
    r = Retriever(small_index, ENC)
    q = "青禾县和石门村的帮扶情况"
    assert {h.chunk.doc_id for h in r.search(q, k=10, filters=Filters(sources=["河谷"]))} == {"beta"}
    dated = {h.chunk.doc_id for h in r.search(q, k=10, filters=Filters(date_from="2020", date_to="2021-06"))}
    assert dated == {"alpha", "beta"}
    assert {h.chunk.doc_id for h in r.search(q, k=10, filters=Filters(doc_ids=["gamma"]))} == {"gamma"}
    assert r.search(q, filters=Filters(sources=["不存在的来源"])) == []


def test_filter_over_fetches_beyond_candidates(tmp_path):
    path = tmp_path / "idx"
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        for i in range(30):
            add(w, f"v{i:02d}", f"第{i}号村的合作社种植蔬菜和水果。合作社的蔬菜销往城里的超市。", source="乡村周刊")
        add(w, "rare", "一篇讲蔬菜的短讯。", source="特别来源")
    idx = open_index(path)
    r = Retriever(idx, ENC, candidates=3)
    q = "合作社种植蔬菜销往超市"
    assert all(h.chunk.doc_id != "rare" for h in r.search(q, k=3))
    hits = r.search(q, k=3, filters=Filters(sources=["特别来源"]))
    assert [h.chunk.doc_id for h in hits] == ["rare"] and hits[0].dense_rank == 1


def _reprint_index(path, first: Document, chunks: list[Chunk], *, mark: bool) -> Index:
    """Index an article and a reprint of it (different id and header, same body)."""
    copy_text = "转载：" + first.original
    copy, copy_chunks = make_doc("reprint", "转载稿", "另一家网站", first.date, copy_text)
    with IndexWriter(path, model_name=MODEL, dim=DIM, params=PARAMS) as w:
        w.add_document(first, chunks, ENC.encode_passages([c.text for c in chunks]), [])
        near = [first.doc_id] if mark else []
        w.add_document(copy, copy_chunks, ENC.encode_passages([c.text for c in copy_chunks]), near)
    return open_index(path)


@pytest.mark.parametrize("mark, collapse, expect_both", [(True, True, False), (True, False, True), (False, True, True)])
def test_near_duplicate_collapse(tmp_path, mark, collapse, expect_both):
    first, chunks = make_doc("beta", *ARTICLES["beta"])
    idx = _reprint_index(tmp_path / "idx", first, chunks, mark=mark)
    hits = Retriever(idx, ENC, collapse_near_duplicates=collapse).search("石门村修通了多长的水泥路？", k=4)
    docs = [h.chunk.doc_id for h in hits[:2]]
    assert (set(docs) == {"beta", "reprint"}) is expect_both
    # each article has 2 chunks and each reprint chunk repeats one original chunk
    assert len(hits) == (4 if expect_both else 2)


def _seed_doc(path, doc_id: str) -> tuple[Document, list[Chunk]]:
    original = path.read_text(encoding="utf-8", errors="replace")
    doc, _ = make_doc(doc_id, path.stem, "种子语料", None, original)
    ends = [m.end() for m in re.finditer(r"[。！？\n]+", doc.text)] + [len(doc.text)]
    chunks, start = [], 0
    for end in ends[2::3] + [len(doc.text)]:
        if end > start and doc.text[start:end].strip():
            k = len(chunks)
            chunks.append(Chunk(f"{doc_id}#{k:03d}", doc_id, k, doc.text[start:end], doc.original[start:end], start, end))
            start = end
    return doc, chunks


def test_near_duplicate_collapse_on_a_real_seed_reprint(tmp_path, seeds_dir):
    first, chunks = _seed_doc(sorted(seeds_dir.glob("*.txt"))[0], "seed0")
    idx = _reprint_index(tmp_path / "idx", first, chunks, mark=True)
    longest = max(chunks, key=lambda c: len(c.text))
    query = re.sub(r"\s+", "", longest.text)[:40]  # derived at run time from the seed text
    hits = Retriever(idx, ENC).search(query, k=4)
    assert len(hits) == 4 and query in re.sub(r"\s+", "", hits[0].chunk.text)
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            if a.chunk.doc_id != b.chunk.doc_id:
                assert jaccard(shingles(a.chunk.text), shingles(b.chunk.text)) <= 0.5
    plain = Retriever(idx, ENC, collapse_near_duplicates=False).search(query, k=4)
    assert any(  # without collapsing, the reprint's copy of the passage does come back
        a.chunk.doc_id != b.chunk.doc_id and jaccard(shingles(a.chunk.text), shingles(b.chunk.text)) > 0.5
        for i, a in enumerate(plain)
        for b in plain[i + 1 :]
    )


def test_admin_names_tokenise_the_same_alone_and_in_real_text(seeds_dir):
    """Every county/village-style name in the seed articles, typed alone as a query, yields
    only tokens that the article's own token stream contains (so BM25 can match it)."""
    checked = 0
    for path in sorted(seeds_dir.glob("*.txt")):
        tokens = set(tokenize(normalize(path.read_text(encoding="utf-8", errors="replace"))))
        names = {t for t in tokens if len(t) >= 3 and t[-1] in ADMIN_SUFFIXES and not t.startswith("#")}
        for name in names:
            assert set(tokenize(name)) <= tokens, (path.name, name)
            assert name[:-1] in tokens
            checked += 1
    assert checked >= 30


def test_neighbours(small_index):
    r = Retriever(small_index, ENC)
    chunks = small_index.chunks_of("alpha")
    assert len(chunks) >= 2
    assert r.neighbours(chunks[0].chunk_id) == chunks[:2]
    assert r.neighbours(chunks[-1].chunk_id, before=5, after=5) == chunks
    assert r.neighbours(chunks[0].chunk_id, before=0, after=0) == chunks[:1]
    assert r.neighbours("missing") == []
