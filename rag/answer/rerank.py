"""Choose the answer candidates with the evidence judge (rag/judge) before any rule or the LLM sees them.

Retrieval fuses dense and BM25 ranks, which rewards passages that share the question's words;
the judge reads each sentence window (with its article title) and scores whether it answers
the question. The two orders are fused by reciprocal rank (``1/(k + retrieval rank) + 1/(k + judge
rank)``) to choose **which** passages are kept: the judge pulls an answer-bearing passage in from
beyond the first few and drops same-topic passages without an answer. The kept passages stay in
retrieval order: on a vague question (张家港向沿河投入多少资金？) every window scores alike and
the judge's own order puts a small donation before the funds, so ordering is left to retrieval
and the support rules. Passages withheld as data (suspected instructions) are not judged and are
kept after the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from rag.answer.passages import Passage


@dataclass(frozen=True)
class Reranked:
    """The kept candidates (retrieval order, withheld last), the judge score of each kept usable one,
    the judge's best passage score, the seconds it took, and per kept passage its judged centre
    sentences ``(sent_start, sent_end, score)`` (empty for withheld ones)."""

    passages: list[Passage]
    scores: list[float]
    top: float
    seconds: float
    sentences: list[list[tuple[int, int, float]]] = field(default_factory=list)


def rerank(judge: Any, question: str, passages: Sequence[Passage], *, keep: int, rrf_k: float = 10.0) -> Reranked:
    """Keep the ``keep`` usable passages best by retrieval and judged evidence, in retrieval order
    (withheld ones kept too, last).

    Args:
        judge: an :class:`rag.judge.model.EvidenceJudge`.
        question: the (sub-)question.
        passages: retrieved (or supplied) candidates, in retrieval order.
        keep: usable passages kept after sorting (``answer.candidates``).
        rrf_k: rank-fusion constant (``judge.rrf_k``); smaller = the first ranks weigh more.
    """
    usable = [p for p in passages if not p.withheld]
    withheld = [p for p in passages if p.withheld]
    judged = judge.judge(question, [p.text for p in usable], titles=[p.title or "" for p in usable])
    scores = [float(s) for s in judged.passage_scores]
    order = sorted(fused_order(scores, rrf_k)[:keep])
    per: dict[int, list[tuple[int, int, float]]] = {}
    for w in judged.windows:
        per.setdefault(w.passage, []).append((w.window.sent_start, w.window.sent_end, float(w.score)))
    sentences = [per.get(i, []) for i in order] + [[] for _ in withheld]
    return Reranked([usable[i] for i in order] + withheld, [scores[i] for i in order],
                    judged.top, judged.seconds, sentences)


def fused_order(scores: Sequence[float], rrf_k: float = 10.0) -> list[int]:
    """Indices of candidates given in retrieval order, best first by reciprocal-rank fusion of
    the retrieval rank and the rank of the judge's ``scores`` (ties: retrieval order)."""
    by_judge = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    judge_rank = {i: r for r, i in enumerate(by_judge)}
    fused = [1.0 / (rrf_k + i + 1) + 1.0 / (rrf_k + judge_rank[i] + 1) for i in range(len(scores))]
    return sorted(range(len(scores)), key=lambda i: (-fused[i], i))
