"""Place-name mentions in one document (pure functions over its normalised text).

A mention is found in four ways, all generic (no list of the corpus's places):

* ``full`` — a name with an administrative suffix: ``张家港市``, ``广信区``, ``富坪村``, and the
  ethnic autonomous forms ``沿河土家族自治县`` (→ ``沿河县``). The stem's left edge follows
  jieba's word boundaries; stems that are descriptions (``贫困村``, ``山区``, ``14个深度贫困县``)
  are rejected with the generic vocabulary of :mod:`rag.regions.lexicon`.
* ``short`` — the stem of a full form used in the same document (``沿河``, ``广信``).
* ``bare`` — a word jieba's dictionary tags as a place (``厦门``, ``青岛``) or a provincial-level
  name (``甘肃``); linked to a region of the whole corpus later (:mod:`rag.regions.store`).
* ``ref`` — ``该区`` / ``全县`` / ``我省``: the document's main region of that level.

Every span indexes the document's ``text`` (and ``original``: same length), so the surface
in the original script (``廣信區``) is an alias of the Simplified one (``广信区``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache

from rag.regions.lexicon import (AUTONOMOUS, BAD_STEM_TAGS, CN_NUMERALS, GENERIC_COMPOUNDS, GENERIC_STEM_ENDINGS,
                                 GENERIC_STEMS, LEVEL_RANK, PROVINCES, REF_RE, STOP_CHARS, STOP_FIRST, SUFFIX_LEVEL,
                                 SUFFIXES, is_cjk)

__all__ = ["Mention", "analyze_text", "canonical_name", "valid_stem", "split_name"]

MAX_STEM = 5
_ETHNIC_RE = re.compile(r"^((?:[\u4e00-\u9fff]{1,3}族)+)$")
_AUTO_NAME_RE = re.compile(r"^([\u4e00-\u9fff]{2,5}?)((?:[\u4e00-\u9fff]{1,3}族)+)自治([县州区旗])$")


@dataclass
class Mention:
    """One place mention.

    Attributes:
        key: canonical region name (``沿河县``); "" for a bare word not yet linked.
        stem: the name without suffix (``沿河``).
        level: 省/市/州/盟/县/区/旗/镇/乡/村, "" when unknown (bare).
        start: start in the document text.
        end: end in the document text.
        surface: the mention in the normalised (Simplified) text.
        original: the mention as written (original script).
        form: ``full`` | ``short`` | ``bare`` | ``ref``.
        parent: key of a higher-level name written right before it (``江苏省`` for
            ``江苏省张家港市``), else "".
    """

    key: str
    stem: str
    level: str
    start: int
    end: int
    surface: str
    original: str
    form: str
    parent: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def _jieba():
    from rag.text.tokenize import _jieba as init

    jieba = init()
    import jieba.posseg as pseg

    return jieba, jieba.dt.FREQ, pseg.dt.word_tag_tab


def canonical_name(stem: str, level: str) -> tuple[str, str]:
    """(canonical name, level) of a stem and level: ``沿河``+县 → 沿河县; 天津+市 → 天津市 (省)."""
    if stem in PROVINCES and level in ("省", "市", "区", ""):
        return PROVINCES[stem], "省"
    return stem + level, level


def split_name(name: str) -> tuple[str, str]:
    """(stem, level) of a written name: ``沿河土家族自治县`` → (沿河, 县); ``靖远县`` → (靖远, 县);
    a provincial-level name → its stem and 省; anything else → (name, "")."""
    name = name.strip()
    for stem, full in PROVINCES.items():
        if name in (stem, full, stem + "省", stem + "市"):
            return stem, "省"
    m = _AUTO_NAME_RE.match(name)
    if m:
        return m.group(1), SUFFIX_LEVEL[m.group(3)]
    if len(name) >= 3 and name[-1] in SUFFIXES:
        return name[:-1], SUFFIX_LEVEL[name[-1]]
    return name, ""


def valid_stem(stem: str) -> bool:
    """Whether ``stem`` can be the name part of ``stem + 县/市/…`` (not a description)."""
    if not (2 <= len(stem) <= MAX_STEM) or not is_cjk(stem):
        return False
    if any(c in STOP_CHARS for c in stem) or stem[0] in CN_NUMERALS or stem[0] in STOP_FIRST:
        return False
    if stem in GENERIC_STEMS or stem.endswith(GENERIC_STEM_ENDINGS) or stem.endswith("族"):
        return False
    _j, freq, tags = _jieba()
    return tags.get(stem) not in BAD_STEM_TAGS


def _tokens(text: str) -> list[tuple[str, int]]:
    jieba, _f, _t = _jieba()
    out, pos = [], 0
    for tok in jieba.cut(text, HMM=True):
        out.append((tok, pos))
        pos += len(tok)
    return out


def _full_forms(text: str, toks: list[tuple[str, int]]) -> list[tuple[int, int, str, str]]:
    """(start, end, stem, level) of suffixed names, from jieba tokens."""
    _j, freq, tags = _jieba()
    found = []
    for i, (tok, pos) in enumerate(toks):
        end = pos + len(tok)
        stem, start, level = "", pos, ""
        if tok in AUTONOMOUS or (len(tok) == 1 and tok in SUFFIXES):
            level = SUFFIX_LEVEL[tok[-1]]
            j = i - 1
            if tok in AUTONOMOUS:
                while j >= 0 and _ETHNIC_RE.match(toks[j][0]) and len(toks[j][0]) <= 4:
                    j -= 1
                if j == i - 1:
                    continue  # 自治县 without an ethnic group: not a name form
            if j < 0 or not is_cjk(toks[j][0]):
                continue
            stem, start = toks[j][0], toks[j][1]
            if len(stem) == 1 and j > 0 and is_cjk(toks[j - 1][0]) and len(toks[j - 1][0]) <= 2:
                stem, start = toks[j - 1][0] + stem, toks[j - 1][1]
            if tok in AUTONOMOUS:
                level = SUFFIX_LEVEL[tok[-1]]
        elif len(tok) >= 3 and tok[-1] in SUFFIXES and is_cjk(tok):
            m = _AUTO_NAME_RE.match(tok)
            stem, level = (m.group(1), SUFFIX_LEVEL[m.group(3)]) if m else (tok[:-1], SUFFIX_LEVEL[tok[-1]])
        elif (len(tok) == 2 and tok[-1] in SUFFIXES and is_cjk(tok) and tok not in GENERIC_COMPOUNDS
              and freq.get(tok, 0) < 50 and i > 0):
            prev, ppos = toks[i - 1]
            if (not (is_cjk(prev) and 1 <= len(prev) <= 3) or tags.get(prev) in BAD_STEM_TAGS
                    or tags.get(tok[0]) in BAD_STEM_TAGS):
                continue
            stem, start, level = prev + tok[0], ppos, SUFFIX_LEVEL[tok[-1]]
        else:
            continue
        if tok in GENERIC_COMPOUNDS or _generic_compound(stem, level):
            continue
        if valid_stem(stem):
            found.append((start, end, stem, level))
    return found


def _prefer_known_stems(found: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """``实施富坪村``: when a stem ends with a shorter stem of the same level found elsewhere in
    the document, the extra leading characters belong to the preceding word."""
    stems = {(stem, level) for _a, _b, stem, level in found}
    out = []
    for a, b, stem, level in found:
        shorter = [s for s, lvl in stems if lvl == level and len(s) >= 2 and len(s) < len(stem) and stem.endswith(s)]
        if shorter:
            best = max(shorter, key=len)
            a, stem = a + len(stem) - len(best), best
        out.append((a, b, stem, level))
    return out


def _generic_compound(stem: str, level: str) -> bool:
    """``武陵山区`` = 武陵 + 山区, ``产业园区`` = 产业 + 园区: a word followed by a generic compound."""
    _j, freq, _t = _jieba()
    suffix = next((s for s, lvl in SUFFIX_LEVEL.items() if lvl == level), "")
    return (len(stem) >= 3 and stem[-1] + suffix in GENERIC_COMPOUNDS and freq.get(stem[:-1], 0) > 0)


def _link_parents(mentions: list[Mention]) -> None:
    """Set ``parent`` when a higher-level name is written right before a lower-level one."""
    ordered = sorted(mentions, key=lambda m: m.start)
    for a, b in zip(ordered, ordered[1:]):
        if a.end == b.start and a.key and b.key and a.key != b.key and (a.form in ("full", "ref") or a.level == "省") \
                and LEVEL_RANK[a.level] < LEVEL_RANK[b.level]:
            b.parent = a.key


def _free(taken: bytearray, a: int, b: int) -> bool:
    return not any(taken[a:b])


def analyze_text(text: str, original: str | None = None) -> list[Mention]:
    """All place mentions of one document.

    Args:
        text: the normalised (Simplified) document text.
        original: the same text in its original script (same length); defaults to ``text``.

    Returns:
        Mentions sorted by position (non-overlapping). Bare words not yet linked to a region
        have ``key == ""``; references (``该区``) are resolved to the document's main region of
        that level or dropped.
    """
    original = original if original is not None and len(original) == len(text) else text
    toks = _tokens(text)
    mentions: list[Mention] = []
    taken = bytearray(len(text))

    def add(a: int, b: int, key: str, stem: str, level: str, form: str) -> None:
        mentions.append(Mention(key, stem, level, a, b, text[a:b], original[a:b], form))
        taken[a:b] = b"\x01" * (b - a)

    for a, b, stem, level in _prefer_known_stems(_full_forms(text, toks)):
        if _free(taken, a, b):
            key, lvl = canonical_name(stem, level)
            add(a, b, key, stem, lvl, "full")
    # the same document's short forms: 沿河 for 沿河土家族自治县
    stems = Counter((m.stem, m.key, m.level) for m in mentions)
    best: dict[str, tuple[str, str]] = {}
    for (stem, key, level), _n in stems.most_common():
        best.setdefault(stem, (key, level))
    if best:
        pattern = re.compile("|".join(re.escape(s) for s in sorted(best, key=len, reverse=True)))
        for m in pattern.finditer(text):
            if _free(taken, m.start(), m.end()):
                key, level = best[m.group()]
                add(m.start(), m.end(), key, m.group(), level, "short")
    # bare dictionary place words and provincial-level names
    _j, _freq, tags = _jieba()
    for tok, pos in toks:
        if len(tok) < 2 or not is_cjk(tok) or not _free(taken, pos, pos + len(tok)):
            continue
        if tok in PROVINCES:
            add(pos, pos + len(tok), PROVINCES[tok], tok, "省", "bare")
        elif tags.get(tok) == "ns" and tok[-1] not in SUFFIXES:
            add(pos, pos + len(tok), "", tok, "", "bare")
    _add_refs(text, original, mentions, taken)
    _link_parents(mentions)
    mentions.sort(key=lambda m: m.start)
    return mentions


def main_regions(mentions: list[Mention]) -> dict[str, str]:
    """level → the most-mentioned region of that level in one document (ties: first mention)."""
    counts: dict[str, Counter] = {}
    first: dict[str, int] = {}
    for m in mentions:
        if m.key and m.level and m.form != "ref":
            counts.setdefault(m.level, Counter())[m.key] += 1
            first.setdefault(m.key, m.start)
    return {lvl: max(c, key=lambda k: (c[k], -first[k])) for lvl, c in counts.items()}


def _add_refs(text: str, original: str, mentions: list[Mention], taken: bytearray) -> None:
    main = main_regions(mentions)
    for m in REF_RE.finditer(text):
        level = SUFFIX_LEVEL[m.group(2)]
        key = main.get(level)
        if key and _free(taken, m.start(), m.end()):
            stem = next((x.stem for x in mentions if x.key == key), key)
            mentions.append(Mention(key, stem, level, m.start(), m.end(), m.group(), original[m.start():m.end()],
                                    "ref"))
            taken[m.start():m.end()] = b"\x01" * (m.end() - m.start())
