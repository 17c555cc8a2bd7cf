"""Counterfactual pairs made from an answer-bearing window.

RGB's negative passages talk about the question's topic but another year, event or product.
Such negatives are made here from positives: an *anchor* the question asks about (a year, an
ordinal such as 第三届, another number, or a name found by jieba's POS tags) that also occurs in
the window outside the answer is replaced — in the window (the text now talks about another
year/name) or in the question (the question now asks about one the text never mentions) — by
another value of the same kind. The answer-bearing form of the window stays, so a model cannot
tell the pair apart by the presence of an answer-like span, only by the mismatch.

The same replacement applied to *both* sides gives a positive, so the replaced wording itself
carries no signal.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

_YEAR_RE = re.compile(r"(?<![\d.])(1[5-9]\d{2}|20\d{2})(?=\s*年)")
_CN_DIGITS = "一二三四五六七八九"
_ORDINAL_RE = re.compile(r"第\s*(\d{1,3}|[一二三四五六七八九十]{1,3})\s*(?=[届次期季代任部集轮批号艘位名个])")
_NUMBER_RE = re.compile(r"(?<![\d.])\d{1,3}(?![\d.%年])")
# jieba POS tags of names: person, place, organisation, other proper noun, abbreviation, Latin.
NAME_FLAGS = frozenset({"nr", "nrt", "nrfg", "ns", "nt", "nz", "j", "eng"})
# Abbreviations (j) are too noisy as replacement values: organisations replace them.
POOL_OF = {"j": "nt", "nrfg": "nr"}


@dataclass(frozen=True)
class Anchor:
    """Something the question asks about that the window also mentions."""

    kind: str  # year | ordinal | number | name:<flag>
    value: str


@dataclass(frozen=True)
class Swap:
    """One counterfactual pair: ``label`` 1.0 for a consistent swap, 0.0 for a mismatch."""

    question: str
    text: str
    label: float
    kind: str


def _positions(text: str, value: str) -> list[int]:
    """Starts of ``value`` in ``text``; a value ending or starting in a digit must not touch other digits."""
    out = []
    pos = text.find(value)
    while pos >= 0:
        end = pos + len(value)
        clean_left = not (value[0].isdigit() and pos > 0 and text[pos - 1].isdigit())
        clean_right = not (value[-1].isdigit() and end < len(text) and text[end].isdigit())
        if clean_left and clean_right:
            out.append(pos)
        pos = text.find(value, pos + 1)
    return out


def _outside(text: str, value: str, span: tuple[int, int]) -> bool:
    """``value`` occurs in ``text`` at least once not overlapping ``span``."""
    a, b = span
    return any(p + len(value) <= a or p >= b for p in _positions(text, value))


def _replace_outside(text: str, old: str, new: str, span: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """Replace every ``old`` not overlapping ``span``; returns the new text and shifted span."""
    a, b = span
    out: list[str] = []
    last = 0
    shift_a = shift_b = 0
    for pos in _positions(text, old):
        end = pos + len(old)
        if pos < last or not (end <= a or pos >= b):
            continue
        out += [text[last:pos], new]
        last = end
        if end <= a:
            shift_a += len(new) - len(old)
        if end <= b:
            shift_b += len(new) - len(old)
    out.append(text[last:])
    return "".join(out), (a + shift_a, b + shift_b)


def _still_has(text: str, value: str) -> bool:
    return bool(_positions(text, value))


def find_anchors(question: str, text: str, span: tuple[int, int], *, names: Iterable[tuple[str, str]] = ()) -> list[Anchor]:
    """Anchors of ``question`` that occur in ``text`` outside the answer ``span``.

    Args:
        question: normalised question.
        text: normalised window containing the answer at ``span``.
        span: answer span in ``text``.
        names: (word, POS flag) pairs of the question (jieba), already computed by the caller.

    Returns:
        Anchors, years first, without duplicates.
    """
    found: list[Anchor] = []
    seen: set[str] = set()

    def add(kind: str, value: str) -> None:
        if value and value not in seen and _outside(text, value, span):
            seen.add(value)
            found.append(Anchor(kind, value))

    for m in _YEAR_RE.finditer(question):
        add("year", m.group(1))
    for m in _ORDINAL_RE.finditer(question):
        add("ordinal", m.group(0))
    for m in _NUMBER_RE.finditer(question):
        if not any(m.group(0) in a.value for a in found):
            add("number", m.group(0))
    for word, flag in names:
        if flag in NAME_FLAGS and len(word) >= 2 and not any(word in a.value or a.value in word for a in found):
            add(f"name:{flag}", word)
    return found


def _other_ordinal(value: str, rng: random.Random) -> str:
    m = re.match(r"第\s*(\d{1,3}|[一二三四五六七八九十]{1,3})", value)
    assert m is not None
    num = m.group(1)
    if num.isdigit():
        new = str(max(1, int(num) + rng.choice([-2, -1, 1, 2, 3])))
        if new == num:
            new = str(int(num) + 1)
    else:
        choices = [c for c in _CN_DIGITS if c != num]
        new = rng.choice(choices)
    return value.replace(num, new, 1)


def replacement(anchor: Anchor, rng: random.Random, pools: dict[str, Sequence[str]],
                avoid: str) -> str | None:
    """Another value of the anchor's kind that does not occur in ``avoid``; None if none found."""
    for _ in range(8):
        if anchor.kind == "year":
            new = str(int(anchor.value) + rng.choice([-3, -2, -1, 1, 1, 2, 3, 5]))
        elif anchor.kind == "ordinal":
            new = _other_ordinal(anchor.value, rng)
        elif anchor.kind == "number":
            n = int(anchor.value)
            new = str(max(0, n + rng.choice([-2, -1, 1, 2]) if n < 20 else n + rng.randint(-n // 3, n // 3) or 1))
        else:
            flag = anchor.kind.split(":", 1)[1]
            pool = pools.get(POOL_OF.get(flag, flag)) or ()
            if not pool:
                return None
            picks = [rng.choice(pool) for _ in range(6)]
            new = next((w for w in picks if len(w) == len(anchor.value)), picks[0])
        if new != anchor.value and new not in avoid and anchor.value not in new and new not in anchor.value:
            return new
    return None


def make_swaps(question: str, text: str, span: tuple[int, int], rng: random.Random, *,
               names: Iterable[tuple[str, str]] = (), pools: dict[str, Sequence[str]] | None = None,
               p_consistent: float = 0.5) -> list[Swap]:
    """Counterfactual pairs for one positive (question, window) with the answer at ``span``.

    One anchor is picked at random (years and ordinals preferred when present); for a name the
    mismatch is made on the window side or the question side with equal odds, for a year,
    ordinal or number on both. With ``p_consistent`` a consistent swap (both sides, label 1.0)
    is added.

    Returns:
        Zero (no anchor) to three :class:`Swap` pairs.
    """
    anchors = find_anchors(question, text, span, names=names)
    if not anchors:
        return []
    strong = [a for a in anchors if a.kind in ("year", "ordinal")]
    anchor = rng.choice(strong if strong and rng.random() < 0.7 else anchors)
    new = replacement(anchor, rng, pools or {}, avoid=question + text)
    if new is None:
        return []
    kind = anchor.kind.split(":", 1)[0]
    out: list[Swap] = []
    # Years, ordinals and numbers (RGB's other-year negatives) get both mismatch sides.
    sides = ("text", "question") if kind != "name" else (rng.choice(("text", "question")),)
    for side in sides:
        if side == "text":
            swapped, _ = _replace_outside(text, anchor.value, new, span)
            if not _still_has(swapped, anchor.value):  # a copy inside the answer would keep it: not a clean mismatch
                out.append(Swap(question, swapped, 0.0, f"cf_text_{kind}"))
        else:
            out.append(Swap(_replace_outside(question, anchor.value, new, (0, 0))[0], text, 0.0, f"cf_question_{kind}"))
    if rng.random() < p_consistent:
        both, _ = _replace_outside(text, anchor.value, new, span)
        if not _still_has(both, anchor.value):
            out.append(Swap(_replace_outside(question, anchor.value, new, (0, 0))[0], both, 1.0, f"cf_both_{kind}"))
    return out
