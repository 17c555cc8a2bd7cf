"""Figures from other sources: when the model states one figure but an equally well supported
sentence of *another document* gives a different figure for the same thing — the words around
the figure (same clause) say nearly the same as around the answer's figure (two outlets
reporting different totals) — the answer is completed with that figure, its outlet and date.

Pure function over the support scores; the LLM's text itself is never rewritten. Passages are
read through ``Passage.usable`` (text addressing the model is blank there).
"""

from __future__ import annotations

import re
from typing import Sequence

from rag.answer.evidence import trim_sentence
from rag.answer.passages import Passage
from rag.answer.question import QuestionInfo
from rag.answer.support import SentenceScore
from rag.text.citations import strip_citations
from rag.text.ngrams import char_bigrams, containment
from rag.text.numbers import extract_quantities, figure_spans, same_quantity

__all__ = ["other_source_figures", "origin", "clause_at", "same_statement"]

_CLAUSE_END = re.compile(r"[，,；;。！？!?\n]")
_DIGITS = re.compile(r"[\d.%％]+")
SAME_STATEMENT = 0.6
CONTEXT_BEFORE, CONTEXT_AFTER = 12, 6


def clause_at(text: str, start: int, end: int, *, before: int | None = None, after: int | None = None) -> str:
    """The clause of ``text`` (between commas/semicolons/sentence ends) holding ``[start, end)``,
    cut to ``before``/``after`` characters around the span when given (a figure's context)."""
    left = max((m.end() for m in _CLAUSE_END.finditer(text, 0, start)), default=0)
    right = _CLAUSE_END.search(text, end)
    right_end = right.start() if right else len(text)
    if before is not None:
        left = max(left, start - before)
    if after is not None:
        right_end = min(right_end, end + after)
    return text[left:right_end]


def same_statement(a: str, b: str, threshold: float = SAME_STATEMENT) -> bool:
    """Whether two clauses state the same thing up to their figures: the shared character
    bigrams (digits removed) cover ``threshold`` of the shorter clause's."""
    x, y = char_bigrams(_DIGITS.sub("", a)), char_bigrams(_DIGITS.sub("", b))
    return bool(x and y) and containment(x, y) >= threshold


def _answer_clauses(said, passages: Sequence[Passage], cited: Sequence[int]) -> list[str]:
    """The clauses of the cited passages that hold the answer's figures."""
    out = []
    for n in dict.fromkeys(cited):
        if 1 <= n <= len(passages):
            text = passages[n - 1].usable
            for q in said:
                out += [_context(text, a, b) for a, b in figure_spans(q.surface, text)]
    return out


def origin(p: Passage) -> str:
    """``人民网，2020-08-19`` (what is known of the passage's outlet and date)."""
    return "，".join(x for x in (p.source, p.date) if x)


def other_source_figures(answer: str, info: QuestionInfo, passages: Sequence[Passage],
                         supported: Sequence[SentenceScore], cited: Sequence[int], *,
                         ratio: float = 0.8, max_extra: int = 2, max_chars: int = 120) -> list[tuple[int, str, SentenceScore]]:
    """Supporting sentences from other documents whose figures the answer does not give.

    Args:
        answer: the verified answer (local ``[n]`` markers).
        info: the analysed question (only number and date questions are completed).
        passages: the passages shown to the model, numbered ``1..`` in this order.
        supported: supporting sentences, best first, indexing ``passages``.
        cited: local passage numbers the answer cites.
        ratio: a sentence must score at least ``ratio`` × the best supporting score.
        max_extra: at most this many additions.
        max_chars: each added sentence is trimmed to its relevant clauses within this length.

    Returns:
        ``(local passage number, trimmed sentence, its score)`` to add, best first.
    """
    if info.answer_type not in ("number", "date") or not supported:
        return []
    said = extract_quantities(strip_citations(answer))
    if not said:
        return []
    clauses = _answer_clauses(said, passages, cited)
    if not clauses:
        return []
    cited_docs = {passages[n - 1].doc_id or passages[n - 1].key for n in cited if 1 <= n <= len(passages)}
    best = supported[0].score
    out: list[tuple[int, str, SentenceScore]] = []
    taken_docs = set(cited_docs)
    for s in supported:
        p = passages[s.passage]
        doc = p.doc_id or p.key
        if len(out) >= max_extra or s.score < best * ratio:
            break
        if doc in taken_docs or not s.typed:
            continue
        if any(same_quantity(q, x) for q in s.typed for x in said):
            continue  # the answer already gives this figure
        if not any(same_statement(_context(p.usable, *_span_of(q, p.usable, s)), c)
                   for q in s.typed for c in clauses):
            continue  # a figure about something else
        spans = trim_sentence(p.usable, s.start, s.end, info, max_chars)
        text = "…".join(p.usable[a:b].strip() for a, b in spans).rstrip("。！？；;!?，, ")
        out.append((s.passage + 1, text, s))
        taken_docs.add(doc)
    return out


def _context(text: str, start: int, end: int) -> str:
    """What a figure is about: its clause, at most 12 characters before and 6 after it."""
    return clause_at(text, start, end, before=CONTEXT_BEFORE, after=CONTEXT_AFTER)


def _span_of(q, text: str, s: SentenceScore) -> tuple[int, int]:
    """Where quantity ``q`` of sentence ``s`` is in the passage text (the sentence if not found)."""
    for a, b in figure_spans(q.surface, text[s.start:s.end]):
        return s.start + a, s.start + b
    return s.start, s.end
