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


@dataclass(frozen=True)
class Judged:
    """Candidates split into ``usable`` and ``withheld`` indices (retrieval order), the judgement of
    the usable ones and ``order``: positions into ``usable``, best first by :func:`fused_order`."""

    usable: list[int]
    withheld: list[int]
    judgement: Any
    order: list[int]


def judge_candidates(judge: Any, question: str, texts: Sequence[str], titles: Sequence[str],
                     withheld: Sequence[bool], rrf_k: float = 10.0) -> Judged:
    """Judge the candidates not ``withheld`` (suspected instructions are never judged) and order
    them by retrieval rank fused with the judge's rank.

    Args:
        judge: an :class:`rag.judge.model.EvidenceJudge`.
        question: the (sub-)question.
        texts, titles, withheld: per candidate, in retrieval order.
        rrf_k: rank-fusion constant (``judge.rrf_k``).
    """
    usable = [i for i, w in enumerate(withheld) if not w]
    held = [i for i, w in enumerate(withheld) if w]
    judgement = judge.judge(question, [texts[i] for i in usable], titles=[titles[i] for i in usable])
    order = fused_order([float(s) for s in judgement.passage_scores], rrf_k)
    return Judged(usable, held, judgement, order)


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
    j = judge_candidates(judge, question, [p.text for p in passages], [p.title or "" for p in passages],
                         [p.withheld for p in passages], rrf_k)
    judged = j.judgement
    scores = [float(s) for s in judged.passage_scores]
    order = sorted(j.order[:keep])
    per: dict[int, list[tuple[int, int, float]]] = {}
    for w in judged.windows:
        per.setdefault(w.passage, []).append((w.window.sent_start, w.window.sent_end, float(w.score)))
    sentences = [per.get(i, []) for i in order] + [[] for _ in j.withheld]
    return Reranked([passages[j.usable[i]] for i in order] + [passages[i] for i in j.withheld],
                    [scores[i] for i in order], judged.top, judged.seconds, sentences)


def fused_order(scores: Sequence[float], rrf_k: float = 10.0) -> list[int]:
    """Indices of candidates given in retrieval order, best first by reciprocal-rank fusion of
    the retrieval rank and the rank of the judge's ``scores`` (ties: retrieval order)."""
    by_judge = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    judge_rank = {i: r for r, i in enumerate(by_judge)}
    fused = [1.0 / (rrf_k + i + 1) + 1.0 / (rrf_k + judge_rank[i] + 1) for i in range(len(scores))]
    return sorted(range(len(scores)), key=lambda i: (-fused[i], i))
