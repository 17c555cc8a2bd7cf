"""Untrusted text (article text, model output) made inert for HTML and Markdown.

The one escaping rule of the project: the UI (passage cards, chat messages, tabs) and the region
summaries' Markdown compose markup only from these two helpers.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["esc", "md_escape"]

# Markdown punctuation that can start a link, image, emphasis, code span, table cell, heading,
# list, setext underline or an ordered-list number ("1." / "1)"); ">" and "<" are HTML-escaped.
_MD_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+\-=.!|~])")


def esc(text: Any) -> str:
    """HTML-escape any value, quotes included (None -> "")."""
    return html.escape("" if text is None else str(text), quote=True)


def md_escape(text: Any, *, one_line: bool = False) -> str:
    """Untrusted text as inert Markdown.

    Markdown punctuation is backslash-escaped everywhere (so no link, image, emphasis, code,
    table cell, heading, list or quote can form, at a line start or elsewhere), then the
    result is HTML-escaped (no tag or entity of the text survives).

    Args:
        text: Any value (None -> "").
        one_line: Fold line breaks to spaces (table cells, one-line fields).

    Returns:
        Markdown that renders as exactly ``text``.
    """
    t = "" if text is None else str(text)
    if one_line:
        t = t.replace("\r", " ").replace("\n", " ")
    return esc(_MD_SPECIAL_RE.sub(r"\\\1", t))
