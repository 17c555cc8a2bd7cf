"""Turn decoded article text into clean text, keeping a map back to the raw text.

Stages, in order (each is a list of offset-preserving ``Edit``s):

1. control: ``\\r`` and zero-width/BOM characters.
2. pinyin: ``字(zì)`` annotations (``rag.text.pinyin``).
3. mojibake: repair exact mis-decodings, drop what cannot be repaired (``rag.text.mojibake``),
   then pinyin again (a repair can expose an annotation).
4. navigation / boilerplate lines (``rag.text.boilerplate``).
5. whitespace: runs of spaces (incl. NBSP, U+3000) -> one space, lines stripped, blank lines dropped.

``Cleaned.offsets[i]`` is the index in ``raw`` of ``Cleaned.text[i]``. ``raw[offsets[i]] ==
text[i]`` holds except where whitespace was normalised (both are whitespace) and inside
``Cleaned.repaired`` spans (characters restored by a mojibake repair map to the raw run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.text import boilerplate, mojibake
from rag.text.edits import Edit, apply_edits, shift_spans
from rag.text.normalize import detect_script
from rag.text.pinyin import find_annotations

KINDS = ("pinyin", "mojibake", "navigation", "boilerplate")

_ZERO_WIDTH_RE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]+|\r(?=\n)")
_LONE_CR_RE = re.compile("\r")
_SPACE_RUN_RE = re.compile("[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


@dataclass
class Cleaned:
    """Cleaned text with its map to the raw text.

    Attributes:
        text: the cleaned text (original script).
        offsets: ``offsets[i]`` = index in raw of ``text[i]``.
        flags: e.g. ``pinyin_removed``, ``mojibake_removed``, ``mojibake_repaired``,
            ``navigation_removed``, ``boilerplate_removed``.
        removed: characters removed per kind (pinyin, mojibake, navigation, boilerplate).
        repaired: ``(start, end)`` spans of ``text`` restored by mojibake repair.
    """

    text: str
    offsets: list[int]
    flags: list[str]
    removed: dict[str, int]
    repaired: list[tuple[int, int]] = field(default_factory=list)


class _State:
    def __init__(self, raw: str) -> None:
        self.text = raw
        self.offsets = list(range(len(raw)))
        self.removed = {k: 0 for k in KINDS}
        self.repaired: list[tuple[int, int, str]] = []

    def apply(self, edits: list[Edit]) -> None:
        if not edits:
            return
        edits = _non_overlapping(edits)
        for e in edits:
            kind = "mojibake" if e.kind.startswith("mojibake") else e.kind
            if kind in self.removed:
                self.removed[kind] += max(0, (e.end - e.start) - len(e.repl))
        self.repaired = shift_spans(self.repaired, edits)
        self.text, self.offsets, new = apply_edits(self.text, self.offsets, edits)
        self.repaired.extend(s for s in new if s[2] == mojibake.REPAIR)
        self.repaired.sort()


def _non_overlapping(edits: list[Edit]) -> list[Edit]:
    out: list[Edit] = []
    end = -1
    for e in sorted(edits, key=lambda e: (e.start, -(e.end - e.start))):
        if e.start >= end:
            out.append(e)
            end = max(end, e.end)
    return out


def _control_edits(text: str) -> list[Edit]:
    edits = [Edit(m.start(), m.end(), "", "control") for m in _ZERO_WIDTH_RE.finditer(text)]
    edits += [
        Edit(m.start(), m.end(), "\n", "whitespace")
        for m in _LONE_CR_RE.finditer(text)
        if not (m.end() < len(text) and text[m.end()] == "\n")
    ]
    return edits


def _whitespace_edits(text: str) -> list[Edit]:
    """Drop blank lines and leading/trailing spaces; collapse inner space runs to one ' '."""
    edits: list[Edit] = []
    pos = 0
    for line in text.split("\n"):
        a, b = pos, pos + len(line)
        pos = b + 1
        if not line.strip():
            edits.append(Edit(a, min(b + 1, len(text)), "", "whitespace"))
            continue
        lead = len(line) - len(line.lstrip())
        trail = len(line) - len(line.rstrip())
        if lead:
            edits.append(Edit(a, a + lead, "", "whitespace"))
        for m in _SPACE_RUN_RE.finditer(text, a + lead, b - trail):
            if m.group() != " ":
                edits.append(Edit(m.start(), m.end(), " ", "whitespace"))
        if trail:
            edits.append(Edit(b - trail, b, "", "whitespace"))
    return edits


def clean_text(raw: str) -> Cleaned:
    """Clean one decoded article.

    Args:
        raw: the decoded text of the file (or of a jsonl ``text`` field).

    Returns:
        A ``Cleaned`` with the text, the offset map into ``raw``, flags and removal counts.
    """
    st = _State(raw)
    st.apply(_control_edits(st.text))
    script = detect_script(st.text)
    # pinyin first (it splits the text into many short runs the mojibake scan would visit),
    # then again after mojibake repair, which can expose annotations (殚L(zhǎng) -> 長(zhǎng))
    spans = find_annotations(st.text)
    st.apply([Edit(a, b, "", "pinyin") for a, b in spans])
    ctx: dict = {}
    for name in mojibake.STAGES:
        st.apply(mojibake.stage(name, st.text, script, ctx))
    st.apply([Edit(a, b, "", "pinyin") for a, b in find_annotations(st.text, annotated=len(spans) >= 3)])
    st.apply(boilerplate.find_edits(st.text))
    st.apply(_whitespace_edits(st.text))
    # a trailing newline can survive when the last line was deleted
    text, offsets = st.text, st.offsets
    while text.endswith("\n"):
        text, offsets = text[:-1], offsets[:-1]
    while text.startswith("\n"):
        text, offsets = text[1:], offsets[1:]
        st.repaired = [(a - 1, b - 1, k) for a, b, k in st.repaired]
    flags = [f"{k}_removed" for k in KINDS if st.removed[k]]
    if st.repaired:
        flags.append("mojibake_repaired")
    return Cleaned(
        text=text,
        offsets=offsets,
        flags=flags,
        removed=dict(st.removed),
        repaired=[(a, b) for a, b, _ in st.repaired if b <= len(text)],
    )
