"""Evaluation metrics (rag/eval/metrics*.py): hand-made cases, reference implementations, real eval data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rag.eval.metrics import (REFUSAL_PATTERNS, answer_accuracy, answer_bearing_flags, answer_bearing_hit,
                              answer_bearing_mrr, char_f1, citation_precision, citation_recall,
                              claims_from_answer, exact_match, hit_at_k, is_refusal, latency_summary,
                              lcs_length, mean_defined, mrr, normalize_answer, number_grounding_rate,
                              parse_markers, percentile, recall_at_k, refusal_accuracy, rgb_accuracy,
                              rgb_correction_rate, rgb_error_detected, rgb_labels, rgb_rejected, rouge_l,
                              tokens_per_second, unique_in_order)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- retrieval
def test_hit_recall_mrr_on_id_lists() -> None:
    ranked = ["d3", "d1", "d3", "d2", "d5"]
    assert hit_at_k(ranked, ["d2"], 3) == 0.0
    assert hit_at_k(ranked, ["d2"], 4) == 1.0
    assert recall_at_k(ranked, ["d1", "d2"], 2) == 0.5
    assert recall_at_k(ranked, ["d1", "d2"], 5) == 1.0
    assert mrr(ranked, ["d2", "d5"]) == 0.25
    assert mrr(ranked, ["d2"], k=3) == 0.0
    assert mrr(ranked, ["d9"]) == 0.0
    assert unique_in_order(ranked) == ["d3", "d1", "d2", "d5"]
    assert mrr(unique_in_order(ranked), ["d2"]) == pytest.approx(1 / 3)


def test_retrieval_metrics_without_gold_are_undefined() -> None:
    assert hit_at_k(["a"], [], 5) is None
    assert recall_at_k(["a"], [], 5) is None
    assert mrr(["a"], []) is None
    assert hit_at_k([], ["a"], 5) == 0.0
    with pytest.raises(ValueError, match="k 必须是正整数"):
        hit_at_k(["a"], ["a"], 0)


def test_answer_bearing_metrics_use_number_normalisation() -> None:
    passages = ["会议在三月召开。", "三年共投入11000萬元。", "今年安排2.5亿元。"]
    assert answer_bearing_flags(passages, ["1.1亿元"]) == [False, True, False]
    assert answer_bearing_hit(passages, ["1.1亿元", "2.5亿元"], 1) == 0.0
    assert answer_bearing_hit(passages, ["1.1亿元", "2.5亿元"], 2) == 1.0
    assert answer_bearing_hit(passages, ["1.1亿元", "2.5亿元"], 2, require_all=True) == 0.0
    assert answer_bearing_hit(passages, ["1.1亿元", "2.5亿元"], 3, require_all=True) == 1.0
    assert answer_bearing_mrr(passages, ["2.5亿元"]) == pytest.approx(1 / 3)
    assert answer_bearing_mrr(passages, ["2.5亿元"], k=2) == 0.0
    assert answer_bearing_hit(passages, [], 3) is None


def test_answer_bearing_on_seed_articles(seeds_dir: Path, eval_dir: Path) -> None:
    """Rank the seed articles badly on purpose: the gold article found at rank 5 gives MRR 0.2."""
    seeds = {p.stem: p.read_text(encoding="utf-8") for p in seeds_dir.glob("*.txt")}
    items = [it for it in _jsonl(eval_dir / "seed_qa_dev.jsonl")
             if it["answer_type"] == "number" and len(it["gold_docs"]) == 1 and it["must_include"]]
    assert len(items) >= 15
    for it in items:
        gold = it["gold_docs"][0]
        order = sorted(seeds, key=lambda d: d == gold)  # gold article last
        texts = [seeds[d] for d in order]
        assert mrr(order, it["gold_docs"]) == pytest.approx(0.2)
        assert answer_bearing_hit(texts, it["must_include"], 5, require_all=True) == 1.0, it["id"]
        assert answer_bearing_hit(texts, it["must_include"], 4, require_all=True) == 0.0, it["id"]


# ---------------------------------------------------------------- answer accuracy
def test_answer_accuracy_with_wan_yi_equivalence() -> None:
    answer = "三年间共投入帮扶资金11000万元[1]，今年又安排2.5億元[2]。"
    assert answer_accuracy(answer, ["1.1亿元", "2.5亿元"]) == 1.0
    assert answer_accuracy("三年间共投入1.1亿元[1]。", ["1.1亿元", "2.5亿元"]) == 0.0
    assert answer_accuracy("共投入110000000元。", ["1.1亿元"]) == 1.0
    assert answer_accuracy("共投入1120万元。", ["120万"]) == 0.0


def test_answer_accuracy_any_of_and_edge_cases() -> None:
    assert answer_accuracy("社会各界捐赠1704萬元[2]。", [], ["2385万", "1704万"]) == 1.0
    assert answer_accuracy("社会各界捐赠了大量款物。", [], ["2385万", "1704万"]) == 0.0
    assert answer_accuracy("对口城市是天津和厦门。", ["天津"], ["青岛", "厦门"]) == 1.0
    assert answer_accuracy("文档中没有相关信息。", [], []) is None
    assert answer_accuracy("共有三个村[1]。", ["1"]) == 0.0  # a citation marker is not a figure
    assert answer_accuracy("", ["2017"]) == 0.0


# ---------------------------------------------------------------- char F1 / EM
def test_char_f1_and_exact_match() -> None:
    assert char_f1("網球", "网球") == 1.0  # Traditional vs Simplified
    assert exact_match("網球。", ["籃球", "网球"]) == 1.0
    assert char_f1("北京天安门", "北京") == pytest.approx(2 * 0.4 * 1.0 / 1.4)
    assert char_f1("北京天安门", ["上海", "天安门"]) == pytest.approx(2 * 0.6 / 1.6)
    assert char_f1("New York市", "new york") == pytest.approx(0.8)  # ASCII words are one token
    assert char_f1("，。", "") == 1.0
    assert char_f1("北京", "") == 0.0
    assert char_f1("北京", []) is None
    assert exact_match("北京", []) is None
    assert exact_match("北京天安门", "北京") == 0.0
    assert normalize_answer(" 東西部 扶貧協作！[1]") == "东西部扶贫协作"


def test_drcd_traditional_answers_score_against_simplified_predictions(shared_dir: Path) -> None:
    """DRCD gold answers are Traditional; the same answer in Simplified scores 1.0 after t2s."""
    import opencc

    t2s = opencc.OpenCC("t2s")
    rows = _jsonl(shared_dir / "eval" / "external" / "drcd_dev.jsonl")
    assert len(rows) >= 100
    changed = 0
    for row in rows:
        pred = t2s.convert(row["answers"][0])
        changed += pred != row["answers"][0]
        assert char_f1(pred, row["answers"]) == 1.0
        assert exact_match(pred, row["answers"]) == 1.0
        assert rouge_l(pred, row["answers"]) == 1.0
    assert changed >= 20  # the set really exercises the t2s path
    whole = rows[0]["context"]
    assert char_f1(whole, rows[0]["answers"]) < 0.5  # returning the whole paragraph is penalised


# ---------------------------------------------------------------- ROUGE-L against a reference
def _ref_lcs(a: list, b: list) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = (table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1]
                           else max(table[i - 1][j], table[i][j - 1]))
    return table[-1][-1]


def _ref_rouge_l(pred: list, ref: list) -> float:
    lcs = _ref_lcs(pred, ref)
    if not lcs:
        return 0.0
    p, r = lcs / len(pred), lcs / len(ref)
    return 2 * p * r / (p + r)


def test_lcs_matches_reference_dp() -> None:
    rng = random.Random(7)
    for _ in range(300):
        a = [rng.choice("甲乙丙丁戊") for _ in range(rng.randint(0, 25))]
        b = [rng.choice("甲乙丙丁戊") for _ in range(rng.randint(0, 25))]
        assert lcs_length(a, b) == _ref_lcs(a, b)


def test_rouge_l_char_matches_reference() -> None:
    rng = random.Random(11)
    alphabet = "沿河张家港帮扶资金亿元万年"
    for _ in range(200):
        pred = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        gold = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        assert rouge_l(pred, gold) == pytest.approx(_ref_rouge_l(list(pred), list(gold)))
    assert rouge_l("北京天安门", "北京天门") == pytest.approx(2 * (4 / 5) * 1.0 / (4 / 5 + 1.0))
    assert rouge_l("", "北京") == 0.0
    assert rouge_l("北京", []) is None


def test_rouge_l_jieba_matches_reference() -> None:
    import jieba

    pred, gold = "张家港市向沿河县投入了帮扶资金", "沿河县获得张家港市的帮扶资金"
    expected = _ref_rouge_l(jieba.lcut(pred), jieba.lcut(gold))
    assert rouge_l(pred, gold, tokenizer="jieba") == pytest.approx(expected)
    assert 0 < expected < 1
    with pytest.raises(ValueError, match="未知的分词方式"):
        rouge_l(pred, gold, tokenizer="bpe")


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize("answer", [
    "文档中没有提及张家港向陇南投入的资金。", "根据提供的资料，无法回答该问题。", "所给材料并未说明2021年的情况。",
    "文档信息不足，因此我无法基于提供的文档回答该问题。", "提供的文档没有给出相关数据。",
    "文檔中沒有提及這一數字。", "抱歉，我找不到相关信息。", "上述段落未提及此事[1]。", "",
    "资料中未见相关记载。", "所给段落均未涉及该县。", "The documents do not contain the answer.",
])
def test_is_refusal_detects_refusals(answer: str) -> None:
    assert is_refusal(answer)


@pytest.mark.parametrize("answer", [
    "张家港三年投入1.1亿元[1]。", "该数字不包含社会捐赠部分，共计2385万元[2]。",
    "对口帮扶关系于2017年建立[1]。", "亨通集团结对帮扶高山村[3]。", "文档[1]显示投入1.1亿元。",
    "帮助无法外出务工的群众就近就业[2]。",
])
def test_is_refusal_accepts_answers(answer: str) -> None:
    assert not is_refusal(answer)


def test_refusal_pattern_list_is_public_and_refusal_accuracy() -> None:
    assert any("信息不足" in p for p in REFUSAL_PATTERNS)
    items = [("文档中没有相关信息。", True), ("投入1.1亿元。", True), (True, True), (False, False),
             ("无法回答。", False)]
    assert refusal_accuracy(items) == pytest.approx(3 / 5)
    assert refusal_accuracy([]) is None


# ---------------------------------------------------------------- citations
PASSAGES = {
    1: "三年来，某市向对口县累计投入帮扶资金11000万元，实施项目一百多个。",
    2: "今年，某市计划再安排2.5億元帮扶资金，重点支持产业项目。",
    3: "该县贫困发生率从13.13%下降到3.3%。",
}


def test_parse_markers_and_claim_split() -> None:
    assert parse_markers("[1][3]") == [1, 3]
    assert parse_markers("[1-3]") == [1, 2, 3]
    assert parse_markers("【2，4】") == [2, 4]
    claims = claims_from_answer("累计投入1.1亿元[1]，今年再安排2.5亿元。[2] 另有说明。发生率为3.3%[3][1]", PASSAGES)
    assert [(c.text, c.cited_n, c.figures) for c in claims] == [
        ("累计投入1.1亿元", (1,), ("1.1亿元",)),
        ("今年再安排2.5亿元。", (2,), ("2.5亿元",)),
        ("另有说明。", (), ()),
        ("发生率为3.3%", (3, 1), ("3.3%",)),
    ]
    assert claims[0].cited == (PASSAGES[1],)


def test_citation_precision_and_recall() -> None:
    good = claims_from_answer("累计投入1.1亿元[1]，今年再安排2.5亿元[2]。", PASSAGES)
    assert citation_precision(good) == 1.0 and citation_recall(good) == 1.0
    swapped = claims_from_answer("累计投入1.1亿元[2]，今年再安排2.5亿元[1]。", PASSAGES)
    assert citation_precision(swapped) == 0.0 and citation_recall(swapped) == 0.0
    mixed = claims_from_answer("发生率降到3.3%[3][1]，投入1.1亿元[9]，还有2.5亿元。", PASSAGES)
    assert citation_precision(mixed) == pytest.approx(1 / 3)  # [3] right, [1] wrong, [9] not given
    assert citation_recall(mixed) == pytest.approx(1 / 3)  # only 3.3% is covered
    text_claim = claims_from_answer("某市重点支持产业项目[2]。", PASSAGES)
    assert citation_precision(text_claim) == 1.0 and citation_recall(text_claim) is None
    assert citation_precision(claims_from_answer("没有任何引用。", PASSAGES)) is None


def test_number_grounding_rate() -> None:
    answer = "累计投入1.1亿元[1]，今年安排2.5亿元，发生率为3.3%，另有999万元。"
    assert number_grounding_rate(answer, PASSAGES) == pytest.approx(1 / 4)
    assert number_grounding_rate(answer, PASSAGES, cited_only=False) == pytest.approx(3 / 4)
    assert number_grounding_rate("没有数字[1]。", PASSAGES) is None


def test_citations_on_seed_articles(seeds_dir: Path) -> None:
    """A hand-written answer checked against real (partly Traditional) seed articles."""
    seeds = {p.stem: p.read_text(encoding="utf-8") for p in seeds_dir.glob("*.txt")}
    passages = {1: seeds["000_1fb75d803cb4263f"], 2: seeds["001_c52947674760a02e"], 3: seeds["004_b2e27f85e620461d"]}
    answer = "沿河减少贫困人口60248人[1]；靖远县今年的协作资金为5200万元[2]；东部4市累计投入54.33亿元[3]。"
    claims = claims_from_answer(answer, passages)
    assert citation_precision(claims) == 1.0 and citation_recall(claims) == 1.0
    assert number_grounding_rate(answer, passages) == 1.0
    wrong = answer.replace("[1]", "[3]").replace("[2]", "[1]").replace("[3]。", "[2]。")
    assert citation_precision(claims_from_answer(wrong, passages)) < 0.5


# ---------------------------------------------------------------- RGB
def test_rgb_group_semantics() -> None:
    groups = [["2521525辆", "252万辆"], ["超过240万"]]
    assert rgb_accuracy("宝马销量252万辆，奔驰超过240万辆。", groups)
    assert not rgb_accuracy("宝马销量252万辆。", groups)  # every group must match
    assert rgb_labels("宝马销量252万辆。", groups) == [1, 0]
    assert not rgb_accuracy("文档信息不足。宝马252万辆，奔驰超过240万。", groups)  # 信息不足 never correct
    assert rgb_labels("信息不足", groups) == [-1]
    assert rgb_accuracy("死亡 12 人", [["12人"]])  # spaces removed from the output
    assert rgb_accuracy("首趟班列为RCEP班列", [["rcep"]])  # lower-cased
    assert rgb_accuracy("议席为70个", ["70"])  # upstream also allows bare-string groups
    assert not rgb_accuracy("任何输出", [])  # no groups: upstream requires 1 in labels


def test_rgb_t2s_deviation() -> None:
    assert rgb_accuracy("起點是南寧", [["南宁"]])
    assert not rgb_accuracy("起點是南寧", [["南宁"]], t2s=False)  # exact upstream behaviour
    assert rgb_rejected("文檔資訊不足") is False  # 資訊 is a different word, not a script variant
    assert rgb_rejected("文件信息不足，无法回答")
    assert rgb_error_detected("提供文檔的文檔存在事實性錯誤。")
    assert not rgb_error_detected("提供文檔的文檔存在事實性錯誤。", t2s=False)


def test_rgb_correction_rate() -> None:
    items = [
        ("文档存在事实性错误，正确答案是70。", [["70"]]),   # detected, corrected
        ("文档存在事实性错误，答案是170。", [["70"]]),       # detected; "70" is a substring of "170" (upstream rule)
        ("文档存在事实性错误，答案是一百。", [["70"]]),      # detected, not corrected
        ("答案是70。", [["70"]]),                            # not detected
        ("事实性错误；信息不足。", [["70"]]),                # detected; upstream counts [-1] as corrected
    ]
    assert rgb_correction_rate(items) == pytest.approx(3 / 4)
    assert rgb_correction_rate([("答案是70。", [["70"]])]) == 0.0


def test_rgb_dev_answers_score_as_correct(shared_dir: Path) -> None:
    """On the real RGB dev files, an output stating one answer per group is correct; dropping a group is not."""
    import opencc

    s2t = opencc.OpenCC("s2t")
    ext = shared_dir / "eval" / "external"
    rows = _jsonl(ext / "rgb_zh_dev.jsonl") + _jsonl(ext / "rgb_zh_int_dev.jsonl")
    assert len(rows) >= 130
    strict_misses = 0
    for row in rows:
        groups = row["answer_groups"]
        output = "根据文档，答案是" + "，".join(g[0] for g in groups) + "。"
        assert rgb_accuracy(output, groups), row["id"]
        assert not rgb_accuracy("文档信息不足。" + output, groups)
        assert rgb_accuracy(s2t.convert(output), groups), row["id"]  # Traditional output, t2s deviation
        strict_misses += not rgb_accuracy(s2t.convert(output), groups, t2s=False)
        if len(groups) >= 2:
            partial = "答案是" + "，".join(g[0] for g in groups[1:])
            if not any(a.lower() in partial.lower() for a in groups[0]):
                assert not rgb_accuracy(partial, groups)
    assert strict_misses > 0  # without t2s some Traditional outputs would be wrongly failed


# ---------------------------------------------------------------- timing
def test_percentile_latency_tokens() -> None:
    values = [0.8, 1.5, 2.0, 9.0, None]
    assert percentile(values, 50) == pytest.approx(float(np.percentile([0.8, 1.5, 2.0, 9.0], 50)))
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="百分位"):
        percentile([1], 101)
    summary = latency_summary(values)
    assert summary == {"p50": pytest.approx(1.75), "p95": pytest.approx(7.95), "mean": pytest.approx(3.325), "n": 4}
    assert latency_summary([]) == {"p50": None, "p95": None, "mean": None, "n": 0}
    assert tokens_per_second(977, 10.5) == pytest.approx(93.05, abs=0.01)
    assert tokens_per_second(10, 0) is None and tokens_per_second(None, 1.0) is None
    assert mean_defined([1.0, None, 0.0, float("nan")]) == 0.5
    assert mean_defined([None]) is None
