"""The shared grammar of the text layer (issue 16): one home per helper, read the same way by
answering, summaries, evaluation and the UI, and imported from below only."""

from __future__ import annotations

from rag.text.citations import (CITATION_MARKERS_RE, REFUSAL, cited_numbers, claim_overlap, is_refusal,
                                normalize_answer, parse_markers, strip_citations)
from rag.text.escape import md_escape
from rag.text.ngrams import char_bigrams, char_ngrams, containment, jaccard
from rag.text.spans import clip_spans, merge_spans, subtract_spans
from tests.test_import_layers import import_graph


def test_answer_summarize_and_text_do_not_import_eval_or_ingest():
    graph = import_graph()
    upward = {(mod, dep) for mod, deps in graph.items() for dep in deps
              if mod.startswith(("rag.answer", "rag.summarize", "rag.text", "rag.regions", "ui.render"))
              and dep.startswith(("rag.eval", "rag.ingest"))}
    assert not upward, sorted(upward)
    text_deps = {dep for mod, deps in graph.items() if mod.startswith("rag.text") for dep in deps}
    assert all(dep.startswith("rag.text") for dep in text_deps), sorted(text_deps)


def test_markers_parse_strip_and_cite():
    answer = "甲镇修了两座桥 [2]，乙村通了公交【1，3】；丙乡新建学校[4-5][2]。"
    assert [parse_markers(m.group()) for m in CITATION_MARKERS_RE.finditer(answer)] == [[2], [1, 3], [4, 5, 2]]
    assert cited_numbers(answer) == [2, 1, 3, 4, 5]
    assert cited_numbers(answer, unique=False) == [2, 1, 3, 4, 5, 2]
    assert strip_citations(answer) == "甲镇修了两座桥，乙村通了公交；丙乡新建学校。"
    assert normalize_answer("兩座橋［1］！") == "两座桥"


def test_refusal_and_claim_overlap():
    assert is_refusal(REFUSAL) and is_refusal("") and not is_refusal("甲镇修了两座桥[1]。")
    assert claim_overlap("甲镇修了两座桥", "去年甲镇修了两座桥和一条路。") == 1.0
    assert claim_overlap("。", "任何文字") == 0.0


def test_spans_merge_clip_subtract():
    assert merge_spans([(5, 9), (0, 3), (3, 4), (8, 12), (7, 7)]) == [(0, 4), (5, 12)]
    assert merge_spans([(-2, 3), (9, 20)], 10) == [(0, 3), (9, 10)]
    assert merge_spans([(7, 7), (1, 2)], keep_empty=True) == [(1, 2), (7, 7)]
    assert clip_spans([(0, 5), (8, 12)], 3, 10) == [(0, 2), (5, 7)]
    assert subtract_spans([(0, 10)], [(2, 4), (6, 8)]) == [(0, 2), (4, 6), (8, 10)]


def test_ngrams():
    assert char_ngrams("甲乙丙", 2) == ["甲乙", "乙丙"] and char_ngrams("甲", 2) == []
    assert char_bigrams("甲乙甲乙") == {"甲乙", "乙甲"}
    assert containment({"a", "b"}, {"a", "b", "c"}) == 1.0 and containment(set(), {"a"}) == 0.0
    assert jaccard({"a", "b"}, {"b", "c"}) == 1 / 3 and jaccard(set(), set()) == 0.0


def test_md_escape_is_inert_everywhere():
    out = md_escape("标题\n===\n1. 第一项\n# 井号 <b>粗</b> [链接](http://example.invalid) it's \"引号\"")
    for raw in ("\n===", "\n1. ", "\n# ", "<b>", "](", "'", '"'):
        assert raw not in out, raw
    assert "\\=\\=\\=" in out and "it&#x27;s" in out  # the entity is not broken by an escaped '#'
    assert "\n" not in md_escape("两行\n文字", one_line=True)
    assert md_escape(None) == ""
