"""Completing an answer with a differing figure from another source (pure functions, own text)."""

from __future__ import annotations

from dataclasses import replace

from rag.answer.conflicts import clause_at, other_source_figures, same_statement
from rag.answer.passages import passages_from_texts
from rag.answer.question import analyze_question
from rag.answer.support import check_support

Q = "各界向青石县捐赠了多少物资？"
A = "据统计，各界累计向青石县捐赠物资880万元，其中现金300万元。"
B = "截至去年底，省内各界累计向青石县捐赠物资610万元，另采购农产品95万元。"
C = "青石县商会向当地小学捐赠图书和物资共计12万元。"


def _setup(texts):
    passages = [replace(p, doc_id=f"doc{i}", source=f"报{i}", date=f"2020-0{i + 1}-01")
                for i, p in enumerate(passages_from_texts(texts))]
    info = analyze_question(Q)
    support = check_support(info, passages)
    return info, passages, [s for s in support.best if s.supported]


def test_clause_and_same_statement():
    text = "甲，乙县累计投入资金5万元；丙。"
    assert clause_at(text, text.index("5万元"), text.index("5万元") + 3) == "乙县累计投入资金5万元"
    assert same_statement("各界累计向青石县捐赠物资880万元", "省内各界累计向青石县捐赠物资610万元")
    assert not same_statement("各界累计向青石县捐赠物资880万元", "青石县商会向当地小学捐赠图书和物资共计12万元")


def test_a_figure_in_a_similar_sentence_about_something_else_is_not_added():
    q = "青石县结对帮扶覆盖了多少个村？"
    texts = ["青石县“三级联动”结对帮扶覆盖了全县40个村。",
             "青石县推行“三级联动”（县、镇、村三个层面）结对帮扶，实现村村全覆盖。"]
    passages = [replace(p, doc_id=f"doc{i}") for i, p in enumerate(passages_from_texts(texts))]
    info = analyze_question(q)
    supported = [s for s in check_support(info, passages).best if s.supported]
    assert other_source_figures("覆盖了全县40个村[1]。", info, passages, supported, [1]) == []


def test_a_differing_total_from_another_source_is_added():
    info, passages, supported = _setup([A, B, C])
    extra = other_source_figures("各界累计捐赠物资880万元[1]。", info, passages, supported, [1])
    assert [(n, "610万元" in text) for n, text, _s in extra] == [(2, True)]


def test_nothing_added_when_the_figure_is_given_or_about_something_else():
    info, passages, supported = _setup([A, B, C])
    both = "880万元[1]；另一报道为610万元[2]。"
    assert other_source_figures(both, info, passages, supported, [1, 2]) == []
    info, passages, supported = _setup([A, C])
    assert other_source_figures("880万元[1]。", info, passages, supported, [1]) == []
    assert other_source_figures("文档信息不足", info, passages, supported, []) == []
