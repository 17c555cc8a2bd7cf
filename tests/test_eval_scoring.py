"""Per-item scoring by task and run aggregation, on hand-made answers (invented text)."""

from __future__ import annotations

import pytest

from rag.eval.formats.base import EvalItem
from rag.eval.scoring import aggregate, is_correct, score_item


def _answer(text: str, *, refused: bool = False, passages: list[str] = ()) -> dict:
    return {"answer": text, "refused": refused,
            "passages": [{"n": i, "text": t} for i, t in enumerate(passages, 1)], "timings": {}}


def _qa(**kw) -> EvalItem:
    base = dict(id="q1", base_id="q1", question="青山县获得多少扶持资金？", task="qa", group="number")
    return EvalItem(**{**base, **kw})


def test_qa_number_normalisation_retrieval_and_citations():
    item = _qa(must_include=["1.1亿元"], gold_docs=["docB"])
    passage = "去年青山县共获得扶持资金11000万元，用于修路。"
    ans = _answer("青山县获得扶持资金11000万元[1]。", passages=[passage])
    ranked = [{"doc_id": "docA", "text": "无关的段落"}, {"doc_id": "docB", "text": passage},
              {"doc_id": "docB", "text": "另一段"}]
    s = score_item(item, ans, ranked, k=2)
    assert s["accuracy"] == 1.0  # 1.1亿元 = 11000万元
    assert s["hit@1"] == 0.0 and s["hit@2"] == 1.0 and s["recall@2"] == 1.0 and s["mrr"] == 0.5
    assert s["ab_hit@2"] == 1.0 and s["ab_mrr"] == 0.5
    assert s["citation_precision"] == 1.0 and s["number_grounding"] == 1.0
    assert s["false_refusal"] == 0.0 and s["refusal_correct"] is None
    assert is_correct(item, s)
    wrong = score_item(item, _answer("青山县获得扶持资金1.2亿元[1]。", passages=[passage]), ranked, k=2)
    assert wrong["accuracy"] == 0.0 and wrong["number_grounding"] == 0.0 and not is_correct(item, wrong)


def test_qa_refusals_use_the_answer_flag():
    unans = _qa(task="qa", group="unanswerable", unanswerable=True)
    s = score_item(unans, _answer("文档信息不足，无法回答该问题。", refused=True))
    assert s["refusal_correct"] == 1.0 and s["accuracy"] is None and is_correct(unans, s)
    s = score_item(unans, _answer("青山县获得了五百万元。"))
    assert s["refusal_correct"] == 0.0 and not is_correct(unans, s)
    # A multi-part answer declining one part only is an answer, not a refusal.
    item = _qa(must_include=["300万"])
    s = score_item(item, _answer("拨款300万元[1]。\n关于“何时”：文档信息不足。", refused=False, passages=["拨款300万元"]))
    assert s["refused"] == 0.0 and s["false_refusal"] == 0.0 and s["accuracy"] == 1.0


def test_rgb_tasks():
    groups = [["十二人", "12人"]]
    noise = EvalItem("r@noise=0", "r", "死亡人数？", "noise", "noise=0", passages=["x"], answer_groups=groups, noise=0.0)
    assert score_item(noise, _answer("事故造成12人死亡[2]。"))["accuracy"] == 1.0
    assert score_item(noise, _answer("文档信息不足，造成12人死亡"))["accuracy"] == 0.0  # 信息不足 never counts
    rej = EvalItem("r@rejection", "r", "死亡人数？", "rejection", "rejection", passages=["x"], answer_groups=groups,
                   unanswerable=True, noise=1.0)
    s = score_item(rej, _answer("文档信息不足，无法回答该问题。", refused=True))
    assert s["rejected"] == 1.0 and is_correct(rej, s)
    fact = EvalItem("f@noise=0", "f", "席位多少？", "counterfactual", "counterfactual noise=0", passages=["x"],
                    answer_groups=[["70"]], noise=0.0, extra={"fakeanswer": "170"})
    s = score_item(fact, _answer("共有170个席位[1]。"))
    assert s["error_detected"] == 0.0 and s["fake_answer"] == 1.0 and not is_correct(fact, s)
    s = score_item(fact, _answer("提供文档的文档存在事实性错误。正确答案是70个。"))
    assert s["error_detected"] == 1.0 and s["accuracy"] == 1.0 and is_correct(fact, s)


def test_reading_scores_traditional_answers_with_and_without_t2s():
    item = EvalItem("d1", "d1", "哪一座島最南端？", "reading", "reading (passages)", passages=["x"],
                    gold_docs=["p1"], answer_groups=[["白犬島"]])
    s = score_item(item, _answer("最南端的是白犬岛[1]。"))
    assert s["contains"] == 1.0 and s["contains_raw"] == 0.0  # Simplified answer, Traditional gold
    assert s["exact_match"] == 0.0 and 0 < s["char_f1"] < 1
    assert score_item(item, _answer("白犬岛"))["exact_match"] == 1.0


def test_aggregate_groups_rgb_latency_and_errors():
    def row(rid, task, group, scores, correct, noise=None, total=1.0, error=None, answer="", groups=()):
        return {"id": rid, "task": task, "group": group, "noise": noise, "scores": scores, "correct": correct,
                "timings": {"total": total, "retrieve": 0.1, "first_token": 0.5}, "answer": answer,
                "expected": {"answer_groups": list(groups)}, "error": error}

    rows = [row("a", "noise", "noise=0", {"accuracy": 1.0}, True, 0.0, 1.0),
            row("b", "noise", "noise=0", {"accuracy": 0.0}, False, 0.0, 3.0),
            row("c", "noise", "noise=0.8", {"accuracy": 1.0}, True, 0.8, 2.0),
            row("d", "rejection", "rejection", {"rejected": 1.0}, True, 1.0),
            row("e", "counterfactual", "cf", {"error_detected": 1.0, "accuracy": 1.0}, True, 0.0,
                answer="存在事实性错误，应为70", groups=[["70"]]),
            row("f", "noise", "noise=0", {}, False, 0.0, error="LLMError: 超时")]
    m = aggregate(rows)
    assert m["n_items"] == 6 and m["n_errors"] == 1
    assert m["rgb"]["noise"] == {"0": 0.5, "0.8": 1.0}
    assert m["rgb"]["rejection"] == 1.0
    assert m["rgb"]["counterfactual"]["ed"] == 1.0 and m["rgb"]["counterfactual"]["cr"] == 1.0
    assert m["by_group"]["noise=0"]["n"] == 2 and m["by_group"]["noise=0"]["correct"] == 0.5
    assert m["overall"]["accuracy"] == pytest.approx(0.75)
    assert m["latency"]["total"]["p50"] == pytest.approx(1.0) and m["latency"]["total"]["n"] == 5
