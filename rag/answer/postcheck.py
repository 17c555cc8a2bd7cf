"""After generation: does the answer actually state what was asked, from supporting sentences?

The support check before generation only says an answer-bearing span *exists*. A small model
given on-topic passages that lack the answer often still produces one — a figure from a
sentence about another year or place, or a name from its own memory. This check rejects
such answers (the answerer then refuses):

* number questions: at least one quantity of the expected kind in the answer (not one of
  the question's own numbers) must occur in a sentence that supports the question, or in a
  sentence *consistent* with it (same names in the passage, same year and period context,
  right answer type) that shares at least ``MIN_CONSISTENT_COVERAGE`` of its terms — the
  model may find the figure in a sentence worded differently (总收入 for 营收);
* date questions: the same with a year or calendar date;
* entity / list / text questions: at least half of what the answer adds to the question
  (its characters not covered by a question bigram, as runs) must occur in a passage that
  holds a supporting sentence (the name answering 谁/哪个 is often in a sentence that repeats
  few question words), or around a consistent sentence. An entity or list answer that adds only
  dates and figures (谁… → ``2004年``, 哪些企业 → ``6家``) names nothing and is rejected.

Passages are read through ``Passage.usable``: text addressing the model never grounds anything.
"""

from __future__ import annotations

import re
from typing import Sequence

from rag.answer.passages import Passage
from rag.answer.question import QuestionInfo
from rag.answer.support import SentenceScore, sentences_of, unit_matches
from rag.answer.verify import UNSUPPORTED_MARK
from rag.text.citations import normalize_answer, strip_citations
from rag.text.ngrams import char_bigrams, char_ngrams
from rag.text.numbers import extract_quantities, figure_spans, same_quantity

__all__ = ["answer_grounded", "names_something", "novel_segments", "MIN_NOVEL_SHARE"]

MIN_NOVEL_SHARE = 0.5
MIN_CONSISTENT_COVERAGE = 0.3
# Digits, measure and calendar characters, particles: what is left of "2004年" or "7名" once
# figures are removed. An entity answer made only of these names nothing.
_NON_NAME_RE = re.compile(r"[\d.%％的是了在为于和与及约共计有将月日年号时分秒点半第届名位个人家次项]")


def _window(p: Passage, s: SentenceScore) -> str:
    spans = sentences_of(p)
    idx = next((i for i, (a, _b) in enumerate(spans) if a == s.start), None)
    if idx is None:
        return p.usable[s.start:s.end]
    return p.usable[spans[max(0, idx - 1)][0]:spans[min(len(spans) - 1, idx + 1)][1]]


def answer_grounded(answer: str, info: QuestionInfo, passages: Sequence[Passage],
                    supported: Sequence[SentenceScore],
                    scores: Sequence[SentenceScore] = ()) -> tuple[bool, str]:
    """Whether ``answer`` states what ``info`` asks, taken from supporting sentences.

    Args:
        answer: the (verified) answer text.
        info: the analysed (sub-)question.
        passages: the candidate passages the support scores index.
        supported: the supporting sentences (``SentenceScore.supported``).
        scores: all sentence scores (for the consistent-sentence rule of numbers/dates).

    Returns:
        ``(ok, reason)``; ``reason`` is a short Chinese explanation when not ok.
    """
    # the verifier's own flag (〔未核实〕) is not part of what the answer states
    text = strip_citations(answer or "").replace(UNSUPPORTED_MARK, "")
    if not supported:
        return False, "没有能支持回答的句子"
    if info.answer_type in ("number", "date"):
        quantities = [q for q in extract_quantities(text) if not any(same_quantity(q, x) for x in info.quantities)]
        if info.answer_type == "number":
            wanted = [q for q in quantities if unit_matches(q, info)]
        else:
            wanted = [q for q in quantities if q.kind in ("year", "date")
                      and not (q.kind == "year" and int(q.value) in info.years)]
        if not wanted:
            return False, "回答中没有问题所问的" + ("数字" if info.answer_type == "number" else "时间")
        pool = list(supported) + [s for s in scores if not s.supported and s.consistent
                                  and s.coverage >= MIN_CONSISTENT_COVERAGE]
        for s in pool:
            sentence = passages[s.passage].usable[s.start:s.end]
            if any(figure_spans(q.surface, sentence) for q in wanted):
                return True, ""
        return False, "回答中的" + ("数字" if info.answer_type == "number" else "时间") + "不是出自符合问题条件的句子"
    q_norm = normalize_answer(info.norm)
    a_norm = normalize_answer(text)
    segments = novel_segments(a_norm, q_norm)
    if not segments:
        return False, "回答只是重复了问题"
    if info.answer_type in ("entity", "list") and not names_something(segments):
        return False, "回答中只有时间或数字，没有问题所问的名称"
    holders = {s.passage for s in supported}
    around = [_window(passages[s.passage], s) for s in scores
              if s.passage not in holders and s.consistent and s.coverage >= MIN_CONSISTENT_COVERAGE]
    hay = normalize_answer(" ".join([passages[i].usable for i in sorted(holders)] + around))
    total = sum(len(x) for x in segments)
    share = sum(len(x) for x in segments if _grounded(x, hay)) / total
    if share >= MIN_NOVEL_SHARE:
        return True, ""
    return False, "回答的内容不是出自符合问题条件的句子"


def names_something(segments: Sequence[str]) -> bool:
    """Whether the answer's novel segments hold more than dates, figures and particles."""
    rest = "".join(segments)
    for q in extract_quantities(rest):
        rest = rest.replace(q.surface, "")
    return bool(_NON_NAME_RE.sub("", rest))


def novel_segments(answer: str, question: str) -> list[str]:
    """The runs of ``answer`` not covered by a character bigram of ``question`` (both
    normalised): what the answer adds to the question (掩星是利用月球的… → ``月球``)."""
    grams = char_bigrams(question)
    covered = [False] * len(answer)
    for i in range(len(answer) - 1):
        if answer[i:i + 2] in grams:
            covered[i] = covered[i + 1] = True
    out, cur = [], []
    for ch, c in zip(answer, covered):
        if c:
            if cur:
                out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def _grounded(segment: str, hay: str) -> bool:
    """A segment is in the passages verbatim, or (long ones) most of its bigrams are."""
    if segment in hay:
        return True
    grams = char_ngrams(segment, 2)
    return len(grams) >= 2 and sum(g in hay for g in grams) / len(grams) >= MIN_NOVEL_SHARE
