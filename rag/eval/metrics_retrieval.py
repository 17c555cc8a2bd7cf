"""Retrieval metrics on ranked id lists and ranked passage texts (pure functions).

Every function scores ONE query; the run aggregates with :func:`rag.eval.metrics.mean_defined`.
Functions return ``None`` when the metric is undefined for the query (no gold ids, no
figures), so unanswerable items do not count as misses. Doc-level and chunk-level scoring
use the same functions: pass doc ids or chunk ids. For a ranking over *distinct* documents
(several chunks of one article retrieved), pass ``unique_in_order(doc_ids)``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from rag.text.numbers import figure_in_text

__all__ = ["unique_in_order", "hit_at_k", "recall_at_k", "mrr", "answer_bearing_flags",
           "answer_bearing_hit", "answer_bearing_mrr"]


def _check_k(k: int | None) -> None:
    if k is not None and (not isinstance(k, int) or k < 1):
        raise ValueError(f"k 必须是正整数（收到 {k!r}），请检查评测参数")


def unique_in_order(ids: Iterable[Hashable]) -> list:
    """Drop repeated ids, keeping the first (best-ranked) occurrence.

    Args:
        ids: Ranked ids, e.g. the doc ids of ranked chunks.

    Returns:
        The distinct ids in rank order.
    """
    return list(dict.fromkeys(ids))


def hit_at_k(ranked_ids: Sequence[Hashable], gold_ids: Iterable[Hashable], k: int) -> float | None:
    """Hit@k (a.k.a. success@k): 1.0 if any of the top-k ids is a gold id.

    Source: Manning, Raghavan & Schütze, *Introduction to Information Retrieval* (2008), §8.4;
    the "top-k accuracy" of DPR (Karpukhin et al., 2020).

    Args:
        ranked_ids: Retrieved ids, best first.
        gold_ids: Relevant ids.
        k: Cut-off (≥ 1).

    Returns:
        1.0 or 0.0; None when there are no gold ids.
    """
    _check_k(k)
    gold = set(gold_ids)
    if not gold:
        return None
    return 1.0 if any(i in gold for i in ranked_ids[:k]) else 0.0


def recall_at_k(ranked_ids: Sequence[Hashable], gold_ids: Iterable[Hashable], k: int) -> float | None:
    """Recall@k = |top-k ∩ gold| / |gold| (Manning et al. 2008, §8.3).

    Args:
        ranked_ids: Retrieved ids, best first (repeats count once).
        gold_ids: Relevant ids.
        k: Cut-off (≥ 1).

    Returns:
        A fraction in [0, 1]; None when there are no gold ids.
    """
    _check_k(k)
    gold = set(gold_ids)
    if not gold:
        return None
    return len(gold.intersection(ranked_ids[:k])) / len(gold)


def mrr(ranked_ids: Sequence[Hashable], gold_ids: Iterable[Hashable], k: int | None = None) -> float | None:
    """Reciprocal rank of the first gold id (MRR is its mean over queries).

    Source: Voorhees, *The TREC-8 Question Answering Track Report* (1999): 1/rank of the
    first correct item, 0 when none is found (within the top ``k`` when given).

    Args:
        ranked_ids: Retrieved ids, best first.
        gold_ids: Relevant ids.
        k: Optional cut-off (MRR@k).

    Returns:
        1/rank, or 0.0; None when there are no gold ids.
    """
    _check_k(k)
    gold = set(gold_ids)
    if not gold:
        return None
    for rank, i in enumerate(ranked_ids[:k] if k else ranked_ids, start=1):
        if i in gold:
            return 1.0 / rank
    return 0.0


def answer_bearing_flags(ranked_texts: Sequence[str], figures: Sequence[str]) -> list[bool]:
    """For each passage, whether it contains at least one expected figure.

    A figure "occurs" modulo Chinese number normalisation (:func:`rag.text.numbers.figure_in_text`):
    ``1.1亿元`` is found in a passage saying ``11000萬元``.

    Args:
        ranked_texts: Passage texts, best first.
        figures: Expected figures/answer strings (``must_include`` + ``any_of``).

    Returns:
        One flag per passage.
    """
    return [any(figure_in_text(f, t) for f in figures) for t in ranked_texts]


def answer_bearing_hit(ranked_texts: Sequence[str], figures: Sequence[str], k: int, *,
                       require_all: bool = False) -> float | None:
    """Answer-bearing hit@k: does the top-k contain the answer, judged by the text itself.

    Unlike :func:`hit_at_k` this needs no gold ids, so it also scores chunks of an article
    that was not marked gold, and any retriever or chunking (the "answer recall" /
    has-answer check used for open-domain QA retrieval, e.g. DPR, Karpukhin et al. 2020).

    Args:
        ranked_texts: Passage texts, best first.
        figures: Expected figures.
        k: Cut-off (≥ 1).
        require_all: If True, every figure must occur somewhere in the top k (multi-part
            answers); otherwise one passage containing any figure suffices.

    Returns:
        1.0 or 0.0; None when ``figures`` is empty.
    """
    _check_k(k)
    figures = [f for f in figures if f and f.strip()]
    if not figures:
        return None
    top = ranked_texts[:k]
    if require_all:
        return 1.0 if all(any(figure_in_text(f, t) for t in top) for f in figures) else 0.0
    return 1.0 if any(answer_bearing_flags(top, figures)) else 0.0


def answer_bearing_mrr(ranked_texts: Sequence[str], figures: Sequence[str], k: int | None = None) -> float | None:
    """Reciprocal rank of the first passage containing an expected figure (see :func:`mrr`).

    Args:
        ranked_texts: Passage texts, best first.
        figures: Expected figures.
        k: Optional cut-off.

    Returns:
        1/rank or 0.0; None when ``figures`` is empty.
    """
    _check_k(k)
    figures = [f for f in figures if f and f.strip()]
    if not figures:
        return None
    texts = ranked_texts[:k] if k else ranked_texts
    for rank, flag in enumerate(answer_bearing_flags(texts, figures), start=1):
        if flag:
            return 1.0 / rank
    return 0.0
