"""Citation-marker renumbering, whole-text and streaming (a sub-question's local ``[1]`` → the
answer's global ``[3]``)."""

from __future__ import annotations

import re
from typing import Mapping

from rag.text.citations import CITATION_MARKERS_RE, parse_markers
from rag.text.spans import merge_spans  # noqa: F401 (re-exported)

__all__ = ["renumber", "MarkerRemapper", "merge_spans"]

_OPENERS = "[【［"
_MAX_MARKER = 24


def renumber(text: str, mapping: Mapping[int, int]) -> str:
    """Rewrite every marker group with ``mapping`` (numbers not in it are kept as written).

    ``[1,2]``/``【1】``/``[1][2]`` become ``[m1][m2]``.
    """
    if not mapping:
        return text

    def sub(m: re.Match) -> str:
        lead = m.group(0)[: len(m.group(0)) - len(m.group(0).lstrip())]
        return lead + "".join(f"[{mapping.get(n, n)}]" for n in parse_markers(m.group(0)))

    return CITATION_MARKERS_RE.sub(sub, text)


class MarkerRemapper:
    """Renumber markers in a token stream: text is held back only while a marker may be open.

    >>> r = MarkerRemapper({1: 3})
    >>> r.feed("资金1.1亿元[") + r.feed("1]。") + r.flush()
    '资金1.1亿元[3]。'
    """

    def __init__(self, mapping: Mapping[int, int]):
        self.mapping = dict(mapping)
        self._buf = ""

    def feed(self, delta: str) -> str:
        """Add a streamed delta; return the text that can be shown now."""
        self._buf += delta
        out = ""
        while self._buf:
            k = min((self._buf.find(c) for c in _OPENERS if c in self._buf), default=-1)
            if k < 0:
                out += self._buf
                self._buf = ""
                break
            out += self._buf[:k]
            self._buf = self._buf[k:]
            m = re.match(r"[\[【［][\s\d,，、\-–~]*[\]】］]", self._buf)
            if m:
                out += renumber(m.group(0), self.mapping)
                self._buf = self._buf[m.end():]
                continue
            if re.fullmatch(r"[\[【［][\s\d,，、\-–~]*", self._buf) and len(self._buf) < _MAX_MARKER:
                break  # may still become a marker: wait for more text
            out += self._buf[0]
            self._buf = self._buf[1:]
        return out

    def flush(self) -> str:
        """Return whatever is still held back (end of stream)."""
        rest, self._buf = self._buf, ""
        return renumber(rest, self.mapping)

