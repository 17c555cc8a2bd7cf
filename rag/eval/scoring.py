"""Score one evaluated item, and aggregate item scores into a run's ``metrics.json``.

Which metrics an item gets depends on its task (:class:`rag.eval.formats.base.EvalItem`):

* ``qa`` (seed format, answered from the index):
  retrieval — ``hit@1``, ``hit@k``, ``recall@k``, ``mrr`` over the doc ids of the ranked
  chunks (a chunk "hits" when it comes from a gold document), ``ab_hit@k`` / ``ab_mrr`` over
  the chunk texts (a chunk is answer-bearing when it contains an expected figure);
  answer — ``accuracy`` (every ``must_include`` + one ``any_of`` figure, with Chinese number
  normalisation), ``char_f1`` and ``rouge_l`` against the expected figures joined by ``、``
  (answers are sentences, so these mostly measure how much of the reference the answer
  covers), ``refused`` (the answer's own ``refused`` flag); refusals — ``refusal_correct`` (unanswerable items),
  ``false_refusal`` (answerable items).
* ``noise`` / ``integration`` — RGB ``accuracy``; ``rejection`` — RGB ``rejected``;
  ``counterfactual`` — ``error_detected`` (ED), ``accuracy`` against the true answer
  (RGB's Acc_doc), ``fake_answer`` (the counterfactual figure repeated); the correction rate
  (CR) is computed over the run.
* ``reading`` (DRCD) — ``exact_match``, ``char_f1``, ``rouge_l``, ``contains`` (RGB-style
  containment after OpenCC t2s) and ``contains_raw`` (without t2s, so a Simplified answer to
  a Traditional question fails: the script gap made visible); plus ``hit@…``/``mrr`` of the
  gold paragraph when retrieved from an index.
* every answered item — ``citation_precision``, ``citation_recall``, ``number_grounding``.

Citation markers ``[n]`` are removed before RGB/DRCD answer matching (upstream outputs have
none). ``correct`` is the one flag per item that reports, failure filters and run comparison
use. Metric values are floats in [0, 1] or None (undefined for the item).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from rag.eval.formats.base import EvalItem
from rag.eval.metrics import (answer_bearing_hit, answer_bearing_mrr, answer_accuracy, char_f1,
                              citation_precision, citation_recall, claims_from_answer, exact_match, hit_at_k,
                              is_refusal, latency_summary, mean_defined, mrr, number_grounding_rate, recall_at_k,
                              rgb_accuracy, rgb_correction_rate, rgb_error_detected, rgb_rejected, rouge_l,
                              strip_citations, tokens_per_second)

__all__ = ["score_item", "is_correct", "aggregate", "STAGES"]

# Latency stages reported (keys of Answer.timings, seconds).
STAGES = ("retrieve", "first_token", "total")


def _f(flag: bool) -> float:
    return 1.0 if flag else 0.0


def _retrieval_scores(ranked_docs: Sequence[str], ranked_texts: Sequence[str], gold: Sequence[str],
                      figures: Sequence[str], k: int) -> dict[str, float | None]:
    return {
        "hit@1": hit_at_k(ranked_docs, gold, 1),
        f"hit@{k}": hit_at_k(ranked_docs, gold, k),
        f"recall@{k}": recall_at_k(ranked_docs, gold, k),
        "mrr": mrr(ranked_docs, gold),
        f"ab_hit@{k}": answer_bearing_hit(ranked_texts, figures, k) if ranked_texts else None,
        "ab_mrr": answer_bearing_mrr(ranked_texts, figures) if ranked_texts else None,
    }


def _citation_scores(answer: str, passages: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    by_n = {int(p["n"]): p.get("text") or "" for p in passages if p.get("n") is not None}
    claims = claims_from_answer(answer, by_n)
    return {"citation_precision": citation_precision(claims), "citation_recall": citation_recall(claims),
            "number_grounding": number_grounding_rate(answer, by_n)}


def score_item(item: EvalItem, answer: dict[str, Any], retrieved: Sequence[dict[str, Any]] | None = None, *,
               k: int = 5) -> dict[str, float | None]:
    """Scores of one item (see the module docstring for the metric per task).

    Args:
        item: the item.
        answer: ``Answer.to_json()`` of the system's answer.
        retrieved: the retrieval ranking (``{"doc_id", "text"}`` dicts, best first) for
            items answered from an index; None otherwise.
        k: the retrieval cut-off (``retrieval.top_k``).

    Returns:
        Metric name → value (None when undefined for this item).
    """
    text = answer.get("answer") or ""
    # The pipeline's own decision (it already applies is_refusal to the model output); a
    # multi-part answer that declines one part only is not a refusal.
    refused = bool(answer["refused"]) if answer.get("refused") is not None else is_refusal(text)
    plain = strip_citations(text)
    s: dict[str, float | None] = {"refused": _f(refused)}
    if item.task == "qa":
        figures = item.must_include + item.any_of
        ref = "、".join(item.must_include) if item.must_include else item.any_of
        s["accuracy"] = answer_accuracy(text, item.must_include, item.any_of)
        s["char_f1"] = char_f1(text, ref) if figures else None
        s["rouge_l"] = rouge_l(text, ref) if figures else None
        s["refusal_correct"] = _f(refused) if item.unanswerable else None
        s["false_refusal"] = None if item.unanswerable else _f(refused)
    elif item.task in ("noise", "integration"):
        s["accuracy"] = _f(rgb_accuracy(plain, item.answer_groups))
    elif item.task == "rejection":
        s["rejected"] = _f(rgb_rejected(plain))
    elif item.task == "counterfactual":
        s["error_detected"] = _f(rgb_error_detected(plain))
        s["accuracy"] = _f(rgb_accuracy(plain, item.answer_groups))
        fake = item.extra.get("fakeanswer")
        s["fake_answer"] = _f(rgb_accuracy(plain, [[fake]])) if fake else None
    elif item.task == "reading":
        golds = [a for g in item.answer_groups for a in g]
        s["exact_match"] = exact_match(plain, golds)
        s["char_f1"] = char_f1(plain, golds)
        s["rouge_l"] = rouge_l(plain, golds)
        s["contains"] = _f(rgb_accuracy(plain, item.answer_groups))
        s["contains_raw"] = _f(rgb_accuracy(plain, item.answer_groups, t2s=False))
    if retrieved is not None and item.gold_docs:
        figures = item.must_include + item.any_of or [a for g in item.answer_groups for a in g]
        s.update(_retrieval_scores([r["doc_id"] for r in retrieved], [r.get("text") or "" for r in retrieved],
                                   item.gold_docs, figures, k))
    if not refused:
        s.update(_citation_scores(text, answer.get("passages") or []))
    return s


def is_correct(item: EvalItem, scores: dict[str, float | None]) -> bool:
    """The item's pass/fail flag: the behaviour the task asks for.

    ``qa``: refused if unanswerable, else all figures present; RGB noise/integration:
    accuracy; rejection: rejected; counterfactual: error detected; reading: containment.
    """
    if item.task == "qa":
        return scores.get("refusal_correct" if item.unanswerable else "accuracy") == 1.0
    key = {"rejection": "rejected", "counterfactual": "error_detected", "reading": "contains"}.get(item.task,
                                                                                                 "accuracy")
    return scores.get(key) == 1.0


def _means(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rows = list(rows)
    names = list(dict.fromkeys(n for r in rows for n in (r.get("scores") or {})))
    out: dict[str, Any] = {"n": len(rows), "correct": mean_defined(_f(bool(r.get("correct"))) for r in rows)}
    for name in names:
        out[name] = mean_defined((r.get("scores") or {}).get(name) for r in rows)
    return out


def _rgb_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    for task in ("noise", "integration"):
        if by_task.get(task):
            per: dict[str, list] = defaultdict(list)
            for r in by_task[task]:
                per[f"{r['noise']:g}"].append(r["scores"].get("accuracy"))
            out[task] = {noise: mean_defined(v) for noise, v in sorted(per.items(), key=lambda x: float(x[0]))}
    if by_task.get("rejection"):
        out["rejection"] = mean_defined(r["scores"].get("rejected") for r in by_task["rejection"])
    fact = by_task.get("counterfactual")
    if fact:
        out["counterfactual"] = {
            "ed": mean_defined(r["scores"].get("error_detected") for r in fact),
            "cr": rgb_correction_rate((strip_citations(r.get("answer") or ""), r["expected"]["answer_groups"])
                                      for r in fact),
            "acc_doc": mean_defined(r["scores"].get("accuracy") for r in fact),
            "fake_answer": mean_defined(r["scores"].get("fake_answer") for r in fact),
        }
    return out


def _tokens(rows: list[dict[str, Any]]) -> dict[str, Any]:
    t = [r.get("timings") or {} for r in rows if (r.get("timings") or {}).get("llm_calls")]
    if not t:
        return {"llm_items": 0}
    decode_s = sum(max(0.0, x.get("llm_seconds", 0.0) - x.get("llm_first_token", 0.0)) for x in t
                   if x.get("completion_tokens") is not None)
    completion = sum(x["completion_tokens"] for x in t if x.get("completion_tokens") is not None)
    prefill = sum(x.get("prompt_tokens", 0) - (x.get("cached_prompt_tokens") or 0) for x in t
                  if x.get("llm_first_token") is not None)
    prefill_s = sum(x["llm_first_token"] for x in t if x.get("llm_first_token") is not None)
    return {
        "llm_items": len(t),
        "prompt_tokens_mean": mean_defined(x.get("prompt_tokens") for x in t),
        "completion_tokens_mean": mean_defined(x.get("completion_tokens") for x in t),
        "decode_tokens_per_second": tokens_per_second(completion or None, decode_s),
        "prefill_tokens_per_second": tokens_per_second(prefill or None, prefill_s),
    }


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Run-level metrics from per-item result records (``results.jsonl`` rows).

    Args:
        rows: result records with ``task``, ``group``, ``noise``, ``scores``, ``correct``,
            ``timings``, ``answer``, ``expected`` and ``error``.

    Returns:
        ``{"n_items", "n_errors", "overall", "by_group", "by_task", "rgb", "latency", "tokens"}``;
        ``overall``/``by_group``/``by_task`` map metric names to means over the items where
        the metric is defined (errored items excluded), ``latency`` maps each stage of
        :data:`STAGES` to p50/p95/mean.
    """
    ok = [r for r in rows if not r.get("error")]
    groups: dict[str, list] = defaultdict(list)
    tasks: dict[str, list] = defaultdict(list)
    for r in ok:
        groups[r["group"]].append(r)
        tasks[r["task"]].append(r)
    latency = {st: latency_summary((r.get("timings") or {}).get(st) for r in ok) for st in STAGES}
    return {
        "n_items": len(rows),
        "n_errors": len(rows) - len(ok),
        "overall": _means(ok),
        "by_group": {g: _means(v) for g, v in groups.items()},
        "by_task": {t: _means(v) for t, v in tasks.items()},
        "rgb": _rgb_summary(ok),
        "latency": latency,
        "tokens": _tokens(ok),
    }
