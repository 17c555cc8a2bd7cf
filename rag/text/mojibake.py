"""Detect, repair or drop mojibake: text garbled by decoding bytes with the wrong codec.

Each detector returns ``Edit``s on the text it is given (``kind`` = ``mojibake`` for a drop,
``mojibake_repaired`` for a repair). Repairs are exact byte-level inversions, made only
when they turn odd text into ordinary text:

* UTF-8 read as a single-byte code page (``Ã©``, ``æ‰¶è´«``, ``еҮ»еһ®``) -> re-decoded;
* UTF-8 read as GBK (``鎵惰传``) -> re-decoded;
* GBK read one byte off: a lost byte shifts the pairs until an ASCII trail byte
  re-synchronises (``!碧K州`` for ``！”蘇州``) -> the run is re-read from its second byte;
* broken pinyin remnants such as ``?yáng)|`` left where such a shift ate a character.

Dropped without repair: U+FFFD, private-use and control characters, CJK extension
characters, ``锟斤拷``/``烫烫烫``/``屯屯屯`` runs, dense clusters of unknown characters,
and ``?`` between Han characters that stands for a lost character.

Every detector is gated by a cheap regex, so clean text costs a few C-level scans.
"""

from __future__ import annotations

import re

from rag.text import charmodel as cm
from rag.text.edits import Edit
from rag.text.pinyin import HAN, TONE_CHARS, count_syllables

DROP = "mojibake"
REPAIR = "mojibake_repaired"
STAGES = ("single_byte", "utf8_as_gbk", "remnants", "gbk_shift", "clusters", "junk", "qmarks")

_PUNCT = "\u3000-\u303f\uff00-\uff65\u2000-\u206f\u00b7\ufe30-\ufe4f"
_RUN_CLASS = rf"[^\x00-\x7f\s{_PUNCT}]"  # what a garbled run is made of
_RUN_RE = re.compile(rf"{_RUN_CLASS}+")
_RUN_CHAR_RE = re.compile(_RUN_CLASS)
# an ASCII byte glued after a non-Latin, non-ASCII character (a GBK trail byte read alone)
_TRAIL_RE = re.compile(rf"(?<=[^\x00-\u024f\s{_PUNCT}])[\x40-\x7e](?![A-Za-z0-9])")
_HAN_RE = re.compile(rf"[{HAN}\U00020000-\U0003ffff]")
_MAX_RUN = 16

_SB_RUN_RE = re.compile(r"[\u0080-\u04ff\u2013-\u2122]{2,}")
_SB_CODECS = ("cp1252", "latin-1", "cp1251", "ptcp154", "kz1048", "koi8-r", "cp866", "iso8859-5",
              "cp1250", "cp1253")
_JUNK_RE = re.compile(
    "[\ufffd\ue000-\uf8ff\U000f0000-\U0010ffff\x00-\x08\x0b\x0e-\x1f\x7f\u3400-\u4dbf"
    "\U00020000-\U0003ffff]+"
)
_JUNK_WORDS_RE = re.compile("(?:锟斤拷)+|烫{3,}|屯{3,}")
_REMNANT_RE = re.compile(rf"(?<=[{HAN}])\?([a-z{TONE_CHARS}]{{1,7}})\)(?:([\x40-\x7e])(?![\x00-\x7f]))?")
_QMARK_RE = re.compile(rf"(?<=[{HAN}])\?+(?=[{HAN}])")
_QUESTION_WORDS = re.compile("吗|嗎|呢|什么|甚麼|什麼|怎|如何|为何|為何|哪|谁|誰|几|幾|多少|是否|难道|難道|么|麼|吧|啊|呀")
_SENT_END = re.compile(r"[。！？!；;\n]")


def stage(name: str, text: str, script: str = "simplified", ctx: dict | None = None) -> list[Edit]:
    """Run one detector on ``text``.

    Args:
        name: one of ``STAGES`` (run them in that order, applying each stage's edits).
        text: the current text.
        script: the document's script (``detect_script``).
        ctx: shared state between stages of one document; ``ctx["garbled"]`` records that
            clear garbling was seen, which weaker shift repairs require.
    """
    ctx = {} if ctx is None else ctx
    edits = _DETECTORS[name](text, script, ctx)
    if edits and name in ("single_byte", "utf8_as_gbk", "remnants"):
        ctx["garbled"] = True
    return edits


# --- repairs -------------------------------------------------------------------------------------


def _single_byte(text: str, script: str, ctx: dict) -> list[Edit]:
    """UTF-8 bytes that were decoded with a single-byte code page."""
    edits = []
    for m in _SB_RUN_RE.finditer(text):
        run = m.group()
        if not any("\u00c0" <= c <= "\u04ff" for c in run):
            continue
        for codec in _SB_CODECS:
            try:
                data = run.encode(codec)
            except UnicodeEncodeError:
                continue
            try:
                fixed = data.decode("utf-8")
            except UnicodeDecodeError:
                fixed = data.decode("utf-8", errors="replace")
                if not _HAN_RE.search(fixed) or fixed.count("\ufffd") > max(1, len(fixed) // 8):
                    continue
            if fixed != run:
                edits.append(Edit(m.start(), m.end(), fixed, REPAIR))
                break
    return edits


def _utf8_as_gbk(text: str, script: str, ctx: dict) -> list[Edit]:
    """UTF-8 bytes that were decoded as GBK (runs full of rare characters)."""
    if not cm.has_any(text, "rare"):
        return []
    rare = cm.mask(text, "rare").tobytes()
    edits = []
    for m in _RUN_RE.finditer(text):
        a, b = m.span()
        while a < b and text[a] == "\ufffd":
            a += 1
        while b > a and text[b - 1] == "\ufffd":
            b -= 1
        run = text[a:b]
        if len(run) < 3 or rare.find(1, a, b) < 0:
            continue
        try:
            data = run.encode("gbk")
        except UnicodeEncodeError:
            continue
        try:
            fixed = data.decode("utf-8")
        except UnicodeDecodeError:
            fixed = data.decode("utf-8", errors="replace")  # a byte lost at either end
            if fixed.count("\ufffd") > 1 + len(fixed) // 20:
                continue
        if _HAN_RE.search(fixed) and cm.mean_logp(fixed.replace("\ufffd", "")) > cm.mean_logp(run) + 1.0:
            edits.append(Edit(a, b, fixed, REPAIR))
    return edits


def _remnants(text: str, script: str, ctx: dict) -> list[Edit]:
    """``?pinyin)`` (+ an orphan ASCII trail byte) where a shifted character was lost."""
    if "?" not in text:
        return []
    return [
        Edit(m.start(), m.end(), "", DROP)
        for m in _REMNANT_RE.finditer(text)
        if count_syllables(m.group(1)) is not None
    ]


_SYMBOL_TRAIL = set("[]\\^_`{|}~@")


def _score(orig: str, script: str, with_trail: bool) -> float:
    """Evidence that ``orig`` is garbled: rare/private/extension chars and (in a traditional
    text) simplified-only chars count 1; a trailing ASCII symbol 1, a trailing letter 0.5."""
    body, trail = (orig[:-1], orig[-1]) if with_trail else (orig, "")
    score = sum(
        1.0 for c in body
        if 0xE000 <= ord(c) <= 0xF8FF or cm.is_rare(c)
        or (script == "traditional" and cm.simplified_only(c))
    )
    if trail:
        score += 1.0 if trail in _SYMBOL_TRAIL else 0.5
    return score


def _gain(orig: str, rep: str) -> float:
    return sum(cm.char_logp(c) + 11.0 for c in rep) - sum(cm.char_logp(c) + 11.0 for c in orig)


def _reread(seg: str, drop_tail: bool) -> str | None:
    """Decode ``seg``'s GB18030 bytes from the second byte (optionally dropping a dangling last byte)."""
    data = seg.encode("gb18030")[1:]
    for cut in (0, 1) if drop_tail else (0,):
        try:
            out = (data[:-cut] if cut else data).decode("gb18030")
        except UnicodeDecodeError:
            continue
        return out or None
    return None


def _good(rep: str) -> bool:
    if not all(_HAN_RE.match(c) and not ("\u3400" <= c <= "\u4dbf") and ord(c) < 0x20000 for c in rep):
        return False
    return cm.mean_logp(rep) >= -10.5 and min(cm.char_logp(c) for c in rep) > -15.0


def _best_shift(text: str, lo: int, hi: int, script: str, with_trail: bool, garbled: bool) -> tuple[Edit, float] | None:
    """Best re-reading of a suffix of ``text[lo:hi]`` (``hi`` includes the ASCII trail if any).

    Strong evidence (an ASCII trail and score >= 2, see ``_score``) is enough on its own.
    Anything weaker needs
    garbling elsewhere in the document (``garbled``) and a dictionary word: with an ASCII
    trail byte, formed with the neighbours, and the run must start at the garbled part
    (or score >= 1.5); without a trail (run cut at punctuation, last character lost), the
    whole run must be garbled and the repair must itself contain a word.
    """
    best: tuple[float, Edit, float] | None = None
    run_end = hi - 1 if with_trail else hi
    starts = range(max(lo, run_end - _MAX_RUN), run_end) if with_trail else range(lo, lo + 1)
    for s in starts:
        orig = text[s:hi]
        rep = _reread(orig, drop_tail=not with_trail)
        if not rep or not _good(rep):
            continue
        gain = _gain(orig, rep)
        if gain <= 0:
            continue
        score = _score(orig, script, with_trail)
        if score < 2 or not with_trail:
            if not garbled or score < (0.5 if with_trail else 1.0):
                continue
            if with_trail:
                before = text[s - 1] if s > 0 else ""
                after = text[hi] if hi < len(text) else ""
                if not ((s == lo or score >= 1.5) and cm.has_word(before + rep + after)):
                    continue
            elif s != lo or len(rep) < 2 or not cm.has_word(rep):
                continue
        if best is None or gain > best[0]:
            best = (gain, Edit(s, hi, rep, REPAIR), score)
    return (best[1], best[2]) if best else None


def _run_start(text: str, end: int) -> int:
    start = end
    while start > 0 and _RUN_CHAR_RE.match(text, start - 1):
        start -= 1
    return start


def _run_end(text: str, pos: int) -> int:
    m = _RUN_RE.match(text, pos)
    return m.end() if m else pos


def _gbk_shift(text: str, script: str, ctx: dict) -> list[Edit]:
    """GBK text read one byte off (see module docstring)."""
    garbled = bool(ctx.get("garbled")) or cm.has_any(text, "unknown")
    cands: list[tuple[int, int, bool]] = [
        (_run_start(text, m.start()), m.end(), True) for m in _TRAIL_RE.finditer(text)
    ]
    if garbled:  # runs without a trail byte are only ever weak evidence
        cps = cm.codes(text)
        ev = cm.mask(text, "rare", cps)
        if script == "traditional":
            ev = ev | cm.mask(text, "simplified_only", cps)
        evidence = ev.tobytes()
        for m in _RUN_RE.finditer(text):
            a, b = m.span()
            if b - a <= _MAX_RUN and evidence.find(1, a, b) >= 0:
                cands.append((a, b, False))
    edits: list[Edit] = []
    # strong repairs first: they establish that the document is garbled
    for strong_pass in (True, False):
        for a, b, trail in cands:
            if any(e.start < b and a < e.end for e in edits):
                continue
            found = _best_shift(text, a, b, script, trail, garbled)
            if found and (trail and found[1] >= 2) == strong_pass:
                edits.append(found[0])
        if edits:
            garbled = True
    if edits:
        ctx["garbled"] = True
    return sorted(edits, key=lambda e: e.start)


# --- drops ---------------------------------------------------------------------------------------


def _clusters(text: str, script: str, ctx: dict) -> list[Edit]:
    """Drop spans where >= 3 unknown/private/extension characters fall within 6 characters."""
    pos = cm.positions(text, "unknown")
    edits = []
    i = 0
    while i + 2 < len(pos):
        j = i
        while j + 1 < len(pos) and pos[j + 1] - pos[i] < 6:
            j += 1
        if j - i >= 2:
            edits.append(Edit(pos[i], pos[j] + 1, "", DROP))
            i = j + 1
        else:
            i += 1
    return edits


def _junk(text: str, script: str, ctx: dict) -> list[Edit]:
    edits = [Edit(m.start(), m.end(), "", DROP) for m in _JUNK_RE.finditer(text)]
    if "锟斤拷" in text or "烫烫烫" in text or "屯屯屯" in text:
        edits += [Edit(m.start(), m.end(), "", DROP) for m in _JUNK_WORDS_RE.finditer(text)]
    return edits


def _qmarks(text: str, script: str, ctx: dict) -> list[Edit]:
    if "?" not in text:
        return []
    edits = []
    for m in _QMARK_RE.finditer(text):
        start = m.start()
        lo = max(0, start - 80)
        prev_end = max((e.end() for e in _SENT_END.finditer(text, lo, start)), default=lo)
        if not _QUESTION_WORDS.search(text, prev_end, start):
            edits.append(Edit(m.start(), m.end(), "", DROP))
    return edits


_DETECTORS = {
    "single_byte": _single_byte,
    "utf8_as_gbk": _utf8_as_gbk,
    "remnants": _remnants,
    "gbk_shift": _gbk_shift,
    "clusters": _clusters,
    "junk": _junk,
    "qmarks": _qmarks,
}
