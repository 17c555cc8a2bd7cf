"""The ``extractive`` backend (registered in :mod:`rag.llm.registry` without an LLM): the best
supporting sentences with their citations.

Deterministic and fast (milliseconds), for tests, load benchmarks and machines without a
model. It answers with the highest-scoring supporting sentence (trimmed to its relevant
clauses) and adds further supporting sentences that state *different* typed evidence
(another figure or date), so two sources that disagree are both shown, each with its
outlet and date. It quotes only ``Passage.usable`` text: never a sentence addressing the model.
"""

from __future__ import annotations

from typing import Sequence

from rag.answer.evidence import trim_sentence
from rag.answer.passages import Passage
from rag.answer.question import QuestionInfo
from rag.answer.support import SentenceScore
from rag.text.numbers import same_quantity

__all__ = ["extractive_answer"]


def _render(p: Passage, spans: list[tuple[int, int]]) -> str:
    out, last = [], None
    for a, b in spans:
        if last is not None and p.text[last:a].strip():
            out.append("…")
        out.append(p.usable[a:b].strip())
        last = b
    return "".join(out).rstrip("。！？；;!?，, ")


def _new_evidence(s: SentenceScore, taken: list[SentenceScore]) -> bool:
    if not s.typed:
        return False
    seen = [q for t in taken for q in t.typed]
    return any(not any(same_quantity(q, x) for x in seen) for q in s.typed)


def extractive_answer(info: QuestionInfo, passages: Sequence[Passage], supported: Sequence[SentenceScore], *,
                      max_sentences: int = 2, max_chars: int = 120, ratio: float = 0.8) -> str:
    """Compose an answer from supporting sentences.

    Args:
        info: the analysed question.
        passages: the passages, numbered ``1..len(passages)`` in this order (local numbers).
        supported: supporting sentences for these passages, best first (indices into
            ``passages``).
        max_sentences: at most this many sentences.
        max_chars: each sentence is trimmed to its relevant clauses within this length.
        ratio: a further sentence must score at least ``ratio`` × the best score (list
            questions take any supporting sentence).

    Returns:
        Sentences each followed by ``[n]``; when they come from different documents, each
        also names its outlet and date. Empty string when ``supported`` is empty.
    """
    if not supported:
        return ""
    best = supported[0]
    taken = [best]

    def place(s: SentenceScore) -> tuple[int, int]:
        """(0 = same document as the best sentence, distance to it); other documents after."""
        p, b = passages[s.passage], passages[best.passage]
        same = bool(p.doc_id) and p.doc_id == b.doc_id
        return (0, abs((p.start + s.start) - (b.start + best.start))) if same else (1, 0)

    rest = sorted(supported[1:], key=lambda s: (-(s.score >= best.score * ratio), place(s)))
    for s in rest:
        if len(taken) >= (max_sentences + 1 if info.answer_type == "list" else max_sentences):
            break
        if s.score < best.score * ratio and info.answer_type != "list":
            continue
        if any(t.passage == s.passage and t.start == s.start for t in taken):
            continue
        if info.answer_type in ("number", "date") and not _new_evidence(s, taken):
            continue
        if info.answer_type not in ("number", "date", "list"):
            break
        taken.append(s)
    docs = {passages[s.passage].doc_id or passages[s.passage].key for s in taken}
    lines = []
    for s in taken:
        p = passages[s.passage]
        text = _render(p, trim_sentence(p.usable, s.start, s.end, info, max_chars))
        origin = ""
        if len(docs) > 1 and (p.source or p.date):
            origin = "（" + "，".join(x for x in (p.source, p.date) if x) + "）"
        lines.append(f"{text}{origin}[{s.passage + 1}]。")
    return "".join(lines)
