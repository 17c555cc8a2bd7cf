"""Verification of generated answers: claims, markers, re-pointing, number normalisation."""

from __future__ import annotations

import pytest

from rag.answer.markers import MarkerRemapper, renumber
from rag.answer.verify import UNSUPPORTED_MARK, clause_span, complete_units, parse_claims, verify_answer

# Hand-written passages (fictional county names).
P_FUNDS = "青山县去年共获得东部对口帮扶资金11000万元，主要用于修建道路和学校。"
P_NEW = "今年青山县又安排帮扶资金2.5亿元，实施产业项目89个。"
P_OTHER = "白水镇的茶叶种植面积达到六万亩，带动农户增收。"
P_YEAR = "二〇一七年，两地正式建立结对关系，签署合作协议。"


def test_parse_claims_splits_at_markers_and_sentence_ends():
    claims = parse_claims("青山县获得1.1亿元[1]，今年又安排2.5亿元[2][1]。另有说明。")
    assert [c.cited for c in claims] == [[1], [2, 1], []]
    assert claims[0].text == "青山县获得1.1亿元"
    assert claims[2].text == "另有说明。"


def test_parse_claims_marker_after_full_stop_belongs_to_sentence():
    claims = parse_claims("青山县获得1.1亿元。[2]")
    assert len(claims) == 1 and claims[0].cited == [2]


def test_marker_variants_are_parsed():
    claims = parse_claims("甲[1,2]乙【3】丙［4］")
    assert [c.cited for c in claims] == [[1, 2], [3], [4]]


def test_wrong_citation_is_repointed_with_unit_normalisation():
    # the model cites [2] for a figure that is in [1] written as 11000万元
    v = verify_answer("青山县去年获得帮扶资金1.1亿元[2]。", [P_FUNDS, P_NEW])
    assert v.text == "青山县去年获得帮扶资金1.1亿元[1]。"
    assert v.checks["repaired_citations"] and v.checks["repaired_citations"][0]["to"] == [1]
    assert v.cited == [1]
    a, b = v.support[1][0]
    assert "11000万元" in P_FUNDS[a:b]


def test_correct_citations_are_kept_and_wrong_extra_ones_dropped():
    v = verify_answer("今年安排2.5亿元[2][3]。", [P_FUNDS, P_NEW, P_OTHER])
    assert v.text == "今年安排2.5亿元[2]。"
    assert v.checks["ungrounded_numbers"] == []


def test_invalid_citation_numbers_are_dropped_and_flagged():
    v = verify_answer("今年安排2.5亿元[7]。", [P_FUNDS, P_NEW])
    assert v.checks["citations_valid"] is False
    assert v.checks["invalid_citations"] == [7]
    assert v.text == "今年安排2.5亿元[2]。"


def test_ungrounded_number_is_flagged_and_sentence_marked():
    v = verify_answer("青山县获得3亿元[1]。", [P_FUNDS, P_NEW])
    assert v.checks["ungrounded_numbers"] == ["3亿元"]
    assert UNSUPPORTED_MARK in v.text
    assert v.checks["unsupported_sentences"] == ["青山县获得3亿元"]


@pytest.mark.parametrize("answer,passage", [
    ("种植面积6万亩[1]。", P_OTHER),             # 六万 = 6万
    ("两地于2017年建立结对关系[1]。", P_YEAR),     # 二〇一七年 = 2017年
    ("共获得110000000元[1]。", P_FUNDS),           # 110000000元 = 11000万元
])
def test_chinese_number_normalisation_grounds_numbers(answer, passage):
    v = verify_answer(answer, [passage])
    assert v.checks["ungrounded_numbers"] == []
    assert v.cited == [1]


def test_answer_without_any_citation_is_kept_flagged_and_cited():
    v = verify_answer("青山县去年获得1.1亿元。今年又安排2.5亿元。", [P_FUNDS, P_NEW])
    assert v.checks["no_citation"] is True
    assert v.checks["uncited_claims"] == 2
    assert v.text == "青山县去年获得1.1亿元[1]。今年又安排2.5亿元[2]。"


def test_claim_without_figures_is_repointed_by_text_overlap():
    v = verify_answer("两地正式建立结对关系，签署合作协议[1]。", [P_FUNDS, P_YEAR])
    assert v.text.endswith("[2]。")
    assert v.checks["repaired_citations"]


def test_question_numbers_are_not_flagged_when_absent_from_passages():
    v = verify_answer("截至2019年底，青山县获得1.1亿元[1]。", [P_FUNDS], question="截至2019年底青山县获得多少资金？")
    assert v.checks["ungrounded_numbers"] == []


def test_header_date_grounds_a_source_date_in_the_answer():
    v = verify_answer("人民日报2020年8月19日报道，青山县获得1.1亿元[1]。", [P_FUNDS], meta=["人民日报 2020-08-19"])
    assert v.checks["ungrounded_numbers"] == []


def test_refusal_needs_no_citation():
    v = verify_answer("文档信息不足，无法回答该问题。", [P_FUNDS])
    assert v.checks["no_citation"] is False
    assert v.checks["unsupported_sentences"] == []


def test_filler_claim_loses_its_marker():
    v = verify_answer("根据资料[1]，青山县今年又安排帮扶资金2.5亿元。", [P_FUNDS, P_NEW])
    assert v.text == "根据资料，青山县今年又安排帮扶资金2.5亿元[2]。"


def test_clause_span_widens_to_commas():
    a, b = clause_span(P_FUNDS, P_FUNDS.index("11000"), P_FUNDS.index("11000") + 5)
    assert P_FUNDS[a:b] == "青山县去年共获得东部对口帮扶资金11000万元"


def test_renumber_and_streaming_remapper():
    assert renumber("甲[1,2]乙【2】", {1: 3, 2: 5}) == "甲[3][5]乙[5]"
    r = MarkerRemapper({1: 4})
    out = "".join(r.feed(d) for d in ["资金", "[", "1", "]", "。[x]", "[1"]) + r.flush()
    assert out == "资金[4]。[x][1"  # an unterminated "[1" is not a marker


def test_bare_numbers_get_the_unit_the_passages_use():
    passages = ["那次事故造成至少12人死亡、14人受伤。"]
    assert complete_units("死亡人数为12[1]。", passages) == "死亡人数为12人[1]。"
    assert complete_units("2021年增长8.1[1]", ["同比增长8.1%。"]) == "2021年增长8.1%[1]"
    # years, values with another magnitude and numbers that already have a unit are left alone
    assert complete_units("2021年", ["2021年增长。"]) == "2021年"
    assert complete_units("共2.5[1]", ["安排资金2.5亿元。"]) == "共2.5[1]"
    assert complete_units("有12个", passages) == "有12个"
