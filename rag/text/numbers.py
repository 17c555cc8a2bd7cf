"""Chinese number normalisation: extract and compare quantities in news text.

``1.1亿元`` = ``11000万元`` = ``110000000元``; ``六万`` = ``6万``; ``二〇一七年`` = ``2017年``;
``百分之十三`` = ``13%``. Everything works on a *length-preserving* normalisation of the
text (OpenCC t2s + full-width → half-width, MODELS-facts §5), so every span returned
indexes the caller's original string.

Grammar (after :func:`fold_text`)::

    quantity := [百分之] number [余|多] [万|亿]* [余|多] [unit]
    number   := arabic [mult] (arabic mult)*        1.1亿, 5,200, 3千万, 1亿2000万
              | chinese-numeral [点 digits]          一千二百三十四, 三点五亿, 二〇一七, 廿三
                (one number alone: :mod:`rag.text.numerals`)
    dates    := YYYY-M-D | YYYY/M/D | YYYY.M.D | YYYY-M  → one quantity per component
    ranges   := a (-|~|至|到|—) b unit                 the bare ``a`` inherits b's multiplier/unit

Chinese numerals count only with a unit, a 万/亿 multiplier or 百分之 (``一些``, ``统一``,
``十八大`` are words, not quantities); digit-by-digit numerals (``二〇一七``) only before 年.
``半`` is never a number. Skipped as identifiers: digits glued to ASCII letters (``5G``,
``G318``, ``COVID-19``), inside URLs/e-mails, and clock times/ratios (``13:58``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from rag.text.citations import MARKER_BODY
from rag.text.normalize import fold_text
from rag.text.numerals import (ARABIC, CN_BODY, CN_NUMERAL, CN_START, MULTIPLIER, arabic_value, cn_value,
                               multiplier)

__all__ = ["Quantity", "extract_quantities", "same_quantity",
           "figure_in_text", "figure_spans", "numbers_in"]


@dataclass(frozen=True)
class Quantity:
    """A number found in text: ``value`` with 万/亿 applied (1.1亿元 → 1.1e8; 13.13% → 13.13),
    canonical ``unit`` (万元/亿元 → 元, 號 → 日, 个百分点 → 百分点, "" if none), ``kind`` (money |
    percent | year | date | count | plain), span and ``surface`` in the original text, and
    ``approx`` (余/多 inside, 近/约/逾/超 before or 左右 after)."""

    value: float
    unit: str
    kind: str
    start: int
    end: int
    surface: str
    approx: bool = False


_MONEY = {"美元": "美元", "港元": "港元", "港币": "港元", "欧元": "欧元", "日元": "日元",
          "英镑": "英镑", "人民币": "元", "元": "元"}
_PERCENT = {"%": "%", "‰": "‰", "个百分点": "百分点", "百分点": "百分点"}
_DATE = {"月份": "月", "月": "月", "日": "日", "号": "日"}
_COUNT = {"平米": "平方米", "千米": "公里", "千克": "公斤", "周岁": "岁", **{u: u for u in (
    "人次 人 名 位 户 个月 个 家 所 座 项 批 期 次 对 亩 公顷 平方公里 平方米 公里 米 公斤 斤 吨 克 "
    "棵 株 头 只 辆 台 套 间 条 份 类 种 场 篇 件 门 倍 天 小时 分钟 周年 周 岁 年 届 轮 支 张 本 部 "
    "组 栋 层 处 片 箱 袋 盒 瓶 双 枚 艘 级 省 市 县 区 镇 乡 村 州 国 成 度 票 笔 立方米 千瓦时 千瓦 兆瓦 "
    "℃ 秒 时 分 点 毫克 毫升 km kg cm mm mg ml mL kWh kW MW GW GB MB TB").split()}}
_ARABIC_ONLY = {"时", "分", "点", "度", "秒"}  # 十分重要, 一点也不, 一度, 一时: words, not quantities
_UNITS = {**_COUNT, **_MONEY, **_PERCENT, **_DATE}
_UNIT_RE = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_GROUP = {"名": "人", "位": "人"}  # people; every other unit is its own group
_CLASSIFIERS = {"个", "家", "所", "座", "间", "项", "处", "只", "条", "件", "台", "套", "支", "部", "组"}

_NUM_RE = re.compile(rf"(?P<pct>百分之)?(?:(?P<ar>(?:{ARABIC})(?:(?:{MULTIPLIER})(?:(?:{ARABIC})(?:{MULTIPLIER}))*)?)"
                     rf"|(?P<cn>{CN_NUMERAL}))(?: ?(?P<q1>[余多]))?(?: ?(?P<m2>[万亿]+))?(?P<q2>[余多])?"
                     rf"(?: ?(?P<unit>{_UNIT_RE}))?")  # "4.39 亿元", "2021 年": one optional space
_DATE_RE = re.compile(r"(?<![\d.])(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?![\d.])"
                      r"|(?<![\d.])(\d{4})-(\d{1,2})(?![\d.]|\s*[-/]\s*\d|[年月日])")
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
_MASK_RE = re.compile(rf"(?:https?://|www\.){_URL_CHARS}+|[A-Za-z0-9._+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.]+"
                      r"|\d{1,2}:\d{2}(?::\d{2})?")
_RANGE_GAPS = {"-", "~", "至", "到", "—", "–", "——"}
_APPROX_BEFORE = re.compile(r"(?:近|约|逾|超|超过|将近|大约|约为) ?$")


def _classify(value: Decimal, unit: str, int_like: bool, plain_int: bool) -> tuple[str, str]:
    """(canonical unit, kind) for a value and its raw unit."""
    canon = _UNITS.get(unit, "")
    if unit in _PERCENT:
        return canon, "percent"
    if unit in _MONEY:
        return canon, "money"
    if canon == "年" and plain_int and 1000 <= value <= 2999:
        return canon, "year"
    if canon == "月" and int_like and 1 <= value <= 12 or canon == "日" and int_like and 1 <= value <= 31:
        return canon, "date"
    return canon, ("count" if canon else "plain")


@dataclass
class _Raw:
    base: Decimal       # value before the trailing 万/亿 group (m2)
    mult: Decimal       # that trailing multiplier, or the one inherited in a range
    unit: str           # raw unit ("" when none)
    start: int
    end: int
    approx: bool = False
    pct: bool = False
    plain_int: bool = False  # bare arabic integer or digit-by-digit numeral: may be a year
    fixed: tuple[str, str] | None = None  # (unit, kind) of a date-regex component
    tail: Decimal = Decimal(1)  # multiplier of the last component (3-5万元: 万), for ranges
    has_mult: bool = False




def _token(m: re.Match, text: str) -> _Raw | None:
    """A _NUM_RE match → _Raw, or None when it is a word/identifier rather than a number."""
    s, e = m.span()
    before, after = text[s - 1:s], text[e:e + 1]
    unit, m2 = m.group("unit") or "", m.group("m2") or ""
    if m.group("ar"):
        expr = m.group("ar")
        if (re.match(r"[A-Za-z_./#@\\]", before) or re.match(r"[A-Za-z]", after) and unit.isascii()
                or before == "-" and re.match(r"[A-Za-z]", text[s - 2:s - 1])):  # 5G, G318, COVID-19
            return None
        if not unit and re.fullmatch(r"\d{1,2}", expr) and re.match(r"[.．][\u4e00-\u9fff]", text[e:e + 2]):
            return None  # list marker: "2.能够…" (Chinese prose ends sentences with 。)
        base, plain_int = arabic_value(expr), bool(re.fullmatch(r"\d+", expr))
    else:
        expr = m.group("cn")
        res = cn_value(expr)
        if res is None:
            return None
        (base, plain_int), has_big = res, bool(m2 or re.search("[万亿]", expr))
        if unit in _ARABIC_ONLY:
            unit, e = "", max(m.end(g) for g in ("cn", "q1", "m2", "q2") if m.group(g))
        if plain_int and unit != "年" or not (unit or has_big or m.group("pct")):
            return None
    if base is None:
        return None
    if before == "负" or before == "-" and not re.match(r"[0-9A-Za-z_)）.]", text[s - 2:s - 1]):
        base, s = -base, s - 1
    approx = bool(m.group("q1") or m.group("q2") or _APPROX_BEFORE.search(text[max(0, s - 4):s])
                  or text[e:e + 2] == "左右")
    return _Raw(base, multiplier(m2), unit, s, e, approx, bool(m.group("pct")), plain_int and not m2,
                tail=multiplier(m2 or re.search(r"[十百千]?[万亿]*$", expr).group()),
                has_mult=bool(m2 or re.search("[十百千万亿]", expr[1:])))


def _scan(folded: str) -> list[_Raw]:
    out: list[_Raw] = []
    masked = list(folded)
    for m in _MASK_RE.finditer(folded):
        masked[m.start():m.end()] = "\0" * (m.end() - m.start())
    for m in _DATE_RE.finditer("".join(masked)):
        groups = (1, 3, 4) if m.group(1) else (5, 6)
        vals = [int(m.group(g)) for g in groups]
        if not (1 <= vals[1] <= 12 and (len(vals) < 3 or 1 <= vals[2] <= 31)):
            continue
        for g, unit in zip(groups, "年月日"):
            kind = "year" if unit == "年" else "date"
            out.append(_Raw(Decimal(m.group(g)), Decimal(1), unit, *m.span(g), fixed=(unit, kind)))
        masked[m.start():m.end()] = "\0" * (m.end() - m.start())
    text = "".join(masked)
    out += [r for m in _NUM_RE.finditer(text) if (r := _token(m, text))]
    out.sort(key=lambda r: r.start)
    for a, b in zip(out, out[1:]):  # ranges: 2017-2019年, 3-5万元
        if (a.fixed is None and b.fixed is None and not a.unit and not a.pct and not a.has_mult
                and (b.unit or b.tail != 1) and folded[a.end:b.start].strip() in _RANGE_GAPS):
            a.unit, a.mult, a.pct = b.unit, b.tail, b.pct
            a.plain_int = a.plain_int and b.tail == 1
    return out


def extract_quantities(text: str) -> list[Quantity]:
    """Find every quantity in ``text`` (arabic or Chinese numerals, with 万/亿 and units).

    See the module docstring for the grammar and what is skipped. Dates give one quantity
    per component (2020年7月13日 and 2020-7-13 → year 2020, 7 月, 13 日); ranges give two
    (2017-2019年 → two years); ``6万余亩`` → 60000 亩 (approx); ``5500余万元`` → 5.5e7 元.

    Args:
        text: Any text, Simplified or Traditional, half- or full-width.

    Returns:
        Quantities in text order; spans index ``text`` itself.
    """
    return list(_quantities(text or ""))


@lru_cache(maxsize=1024)
def _quantities(text: str) -> tuple[Quantity, ...]:
    out = []
    for r in _scan(fold_text(text)):
        value = r.base * r.mult
        if r.fixed:
            unit, kind = r.fixed
        elif r.pct:
            unit, kind = "%", "percent"
        else:
            unit, kind = _classify(value, r.unit, value == value.to_integral_value(), r.plain_int)
        out.append(Quantity(float(value), unit, kind, r.start, r.end, text[r.start:r.end], r.approx))
    return tuple(out)


def same_quantity(a: Quantity, b: Quantity, *, rel_tol: float = 1e-9) -> bool:
    """Whether two quantities state the same amount of the same thing.

    Values agree within ``rel_tol`` (1.1亿元 = 11000万元) and canonical units are equal, with
    人 = 名 = 位 (people). Deliberately different: 人次 vs 人 (person-times are not persons),
    户 vs 人, % vs 百分点, 元 vs 美元, a unit vs none. :func:`figure_spans` is more lenient.

    Args:
        a: First quantity.
        b: Second quantity.
        rel_tol: Relative tolerance for the values.

    Returns:
        True when both value and unit agree.
    """
    same_unit = _GROUP.get(a.unit, a.unit) == _GROUP.get(b.unit, b.unit)
    return same_unit and math.isclose(a.value, b.value, rel_tol=rel_tol, abs_tol=1e-12)


def _figure_match(f: Quantity, t: Quantity) -> bool:
    if not math.isclose(f.value, t.value, rel_tol=1e-9, abs_tol=1e-12):
        return False
    if not f.unit:
        return True
    if f.kind == "year":
        return t.kind == "year" or (not t.unit and t.value == int(t.value))
    if not t.unit:
        return f.kind in ("money", "count")
    if f.unit in _CLASSIFIERS and t.unit in _CLASSIFIERS:
        return True
    return _GROUP.get(f.unit, f.unit) == _GROUP.get(t.unit, t.unit)


_FIG_FILLER = re.compile(r"[\s\-~至到—–/.约近逾超余多左右以上]")


def _squash(text: str) -> tuple[str, list[int]]:
    """Folded, lower-cased text without whitespace, and each kept char's index in ``text``."""
    chars, idx = [], []
    for i, c in enumerate(fold_text(text)):
        if not c.isspace():
            low = c.lower()
            chars.append(low if len(low) == 1 else c)
            idx.append(i)
    return "".join(chars), idx


def figure_spans(figure: str, text: str) -> list[tuple[int, int]]:
    """Where ``figure`` occurs in ``text`` modulo number normalisation.

    A numeric figure (quantities plus connectors/approximation words) matches a run of
    consecutive quantities in ``text`` with equal values, joined by nothing or a connector
    (``2018年7月`` ↔ ``2018-07-02``); never digits inside a longer number (``120万`` ∉ ``1120万``).
    Units: a figure without one (besides 万/亿) matches any (``6万`` ↔ ``6万余亩``, ``2010`` ↔
    ``2010年``); a year needs a year or bare integer; money/count also match a unitless number
    (``5213万元`` ↔ ``5213萬(wàn)`` with pinyin noise); percent and date need the same unit;
    generic classifiers (个/家/所/座…) match each other; 人 = 名 = 位. Other figures (``天津``,
    ``G318``) are substrings after :func:`fold_text`, lower-casing and dropping whitespace.

    Args:
        figure: The expected figure, e.g. ``1.1亿元``, ``13.13%``, ``2018年7月``, ``天津``.
        text: The text to search (a passage, an answer).

    Returns:
        ``(start, end)`` spans in ``text``, in order; empty when absent.
    """
    fig = (figure or "").strip()
    if not fig or not text:
        return []
    fq = extract_quantities(fig)
    rest = list(fold_text(fig))
    for q in fq:
        rest[q.start:q.end] = " " * (q.end - q.start)
    if fq and not _FIG_FILLER.sub("", "".join(rest)):
        tq = extract_quantities(text)
        folded = fold_text(text)
        spans = []
        for i in range(len(tq) - len(fq) + 1):
            run = tq[i:i + len(fq)]
            if all(_figure_match(f, t) for f, t in zip(fq, run)) and all(
                    folded[x.end:y.start].strip() in _RANGE_GAPS | {"", "/", "."} for x, y in zip(run, run[1:])):
                spans.append((run[0].start, run[-1].end))
        return spans
    needle, _ = _squash(fig)
    hay, idx = _squash(text)
    spans, pos = [], hay.find(needle)
    while needle and pos >= 0:
        spans.append((idx[pos], idx[pos + len(needle) - 1] + 1))
        pos = hay.find(needle, pos + 1)
    return spans


def figure_in_text(figure: str, text: str) -> bool:
    """Whether ``figure`` occurs in ``text`` modulo number normalisation (see :func:`figure_spans`).

    Args:
        figure: The expected figure (``1.1亿元``, ``5200万``, ``60248``, ``天津``).
        text: The text to search.

    Returns:
        True when at least one match exists.
    """
    return bool(figure_spans(figure, text))


_CITATION_RE = re.compile(MARKER_BODY)  # one marker
_ORDINAL_RE = re.compile(r"(?:^|(?<=[\n。；;：:！？!?]))\s*[（(]?\d{1,2}\s*[.、)）](?!\d)|[（(]\d{1,2}[)）]|第")


def numbers_in(text: str) -> list[Quantity]:
    """The numbers in an answer that are worth grounding in a passage.

    Skipped as formatting, not claims: citation markers (``[1]``, ``[1,2]``, ``【3】``), list
    ordinals (``1.``/``2、``/``(3)`` at a line or sentence start), ``第N`` ordinals (``第3批``),
    and one-character Chinese numerals without 万/亿 unless date/year/percent (``一个``,
    ``两个方面``, ``五位一体``: phrasing a passage may word differently). Kept: everything
    else, including counts glued to nouns such as ``4市`` (checkable as written), years, dates.

    Args:
        text: An answer (may contain ``[n]`` markers).

    Returns:
        The quantities to check, in text order.
    """
    folded = fold_text(text or "")
    skip = [m.span() for m in _CITATION_RE.finditer(folded)]
    for m in _ORDINAL_RE.finditer(folded):
        end = m.end() + (1 if m.group() == "第" else 0)
        skip.append((m.start(), end))
    out = []
    for q in extract_quantities(text):
        if any(s <= q.start < e for s, e in skip):
            continue
        f = fold_text(q.surface)
        if (q.kind not in ("date", "year", "percent") and f[0] in CN_START
                and (len(f) == 1 or f[1] not in CN_BODY)):
            continue
        out.append(q)
    return out
