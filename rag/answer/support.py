"""Support check: is there an answer-bearing span for what the question asks?

Each sentence of each passage is scored against the :class:`~rag.answer.question.QuestionInfo`:

* ``coverage`` — weighted share of the question's content terms found in the sentence,
  its neighbours (one before, one after) and the document title;
* ``names_ok`` — every name-like term (places, organisations, quoted titles, Latin tokens)
  occurs in the sentence, the sentence before it or the document title (one may be missing
  when the question has three or more);
* ``periods_ok`` — the question's periods (全年, 一季度, 8月…) are in the sentence's context and
  the sentence is not about another part of the year (a 第四季度 figure for a 全年 question);
  a part-of-year figure when the question names none only ranks lower;
* ``years_ok`` — every year the question asks about is the sentence's time context: a year
  written in the sentence, else the nearest earlier sentence of the passage that mentions
  one, with 今年/去年 resolved from the document date. Unknown context (no year anywhere)
  passes but is marked ``year_unknown``;
* ``target_ok`` — when the question names a receiving side (``向靖远县投入``), the sentence does
  not give to another named place instead (``共向富坪村落实…资金``) unless it also names the
  question's;
* ``typed`` — answer-type evidence *in the sentence itself*: for a number question a
  quantity of the expected kind/unit that is not one of the question's own numbers
  (years and calendar dates never count); for a date question a year or date other
  than the question's years; for an entity question a name-like token (person, place,
  organisation, Latin word, quoted title) the question does not contain, in the sentence or
  its neighbours; list/text questions need no typed evidence.

A sentence **supports** the question when all of these hold and ``coverage`` reaches the
threshold; a sentence that is itself a question (ends in ？) never does. With the evidence judge
(:mod:`rag.answer.rerank`), a sentence whose window the judge scores at least
``judge.trust_above`` also supports when nothing in it contradicts the question (names in the
passage, year, period, receiving side): the keyword rules (coverage, focus, answer type) are
tuned to news figures and miss answers worded otherwise. The judge acts only when the rules find
no support: then its trusted sentences support and lead the evidence. When the rules find support
they stand alone (on the seed news the judge scores a 5200万元 funds sentence 0.07 and a
neighbouring 516.2万元 one 0.81; adding its sentences there changed a correct answer). Everything here reads
``Passage.usable``: blank for a passage from an article that addresses the model
(``Passage.withheld``), so such text is never scored and never supplies a name, a year or a figure. No supporting sentence → the answerer refuses without calling the LLM. The same
scores pick the evidence sentences and the extractive answer, and
:func:`rag.answer.postcheck.answer_grounded` checks after generation that the answer's
figures/content come from supporting (or at least consistent) sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from rag.answer.passages import Passage, passage_year
from rag.answer.question import QuestionInfo, is_generic_place, name_spans, term_in, year_parts
from rag.regions.lexicon import REF_RE, SUFFIX_LEVEL
from rag.text.numbers import Quantity, extract_quantities, same_quantity
from rag.text.sentences import split_sentences

__all__ = ["SentenceScore", "SupportResult", "score_sentences", "check_support", "sentences_of", "unit_matches",
           "DEFAULT_MIN_COVERAGE"]

DEFAULT_MIN_COVERAGE = 0.5
_YEAR_IN_TEXT = re.compile(r"(?<![\d.])((?:19|20)\d{2})(?![\d.%])(?!\s*(?:万|亿|元|人|名|个|件|吨|米|公里|亩|户|家|多|余))")
_CLASSIFIERS = set("个家所座间项处只条件台套支部组")
# per passage: the judge's centre sentences (start, end, score), or None without the judge
Judged = Sequence[Sequence[tuple[int, int, float]]] | None
_PEOPLE = {"人", "名", "位", "人次"}
_TIME_WORDS = re.compile(r"今年|本年|去年|上年|明年")
_QUESTION_END = re.compile(r"[？?]\s*$")
_GIVE_RE = re.compile(r"[向给]")


@dataclass
class SentenceScore:
    """Scores of one sentence for one question (see the module docstring).

    ``coverage`` counts a term found in the sentence fully and one found only in the
    neighbouring sentences or the title at half weight.
    """

    passage: int
    start: int
    end: int
    coverage: float
    names_ok: bool
    years_ok: bool
    year_unknown: bool
    focus_ok: bool = True
    periods_ok: bool = True
    typed: list[Quantity] = field(default_factory=list)
    type_ok: bool = True
    supported: bool = False
    names_in_passage: bool = True
    partial_period: bool = False
    target_ok: bool = True
    # the evidence judge's score of the window centred here (None without the judge), and whether
    # it reaches judge.trust_above with nothing contradicting the question (names in the passage,
    # year and period context, receiving side): such a sentence supports without the keyword rules
    judge: float | None = None
    judge_ok: bool = False

    @property
    def consistent(self) -> bool:
        """Nothing in the sentence contradicts the question: names in its passage, the year and
        period context and the answer type match (relevance — focus, coverage — not required).
        Used after generation to accept a figure the model took from a related sentence."""
        return self.names_in_passage and self.years_ok and self.periods_ok and self.type_ok

    @property
    def gates_ok(self) -> bool:
        """All hard conditions (names, years, periods, focus, target, answer type) hold."""
        return (self.names_ok and self.years_ok and self.periods_ok and self.focus_ok and self.type_ok
                and self.target_ok)

    @property
    def score(self) -> float:
        """Ranking score: coverage, plus a bonus for typed evidence, minus unknown time context."""
        bonus = 0.25 if (self.typed and self.type_ok) else 0.0
        # unknown time context; a figure for a part of the year when none was asked
        penalty = (0.1 if self.year_unknown else 0.0) + (0.15 if self.partial_period else 0.0)
        return (self.coverage + bonus - penalty) * (1.0 if self.gates_ok else 0.4)


@dataclass
class SupportResult:
    """Outcome of :func:`check_support`.

    ``best``: the supporting sentences best first (when unsupported: the best near misses);
    ``scores``: every sentence's score, best first (for evidence selection).
    """

    supported: bool
    best: list[SentenceScore]
    reason: str = ""
    scores: list[SentenceScore] = field(default_factory=list)


@lru_cache(maxsize=4096)
def _sentences(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(split_sentences(text))


def sentences_of(p: Passage) -> list[tuple[int, int]]:
    """Sentence spans of a passage's normalised text, suspected instructions to the model left out."""
    return list(_sentences(p.usable))


def _years_in(text: str, doc_year: int | None) -> set[int]:
    years = {int(m.group(1)) for m in _YEAR_IN_TEXT.finditer(text)}
    if doc_year:
        for m in _TIME_WORDS.finditer(text):
            word = m.group(0)
            years.add(doc_year - 1 if word in ("去年", "上年") else doc_year + 1 if word == "明年" else doc_year)
    return years


def unit_matches(q: Quantity, info: QuestionInfo) -> bool:
    """Whether quantity ``q`` could answer number question ``info`` (kind/unit, not a year/date,
    not one of the question's own numbers)."""
    if q.kind in ("year", "date"):
        return False
    if any(same_quantity(q, x) for x in info.quantities):
        return False
    if info.kind == "money":
        return q.kind == "money"
    if info.kind == "percent":
        return q.kind == "percent" or q.unit == "百分点"
    if info.kind == "count" and info.unit:
        u = info.unit
        if u in _PEOPLE:
            return q.unit in _PEOPLE or q.unit == "" and q.value == int(q.value)
        if u in _CLASSIFIERS:
            return q.unit in _CLASSIFIERS or q.unit == ""
        return q.unit == u or q.unit == "" or (u == "年" and q.unit == "年")
    return True


def _gives_elsewhere(p: Passage, a: int, b: int, info: QuestionInfo) -> bool:
    """Whether sentence ``p.text[a:b]`` gives to a named place (向/给 + name) while naming none of
    the question's receiving side (``info.targets``): its figure is about another recipient."""
    if not info.targets:
        return False
    sent = p.text[a:b].lower()
    if any(term_in(t, sent) for t in info.targets):
        return False
    starts = {x for x, y in name_spans(p.text) if a <= x and y <= b and not is_generic_place(p.text[x:y])}
    return any(m.end() in starts for m in _GIVE_RE.finditer(p.text, a, b))


def _new(word: str, info: QuestionInfo) -> bool:
    w = word.lower()
    return w not in info.norm.lower() and not is_generic_place(w)


def _has_new_name(p: Passage, a: int, b: int, info: QuestionInfo) -> bool:
    """Whether ``p.usable[a:b]`` holds a name-like token the question does not already contain."""
    return any(a <= x and y <= b and _new(p.usable[x:y], info) for x, y in name_spans(p.usable))


def _typed(sentence: str, info: QuestionInfo) -> tuple[list[Quantity], bool]:
    """(typed evidence in the sentence, whether the answer type is satisfied)."""
    if info.answer_type == "number":
        found = [q for q in extract_quantities(sentence) if unit_matches(q, info)]
        return found, bool(found)
    if info.answer_type == "date":
        found = [q for q in extract_quantities(sentence)
                 if q.kind in ("year", "date") and not (q.kind == "year" and int(q.value) in info.years)]
        return found, bool(found)
    return [], True


def _deictic(term: str, sentence: str, context: str) -> bool:
    """``全县`` / ``该县`` / ``本县`` in the sentence stands for the county (city, district…) the text
    is about: a suffixed place name of the question counts as present when the sentence refers to
    a place of its level that way and the title or the text before the sentence names it."""
    if len(term) < 3 or term[-1] not in SUFFIX_LEVEL:
        return False
    return any(m.group(2) == term[-1] for m in REF_RE.finditer(sentence)) and term_in(term, context)


def _coverage(info: QuestionInfo, sentence: str, window: str, title: str, before: str = "") -> float:
    if not info.terms:
        return 1.0
    sent, around = sentence.lower(), (window + " " + title).lower()
    context = (title + " " + before).lower()
    total = got = 0.0
    for t in info.terms:
        w = info.term_weight(t)
        total += w
        here = term_in(t, sent) or (t in info.names and _deictic(t, sent, context))
        got += w if here else 0.5 * w if term_in(t, around) else 0.0
    return got / total if total else 1.0


def score_sentences(info: QuestionInfo, passages: Sequence[Passage], *,
                    min_coverage: float = DEFAULT_MIN_COVERAGE, judged: Judged = None,
                    trust: float = 1.0) -> list[SentenceScore]:
    """Score every sentence of every passage for ``info``.

    Args:
        info: the analysed question.
        passages: candidate passages (normalised ``text``).
        min_coverage: coverage a supporting sentence needs.
        judged: per passage, the evidence judge's centre sentences ``(start, end, score)``
            (:class:`rag.answer.rerank.Reranked`); None without the judge.
        trust: judge score from which a sentence is ``judge_ok`` (``judge.trust_above``);
            :func:`check_support` lets such sentences support when the rules find none.

    Returns:
        All sentence scores, best first (ties: passage order, then position). A sentence
        repeated by an overlapping chunk of the same document is scored once.
    """
    out: list[SentenceScore] = []
    seen: set[tuple[str, str]] = set()
    for pi, p in enumerate(passages):
        own = list(judged[pi]) if judged is not None and pi < len(judged) else None
        out += _score_passage(info, pi, p, seen, min_coverage, own, trust)
    order = {id(s): i for i, s in enumerate(out)}
    out.sort(key=lambda s: (-s.score, order[id(s)]))
    return out


def _names_missing(names: Sequence[str], text: str, title: str) -> int:
    return sum(not (term_in(n, text) or term_in(n, title)) for n in names)


def _judge_of(judged: list[tuple[int, int, float]] | None, a: int, b: int) -> float | None:
    """Best judge score of the windows centred in sentence ``[a, b)`` (None: not judged)."""
    if judged is None:
        return None
    return max((sc for ja, _jb, sc in judged if a <= ja < b), default=0.0)


def _score_passage(info: QuestionInfo, pi: int, p: Passage, seen: set[tuple[str, str]],
                   min_coverage: float, judged: list[tuple[int, int, float]] | None = None,
                   trust: float = 1.0) -> list[SentenceScore]:
    spans = sentences_of(p)
    title = (p.title or "").lower()
    allowed = 1 if len(info.names) >= 3 else 0  # one name may be missing when there are many
    text = p.usable
    in_passage = _names_missing(info.names, text.lower(), title) <= allowed
    doc_year = passage_year(p)
    asked_parts = year_parts(info.norm)
    context: set[int] = set()
    out = []
    for si, (a, b) in enumerate(spans):
        sent = text[a:b]
        own = _years_in(sent, doc_year)
        if own:
            context = own
        key = (p.doc_id or str(pi), sent)
        if key in seen:
            continue
        seen.add(key)
        wa, wb = spans[max(0, si - 1)][0], spans[min(len(spans) - 1, si + 1)][1]
        window = text[wa:wb]
        # names are introduced before a sentence (or in the title), not after it
        names_ok = in_passage and _names_missing(info.names, text[wa:b].lower(), title) <= allowed
        unknown, years_ok = False, True
        if info.years:
            ctx = context or ({doc_year} if doc_year else set())
            unknown = not ctx
            years_ok = unknown or all(y in ctx for y in info.years)
        focus_ok = (info.answer_type != "number" or not info.focus
                    or any(term_in(t, sent.lower()) for t in info.focus)) and not _QUESTION_END.search(sent)
        own_parts = year_parts(sent)
        periods_ok = all(x in window for x in info.periods) and not (
            asked_parts and own_parts and not (own_parts & asked_parts))
        typed, type_ok = _typed(sent, info)
        if info.answer_type == "entity":
            type_ok = _has_new_name(p, wa, wb, info)
        s = SentenceScore(pi, a, b, _coverage(info, sent, window, title, p.text[:a]), names_ok, years_ok, unknown,
                          focus_ok, periods_ok, typed, type_ok, names_in_passage=in_passage,
                          partial_period=bool(own_parts - {"全年"}) and not asked_parts,
                          target_ok=not _gives_elsewhere(p, a, b, info))
        s.judge = _judge_of(judged, a, b)
        s.judge_ok = (s.judge is not None and s.judge >= trust and in_passage and years_ok and periods_ok
                      and s.target_ok and not _QUESTION_END.search(sent))
        s.supported = s.gates_ok and s.coverage >= min_coverage  # the rules; check_support may add the judge's
        out.append(s)
    return out


def check_support(info: QuestionInfo, passages: Sequence[Passage], *,
                  min_coverage: float = DEFAULT_MIN_COVERAGE, judged: Judged = None,
                  trust: float = 1.0) -> SupportResult:
    """Decide whether the passages hold an answer-bearing span for the question.

    Args:
        info: the analysed question.
        passages: candidate passages.
        min_coverage: coverage a supporting sentence needs (``answer.min_coverage``).
        judged, trust: the evidence judge's sentence scores and trust level (see
            :func:`score_sentences`): a judge-trusted sentence supports without the keyword rules.

    Returns:
        ``supported`` plus the supporting sentences best first (or, when unsupported, the
        best near misses) and a short Chinese ``reason`` when unsupported.
    """
    scores = score_sentences(info, passages, min_coverage=min_coverage, judged=judged, trust=trust)
    good = [s for s in scores if s.supported]
    if good:  # the rules found support: on news figures they read better than the judge, theirs stand
        return SupportResult(True, good, "", scores)
    trusted = sorted((s for s in scores if s.judge_ok), key=lambda s: -(s.judge or 0.0))
    if trusted:  # the rules found none: the judge's sentences support and lead the evidence
        for s in trusted:
            s.supported = True
        return SupportResult(True, trusted, "", trusted + [s for s in scores if not s.supported])
    if not scores:
        return SupportResult(False, [], "没有可用的段落", scores)
    pool = [s for s in scores if s.names_ok]
    if not pool:
        missing = [n for n in info.names if not any(
            term_in(n, p.usable.lower()) or term_in(n, (p.title or "").lower()) for p in passages)]
        reason = f"段落中没有提到{'、'.join(missing)}" if missing else \
            f"段落中没有把{'、'.join(info.names)}放在一起说的内容"
    elif info.years and not any(s.years_ok for s in pool if s.type_ok):
        reason = f"段落中没有关于{'、'.join(str(y) for y in info.years)}年的相应内容"
    elif info.periods and not any(s.periods_ok for s in pool if s.type_ok and s.years_ok):
        reason = f"段落中没有关于{'、'.join(info.periods)}的相应内容"
    elif not any(s.type_ok and s.years_ok for s in pool):
        reason = {"number": "段落中没有与问题对应的数字", "date": "段落中没有与问题对应的时间"}.get(
            info.answer_type, "段落中没有与问题对应的内容")
    else:
        reason = "段落与问题的关键词对不上"
    return SupportResult(False, scores[:3], reason, scores)
