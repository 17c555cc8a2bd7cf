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


# -- with a region gazetteer (fictional places, hand-made pairs) ----------------------------------
def _gazetteer():
    from types import SimpleNamespace

    from rag.regions.model import Pair, Region

    def region(name, stem, level, aliases=(), parent=None):
        return Region(name, stem, level, [*aliases, stem], parent, {}, [], 5)

    regions = [region("东湖市", "东湖", "市"), region("西岭县", "西岭", "县", ["西嶺縣", "西嶺"]),
               region("北江市", "北江", "市"), region("南山区", "南山", "区", ["北江市南山区", "北江南山区"], "北江市"),
               region("青石县", "青石", "县"), region("白沙市", "白沙", "市")]
    pairs = [Pair("东湖市", "西岭县", True, ["对口帮扶"]), Pair("南山区", "青石县", True, ["结对帮扶"]),
             Pair("白沙市", "西岭县", True, ["捐赠"])]
    return SimpleNamespace(regions={r.name: r for r in regions}, pairs=pairs)


GAZ = _gazetteer()
LAKE = "东湖向西岭投入多少资金？"


def test_a_new_pair_replaces_both_places_and_keeps_the_predicate():
    assert rewrite_followup("那北江市南山区对青石县呢？", [(LAKE, "")], places=GAZ) == "北江市南山区向青石县投入多少资金？"
    assert rewrite_followup("北江南山区给青石呢", [(LAKE, "")], places=GAZ) == "北江南山区向青石投入多少资金？"
    # the same without a gazetteer: the connector marks the roles
    assert rewrite_followup("那北江市南山区对青石县呢？", [(LAKE, "")]) == "北江市南山区向青石县投入多少资金？"


def test_a_new_donor_keeps_the_recipient_only_when_the_gazetteer_pairs_them():
    assert rewrite_followup("那白沙呢？", [(LAKE, "")], places=GAZ) == "白沙向西岭投入多少资金？"
    assert rewrite_followup("如果是白沙市呢？", [(LAKE, "")], places=GAZ) == "白沙市向西岭投入多少资金？"
    assert rewrite_followup("那南山区呢？", [(LAKE, "")], places=GAZ) == "南山区投入多少资金？"


def test_a_new_recipient_keeps_the_donor_only_when_paired_or_asked_so():
    assert rewrite_followup("那青石呢？", [(LAKE, "")], places=GAZ) == "向青石投入多少资金？"
    assert rewrite_followup("那对青石县呢？", [(LAKE, "")], places=GAZ) == "东湖向青石县投入多少资金？"
    paired = "南山区向青石县投入多少资金？"
    assert rewrite_followup("那西岭县呢？", [(paired, "")], places=GAZ) == "向西岭县投入多少资金？"


def test_another_year_alone_or_with_a_place():
    assert rewrite_followup("那2019年呢？", [(LAKE, "")], places=GAZ) == "2019年" + LAKE
    assert rewrite_followup("那2019年的青石呢？", [(LAKE, "")], places=GAZ) == "2019年向青石投入多少资金？"
    assert rewrite_followup("那去年呢", [("截至2020年底，" + LAKE, "")], places=GAZ) == "截至去年底，" + LAKE


def test_pronouns_take_the_place_of_their_level_from_the_gazetteer():
    assert rewrite_followup("该市还做了什么？", [(LAKE, "")], places=GAZ) == "东湖还做了什么？"
    assert rewrite_followup("这个县有多少贫困人口？", [(LAKE, "")], places=GAZ) == "西岭有多少贫困人口？"
    assert rewrite_followup("它的贫困发生率是多少？", [(LAKE, "")], places=GAZ) == "西岭的贫困发生率是多少？"


def test_pronouns_take_the_place_the_previous_answer_named_when_a_place_was_asked():
    turn = ("西岭县的对口帮扶城市是哪里？", "西岭县的对口帮扶城市是东湖市[1]。")
    assert rewrite_followup("它向西岭县投入了多少资金？", [turn], places=GAZ) == "东湖市向西岭县投入了多少资金？"
    assert rewrite_followup("该市投入了多少资金？", [turn], places=GAZ) == "东湖市投入了多少资金？"
    assert rewrite_followup("该县有多少贫困人口？", [turn], places=GAZ) == "西岭县有多少贫困人口？"
    assert rewrite_followup("那里还有什么项目？", [turn]) == "东湖市还有什么项目？"  # jieba alone finds it too


def test_traditional_aliases_and_chains_of_follow_ups():
    history = [(LAKE, "……"), ("那北江市南山区对青石县呢？", "……")]
    assert rewrite_followup("那2019年呢？", history, places=GAZ) == "2019年北江市南山区向青石县投入多少资金？"
    assert rewrite_followup("那西嶺呢？", [("南山区向青石县投入多少资金？", "")], places=GAZ) == "向西嶺投入多少资金？"
    assert rewrite_followup("那白沙呢？", [("东湖向西嶺縣投入多少资金？", "")], places=GAZ) == "白沙向西嶺縣投入多少资金？"


def test_a_topic_word_is_asked_about_within_the_previous_question():
    assert rewrite_followup("那就业呢？", [(LAKE, "")], places=GAZ) == "关于就业，" + LAKE
