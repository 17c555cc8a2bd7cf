"""Length-preserving normalisation: OpenCC t2s plus full-width ASCII -> half-width.

The output always has the same length as the input, so an offset into the normalised
text is the same offset into the original (``Document.text`` vs ``Document.original``).

OpenCC's t2s tables (TSPhrases + TSCharacters, from the installed
``opencc-python-reimplemented`` package) are applied with a regex for the phrases and
``str.translate`` for single characters, which is ~10x faster than the package's own
converter and gives the same result on running text. Any table entry that would change
length is ignored, and the result is checked per character (fallback: keep the char).

:func:`opencc_t2s` is the one place the package's own converter is created (used by
:func:`fold_text`, the comparison form of figures and answers, and by RGB scoring).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

_DIGITS = {0xFF10 + i: ord("0") + i for i in range(10)}
_UPPER = {0xFF21 + i: ord("A") + i for i in range(26)}
_LOWER = {0xFF41 + i: ord("a") + i for i in range(26)}
# ％ and ． always; ， only between digits (it is the Chinese comma otherwise).
_FULLWIDTH = {**_DIGITS, **_UPPER, **_LOWER, 0xFF05: ord("%"), 0xFF0E: ord(".")}
_NUM_COMMA_RE = re.compile(r"(?<=[0-9０-９])，(?=[0-9０-９]{3})")


def _dictionary_dir() -> Path:
    import opencc  # opencc-python-reimplemented

    return Path(opencc.__file__).resolve().parent / "dictionary"


def _read_table(name: str) -> dict[str, str]:
    """OpenCC text dictionary ``key\\tcand1 cand2`` -> {key: cand1} (length-preserving entries only)."""
    table: dict[str, str] = {}
    with open(_dictionary_dir() / name, encoding="utf-8") as fh:
        for line in fh:
            key, _, values = line.rstrip("\n").partition("\t")
            first = values.split(" ")[0] if values else ""
            if key and first and len(first) == len(key):
                table[key] = first
    return table


@lru_cache(maxsize=1)
def t2s_tables() -> tuple[dict[int, str], dict[str, str], re.Pattern[str] | None]:
    """(translate table for single chars, phrase map, phrase regex), loaded once."""
    chars = _read_table("TSCharacters.txt")
    trans: dict[int, str] = {ord(k): v for k, v in chars.items() if len(k) == 1 and k != v}
    phrases = {k: v for k, v in _read_table("TSPhrases.txt").items() if len(k) > 1}
    # A phrase only matters where it differs from the char-by-char conversion.
    phrases = {k: v for k, v in phrases.items() if k.translate(trans) != v}
    if not phrases:
        return trans, phrases, None
    keys = sorted(phrases, key=len, reverse=True)
    return trans, phrases, re.compile("|".join(map(re.escape, keys)))


@lru_cache(maxsize=1)
def _script_sets() -> tuple[frozenset[str], frozenset[str]]:
    """(traditional-only chars, simplified-only chars)."""
    trans, _, _ = t2s_tables()
    trad = frozenset(chr(c) for c in trans)
    # forms that Taiwan/Hong Kong standards use although OpenCC's own traditional differs (峰, 群)
    regional = {v for name in ("TWVariants.txt", "HKVariants.txt")
                for vals in _read_table_all(name).values() for v in vals}
    simp = set()
    for key, value in _read_table_all("STCharacters.txt").items():
        if len(key) == 1 and key not in value and key not in trad and key not in regional:
            simp.add(key)
    return trad, frozenset(simp)


def _read_table_all(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with open(_dictionary_dir() / name, encoding="utf-8") as fh:
        for line in fh:
            key, _, values = line.rstrip("\n").partition("\t")
            out[key] = values.split(" ")
    return out


def traditional_chars() -> frozenset[str]:
    """Characters that t2s changes (traditional-only forms)."""
    return _script_sets()[0]


def simplified_only_chars() -> frozenset[str]:
    """Characters that exist only in simplified script (s2t always changes them)."""
    return _script_sets()[1]


def t2s(text: str) -> str:
    """OpenCC t2s conversion, guaranteed to return a string of the same length."""
    trans, phrases, pattern = t2s_tables()
    out = text.translate(trans)
    if pattern is not None and len(out) == len(text):
        pieces: list[str] = []
        last = 0
        for m in pattern.finditer(text):
            pieces.append(out[last:m.start()])
            pieces.append(phrases[m.group()])
            last = m.end()
        if pieces:
            pieces.append(out[last:])
            out = "".join(pieces)
    if len(out) != len(text):  # cannot happen with the filtered tables; keep the contract anyway
        out = "".join(c.translate(trans) if len(c.translate(trans)) == 1 else c for c in text)
    return out


def fullwidth_to_halfwidth(text: str) -> str:
    """Full-width digits, letters, ％ and ． to ASCII; ， only as a thousands separator."""
    out = text.translate(_FULLWIDTH)
    if "，" in out:
        out = _NUM_COMMA_RE.sub(",", out)
    return out


def normalize(text: str) -> str:
    """Simplified, half-width form of ``text`` with exactly the same length.

    Args:
        text: cleaned text in any script.

    Returns:
        The normalised text; ``len(normalize(t)) == len(t)`` always holds and
        position ``i`` of the result corresponds to position ``i`` of ``text``.
    """
    out = fullwidth_to_halfwidth(t2s(text))
    if len(out) != len(text):  # defensive: per-character fallback
        out = "".join(c if len(n := normalize_char(c)) != 1 else n for c in text)
    return out


def normalize_char(ch: str) -> str:
    """Normalise a single character (no phrase context)."""
    trans, _, _ = t2s_tables()
    return ch.translate(trans).translate(_FULLWIDTH)


@lru_cache(maxsize=1)
def _script_table() -> "np.ndarray":
    """Code point -> 1 traditional-only, 2 simplified-only, 0 other (BMP)."""
    trad, simp = _script_sets()
    table = np.zeros(0x10000, dtype=np.uint8)
    table[[ord(c) for c in trad if ord(c) < 0x10000]] = 1
    table[[ord(c) for c in simp if ord(c) < 0x10000]] = 2
    return table


def count_script_chars(text: str) -> tuple[int, int]:
    """(traditional-only, simplified-only) character counts of ``text``."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    counts = np.bincount(_script_table()[np.minimum(cps, 0xFFFF)], minlength=3)
    return int(counts[1]), int(counts[2])


def detect_script(text: str) -> str:
    """Classify the script of ``text``.

    Returns:
        ``"traditional"`` when traditional-only characters dominate (>= 80% of the
        script-specific characters), ``"simplified"`` when simplified-only ones do or when
        there are none, else ``"mixed"``.
    """
    trad, simp = count_script_chars(text)
    if trad + simp == 0:
        return "simplified"
    share = trad / (trad + simp)
    if share >= 0.8:
        return "traditional"
    if share <= 0.2:
        return "simplified"
    return "mixed"


@lru_cache(maxsize=1)
def opencc_t2s():
    """The OpenCC t2s converter of ``opencc-python-reimplemented``, created once.

    Returns:
        The converter; its ``convert`` may change length (:func:`t2s` never does).
    """
    import opencc

    return opencc.OpenCC("t2s")


_KEEP_FULLWIDTH = set("，；：！？（）")
_FOLD = {c: chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F) if chr(c) not in _KEEP_FULLWIDTH}
_FOLD.update({0x3000: " ", 0x00A0: " ", 0x2212: "-"})


@lru_cache(maxsize=1024)
def fold_text(text: str) -> str:
    """Length-preserving normalisation used to compare figures and answers: OpenCC t2s (guarded
    char by char should it ever change length), full-width ASCII → half-width except Chinese
    punctuation ，；：！？（）, NBSP/ideographic space → space, U+2212 → ``-``.

    Args:
        text: Any text, Simplified or Traditional.

    Returns:
        A string of exactly ``len(text)`` characters.
    """
    if not text:
        return ""
    conv = opencc_t2s().convert(text)
    if len(conv) != len(text):
        conv = "".join(c2 if len(c2 := opencc_t2s().convert(c)) == 1 else c for c in text)
    return conv.translate(_FOLD)
