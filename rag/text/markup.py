"""HTML and Markdown to plain article text (plus metadata hints), standard library only.

HTML: script/style/nav/aside/form/... and elements whose class/id name page furniture
(nav, menu, footer, breadcrumb, share, related, comment...) are skipped; block elements
become line breaks. ``<meta>``/``<title>``/``<h1>``/canonical link give title, date,
source and url hints. Markdown: front matter becomes hints; heading marks, emphasis,
links and images are reduced to their text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP_TAGS = {
    "script", "style", "noscript", "template", "svg", "nav", "aside", "form", "select",
    "button", "iframe", "object", "embed", "canvas", "head", "footer",
}
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "blockquote", "pre", "hr", "dd", "dt", "dl", "figure", "figcaption",
    "header", "footer", "main", "address", "caption", "td", "th",
}
_VOID = {"br", "hr", "img", "meta", "link", "input", "source", "wbr", "area", "base", "col", "embed", "param", "track"}
_FURNITURE = {
    "nav", "navbar", "menu", "footer", "sidebar", "breadcrumb", "breadcrumbs", "crumb", "crumbs", "share",
    "sharing", "social", "comment", "comments", "related", "recommend", "copyright", "login", "advert",
    "ads", "banner", "toolbar", "pagination", "pager", "topbar", "hot", "rank", "ranking",
}
_META_TITLE = ("og:title", "title", "twitter:title")
_META_DATE = (
    "article:published_time", "pubdate", "publishdate", "publish_date", "publishtime", "pubtime",
    "date", "dc.date", "dc.date.issued", "og:release_date", "sailthru.date",
)
_META_SOURCE = ("og:site_name", "source", "contentsource", "application-name")
_CJK = "\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_stack: list[str] = []
        self.meta: dict[str, str] = {}
        self.title = ""
        self.h1 = ""
        self._in_title = False
        self._in_h1 = False
        self._in_pre = 0

    def _furniture(self, attrs: list[tuple[str, str | None]]) -> bool:
        for name, value in attrs:
            if name in ("class", "id", "role") and value:
                tokens = set(re.split(r"[\s_\-]+", value.lower()))
                if tokens & _FURNITURE:
                    return True
        return False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            self._meta(attrs)
        elif tag == "link":
            d = dict(attrs)
            if (d.get("rel") or "").lower() == "canonical" and d.get("href"):
                self.meta.setdefault("url", d["href"] or "")
        if tag == "title":
            self._in_title = True
        if self.skip_stack:
            if tag not in _VOID:
                self.skip_stack.append(tag)
            return
        if tag not in _VOID and (tag in _SKIP_TAGS or (tag != "body" and self._furniture(attrs))):
            self.skip_stack.append(tag)
            return
        if tag == "h1" and not self.h1:
            self._in_h1 = True
        if tag == "pre":
            self._in_pre += 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            self._meta(attrs)
        elif tag in ("br", "hr") and not self.skip_stack:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self.skip_stack:
            # close up to the matching open tag (tolerates unclosed children)
            if tag in self.skip_stack:
                while self.skip_stack:
                    if self.skip_stack.pop() == tag:
                        break
            return
        if tag == "h1":
            self._in_h1 = False
        if tag == "pre" and self._in_pre:
            self._in_pre -= 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self.skip_stack:
            return
        if self._in_h1:
            self.h1 += data
        if not self._in_pre:
            data = re.sub(rf"(?<=[{_CJK}])[ \t\r]*\n\s*(?=[{_CJK}])", "", data)
            data = re.sub(r"[ \t\r\n]+", " ", data)
        self.parts.append(data)

    def _meta(self, attrs: list[tuple[str, str | None]]) -> None:
        d = {k.lower(): (v or "") for k, v in attrs}
        key = (d.get("property") or d.get("name") or d.get("itemprop") or "").lower()
        content = d.get("content", "").strip()
        if not key or not content:
            return
        if key in _META_TITLE:
            self.meta.setdefault("title", content)
        elif key in _META_DATE:
            self.meta.setdefault("date", content)
        elif key in _META_SOURCE:
            self.meta.setdefault("source", content)
        elif key == "og:url":
            self.meta.setdefault("url", content)


def _clean_title(title: str) -> str:
    title = re.sub(r"\s+", " ", title).strip()
    parts = re.split(r"\s*(?:_|\||｜| - | — |-{2,})\s*", title)
    return max(parts, key=len) if len(parts) > 1 else title


def html_to_text(html: str) -> tuple[str, dict[str, str]]:
    """Visible article text of an HTML page and metadata hints (title/date/source/url)."""
    p = _Extractor()
    p.feed(html)
    p.close()
    text = "".join(p.parts)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    hints = dict(p.meta)
    if "title" not in hints:
        title = p.h1.strip() or _clean_title(p.title)
        if title:
            hints["title"] = re.sub(r"\s+", " ", title)
    return text, {k: v for k, v in hints.items() if v}


_FRONT_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_MD_SUBS = [
    (re.compile(r"^```.*?$", re.M), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"^\s{0,3}#{1,6}\s*", re.M), ""),
    (re.compile(r"^\s{0,3}>\s?", re.M), ""),
    (re.compile(r"^\s*(?:[-*_]\s*){3,}$", re.M), ""),
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?!\w)"), r"\1"),
    (re.compile(r"`([^`\n]+)`"), r"\1"),
    (re.compile(r"<[^>\n]+>"), ""),
]


def markdown_to_text(md: str) -> tuple[str, dict[str, str]]:
    """Plain text of a Markdown article and hints from a YAML-style front matter block."""
    hints: dict[str, str] = {}
    m = _FRONT_RE.match(md)
    if m:
        for line in m.group(1).splitlines():
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            if sep and key in ("title", "date", "source", "url", "author"):
                hints["source" if key == "author" and "source" not in hints else key] = value.strip().strip("'\"")
        md = md[m.end():]
    for pattern, repl in _MD_SUBS:
        md = pattern.sub(repl, md)
    return md, {k: v for k, v in hints.items() if v}
