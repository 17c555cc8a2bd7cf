"""The places of a question and their roles, for follow-up rewriting (:mod:`rag.chat`).

``张家港向沿河投入多少资金？`` has a *frame*: the names it holds and, for ``D 向/对/给/为 R …``,
which place acts (the donor D) and which receives (the recipient R). A follow-up that names a
new place is put into the slot it fills; the region gazetteer (:mod:`rag.regions`: every alias
in both scripts, levels, parents, donor → recipient pairs) decides that slot when it knows the
places, e.g. 苏州市 → 沿河县 is a pair, so ``那苏州呢？`` swaps the donor and keeps 沿河.
Without a gazetteer, names come from jieba's tags and administrative suffixes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

__all__ = ["Places", "Span", "Frame", "frame_of", "CONNECTORS"]

ADMIN_SUFFIX = "省市县区州镇乡村旗盟"
_LEVEL_RANK = {"省": 0, "市": 1, "州": 1, "盟": 1, "县": 2, "区": 2, "旗": 2, "镇": 3, "乡": 3, "村": 4}
_ENTITY_FLAGS = {"ns", "nr", "nt", "nz", "nrt", "nrfg"}
# Words joining an acting place to a receiving one (longest first).
CONNECTORS = ("对口帮扶", "结对帮扶", "对口支援", "对口协作", "帮扶", "支援", "援助", "协作", "对口", "向", "对", "给",
              "为", "到", "在")
_CONNECTOR_RE = re.compile("(?:" + "|".join(CONNECTORS) + ")$")
_PUNCT_RE = re.compile(r"[，,。；;？?！!、\s]")
MAX_GAP = 8  # characters between a donor and its connector (张家港9个部门单位向沿河)


@dataclass
class Span:
    """A name in a text: ``[start, end)``, the canonical region (None when not a known place)
    and whether it is a place at all (gazetteer, administrative suffix or jieba place tag)."""

    start: int
    end: int
    text: str
    key: str | None = None
    place: bool = False


class Places:
    """What the rewriter knows about place names.

    Args:
        store: a :class:`rag.regions.RegionStore` (or None): aliases, levels, parents, pairs.
        names: extra known names (any entity), matched as written.
    """

    def __init__(self, store: Any = None, names: Iterable[str] = ()):
        self.store = store
        self.names = sorted({n for n in names if n and len(n) >= 2}, key=len, reverse=True)
        self._alias: dict[str, str] = {}
        self._level: dict[str, str] = {}
        self._parent: dict[str, str] = {}
        self._edges: set[tuple[str, str]] = set()
        self._loose: set[tuple[str, str]] = set()
        if store is not None:
            self._load(store)
        self._maxlen = max((len(a) for a in self._alias), default=0)

    def _load(self, store: Any) -> None:
        from rag.text.normalize import normalize

        for r in sorted(store.regions.values(), key=lambda r: -r.mentions):
            for alias in [r.name, *r.aliases]:
                a = normalize(alias).strip()
                if len(a) >= 2:
                    self._alias.setdefault(a, r.name)
            self._level[r.name] = r.level
            if r.parent:
                self._parent[r.name] = r.parent
        for p in store.pairs:
            if p.directed:
                self._edges.add((p.donor, p.recipient))
            else:
                self._loose.add((p.donor, p.recipient))

    def with_names(self, names: Iterable[str]) -> "Places":
        """The same gazetteer with more extra names."""
        return Places(self.store, [*self.names, *names])

    # -- lookups ------------------------------------------------------------------------------------
    def __bool__(self) -> bool:
        return bool(self._alias or self.names)

    def key(self, text: str) -> str | None:
        """The gazetteer region ``text`` names exactly (any alias or script), else None."""
        if not self._alias:
            return None
        from rag.text.normalize import normalize

        return self._alias.get(normalize(text.strip()))

    def level(self, span: Span | str) -> str:
        """省/市/县/… of a name: the gazetteer's level, else its written suffix, else ""."""
        text = span.text if isinstance(span, Span) else span
        key = span.key if isinstance(span, Span) else self.key(text)
        if key and self._level.get(key):
            return self._level[key]
        return text[-1] if text and text[-1] in ADMIN_SUFFIX and len(text) >= 2 else ""

    def _lineage(self, key: str) -> set[str]:
        out = {key}
        p = self._parent.get(key)
        while p and p not in out:
            out.add(p)
            p = self._parent.get(p)
        out |= {k for k in self._level if key in self._lineage_up(k)}
        return out

    def _lineage_up(self, key: str) -> set[str]:
        out, p = set(), self._parent.get(key)
        while p and p not in out:
            out.add(p)
            p = self._parent.get(p)
        return out

    def helps(self, donor: str | None, recipient: str | None) -> bool | None:
        """Whether the gazetteer pairs ``donor`` → ``recipient`` (places above or below each
        count: 江苏 → 沿河 holds when 苏州市 → 沿河县 does). None when either is unknown."""
        if not donor or not recipient or donor not in self._level or recipient not in self._level:
            return None
        ds, rs = self._lineage(donor), self._lineage(recipient)
        return any(d in ds and r in rs for d, r in self._edges) or \
            any((a in ds and b in rs) or (b in ds and a in rs) for a, b in self._loose)

    def role(self, key: str | None) -> str | None:
        """``donor`` / ``recipient`` when the gazetteer only ever shows the place in that role."""
        if not key:
            return None
        donor = any(d == key for d, _ in self._edges)
        recipient = any(r == key for _, r in self._edges)
        return "donor" if donor and not recipient else "recipient" if recipient and not donor else None

    # -- spans --------------------------------------------------------------------------------------
    def spans(self, text: str) -> list[Span]:
        """Names in ``text``, in order, non-overlapping: gazetteer places (longest alias first;
        a two-character alias must be a whole jieba word), the extra names, then jieba-tagged runs."""
        tokens = _tokens(text)
        bounds = {0} | {b for _w, _f, _a, b in tokens}
        taken = bytearray(len(text))
        out: list[Span] = []

        def add(a: int, b: int, key: str | None, place: bool) -> None:
            out.append(Span(a, b, text[a:b], key, place))
            taken[a:b] = b"\x01" * (b - a)

        if self._alias:
            from rag.text.normalize import normalize

            norm = normalize(text)
            i = 0
            while i < len(text):
                for n in range(min(self._maxlen, len(text) - i), 1, -1):
                    key = self._alias.get(norm[i:i + n])
                    if key and (n > 2 or (i in bounds and i + n in bounds)):
                        add(i, i + n, key, True)
                        i += n - 1
                        break
                i += 1
        for name in self.names:
            for m in re.finditer(re.escape(name), text):
                if not any(taken[m.start():m.end()]):
                    add(m.start(), m.end(), self.key(name), _is_place_word(name))
        for a, b, place in _tagged_runs(tokens):
            if not any(taken[a:b]):
                add(a, b, None, place)
        return sorted(out, key=lambda s: s.start)


@dataclass
class Frame:
    """The names of a question and the donor/recipient roles found among them.

    Attributes:
        text: the question.
        spans: every name, in order.
        donor: the acting place of ``D 向 R`` (None when absent).
        recipient: the place after a connector (``向R``, ``帮扶R``), None when absent.
        connector: ``(start, end)`` of the connector before the recipient, None without one.
    """

    text: str
    spans: list[Span]
    donor: Span | None = None
    recipient: Span | None = None
    connector: tuple[int, int] | None = None

    @property
    def places(self) -> list[Span]:
        return [s for s in self.spans if s.place]


def frame_of(text: str, places: Places) -> Frame:
    """Find the names of ``text`` and which of them are donor and recipient (any name may act:
    organisations give too, and jieba tags some places as person names)."""
    spans = places.spans(text)
    frame = Frame(text, spans)
    for i, s in enumerate(spans):
        m = _CONNECTOR_RE.search(text[:s.start])
        if not m:
            continue
        frame.recipient, frame.connector = s, (m.start(), m.end())
        before = [d for d in spans[:i] if m.start() - d.end <= MAX_GAP and not _PUNCT_RE.search(text[d.end:m.start()])]
        if before:
            frame.donor = before[-1]
        break
    return frame


def same_place(a: Span | str, b: Span, places: Places) -> bool:
    """Whether ``a`` names the same place as ``b`` (alias, script or the written form)."""
    text = a.text if isinstance(a, Span) else a
    key = a.key if isinstance(a, Span) else places.key(a)
    if key and b.key:
        return key == b.key
    return text == b.text or (len(text) >= 2 and (text in b.text or b.text in text))


def level_rank(level: str) -> int:
    """Coarse rank of a level (省 0 … 村 4; unknown 9)."""
    return _LEVEL_RANK.get(level, 9)


def _generic(word: str) -> bool:
    """Words that look like places but are not names: 全县, 该区, 山区, 农村 (:mod:`rag.regions.lexicon`)."""
    from rag.regions.lexicon import GENERIC_COMPOUNDS, REF_RE

    return word in GENERIC_COMPOUNDS or REF_RE.fullmatch(word) is not None


def _is_place_word(word: str) -> bool:
    return (len(word) >= 2 and word[-1] in ADMIN_SUFFIX and re.fullmatch(r"[\u4e00-\u9fff]+", word) is not None
            and not _generic(word))


def _tokens(text: str) -> list[tuple[str, str, int, int]]:
    """jieba part-of-speech tokens as ``(word, flag, start, end)``."""
    import jieba.posseg as pseg

    out, pos = [], 0
    for token in pseg.cut(text):
        out.append((token.word, token.flag, pos, pos + len(token.word)))
        pos += len(token.word)
    return out


def _tagged_runs(tokens: list[tuple[str, str, int, int]]) -> list[tuple[int, int, bool]]:
    """Runs of adjacent name tokens (天津市/和平区 → one run), and whether the run is a place. A lone
    administrative suffix joins the word before it (云岭/乡, 星河/县) unless that word is a
    pronoun, numeral or other function word (这个/县 is not a name)."""
    from rag.regions.lexicon import BAD_STEM_TAGS, STOP_FIRST

    runs: list[list] = []
    for i, (word, flag, a, b) in enumerate(tokens):
        place = flag == "ns" or _is_place_word(word)
        if len(word) == 1 and word in ADMIN_SUFFIX and i > 0:
            pw, pf, pa, _pb = tokens[i - 1]
            if re.fullmatch(r"[\u4e00-\u9fff]{1,4}", pw) and pf not in BAD_STEM_TAGS and pw[0] not in STOP_FIRST:
                if runs and runs[-1][1] == a:
                    runs[-1][1], runs[-1][2] = b, True
                else:
                    runs.append([pa, b, True])
                continue
        if (flag in _ENTITY_FLAGS or place) and not _generic(word):
            if runs and runs[-1][1] == a:
                runs[-1][1] = b
                runs[-1][2] = runs[-1][2] or place
            else:
                runs.append([a, b, place])
    return [(a, b, place) for a, b, place in runs]
