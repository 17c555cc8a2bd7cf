"""Ingest + search end to end on the real seed corpus with the real embedding model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.cli import main
from rag.config import load_config
from rag.index.folder import Index, IndexMismatchError
from rag import Pipeline, QuestionError
from rag.text.normalize import normalize

pytestmark = pytest.mark.slow

OWN_ARTICLE = (
    "东海市帮扶青山县修建了一座冷库\n\n2021年3月2日 来源：示例晚报\n\n"
    "今年春天，东海市出资320万元在青山县建成一座冷库，可储存蔬菜600吨。"
    "冷库由村集体经营，预计每年为村里增加收入18万元。\n"
)


class CountingEncoder:
    """Wraps the real encoder and counts how many passages it embedded."""

    def __init__(self, inner, fail_after: int | None = None):
        self.inner, self.count, self.fail_after = inner, 0, fail_after
        self.name, self.dim = inner.name, inner.dim

    def encode_passages(self, texts, **kw):
        if self.fail_after is not None and self.count + len(texts) > self.fail_after:
            raise RuntimeError("simulated failure while embedding")
        self.count += len(texts)
        return self.inner.encode_passages(texts, **kw)

    def encode_query(self, text):
        return self.inner.encode_query(text)


def _pipeline(tmp_path: Path, seed_pipeline: Pipeline, **overrides) -> Pipeline:
    cfg = load_config(overrides={"index_dir": str(tmp_path / "index"), **overrides})
    pipe = Pipeline(cfg)
    pipe._encoder = CountingEncoder(seed_pipeline.encoder)
    return pipe


def test_seed_documents_are_clean_and_mapped(seed_pipeline):
    docs = {d.doc_id: d for d in seed_pipeline.documents()}
    assert len(docs) == 5
    assert seed_pipeline.index.near_duplicates("000_1fb75d803cb4263f") == ["002_98d53a2129488873"]
    for doc_id in docs:
        doc = seed_pipeline.document(doc_id)
        assert normalize(doc.original) == doc.text
        for chunk in seed_pipeline.index.chunks_of(doc_id):
            assert doc.original[chunk.start : chunk.end] == chunk.original
            assert doc.text[chunk.start : chunk.end] == chunk.text
    trad = seed_pipeline.document("001_c52947674760a02e")
    assert "靖遠縣" in trad.original and "靖远县" in trad.text
    assert "(yuǎn)" not in trad.original and "yuǎn" not in trad.original


def test_search_json_shape_and_traditional_answer(seed_pipeline, seed_config, capsys):
    code = main(["search", "靖遠縣今年的幫扶資金有多少？", "--json", "-k", "3", "--index", str(seed_pipeline.index_dir)])
    assert code == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3
    for key in ("doc_id", "chunk_id", "text", "original", "score", "start", "end"):
        assert key in hits[0]
    assert hits[0]["doc_id"] == "001_c52947674760a02e"
    assert any("5200万" in h["text"] and "5200萬" in h["original"] for h in hits)


def test_dev_set_retrieval_quality(seed_pipeline, eval_dir):
    from rag.text.numbers import figure_in_text

    items = [json.loads(line) for line in (eval_dir / "seed_qa_dev.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    answerable = [it for it in items if it["gold_docs"]]
    gold_hits = figure_hits = figure_total = 0
    for it in answerable:
        hits = seed_pipeline.search(it["question"], 5)
        gold_hits += any(h.chunk.doc_id in it["gold_docs"] for h in hits)
        if it["must_include"]:
            figure_total += 1
            figure_hits += all(any(figure_in_text(f, h.chunk.text) for h in hits) for f in it["must_include"])
    assert gold_hits / len(answerable) >= 0.95
    assert figure_hits / figure_total >= 0.90


def test_incremental_reingest_change_and_remove(tmp_path, seeds_dir, seed_pipeline):
    corpus = tmp_path / "corpus"
    shutil.copytree(seeds_dir, corpus)
    (corpus / "own.txt").write_text(OWN_ARTICLE, encoding="utf-8")
    pipe = _pipeline(tmp_path, seed_pipeline)
    first = pipe.ingest([corpus])
    assert first.docs_added == 6 and first.chunks_embedded == pipe.encoder.count > 0

    again = pipe.ingest([corpus])
    assert again.docs_unchanged == 6 and again.docs_added == again.docs_updated == 0
    assert again.chunks_embedded == 0 and pipe.encoder.count == first.chunks_embedded

    (corpus / "own.txt").write_text(OWN_ARTICLE + "冷库二期将于明年动工，计划再投入150万元。\n", encoding="utf-8")
    changed = pipe.ingest([corpus])
    assert changed.docs_updated == 1 and changed.docs_unchanged == 5
    assert 0 < changed.chunks_embedded <= 2
    assert any("150万元" in h.chunk.text for h in pipe.search("冷库二期计划投入多少钱？", 3))

    assert pipe.remove("own") is True
    assert pipe.remove("own") is False
    assert all(h.chunk.doc_id != "own" for h in pipe.search("青山县冷库", 5))
    assert len(pipe.documents()) == 5


def test_bad_inputs_are_skipped_with_reasons(tmp_path, seed_pipeline):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text(OWN_ARTICLE, encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (folder / "undecodable.txt").write_bytes(bytes([0xFF, 0xFE, 0xFD, 0x81, 0x30, 0xC0]) * 200)
    (folder / "huge.txt").write_text("很长的文章。" * 400_000, encoding="utf-8")
    (folder / "notes.jsonl").write_text('{"text": "' + OWN_ARTICLE.replace("\n", " ") + '"}\nnot json\n{"title": "无正文"}\n', encoding="utf-8")
    pipe = _pipeline(tmp_path, seed_pipeline, **{"ingest.max_file_mb": 1})
    report = pipe.ingest([folder, tmp_path / "does-not-exist"])
    assert report.docs_added == 2  # good.txt and the valid jsonl line
    reasons = {Path(s.path).name.split(":")[0]: s.reason for s in report.skipped}
    for name in ("empty.txt", "binary.txt", "undecodable.txt", "huge.txt", "does-not-exist"):
        assert name in reasons, (name, reasons)
        assert reasons[name] and reasons[name].isascii() is False  # a Chinese, human message
    assert sum(Path(s.path).name.startswith("notes.jsonl") for s in report.skipped) == 2


def test_cli_exit_codes_for_nothing_ingested_and_bad_questions(tmp_path, capsys, seed_pipeline):
    (tmp_path / "empty.txt").write_bytes(b"")
    assert main(["ingest", str(tmp_path / "empty.txt"), "--index", str(tmp_path / "idx")]) == 1
    assert "空" in capsys.readouterr().out
    for question, needle in (("   ", "问题为空"), ("？？！…", "标点")):
        assert main(["search", question, "--index", str(seed_pipeline.index_dir)]) == 2
        assert needle in capsys.readouterr().err
    with pytest.raises(QuestionError):
        seed_pipeline.search("")


def test_failed_ingest_leaves_previous_index_usable(tmp_path, seeds_dir, seed_pipeline):
    pipe = _pipeline(tmp_path, seed_pipeline)
    pipe.ingest([seeds_dir / "003_84327d8820f6d344.txt"])
    before = Index.open(pipe.index_dir, model_name=pipe.encoder.name, dim=pipe.encoder.dim).counts
    pipe._encoder = CountingEncoder(seed_pipeline.encoder, fail_after=5)
    with pytest.raises(RuntimeError, match="simulated"):
        pipe.ingest([seeds_dir])
    pipe._index = None
    after = Index.open(pipe.index_dir, model_name=pipe.encoder.name, dim=pipe.encoder.dim)
    assert after.counts == before
    assert [d.doc_id for d in after.docs()] == ["003_84327d8820f6d344"]


def test_index_built_with_other_model_is_refused(seed_pipeline):
    with pytest.raises(IndexMismatchError) as err:
        Index.open(seed_pipeline.index_dir, model_name="bge-small-zh", dim=512)
    assert "--rebuild" in str(err.value)
