"""Donor → recipient pairs (帮扶方 → 受援方) from one document's sentences (pure functions).

Three generic patterns over the place mentions of a sentence (:mod:`rag.regions.gazetteer`):

1. ``D … VERB R`` within one clause, VERB a helping verb (对口帮扶, 结对帮扶, 对口支援, 帮扶,
   支援, 援建, 援助, 助力, 捐赠 …): D is the last place before the verb, R the place right after
   it (``厦门市对口帮扶我省临夏州``; a chain ``贵州省沿河县`` gives its most specific name; an
   enumeration ``甘南州、天祝县`` gives each).
2. ``D … 对/向/为/给 R … VERB`` in one clause (``天津市对我省的扶贫协作``,
   ``…共向富坪村落实社会帮扶资金``).
3. ``A 与/和/同 B`` in a sentence about pairing (对口帮扶关系, 结对, 扶贫协作 …): undirected,
   unless B is introduced as the partner unit (``与东西部扶贫协作单位天津市和平区``), which
   makes B the helper of the sentence's subject A.

Direction of undirected pairs is settled across the corpus (:mod:`rag.regions.store`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Sequence

from rag.regions.gazetteer import Mention
from rag.text.sentences import split_sentences

__all__ = ["PairHit", "find_pairs", "PAIR_VERBS", "PAIR_KEYWORDS"]

PAIR_VERBS = ("对口帮扶", "结对帮扶", "对口支援", "对口协作", "帮扶", "支援", "援建", "援助", "助力", "捐赠", "捐助",
              "捐献")
PAIR_VERBS_AFTER_OBJECT = PAIR_VERBS + ("扶贫协作", "投入", "援派", "选派")
PAIR_KEYWORDS = ("对口帮扶", "结对帮扶", "对口支援", "对口协作", "扶贫协作", "东西部协作", "结对", "携手奔小康",
                 "帮扶关系", "协作关系")
_VERB_RE = re.compile("|".join(sorted(PAIR_VERBS, key=len, reverse=True)))
_VERB2_RE = re.compile("|".join(sorted(PAIR_VERBS_AFTER_OBJECT, key=len, reverse=True)))
_CLAUSE_END = ",，;；!！?？。"
_PREP = "对向为给"
_PARTNER_RE = re.compile(r"(?:帮扶|协作|结对|对口|援建|援助|支援)(?:单位|方|城市|地区)")
MAX_GAP_AFTER_VERB = 3    # 帮扶助力贵州沿河: "助力" may sit between verb and recipient
MAX_GAP_BEFORE_VERB = 60  # the donor may carry a long subject (张家港9个部门单位、…结对帮扶沿河)
MAX_GAP_SYMMETRIC = 12


@dataclass
class PairHit:
    """One piece of pairing evidence in a document.

    Attributes:
        donor: key of the helping place (or ``?stem`` for a bare word linked later).
        recipient: key of the helped place (same convention).
        relation: the verb or keyword that signals the pairing.
        directed: whether the text says who helps whom.
        start: sentence start in the document text.
        end: sentence end.
    """

    donor: str
    recipient: str
    relation: str
    directed: bool
    start: int
    end: int

    def to_json(self) -> dict:
        return asdict(self)


def _ref(m: Mention) -> str:
    return m.key or "?" + m.stem


def _chains(ms: list[Mention], text: str) -> list[list[Mention]]:
    """Group adjacent mentions (``贵州省沿河县``) into chains; enumerations stay separate."""
    chains: list[list[Mention]] = []
    for m in ms:
        if chains and chains[-1][-1].end == m.start:
            chains[-1].append(m)
        else:
            chains.append([m])
    return chains


def _enumeration(chains: list[list[Mention]], i: int, text: str, step: int) -> list[list[Mention]]:
    """Chain ``i`` plus its neighbours joined by ``、`` / ``和`` / ``及`` in direction ``step``."""
    out = [chains[i]]
    j = i
    while 0 <= j + step < len(chains):
        a, b = (chains[j], chains[j + step]) if step > 0 else (chains[j + step], chains[j])
        if text[a[-1].end:b[0].start] not in ("、", "和", "及", "以及"):
            break
        out.append(chains[j + step])
        j += step
    return out


def _clause_bounds(text: str, start: int, end: int, pos: int) -> tuple[int, int]:
    lo = max([text.rfind(c, start, pos) for c in _CLAUSE_END] + [start - 1]) + 1
    his = [i for c in _CLAUSE_END if (i := text.find(c, pos, end)) >= 0]
    return lo, min(his) if his else end


def _sentence_pairs(text: str, s: int, e: int, ms: list[Mention]) -> list[PairHit]:
    out: list[PairHit] = []
    chains = _chains(ms, text)

    def emit(donors: list[list[Mention]], recips: list[list[Mention]], relation: str, directed: bool) -> None:
        for d in donors:
            for r in recips:
                dk, rk = _ref(d[-1]), _ref(r[-1])
                if dk != rk and dk not in {_ref(x) for x in r} and rk not in {_ref(x) for x in d}:
                    out.append(PairHit(dk, rk, relation, directed, s, e))

    sentence = text[s:e]
    for m in _VERB_RE.finditer(sentence):
        v, ve = s + m.start(), s + m.end()
        lo, hi = _clause_bounds(text, s, e, v)
        before = [i for i, c in enumerate(chains) if lo <= c[0].start and c[-1].end <= v]
        after = [i for i, c in enumerate(chains) if ve <= c[0].start < hi]
        if not before or not after:
            continue
        d, r = before[-1], after[0]
        if v - chains[d][-1].end > MAX_GAP_BEFORE_VERB or chains[r][0].start - ve > MAX_GAP_AFTER_VERB:
            continue
        if chains[d][0].start > 0 and text[chains[d][0].start - 1] in _PREP:
            continue  # 向沿河捐赠: the place before the verb is its object
        emit(_enumeration(chains, d, text, -1), _enumeration(chains, r, text, 1), m.group(), True)
    for i, c in enumerate(chains):  # D … 对/向/为/给 R … VERB
        p = c[0].start - 1
        if p < s or text[p] not in _PREP:
            continue
        lo, hi = _clause_bounds(text, s, e, c[0].start)
        vm = _VERB2_RE.search(text, c[-1].end, hi)
        if not vm:
            continue
        before = [j for j in range(i) if lo <= chains[j][0].start and chains[j][-1].end <= p]
        if not before:
            continue
        d = before[-1]
        emit(_enumeration(chains, d, text, -1), [c], vm.group(), True)
    keyword = next((k for k in PAIR_KEYWORDS if k in sentence), None)
    if keyword:
        for i, c in enumerate(chains[1:], 1):
            gap_start = max((text.rfind(w, s, c[0].start) for w in "与和同"), default=-1)
            if gap_start < 0 or c[0].start - gap_start - 1 > MAX_GAP_SYMMETRIC:
                continue
            gap = text[gap_start + 1:c[0].start]
            if any(ch in gap for ch in _CLAUSE_END):
                continue
            before = [j for j in range(i) if chains[j][-1].end <= gap_start]
            if not before:
                continue
            a = before[-1]
            if _PARTNER_RE.search(gap):
                emit([c], [chains[a]], keyword, True)
            elif text[chains[a][-1].end:gap_start].strip(" 0123456789个所家") == "" or gap_start - chains[a][-1].end <= 12:
                emit([chains[a]], [c], keyword, False)
    return out


def find_pairs(text: str, mentions: Sequence[Mention]) -> list[PairHit]:
    """Pairing evidence in one document.

    Args:
        text: the normalised document text.
        mentions: its place mentions (:func:`rag.regions.gazetteer.analyze_text`).

    Returns:
        One :class:`PairHit` per (donor, recipient, sentence), in text order.
    """
    ms = sorted(mentions, key=lambda m: m.start)
    out: list[PairHit] = []
    seen: set[tuple[str, str, int]] = set()
    for s, e in split_sentences(text):
        inside = [m for m in ms if s <= m.start and m.end <= e]
        if len(inside) < 2:
            continue
        for hit in _sentence_pairs(text, s, e, inside):
            key = (hit.donor, hit.recipient, hit.start)
            rev = (hit.recipient, hit.donor, hit.start)
            if key in seen or (rev in seen and not hit.directed):
                continue
            seen.add(key)
            out.append(hit)
    return out
