"""A tiny character model of Chinese news text, used to tell garbled runs from real text.

Character log-probabilities come from jieba's HMM emission tables (``jieba.finalseg``,
estimated on a news corpus; loads in ~0.1 s), looked up after t2s so that traditional
characters score like their simplified forms. Word checks use jieba's dictionary, loaded
only when a doubtful run needs it.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np

from rag.text.normalize import simplified_only_chars, t2s, t2s_tables

UNKNOWN_LOGP = -20.0
# Below this a character is rare enough to count as evidence of garbling.
RARE_LOGP = -13.0
_STATE_PRIOR = {"B": 0.3, "E": 0.3, "M": 0.1, "S": 0.3}


@lru_cache(maxsize=1)
def char_logp_table() -> dict[str, float]:
    """{char: log P(char)} for about 14.6k characters (simplified forms)."""
    from jieba.finalseg.prob_emit import P as emit  # type: ignore[import-untyped]

    mix: dict[str, float] = {}
    for state, table in emit.items():
        w = _STATE_PRIOR[state]
        for ch, lp in table.items():
            mix[ch] = mix.get(ch, 0.0) + w * math.exp(lp)
    table = {ch: math.log(p) for ch, p in mix.items()}
    # traditional forms score like their simplified counterparts
    for cp, simp in t2s_tables()[0].items():
        if simp in table and chr(cp) not in table:
            table[chr(cp)] = table[simp]
    return table


def char_logp(ch: str) -> float:
    """log P(ch); traditional forms are scored as their simplified counterparts."""
    return char_logp_table().get(ch, UNKNOWN_LOGP)


_TABLE_SIZE = 0x40000  # BMP + planes 1-3; higher code points share the last slot
_EXT_RANGES = ((0x3400, 0x4DC0), (0x20000, 0x40000))
_JUNK_RANGES = ((0xE000, 0xF900), (0xFFFD, 0xFFFE), (0x00, 0x09), (0x0B, 0x0C), (0x0E, 0x20), (0x7F, 0x80))


def _han_below(limit: float) -> frozenset[str]:
    table = char_logp_table()
    return frozenset(chr(cp) for cp in list(range(0x4E00, 0xA000)) + list(range(0xF900, 0xFB00))
                     if table.get(chr(cp), UNKNOWN_LOGP) < limit)


@lru_cache(maxsize=1)
def _lookup_tables() -> dict[str, np.ndarray]:
    """Boolean membership tables indexed by code point, one per character set.

    (Python regexes with classes of thousands of scattered code points scan at about
    1 µs per character; a numpy table look-up does tens of millions per second.)
    """
    def table(chars: frozenset[str], ranges: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
        t = np.zeros(_TABLE_SIZE, dtype=bool)
        t[[ord(c) for c in chars if ord(c) < _TABLE_SIZE]] = True
        for lo, hi in ranges:
            t[lo:min(hi, _TABLE_SIZE)] = True
        return t

    unknown = table(_han_below(UNKNOWN_LOGP + 0.5), _EXT_RANGES + _JUNK_RANGES)
    unknown[_TABLE_SIZE - 1] = True  # planes 4+: private use and unassigned
    return {
        "rare": table(_rare_set(), _EXT_RANGES),
        "unknown": unknown,
        "simplified_only": table(simplified_only_chars()),
    }


def codes(text: str) -> np.ndarray:
    """Code points of ``text`` (index i = ``text[i]``), clipped to the look-up table size."""
    arr = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return np.minimum(arr, _TABLE_SIZE - 1)


def mask(text: str, kind: str, cps: np.ndarray | None = None) -> np.ndarray:
    """Boolean array: which characters of ``text`` belong to set ``kind``.

    Kinds: ``rare`` (rare or unknown Han, CJK extensions), ``unknown`` (Han unknown to the
    model, extensions, private use, U+FFFD, control characters), ``simplified_only``.
    """
    return _lookup_tables()[kind][codes(text) if cps is None else cps]


def positions(text: str, kind: str) -> list[int]:
    """Indices of the characters of set ``kind`` in ``text`` (see ``mask``)."""
    return np.flatnonzero(mask(text, kind)).tolist()


def has_any(text: str, kind: str) -> bool:
    """True if ``text`` holds a character of set ``kind`` (see ``mask``)."""
    return bool(mask(text, kind).any())


@lru_cache(maxsize=1)
def _rare_set() -> frozenset[str]:
    return _han_below(RARE_LOGP)


def is_rare(ch: str) -> bool:
    """True for rare/unknown Han characters (log P < RARE_LOGP) and CJK extension characters."""
    cp = ord(ch)
    return ch in _rare_set() or 0x3400 <= cp < 0x4DC0 or 0x20000 <= cp < 0x40000


def mean_logp(text: str) -> float:
    """Mean log-probability of the characters of ``text`` (ASCII/other symbols score as unknown)."""
    if not text:
        return UNKNOWN_LOGP
    return sum(char_logp(c) for c in text) / len(text)


@lru_cache(maxsize=1)
def _words() -> dict[str, int]:
    import jieba  # type: ignore[import-untyped]

    jieba.setLogLevel(logging.WARNING)
    jieba.dt.check_initialized()
    return jieba.dt.FREQ


def has_word(text: str, min_len: int = 2) -> bool:
    """True if ``text`` (after t2s) contains a dictionary word of at least ``min_len`` chars."""
    s = t2s(text)
    freq = _words()
    for i in range(len(s)):
        for j in range(i + min_len, min(len(s), i + 4) + 1):
            if freq.get(s[i:j]):
                return True
    return False


def simplified_only(ch: str) -> bool:
    """True for characters that exist only in simplified script."""
    return ch in simplified_only_chars()
