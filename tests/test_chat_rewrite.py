"""Follow-up rewriting (rag.chat): rules on hand-written questions, LLM fallback with a fake."""

from __future__ import annotations

from rag.chat import looks_dependent, rewrite_followup, standalone_questions

# Hand-written questions in the style of the corpus (place names are real, wording is ours).
FUNDS = "张家港向沿河投入多少资金？"
GANSU = "东部4市累计向甘肃投入了多少财政帮扶资金？"


def test_no_history_or_standalone_question_is_unchanged():
    assert rewrite_followup("那靖远呢？", []) == "那靖远呢？"
    assert rewrite_followup("  靖远县的东西部扶贫协作单位是哪里？ ", [(FUNDS, "……")]) == "靖远县的东西部扶贫协作单位是哪里？"
    # "X的…情况如何" with content of its own is a full question, not an ellipsis
    assert rewrite_followup("沿河的脱贫情况如何？", [(FUNDS, "")]) == "沿河的脱贫情况如何？"


def test_place_follow_up_replaces_the_target_and_drops_the_pair_partner():
    out = rewrite_followup("那靖远呢？", [(FUNDS, "……[1]")])
    assert "靖远" in out and "沿河" not in out
    assert "投入多少资金" in out
    assert "张家港" not in out  # the donor belonged to the old pair only


def test_place_follow_up_without_a_partner_keeps_the_rest():
    assert rewrite_followup("那靖远呢？", [(GANSU, "")]) == "东部4市累计向靖远投入了多少财政帮扶资金？"


def test_suffix_and_tail_variants():
    assert "靖远县投入" in rewrite_followup("靖远县呢", [(FUNDS, "")])
    assert "天津和平区" in rewrite_followup("那天津和平区怎么样？", [(FUNDS, "")])
    assert "靖远" in rewrite_followup("那靖远？", [(FUNDS, "")])


def test_time_follow_up_replaces_or_adds_the_time():
    assert rewrite_followup("那2019年呢？", [(FUNDS, "")]) == "2019年" + FUNDS
    assert rewrite_followup("那2019年呢？", [("2020年" + FUNDS, "")]) == "2019年" + FUNDS
    assert rewrite_followup("去年呢", [(FUNDS, "")]).startswith("去年")


def test_deictic_words_take_the_previous_main_entity():
    assert rewrite_followup("当地有多少人实现就业？", [(FUNDS, "")]) == "沿河有多少人实现就业？"
    assert rewrite_followup("该县有多少贫困村？", [("靖远县的东西部扶贫协作单位是哪里？", "")]) == "靖远县有多少贫困村？"


def test_continuation_repeats_the_previous_question():
    assert rewrite_followup("还有呢？", [(FUNDS, "")]) == FUNDS


def test_follow_ups_chain_through_earlier_follow_ups():
    history = [(GANSU, "……"), ("那靖远呢？", "……")]
    assert rewrite_followup("那2019年呢？", history) == "2019年东部4市累计向靖远投入了多少财政帮扶资金？"
    assert standalone_questions([GANSU, "那靖远呢？"])[1] == "东部4市累计向靖远投入了多少财政帮扶资金？"


def test_known_entities_are_preferred_slots():
    # "星河县" is unknown to jieba; the caller's gazetteer names it
    out = rewrite_followup("那云岭乡呢？", [("星河县去年修了多少水渠？", "")], entities=["星河县"])
    assert out == "云岭乡去年修了多少水渠？"


def test_no_entity_in_previous_question_adds_the_topic():
    assert rewrite_followup("那靖远呢？", [("一共投入多少资金？", "")]) == "关于靖远，一共投入多少资金？"


def test_llm_fallback_only_for_dependent_questions_and_checked():
    calls = []

    def fake_llm(messages):
        calls.append(messages)
        return "改写后的问题：张家港在沿河建了多少个车间？\n（多余的说明）"

    out = rewrite_followup("他们建了几个？", [(FUNDS, "")], llm=fake_llm)
    assert out == "张家港在沿河建了多少个车间？"
    assert "上一个问题：" + FUNDS in calls[0][-1]["content"]
    # a standalone question never reaches the LLM
    rewrite_followup("靖远县的东西部扶贫协作单位是哪里？", [(FUNDS, "")], llm=fake_llm)
    assert len(calls) == 1


def test_llm_fallback_failures_keep_the_question():
    def broken(_messages):
        raise RuntimeError("model down")

    assert rewrite_followup("他们建了几个？", [(FUNDS, "")], llm=broken) == "他们建了几个？"
    assert rewrite_followup("他们建了几个？", [(FUNDS, "")], llm=lambda m: "x" * 500) == "他们建了几个？"


def test_looks_dependent():
    assert looks_dependent("那靖远呢？")
    assert looks_dependent("它们在哪里？")
    assert not looks_dependent(FUNDS)
