"""Pure metric functions used by ``shanhai eval`` (one function per metric, each citing its source).

Per-item metrics return ``None`` when undefined for the item (no gold, no figures, nothing
cited); aggregate with :func:`mean_defined`, which skips ``None``. Modules:

* :mod:`rag.eval.metrics_retrieval` — hit@k, recall@k, MRR, answer-bearing hit/MRR
* :mod:`rag.eval.metrics_answer` — figure accuracy, char F1, EM, ROUGE-L, refusals
* :mod:`rag.eval.metrics_citation` — citation precision/recall, number grounding
* :mod:`rag.eval.metrics_rgb` — RGB's own accuracy / rejection / error detection / correction
* here — percentiles, latency summaries, tokens/s
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from rag.eval.metrics_answer import (REFUSAL_PATTERNS, answer_accuracy, char_f1, exact_match, is_refusal,
                                     lcs_length, normalize_answer, refusal_accuracy, rouge_l, strip_citations)
from rag.eval.metrics_citation import (CitedClaim, citation_correct, citation_precision, citation_recall,
                                       claims_from_answer, number_grounding_rate, parse_markers)
from rag.eval.metrics_retrieval import (answer_bearing_flags, answer_bearing_hit, answer_bearing_mrr, hit_at_k, mrr,
                                        recall_at_k, unique_in_order)
from rag.eval.metrics_rgb import (rgb_accuracy, rgb_correction_rate, rgb_error_detected, rgb_labels,
                                  rgb_rejected)

__all__ = [
    "hit_at_k", "recall_at_k", "mrr", "unique_in_order", "answer_bearing_flags", "answer_bearing_hit",
    "answer_bearing_mrr", "answer_accuracy", "char_f1", "exact_match", "rouge_l", "lcs_length",
    "normalize_answer", "strip_citations", "REFUSAL_PATTERNS", "is_refusal", "refusal_accuracy",
    "CitedClaim", "parse_markers", "claims_from_answer", "citation_correct", "citation_precision",
    "citation_recall", "number_grounding_rate", "rgb_labels", "rgb_accuracy", "rgb_rejected",
    "rgb_error_detected", "rgb_correction_rate", "mean_defined", "percentile", "latency_summary",
    "tokens_per_second",
]


def _clean(values: Iterable[float | None]) -> np.ndarray:
    return np.asarray([float(v) for v in values if v is not None and v == v], dtype=float)


def mean_defined(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values (``None`` and NaN skipped).

    Args:
        values: Per-item scores.

    Returns:
        The mean, or None when no value is defined.
    """
    arr = _clean(values)
    return float(arr.mean()) if arr.size else None


def percentile(values: Iterable[float | None], p: float) -> float | None:
    """The p-th percentile with linear interpolation between order statistics.

    Source: ``numpy.percentile(method="linear")`` = Hyndman & Fan (1996) definition 7,
    the default of numpy and R. ``None``/NaN values (failed items) are skipped.

    Args:
        values: Samples, e.g. latencies in seconds.
        p: Percentile in [0, 100].

    Returns:
        The percentile, or None for no samples.
    """
    if not 0 <= p <= 100:
        raise ValueError(f"百分位 p 必须在 0 到 100 之间（收到 {p}）")
    arr = _clean(values)
    return float(np.percentile(arr, p, method="linear")) if arr.size else None


def latency_summary(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """p50, p95 and mean of latencies (see :func:`percentile`).

    Args:
        values: Per-item latencies in seconds (None for items that failed).

    Returns:
        ``{"p50", "p95", "mean", "n"}``; statistics are None when ``n == 0``.
    """
    arr = _clean(values)
    return {"p50": percentile(arr, 50), "p95": percentile(arr, 95),
            "mean": float(arr.mean()) if arr.size else None, "n": int(arr.size)}


def tokens_per_second(n_tokens: int | None, seconds: float | None) -> float | None:
    """Throughput = tokens / wall-clock seconds (as llama.cpp reports prompt/eval speed).

    Args:
        n_tokens: Tokens processed or generated.
        seconds: Time spent on them.

    Returns:
        Tokens per second; None when either input is missing or ``seconds <= 0``.
    """
    if n_tokens is None or seconds is None or seconds <= 0:
        return None
    return n_tokens / seconds
