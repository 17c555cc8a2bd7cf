"""Compact evidence: the sentences of each passage that bear on the question, plus neighbours.

Prompt processing is the latency budget on a small CPU (~50 tokens/s measured for the uncached
part of a prompt on 2 cores), so the model sees
only what matters: sentences are ranked by :func:`rag.answer.support.score_sentences`, the
best are taken greedily (over-long sentences trimmed to their relevant clauses; a passage
short enough to fit is shown whole) under a per-passage cap (``answer.evidence_chars``) and
a total cap (``answer.evidence_total_chars``), then neighbouring sentences are added while
the caps allow. A sentence scoring below
``relative_min`` × the best score is left out unless it supports the question, and passages
that contribute no sentence are not shown to the model. Passages are ordered by their best
sentence; within a passage, sentences keep document order and gaps are marked with ``…``.
Passages from articles that address the model (``Passage.withheld``) give nothing: sentences
come from ``Passage.usable``, blank for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from rag.answer.passages import Passage
from rag.answer.question import QuestionInfo, term_in
from rag.answer.support import SentenceScore, sentences_of
from rag.text.spans import merge_spans

__all__ = ["EvidenceConfig", "select_evidence", "trim_sentence", "render_evidence"]

_CLAUSE_END = re.compile(r"[，,；;：:]")


@dataclass
class EvidenceConfig:
    """Budgets for :func:`select_evidence` (see ``answer.*`` in configs/default.yaml)."""

    per_passage_chars: int = 220
    total_chars: int = 520
    neighbours: int = 1
    max_passages: int = 5
    min_score: float = 0.3
    relative_min: float = 0.6
    # the evidence judge's best sentences taken between the rules' ones (answer.evidence_judged)
    judged: int = 0


def trim_sentence(text: str, start: int, end: int, info: QuestionInfo, limit: int) -> list[tuple[int, int]]:
    """Cut a long sentence down to its relevant clauses.

    Keeps the first clause (usually the subject/time) and every clause with a question term or
    a number, in order, until ``limit`` characters.

    Args:
        text: the passage text.
        start: sentence start.
        end: sentence end.
        info: the analysed question.
        limit: maximum characters kept.

    Returns:
        Spans (within ``[start, end)``) to keep, in order; the whole sentence when it fits.
    """
    if end - start <= limit:
        return [(start, end)]
    clauses: list[tuple[int, int]] = []
    pos = start
    for m in _CLAUSE_END.finditer(text, start, end):
        clauses.append((pos, m.end()))
        pos = m.end()
    if pos < end:
        clauses.append((pos, end))

    def relevance(span: tuple[int, int]) -> int:
        piece = text[span[0]:span[1]].lower()
        return sum(term_in(t, piece) for t in info.terms) + (2 if re.search(r"\d", piece) else 0)

    ranked = sorted(range(len(clauses)), key=lambda i: (-relevance(clauses[i]), i))
    keep: set[int] = set()
    used = 0
    for i in [0, *ranked]:
        a, b = clauses[i]
        if i in keep or (relevance(clauses[i]) == 0 and i != 0):
            continue
        if used + (b - a) > limit:
            continue
        keep.add(i)
        used += b - a
    if not keep:
        return [(start, min(end, start + limit))]
    spans: list[tuple[int, int]] = []
    for i in sorted(keep):
        a, b = clauses[i]
        if spans and spans[-1][1] == a:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def render_evidence(p: Passage, spans: list[tuple[int, int]]) -> str:
    """The evidence text for ``spans`` of ``p.usable`` (gaps marked with …, whitespace folded)."""
    parts: list[str] = []
    last_end = None
    for a, b in spans:
        piece = p.usable[a:b].strip()
        if last_end is not None and p.text[last_end:a].strip() and not (parts and parts[-1].endswith("…")):
            parts.append("…")
        parts.append(piece)
        last_end = b
    text = "".join(parts)
    return re.sub(r"\s+", " ", text).strip()


def _whole(p: Passage) -> tuple[int, int] | None:
    """The span of the passage's whole text (whitespace trimmed), None when empty or withheld."""
    if p.withheld:
        return None
    sents = sentences_of(p)
    return (sents[0][0], sents[-1][1]) if sents else None


@dataclass
class _Chosen:
    """Evidence spans taken so far: per passage index, with the characters they use."""

    spans: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    used: dict[int, int] = field(default_factory=dict)
    total: int = 0
    order: list[int] = field(default_factory=list)  # passage indexes in the order first chosen

    def room(self, pi: int, cfg: EvidenceConfig) -> int:
        """Characters passage ``pi`` may still take under both caps."""
        return min(cfg.per_passage_chars - self.used.get(pi, 0), cfg.total_chars - self.total)

    def add(self, pi: int, spans: list[tuple[int, int]], size: int) -> None:
        if pi not in self.spans:
            self.order.append(pi)
        self.spans.setdefault(pi, []).extend(spans)
        self.used[pi] = self.used.get(pi, 0) + size
        self.total += size


def _interleaved(scores: Sequence[SentenceScore], judged: int) -> list[tuple[SentenceScore, bool]]:
    """The rules' order with the judge's ``judged`` best consistent sentences taken in turns
    (rules first: rule 1, judge 1, rule 2, judge 2, …); the flag marks a judge pick."""
    picks = sorted((s for s in scores if s.judge is not None and s.consistent),
                   key=lambda s: -(s.judge or 0.0))[:judged]
    out: list[tuple[SentenceScore, bool]] = []
    seen: set[tuple[int, int]] = set()
    for i, rule in enumerate(scores):  # the picks are among the scores: len(picks) <= len(scores)
        for s, flag in ((rule, False), (picks[i] if i < len(picks) else None, True)):
            if s is not None and (s.passage, s.start) not in seen:
                seen.add((s.passage, s.start))
                out.append((s, flag))
    return out


def _take_best(info: QuestionInfo, passages: Sequence[Passage], scores: Sequence[SentenceScore],
               cfg: EvidenceConfig, chosen: _Chosen) -> list[SentenceScore]:
    """Take the best sentences greedily (a short passage whole); returns the ones taken."""
    primary: list[SentenceScore] = []
    floor = max(cfg.min_score, cfg.relative_min * (scores[0].score if scores else 0.0))
    for s, picked in _interleaved(scores, cfg.judged):
        if s.score < floor and not s.supported and not picked:
            continue
        if s.passage not in chosen.spans and len(chosen.spans) >= cfg.max_passages:
            continue
        p = passages[s.passage]
        room = chosen.room(s.passage, cfg)
        if room < 24:
            continue
        whole = _whole(p)
        if s.passage not in chosen.spans and whole and whole[1] - whole[0] <= room:
            spans = [whole]  # a short passage is its own best evidence
        else:
            spans = trim_sentence(p.usable, s.start, s.end, info, room)
        size = sum(b - a for a, b in spans)
        if size > room:
            continue
        chosen.add(s.passage, spans, size)
        primary.append(s)
        if chosen.total >= cfg.total_chars - 24:
            break
    return primary


def _add_neighbours(passages: Sequence[Passage], scores: Sequence[SentenceScore], primary: list[SentenceScore],
                    cfg: EvidenceConfig, chosen: _Chosen) -> None:
    """Add up to ``cfg.neighbours`` sentences on each side of every taken sentence, within the caps."""
    # a neighbour that gives to another recipient (support.target_ok) would distract, not inform
    off = {(s.passage, s.start) for s in scores if not s.target_ok}
    steps = [-d for d in range(1, cfg.neighbours + 1)] + list(range(1, cfg.neighbours + 1))
    for s in primary:
        sents = sentences_of(passages[s.passage])
        idx = next((i for i, (a, b) in enumerate(sents) if a == s.start), None)
        if idx is None:
            continue
        for j in (idx + d for d in steps):
            if not 0 <= j < len(sents):
                continue
            a, b = sents[j]
            if any(x <= a < y for x, y in chosen.spans[s.passage]) or (s.passage, a) in off:
                continue
            size = b - a
            if chosen.used[s.passage] + size > cfg.per_passage_chars or chosen.total + size > cfg.total_chars:
                continue
            chosen.add(s.passage, [(a, b)], size)


def select_evidence(info: QuestionInfo, passages: Sequence[Passage], scores: Sequence[SentenceScore],
                    cfg: EvidenceConfig | None = None) -> list[Passage]:
    """Fill ``evidence``/``evidence_spans`` of the passages worth showing and return them.

    Args:
        info: the analysed question.
        passages: candidate passages (retrieval order).
        scores: sentence scores for these passages, best first.
        cfg: budgets.

    Returns:
        The passages with evidence, best first (the passage of the best sentence leads: small
        models favour what they read first), at most ``cfg.max_passages``. Their ``n`` is not
        changed (the caller renumbers).
    """
    cfg = cfg or EvidenceConfig()
    chosen = _Chosen()
    primary = _take_best(info, passages, scores, cfg, chosen)
    if cfg.neighbours > 0:
        _add_neighbours(passages, scores, primary, cfg, chosen)
    out: list[Passage] = []
    for pi in chosen.order:
        p = passages[pi]
        p.evidence_spans = merge_spans(chosen.spans[pi], keep_empty=True)
        p.evidence = render_evidence(p, p.evidence_spans)
        out.append(p)
    return out
