"""Labels of the key figures: a short description made of whole words of the figure's sentence.

The raw *measure* of :mod:`rag.summarize.figures` (the clause text before a figure, used to
match figures across documents) can start inside a word and run long. The label is built
from the sentence's segmenter words (:func:`rag.text.tokenize.tagged_words`), so it never
starts or ends inside a word:

* the measure's span is widened to whole words, and its trailing run of content words
  (function words, punctuation and numbers end a run) is kept;
* a run that opens with a subject (a place or organisation name) and its verb keeps only what
  follows the verb (the object: ``X村落实社会帮扶资金`` → ``社会帮扶资金``); otherwise one
  leading verb is dropped when enough remains (``捐赠帮扶资金`` → ``帮扶资金``);
* a money figure in a sentence that states one directed pairing (donor → recipient, found by
  the gazetteer) gets the two names as its subject: ``甲区→乙县 帮扶资金``;
* at most :data:`MAX_LABEL` characters, leading words dropped first.

:func:`group_rows` orders table rows so that rows of one label (and of one conflict group)
sit together, in order of first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rag.regions.gazetteer import analyze_text
from rag.regions.pairs import find_pairs
from rag.text.numbers import extract_quantities
from rag.text.tokenize import ADMIN_SUFFIXES, tagged_words

__all__ = ["MAX_LABEL", "Word", "SentenceLabeler", "quantity_spans", "group_rows"]

MAX_LABEL = 16
_STOP_TAGS = frozenset("p c u uj ul uz ug uv ud d r y e o t f".split())
_NEGATIONS = frozenset("未 不 非 无 没 没有 尚未 并未".split())  # part of the measure: 未脱贫人口
_JOINERS = frozenset("p c u uj ul uz ug uv ud".split())  # never widened over: 的, 和, 向
_PROPER_TAGS = frozenset("ns nr nt nz nrt nrfg j".split())


@dataclass(frozen=True)
class Word:
    """One segmenter word of the sentence."""

    text: str
    tag: str
    start: int
    end: int


def _cjk(s: str) -> bool:
    return bool(s) and all("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in s)


def _content(w: Word) -> bool:
    return _cjk(w.text) and (w.tag not in _STOP_TAGS or w.text in _NEGATIONS)


def _text(words: Sequence[Word]) -> str:
    return "".join(w.text for w in words)


class SentenceLabeler:
    """Labels for the figures of one sentence (segmentation and pairings computed once).

    Args:
        text: the fact sentence.
    """

    def __init__(self, text: str):
        self.text = text
        self.words = [Word(*t) for t in tagged_words(text, quantity_spans(text))]
        self.mentions = [m for m in analyze_text(text) if m.key]
        self.pairs = {(h.donor, h.recipient) for h in find_pairs(text, self.mentions)
                      if h.directed and not h.donor.startswith("?") and not h.recipient.startswith("?")}

    def label(self, start: int, end: int, measure: str, kind: str) -> str:
        """The label of the figure at ``text[start:end]`` whose raw measure is ``measure``.

        Args:
            start: figure start in the sentence.
            end: figure end.
            measure: the raw measure (:func:`rag.summarize.figures.figure_rows`).
            kind: money | percent | count (only money gets a donor → recipient subject).

        Returns:
            A non-empty label of whole words (a ``A→B`` subject and the measure, space-separated).
        """
        core, span = self._core(start, end, measure)
        prefix = self._pair_prefix(span) if kind == "money" and span else ""
        if prefix and all(n in _text(core) for n in prefix.split("→")):
            prefix = ""  # the measure names both already
        room = MAX_LABEL - (len(prefix) + 1 if prefix else 0)
        if prefix and room < 4:
            prefix, room = "", MAX_LABEL
        while len(core) > 1 and len(_text(core)) > room:
            core = core[1:]
        return (prefix + " " if prefix else "") + _text(core)

    # -- the measure part -------------------------------------------------------------------------------
    def _span_words(self, a: int, b: int) -> list[Word]:
        """Words overlapping ``[a, b)`` (a cut word at the start is taken whole)."""
        return [w for w in self.words if w.end > a and w.start < b and (w.end <= b or w.start >= a)]

    def _locate(self, start: int, end: int, measure: str) -> tuple[list[Word], list[Word]]:
        """Words of the measure before the figure and of a counted noun after it."""
        text = self.text
        if measure:
            i = text.rfind(measure, 0, start)
            if i >= 0:
                return self._span_words(i, i + len(measure)), []
            for k in range(len(measure)):
                if text.startswith(measure[k:], end):
                    i = text.rfind(measure[:k], 0, start) if k else -1
                    before = self._span_words(i, i + k) if i >= 0 else []
                    return before, self._span_words(end, end + len(measure) - k)
        return [], []

    def _core(self, start: int, end: int, measure: str) -> tuple[list[Word], list[Word]]:
        """The measure's words, and the words of the measure span before the figure (if any)."""
        before, after = self._locate(start, end, measure)
        after = _strip_tail(after)
        while after and not _content(after[0]):
            after = after[1:]
        after = after[:next((i for i, w in enumerate(after) if not _cjk(w.text)), len(after))]
        if len(_text(after)) >= 2:
            return after, []
        context = self._clause_before(start)
        for words in (before, context, self._clause_after(end)):
            core = self._phrase(_strip_tail(words), words if words and words[0].start >= end else context)
            if core:
                return core, words if words is before else []
        near = sorted((w for w in self.words if _cjk(w.text)), key=lambda w: min(abs(w.end - start), abs(w.start - end)))
        return near[:1] or [Word(self.text[start:end], "", start, end)], []

    def _clause_before(self, start: int) -> list[Word]:
        out: list[Word] = []
        for w in self.words:
            if w.end > start:
                break
            out = [] if w.text in "，,;；。:：" else out + [w]
        return out

    def _clause_after(self, end: int) -> list[Word]:
        out: list[Word] = []
        for w in self.words:
            if w.start < end:
                continue
            if w.text in "，,;；。:：":
                break
            out.append(w)
        return out

    def _phrase(self, words: list[Word], span: list[Word]) -> list[Word]:
        """The trailing run of content words, subject and leading verb cut, widened if tiny."""
        run: list[Word] = []
        for w in reversed(words):
            if not _content(w):
                break
            run.insert(0, w)
        cut = next((i for i, w in enumerate(run) if w.tag == "v" and any(self._proper(x) for x in run[:i])), -1)
        if 0 <= cut < len(run) - 1:
            run = run[cut + 1:]
        elif len(run) >= 2 and run[0].tag == "v" and len(_text(run[1:])) >= 4:
            run = run[1:]
        i = span.index(run[0]) if run and run[0] in span else -1
        while (run and (len(_text(run)) < 3 or len(run[0].text) == 1) and i > 0 and _cjk(span[i - 1].text)
               and span[i - 1].tag not in _JOINERS):
            i -= 1
            run.insert(0, span[i])  # 各类资金, not 资金; 亩均收益, not 均收益
        return run

    def _proper(self, w: Word) -> bool:
        return (w.tag in _PROPER_TAGS or (len(w.text) >= 3 and w.text[-1] in ADMIN_SUFFIXES)
                or any(m.start < w.end and w.start < m.end for m in self.mentions))

    # -- the subject ----------------------------------------------------------------------------------------
    def _pair_prefix(self, span: list[Word]) -> str:
        """``donor→recipient`` when exactly one directed pairing of the sentence has both names
        written, as whole words, in the measure's span before the figure."""
        lo, hi = span[0].start, span[-1].end
        found = set()
        for donor, recipient in self.pairs:
            names = []
            for key in (donor, recipient):
                ms = [m for m in self.mentions if m.key == key and lo <= m.start and m.end <= hi
                      and self._whole(m.start, m.end)]
                if ms:
                    names.append(ms[-1].surface)
            if len(names) == 2:
                found.add("→".join(names))
        return found.pop() if len(found) == 1 else ""

    def _whole(self, a: int, b: int) -> bool:
        starts, ends = {w.start for w in self.words}, {w.end for w in self.words}
        return a in starts and b in ends


def quantity_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the figures of ``text``: single tokens for the segmenter."""
    return [(q.start, q.end) for q in extract_quantities(text)]


def _strip_tail(words: list[Word]) -> list[Word]:
    words = list(words)
    while words and not _content(words[-1]):
        words.pop()
    return words


def group_rows(rows: Sequence[Any]) -> list[Any]:
    """Rows reordered so that rows with the same ``label`` (and all rows of one ``conflict``
    group) are adjacent; groups in order of first appearance, rows in their order within."""
    key_of_conflict: dict[int, str] = {}
    groups: dict[str, list[Any]] = {}
    for r in rows:
        key = r.label
        if r.conflict is not None:
            key = key_of_conflict.setdefault(r.conflict, key)
        groups.setdefault(key, []).append(r)
    return [r for g in groups.values() for r in g]
