"""Sentence splitting and chunking: whole sentences, overlap, caps, never inside a number."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.ingest.chunk import chunk_document, chunk_spans
from rag.ingest.loaders import build_document, discover, read_raw
from rag.text.sentences import number_spans, split_sentences
from rag.types import Document


@pytest.fixture(scope="module")
def seed_docs(seeds_dir: Path) -> list[Document]:
    return [build_document(r) for p in discover([seeds_dir]) for r in read_raw(p, max_file_mb=20)]


def _doc(text: str, doc_id: str = "t") -> Document:
    return Document(doc_id=doc_id, title="", source="", date=None, url=None, path="", original=text, text=text,
                    raw=text, raw_offsets=list(range(len(text))), content_hash="")


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_split_sentences_keeps_closing_quotes():
    text = "他说：“今年的茶卖得很好！”记者又问了一句。“明年呢？”\n标题没有句号\n数量是3.5万亩; 价格涨了……后来呢?好"
    assert _sentences(text) == [
        "他说：“今年的茶卖得很好！”",
        "记者又问了一句。",
        "“明年呢？”",
        "标题没有句号",
        "数量是3.5万亩;",
        "价格涨了……",
        "后来呢?",
        "好",
    ]


def test_split_sentences_spans_trimmed():
    text = "  第一句。  第二句！\n\n  "
    assert [text[a:b] for a, b in split_sentences(text)] == ["第一句。", "第二句！"]


def test_seed_chunks_are_sentence_aligned(seed_docs):
    for doc in seed_docs:
        chunks = chunk_document(doc, target=300, overlap=80, max_chars=600)
        assert chunks, doc.doc_id
        sents = split_sentences(doc.text)
        starts = {a for a, _ in sents}
        ends = {b for _, b in sents}
        for n, c in enumerate(chunks):
            assert c.chunk_id == f"{doc.doc_id}#{n}" and c.ordinal == n and c.doc_id == doc.doc_id
            assert c.text == doc.text[c.start:c.end] and c.original == doc.original[c.start:c.end]
            assert c.start in starts and c.end in ends
            assert c.end - c.start <= 600
        # every sentence is in some chunk; chunks move forward
        covered = set()
        for c in chunks:
            covered |= {(a, b) for a, b in sents if c.start <= a and b <= c.end}
        assert covered == set(sents)
        assert all(x.start < y.start and x.end < y.end for x, y in zip(chunks, chunks[1:]))


def test_overlap_is_whole_trailing_sentences(seed_docs):
    doc = seed_docs[0]
    chunks = chunk_document(doc, target=300, overlap=80, max_chars=600)
    overlapped = 0
    for prev, cur in zip(chunks, chunks[1:]):
        if cur.start < prev.end:
            overlapped += 1
            assert prev.end - cur.start <= 80
            assert cur.start in {a for a, _ in split_sentences(doc.text)}
    assert overlapped >= 1
    no_overlap = chunk_document(doc, target=300, overlap=0, max_chars=600)
    assert all(x.end <= y.start for x, y in zip(no_overlap, no_overlap[1:]))


def test_numbers_in_seeds_never_split(seed_docs):
    for doc in seed_docs:
        chunks = chunk_document(doc, target=120, overlap=30, max_chars=150)
        for a, b in number_spans(doc.text):
            for c in chunks:
                assert not (c.start < a < c.end < b) and not (a < c.start < b), doc.text[a:b]
            assert any(c.start <= a and b <= c.end for c in chunks), doc.text[a:b]


def _long_sentence() -> str:
    parts = []
    for i in range(40):
        parts.append(f"第{i + 1}个村的茶园面积为1.{i}万亩、产值13.{i:02d}%增长")
        parts.append("，" if i % 3 else "：")
    parts.append(f"统计截至2020年7月{i % 28 + 1}日。")
    return "".join(parts)


def test_long_sentence_cut_at_clause_boundaries():
    text = _long_sentence()
    assert len(text) > 900 and len(split_sentences(text)) == 1
    spans = chunk_spans(text, target=200, overlap=0, max_chars=300)
    assert len(spans) >= 3
    nums = number_spans(text)
    for a, b in spans:
        assert b - a <= 300
        assert text[b - 1] in "，、：。" or b == len(text)
        assert not any(x < b < y for x, y in nums)


def test_unpunctuated_run_never_cut_inside_numbers():
    text = "".join(f"编号{i}的地块面积12345.{i}亩" for i in range(60))  # no clause marks at all
    spans = chunk_spans(text, target=100, overlap=0, max_chars=150)
    nums = number_spans(text)
    assert all(b - a <= 150 for a, b in spans)
    assert "".join(text[a:b] for a, b in spans) == text
    for a, b in spans:
        assert not any(x < b < y for x, y in nums) and not any(x < a < y for x, y in nums)


@pytest.mark.parametrize("fragment", ["1.1亿", "13.13%", "2020年7月13日", "1,000", "60248"])
def test_number_spans_cover_whole_numbers(fragment):
    text = f"前面的字{fragment}后面的字"
    i = text.index(fragment)
    assert any(a <= i and i + len(fragment) <= b for a, b in number_spans(text))


def test_short_and_empty_documents():
    assert chunk_document(_doc("")) == []
    (c,) = chunk_document(_doc("只有一句话。"))
    assert (c.start, c.end, c.chunk_id) == (0, 6, "t#0")


def test_bad_parameters():
    with pytest.raises(ValueError):
        chunk_spans("一句。", target=300, overlap=80, max_chars=100)


def test_traditional_chunk_original_script(seed_docs):
    doc = next(d for d in seed_docs if d.doc_id.startswith("001"))
    c = chunk_document(doc)[0]
    assert "靖远县" in c.text and "靖遠縣" in c.original and len(c.text) == len(c.original)
    assert not re.search(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔù]+\)", c.original)
