"""Facts picked by evidence: the evidence judge scores each candidate fact against typed questions.

A region summary should answer what a reader asks about a place: how much money went in, who
pairs with it, how many people were reached, what rates moved, what happened and when. Those are
asked as typed questions (:func:`typed_questions`, the region's canonical name in each; pairing
and poverty questions only when the material is about them), each with the answer type it
needs, and the judge (:class:`rag.judge.model.EvidenceJudge`) scores every candidate fact
carrying that type (its sentence with the article title before it) against it: the rules
guarantee the kind of answer, the judge says which of those sentences answers the question
about this region (vague questions judged over every sentence favour headlines and site
furniture, measured on archive regions). A fact's ``answers`` holds its probability per question
and ``judged`` the best of them; the selection (:func:`rag.summarize.reduce.select_facts`)
takes the best-judged fact per question first, then one fact per document, then the rest by
score, to which ``weight × judged`` is added. Site furniture (bylines, "查看更多") and
scene-setting carry no answer type and are not judged.

Cost is bounded: only the ``limit`` facts ranked highest by the rule score (at least the best
``per_doc`` of each document) are judged, in one batch per question.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from rag.judge.windows import titled
from rag.summarize.facts import Fact, answer_kind, is_event, substantive
from rag.text.numbers import extract_quantities

__all__ = ["typed_questions", "judge_facts", "JUDGE_DEFAULTS"]

# Settings read from the ``summarize`` config section (``judge``: on/off).
JUDGE_DEFAULTS = {"judge_facts": 48, "judge_per_doc": 4, "judge_weight": 2.0, "judge_min": 0.3}


def _kinds(f: Fact) -> set[str]:
    """Answer types a fact can serve: money, people, percent (its substantive figures)."""
    return {k for q in extract_quantities(f.text) if substantive(q) and (k := answer_kind(q))}


# (question template, answer type a fact must carry to be judged for it)
_GENERIC = (("{r}投入或获得了多少资金？", "money"), ("{r}有多少人或多少户受益、参与？", "people"),
            ("{r}的比例或增长率是多少？", "percent"), ("{r}什么时候发生了什么事？", "event"))
_PAIRED = (("{r}的对口帮扶单位是谁？", "partner"),)
_POVERTY = (("{r}的贫困发生率是多少？", "percent"), ("{r}有多少贫困人口脱贫？", "people"))
_POVERTY_CUES = ("扶贫", "脱贫", "贫困")


def _serves(f: Fact, kind: str, kinds: set[str]) -> bool:
    if kind == "event":
        return is_event(f)
    if kind == "partner":
        return bool(f.partners)
    return kind in kinds


def typed_questions(region: str, facts: Sequence[Fact], *, paired: bool) -> list[tuple[str, str]]:
    """The typed questions asked about ``region``, each with the answer type it needs.

    Args:
        region: canonical region name (``沿河县``).
        facts: the candidate facts (their text decides whether poverty questions apply).
        paired: whether the gazetteer knows a pairing partner of the region.

    Returns:
        ``(question, answer type)`` pairs; types: money, people, percent, event, partner.
    """
    qs = list(_GENERIC)
    if paired:
        qs += _PAIRED
    if any(cue in f.text for f in facts for cue in _POVERTY_CUES):
        qs += _POVERTY
    return [(q.format(r=region), kind) for q, kind in qs]


def _candidates(facts: Sequence[Fact], limit: int, per_doc: int) -> list[Fact]:
    ranked = sorted(facts, key=lambda f: (-f.score, f.doc_id, f.ordinal))
    seen: dict[str, int] = {}
    first: list[Fact] = []
    for f in ranked:
        if seen.get(f.doc_id, 0) < per_doc:
            first.append(f)
            seen[f.doc_id] = seen.get(f.doc_id, 0) + 1
    rest = [f for f in ranked if f not in first]
    return (first + rest)[:max(limit, 0)]


def judge_facts(facts: Sequence[Fact], questions: Sequence[tuple[str, str]], judge: Any, *, limit: int = 48,
                per_doc: int = 4, weight: float = 2.0) -> dict[str, Any]:
    """Score candidate facts against ``questions`` with ``judge``; updates them in place.

    Sets ``fact.answers`` (probability per question), ``fact.judged`` (the best of them) and adds
    ``weight * judged`` to ``fact.score`` for each judged fact; facts not judged keep
    ``judged = 0.0`` and no ``answers``.

    Args:
        facts: candidate facts of one region.
        questions: from :func:`typed_questions`; a fact is judged only for the questions whose
            answer type it carries (a money figure for "多少资金", a dated event for "什么时候").
        judge: an :class:`rag.judge.model.EvidenceJudge` (``score(question, texts)``).
        limit: judge at most this many facts (highest rule score first).
        per_doc: but at least the best this-many of each document (within ``limit``).
        weight: how much the judge's probability adds to the rule score.

    Returns:
        Stats: ``judged`` (facts), ``pairs`` (judge calls' items), ``seconds``.
    """
    started = time.perf_counter()
    chosen = _candidates(facts, limit, per_doc)
    kinds = [_kinds(f) for f in chosen]
    per_fact: list[list[float]] = [[0.0] * len(questions) for _ in chosen]
    pairs = 0
    for qi, (q, kind) in enumerate(questions):
        serving = [i for i, f in enumerate(chosen) if _serves(f, kind, kinds[i])]
        pairs += len(serving)
        for i, p in zip(serving, judge.score(q, [titled(chosen[i].title, chosen[i].text) for i in serving])):
            per_fact[i][qi] = round(float(p), 4)
    for f, answers in zip(chosen, per_fact):
        f.answers = answers
        f.judged = max(answers, default=0.0)
        f.score = round(f.score + weight * f.judged, 3)
    return {"judged": len(chosen), "pairs": pairs,
            "seconds": round(time.perf_counter() - started, 3)}
