"""Hanyu Pinyin syllable inventory and detection of pinyin annotations ``字(zì)``.

The inventory is generated from initials x finals with the standard Mandarin
phonotactic constraints (which finals each initial group combines with), plus
the zero-initial spellings (y-/w- forms, a/o/e/er...). Tone marks are mapped to
tone numbers; ``ü`` may be written ``v`` or ``u:``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# --- inventory -------------------------------------------------------------------------------

_LABIAL = ("b", "p", "m", "f")
_ALVEOLAR = ("d", "t", "n", "l")
_VELAR = ("g", "k", "h")
_PALATAL = ("j", "q", "x")
_RETROFLEX = ("zh", "ch", "sh", "r")
_DENTAL = ("z", "c", "s")

# Which finals each initial combines with (written forms; "ü" finals after j/q/x are spelled u).
_FINALS_BY_INITIAL: dict[str, tuple[str, ...]] = {
    "b": ("a", "o", "ai", "ei", "ao", "an", "en", "ang", "eng", "i", "ie", "iao", "ian", "in", "ing", "u"),
    "p": ("a", "o", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "i", "ie", "iao", "ian", "in", "ing", "u"),
    "m": ("a", "o", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "i", "ie", "iao", "iu", "ian", "in",
          "ing", "u"),
    "f": ("a", "o", "ei", "ou", "an", "en", "ang", "eng", "u"),
    "d": ("a", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "i", "ia", "ie", "iao", "iu", "ian",
          "ing", "u", "uo", "ui", "uan", "un"),
    "t": ("a", "e", "ai", "ao", "ou", "an", "ang", "eng", "ong", "i", "ie", "iao", "ian", "ing", "u", "uo", "ui",
          "uan", "un"),
    "n": ("a", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "i", "ie", "iao", "iu", "ian", "in",
          "iang", "ing", "u", "uo", "uan", "ü", "üe"),
    "l": ("a", "o", "e", "ai", "ei", "ao", "ou", "an", "ang", "eng", "ong", "i", "ia", "ie", "iao", "iu", "ian",
          "in", "iang", "ing", "u", "uo", "uan", "un", "ü", "üe"),
    "g": ("a", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "u", "ua", "uo", "uai", "ui", "uan",
          "un", "uang"),
    "k": ("a", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "u", "ua", "uo", "uai", "ui", "uan",
          "un", "uang"),
    "h": ("a", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "u", "ua", "uo", "uai", "ui", "uan",
          "un", "uang"),
    "j": ("i", "ia", "ie", "iao", "iu", "ian", "in", "iang", "ing", "iong", "u", "ue", "uan", "un"),
    "q": ("i", "ia", "ie", "iao", "iu", "ian", "in", "iang", "ing", "iong", "u", "ue", "uan", "un"),
    "x": ("i", "ia", "ie", "iao", "iu", "ian", "in", "iang", "ing", "iong", "u", "ue", "uan", "un"),
    "zh": ("a", "e", "i", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "u", "ua", "uo", "uai", "ui",
           "uan", "un", "uang"),
    "ch": ("a", "e", "i", "ai", "ao", "ou", "an", "en", "ang", "eng", "ong", "u", "ua", "uo", "uai", "ui", "uan",
           "un", "uang"),
    "sh": ("a", "e", "i", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "u", "ua", "uo", "uai", "ui", "uan",
           "un", "uang"),
    "r": ("e", "i", "ao", "ou", "an", "en", "ang", "eng", "ong", "u", "ua", "uo", "ui", "uan", "un"),
    "z": ("a", "e", "i", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "u", "uo", "ui", "uan", "un"),
    "c": ("a", "e", "i", "ai", "ao", "ou", "an", "en", "ang", "eng", "ong", "u", "uo", "ui", "uan", "un"),
    "s": ("a", "e", "i", "ai", "ao", "ou", "an", "en", "ang", "eng", "ong", "u", "uo", "ui", "uan", "un"),
}
assert set(_FINALS_BY_INITIAL) == set(_LABIAL + _ALVEOLAR + _VELAR + _PALATAL + _RETROFLEX + _DENTAL)

# Syllables with no initial: bare finals and the y-/w- spellings of i-, u- and ü- finals.
_ZERO_INITIAL = (
    "a", "o", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "er",
    "yi", "ya", "yo", "ye", "yao", "you", "yan", "yin", "yang", "ying", "yong",
    "yu", "yue", "yuan", "yun",
    "wu", "wa", "wo", "wai", "wei", "wan", "wen", "wang", "weng",
)


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """All toneless pinyin syllables (``ü`` written as ``ü``), about 400 of them."""
    out = set(_ZERO_INITIAL)
    for initial, finals in _FINALS_BY_INITIAL.items():
        out.update(initial + final for final in finals)
    return frozenset(out)


# --- tones -----------------------------------------------------------------------------------

_TONE_MARKS = {
    "ā": ("a", 1), "á": ("a", 2), "ǎ": ("a", 3), "à": ("a", 4),
    "ē": ("e", 1), "é": ("e", 2), "ě": ("e", 3), "è": ("e", 4),
    "ī": ("i", 1), "í": ("i", 2), "ǐ": ("i", 3), "ì": ("i", 4),
    "ō": ("o", 1), "ó": ("o", 2), "ǒ": ("o", 3), "ò": ("o", 4),
    "ū": ("u", 1), "ú": ("u", 2), "ǔ": ("u", 3), "ù": ("u", 4),
    "ǖ": ("ü", 1), "ǘ": ("ü", 2), "ǚ": ("ü", 3), "ǜ": ("ü", 4),
}
_TONED_OF = {(base, tone): mark for mark, (base, tone) in _TONE_MARKS.items()}
TONE_CHARS = "".join(_TONE_MARKS) + "üÜ"


def strip_tones(syllable: str) -> tuple[str, int]:
    """Split a written syllable into (toneless form, tone 0-5); 0 means no tone given.

    Accepts tone marks (``zhàn``), tone digits (``zhan4``), ``v``/``u:`` for ``ü``.
    """
    s = unicodedata.normalize("NFC", syllable).lower().replace("u:", "ü").replace("v", "ü")
    tone = 0
    if s and s[-1] in "012345":
        tone = int(s[-1]) or 5
        s = s[:-1]
    base = []
    for ch in s:
        if ch in _TONE_MARKS:
            b, t = _TONE_MARKS[ch]
            tone = t
            base.append(b)
        else:
            base.append(ch)
    return "".join(base), tone


def to_tone_number(syllable: str) -> str:
    """``zhàn`` -> ``zhan4`` (toneless syllables are returned unchanged)."""
    base, tone = strip_tones(syllable)
    return f"{base}{tone}" if tone else base


def to_tone_mark(syllable: str) -> str:
    """``zhan4`` -> ``zhàn`` (standard placement: a/e, then the o of ou, else the last vowel)."""
    base, tone = strip_tones(syllable)
    if tone in (0, 5):
        return base
    if "a" in base:
        i = base.index("a")
    elif "e" in base:
        i = base.index("e")
    elif "ou" in base:
        i = base.index("o")
    else:
        i = max(base.rfind(v) for v in "iouü")
    return base[:i] + _TONED_OF[(base[i], tone)] + base[i + 1:]


def _canonical(written: str) -> str:
    """Toneless spelling (``v``/``u:`` read as ``ü``)."""
    base, _ = strip_tones(written)
    return base


# Common informal spellings of lüe/nüe.
_INFORMAL = frozenset({"lue", "nue"})


def is_syllable(written: str) -> bool:
    """True if ``written`` (toned or not) is one valid pinyin syllable."""
    base = _canonical(written)
    return base in syllables() or base in _INFORMAL


# --- segmentation of a parenthesis' content ---------------------------------------------------

_LETTERS = "a-zA-Z" + TONE_CHARS + TONE_CHARS.upper()
_PIECE_RE = re.compile(rf"[{_LETTERS}]+[1-5]?")
_CONTENT_RE = re.compile(rf"[{_LETTERS}1-5:' \-]+")
_MAX_SYL = 6


@lru_cache(maxsize=8192)
def count_syllables(content: str) -> int | None:
    """Minimal number of pinyin syllables that ``content`` splits into, or None if it is not pinyin.

    ``content`` may hold several syllables separated by spaces, apostrophes or hyphens, or
    glued together (``zhangjiagang``). Each syllable may carry one tone mark or a trailing
    tone digit.
    """
    content = unicodedata.normalize("NFC", content).strip()
    if not content or not _CONTENT_RE.fullmatch(content):
        return None
    total = 0
    for piece in re.split(r"[\s'\-]+", content.replace("u:", "ü")):
        if not piece:
            continue
        n = _segment(piece)
        if n is None:
            return None
        total += n
    return total or None


_BASE = str.maketrans({**{k: v[0] for k, v in _TONE_MARKS.items()}, "v": "ü", "V": "ü"})
_MARKED = frozenset(_TONE_MARKS)


def _segment(piece: str) -> int | None:
    """Fewest valid syllables covering ``piece`` exactly (DP), with at most one tone per syllable."""
    low = piece.lower()
    base = low.translate(_BASE)
    n = len(piece)
    inventory = syllables()
    best: list[int | None] = [None] * (n + 1)
    best[0] = 0
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(i + 1, min(n, i + _MAX_SYL + 1) + 1):
            chunk = low[i:j]
            digit = chunk[-1].isdigit()
            if any(c.isdigit() for c in chunk[:-1]):
                break
            marks = sum(1 for c in chunk if c in _MARKED)
            if marks > 1 or (marks and digit):
                continue
            syl = base[i:j - 1] if digit else base[i:j]
            if syl in inventory or syl in _INFORMAL:
                cand = best[i] + 1
                if best[j] is None or cand < best[j]:
                    best[j] = cand
    return best[n]


@lru_cache(maxsize=8192)
def has_tone(content: str) -> bool:
    """True if the text carries a tone mark or a tone digit right after letters."""
    content = unicodedata.normalize("NFC", content)
    return any(c.lower() in _TONE_MARKS for c in content) or bool(re.search(r"[a-zü][1-5]\b", content))


# --- annotations in running text --------------------------------------------------------------

HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_ANNOT_RE = re.compile(rf"(?<=[{HAN}])[(（]([^()（）\n]{{1,40}})[)）]")
_HAN_CHAR_RE = re.compile(rf"[{HAN}]")


def find_annotations(text: str, *, annotated: bool = False) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of pinyin annotations such as ``(zhàn)`` in ``text``.

    An annotation is removed only when its content is a sequence of valid syllables whose
    count is at most the number of Han characters immediately before the parenthesis.
    Content must be lower case unless it carries tone marks/digits (so ``(GDP)``, ``(VR)``
    stay). Toneless lower-case annotations (``(fan)`` could be English) are only taken
    when the text has at least three pinyin-like annotations, i.e. it is an annotated text
    (or ``annotated`` says so, e.g. from an earlier pass).
    """
    toned: list[tuple[int, int]] = []
    toneless: list[tuple[int, int]] = []
    for m in _ANNOT_RE.finditer(text):
        content = m.group(1)
        n = count_syllables(content)
        if n is None or n > 1 and not _han_before(text, m.start(), n):
            continue
        span = m.span()
        if has_tone(content):
            toned.append(span)
        elif content == content.lower():
            toneless.append(span)
    if annotated or len(toned) + len(toneless) >= 3:
        return sorted(toned + toneless)
    return toned


def _han_before(text: str, pos: int, n: int) -> bool:
    """True if the ``n`` characters before ``pos`` are all Han."""
    return pos >= n and all(_HAN_CHAR_RE.match(c) for c in text[pos - n:pos])


def strip_annotations(text: str) -> str:
    """``text`` with pinyin annotations removed (no offset tracking; used for metadata)."""
    spans = find_annotations(text)
    if not spans:
        return text
    out, last = [], 0
    for a, b in spans:
        out.append(text[last:a])
        last = b
    out.append(text[last:])
    return "".join(out)


_PAREN_RE = re.compile(r"[(（]([^()（）\n]{1,40})[)）]")


def leftover_annotations(text: str) -> list[str]:
    """Every ``(…)`` whose content is all pinyin syllables with a tone, or toneless lower case
    right after a Han character. Used by tests to prove that cleaning left none."""
    out = []
    for m in _PAREN_RE.finditer(text):
        content = m.group(1)
        if count_syllables(content) is None:
            continue
        before = text[m.start() - 1] if m.start() else ""
        if has_tone(content) or (content == content.lower() and re.match(rf"[{HAN}]", before)):
            out.append(m.group(0))
    return out
