"""Article metadata: title, source (outlet), publication date, url.

Structured hints (jsonl fields, HTML ``<meta>``) win; otherwise bylines in the raw text
(``来源:``, ``發布時間:``, ``時間:``, ``XX日报记者 某某``) are read. Dates come only from
keyed or header lines, never from the body, so "2019年底" in a sentence is not a date.
Title and source are returned normalised (Simplified, half-width).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from rag.text.bylines import COUNTER_KEYS, DATE_KEYS, EDITOR_KEYS, SOURCE_KEYS, SOURCE_KEYS_LONG, alternation
from rag.text.normalize import fullwidth_to_halfwidth, normalize
from rag.text.pinyin import strip_annotations

_HEAD_LINES = 8
_SOURCE_KEY_RE = re.compile(rf"(?:{alternation(SOURCE_KEYS_LONG, SOURCE_KEYS)})\s*[:：]\s*")
_STOP_RE = re.compile(
    rf"\s{{2,}}|\s*(?:{alternation(DATE_KEYS, EDITOR_KEYS, COUNTER_KEYS)}|\d{{4}}\s*[-年/.])|[)）】\]|｜,，;；。]"
)
_AUTHOR_RE = re.compile(r"作者\s*[:：]\s*([^\s,，;；|｜)）]{2,20})")
_REPORTER_RE = re.compile(r"^\s*([^\s，。,、:：]{2,20}?)\s*(?:记者|記者|特约记者|特約記者)\s*[\u4e00-\u9fff]{2,4}")
_SITE_RE = re.compile(r"^[\w\-·.]{1,14}(?:网|網|网站|網站|在线|在線|频道|頻道)$")
_ANON = {"佚名", "匿名", "未知", "本站", "本网", "本網", "admin", "管理员", "管理員", "网络", "網絡", "网友", "網友"}
_DATE_KEY_RE = re.compile(rf"(?:{alternation(DATE_KEYS, ('date', 'Date'))})\s*[:：]\s*")
_DATE_RE = re.compile(
    r"(?<!\d)(\d{4})\s*(?:年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*[日号]?)?|[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)(?!\d)"
)
_URL_RE = re.compile(r"https?://[^\s\"'<>（）()，。、]+")
_URL_KEY_RE = re.compile(r"原文|链接|鏈接|地址|网址|網址|来源|來源|url|URL|source|Source")
_TAG_LINE_RE = re.compile(r"^(?:\s*【[^】]*】\s*)+$")
_SENT_END_RE = re.compile(r"[。！？!?]$")


def parse_date(text: str) -> str | None:
    """First date in ``text`` as ISO ``YYYY-MM-DD`` (or ``YYYY-MM`` if no day), else None.

    Accepts 2020年08月19日, 2020-7-13, 2020/07/13, 2020.7.13, 2020年7月; rejects invalid dates.
    """
    for m in _DATE_RE.finditer(fullwidth_to_halfwidth(text)):
        year = int(m.group(1))
        month = m.group(2) or m.group(4)
        day = m.group(3) or m.group(5)
        if not (1900 <= year <= 2100) or month is None:
            continue
        mon = int(month)
        if not 1 <= mon <= 12:
            continue
        if day is None:
            # "2020-7" alone is ambiguous with ranges like 2019-2020; only the 年/月 form counts.
            if m.group(2) is None:
                continue
            return f"{year:04d}-{mon:02d}"
        try:
            return dt.date(year, mon, int(day)).isoformat()
        except ValueError:
            continue
    return None


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.split("\n") if ln.strip()]


def _source_from(lines: list[str]) -> str:
    head = lines[:_HEAD_LINES]
    for zone in (head, lines[-_HEAD_LINES:], lines):
        for line in zone:
            m = _SOURCE_KEY_RE.search(line)
            if not m:
                continue
            rest = line[m.end():]
            stop = _STOP_RE.search(rest)
            value = (rest[: stop.start()] if stop else rest).strip(" -—:：")
            value = re.sub(r"[（(][^）)]*$", "", value).strip()  # drop a parenthetical cut open by the stop
            if value and value not in _ANON and len(value) <= 30:
                return value
    for line in head:
        m = _REPORTER_RE.match(line)
        if m and len(line) <= 40:
            return re.sub(r"^(本报|本報|本刊|本台)", "", m.group(1)) or m.group(1)
    for line in head[:3]:
        if _SITE_RE.match(line):
            return line
    for line in head:
        m = _AUTHOR_RE.search(line)
        if m and m.group(1) not in _ANON and len(line) <= 120:
            return m.group(1)
    return ""


def _date_from(lines: list[str]) -> str | None:
    for line in lines:
        for m in _DATE_KEY_RE.finditer(line):
            d = parse_date(line[m.end(): m.end() + 30])
            if d:
                return d
    for line in lines[:_HEAD_LINES]:
        if len(line) <= 120 and not re.search(r"[。！？]", line):
            d = parse_date(line)
            if d and len(d) == 10:
                return d
    return None


def _url_from(lines: list[str]) -> str | None:
    for line in lines[:_HEAD_LINES] + lines[-_HEAD_LINES:]:
        m = _URL_RE.search(line)
        if m and (_URL_KEY_RE.search(line[: m.start()]) or len(line) - len(m.group()) <= 4):
            return m.group().rstrip(".,;")
    return None


def _title_from(cleaned: str) -> str:
    lines = _lines(cleaned)
    for i, line in enumerate(lines[:_HEAD_LINES]):
        if _TAG_LINE_RE.match(line) or line.startswith(("——", "—")):
            continue
        title = line
        if len(title) > 80 or _SENT_END_RE.search(title) and len(title) > 40:
            return title[:60].rstrip("，,、")
        if i + 1 < len(lines) and lines[i + 1].startswith(("——", "—")) and len(lines[i + 1]) <= 60:
            title += lines[i + 1]
        return title
    return lines[0][:60] if lines else ""


def extract_meta(raw: str, cleaned: str, hints: dict[str, Any] | None = None) -> dict[str, Any]:
    """Title, source, date and url of an article.

    Args:
        raw: the decoded text (bylines are still there).
        cleaned: the cleaned text (for the title).
        hints: structured fields (jsonl/HTML meta); non-empty values win.

    Returns:
        ``{"title": str, "source": str, "date": "YYYY-MM-DD" | "YYYY-MM" | None, "url": str | None}``.
    """
    hints = hints or {}
    lines = _lines(strip_annotations(raw))
    title = str(hints.get("title") or "").strip() or _title_from(cleaned)
    source = str(hints.get("source") or "").strip() or _source_from(lines)
    date = None
    if hints.get("date"):
        date = parse_date(str(hints["date"]))
    if date is None:
        date = _date_from(lines)
    url = str(hints.get("url") or "").strip() or _url_from(lines)
    return {
        "title": normalize(title),
        "source": normalize(source),
        "date": date,
        "url": url or None,
    }
