"""Parsing one number: arabic digits, Chinese numerals or a mix (``1.1亿``, ``一千零五``, ``二〇一七``).

The regex pieces and value functions here are shared with :mod:`rag.text.numbers`, which finds
quantities in running text and compares them. Decimal arithmetic throughout, so ``1.1亿`` is
exactly 110000000.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from rag.text.normalize import fold_text

__all__ = ["parse_number"]

_CN_DIGITS = {"零": 0, "〇": 0, **dict(zip("一二三四五六七八九", range(1, 10))), "两": 2,
              **dict(zip("壹贰叁肆伍陆柒捌玖", range(1, 10)))}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "万": 10**4, "亿": 10**8}
ARABIC = r"\d{1,3}(?:,\d{3}(?!\d))+(?:\.\d+)?|\d+(?:\.\d+)?"
MULTIPLIER = r"[十百千]?[万亿]+|千(?![克米瓦])|百(?!分)"  # 千克 and 百分点 are units
CN_START = "一二三四五六七八九两壹贰叁肆伍陆柒捌玖十拾廿卅"
CN_BODY = "零〇一二三四五六七八九两壹贰叁肆伍陆柒捌玖十拾百佰千仟万亿廿卅"
CN_NUMERAL = rf"[{CN_START}][{CN_BODY}]*(?:点[零〇一二三四五六七八九]+[万亿]*)?"


def multiplier(chars: str) -> Decimal:
    """The product of the 十/百/千/万/亿 characters in ``chars`` (1 when empty)."""
    return math.prod((Decimal(_CN_UNITS[c]) for c in chars), start=Decimal(1))


def _combine(tokens: list[tuple[str, Decimal]]) -> Decimal | None:
    """Value of a digit/unit token sequence ("d" digit, may be an arabic decimal; "u" unit; "z" 零)."""
    total = mid = sec = Decimal(0)  # the 亿 part, the 万 part, the part below 万
    d: Decimal | None = None
    last, last_small, zero = 0, 10**4, False
    for kind, v in tokens:
        if kind == "z":
            zero = True
        elif kind == "d":
            if d is not None:
                return None
            d = v
        elif v < 10**4:  # 十 百 千 must decrease within a section; a bare 十 means 一十
            if v >= last_small or (d is None and v != 10):
                return None
            sec, last_small = sec + (d if d is not None else 1) * v, int(v)
        else:
            part = (sec if v == 10**4 else total + mid + sec) + (d or 0)
            if part == 0:
                return None
            if v == 10**4:
                mid, sec = mid + part * v, Decimal(0)
            else:
                total, mid, sec = part * v, Decimal(0), Decimal(0)
            last_small = 10**4
        if kind == "u":
            d, last, zero = None, int(v), False
    if d is not None and not zero and last and d == d.to_integral_value() and d < 10:
        d = d * last / 10  # colloquial: 三万五 = 35000, 两百五 = 250, 十五 = 15
    return total + mid + sec + (d or 0)


def cn_value(s: str) -> tuple[Decimal, bool] | None:
    """(value, digit_by_digit) of a Chinese numeral such as 一千零五, 三点五亿, 二〇一七."""
    s, dot, rest = s.replace("廿", "二十").replace("卅", "三十").partition("点")
    frac, mult = "", Decimal(1)
    if dot:
        m = re.fullmatch(r"([零〇一二三四五六七八九]+)([万亿]*)", rest)
        if not m or not s:
            return None
        frac, mult = "".join(str(_CN_DIGITS[c]) for c in m.group(1)), multiplier(m.group(2))
    dbd = len(s) >= 2 and all(c in _CN_DIGITS for c in s)
    if dbd:
        value: Decimal | None = Decimal("".join(str(_CN_DIGITS[c]) for c in s))
    else:
        toks = [("z", Decimal(0)) if c in "零〇" else ("d", Decimal(_CN_DIGITS[c])) if c in _CN_DIGITS
                else ("u", Decimal(_CN_UNITS[c])) for c in s]
        if frac and toks[-1][0] == "u" and toks[-1][1] >= 10**4:  # 三万点五
            return None
        value = _combine(toks)
    if value is None:
        return None
    return ((value + Decimal("0." + frac)) * mult if frac else value), dbd and not frac


def arabic_value(s: str) -> Decimal | None:
    """Value of an arabic number with optional 十/百/千/万/亿 multipliers (``1亿2000万``, ``5,200``)."""
    toks = [("d", Decimal(n.replace(",", ""))) if n else ("u", Decimal(_CN_UNITS[u]))
            for n, u in re.findall(r"(\d[\d,]*(?:\.\d+)?)|([十百千万亿])", s)]
    return _combine(toks)


def parse_number(s: str) -> float | None:
    """Parse one number written in arabic digits, Chinese numerals or a mix.

    ``1.1亿``/``11000万`` → 1.1e8, ``六万`` → 6e4, ``一千二百三十四`` → 1234, ``两百`` → 200,
    ``二〇一七`` → 2017, ``5,200`` → 5200, ``0.94万`` → 9400, ``１２`` → 12, ``三点五`` → 3.5,
    ``1亿2000万`` → 1.2e8, ``三万五`` → 35000, ``廿三`` → 23, ``百分之十三`` → 13, ``-3.5``,
    ``5500余万`` → 5.5e7. Decimal arithmetic, so ``1.1亿`` is exactly 110000000.0.

    Args:
        s: The number alone (surrounding whitespace allowed; no unit).

    Returns:
        The value, or None when ``s`` is not a single well-formed number.
    """
    t = re.sub(r"\s+", "", fold_text(s or ""))
    if t in ("零", "〇"):
        return 0.0
    sign = -1 if t[:1] == "-" else 1
    t = t.lstrip("+-")
    if t.startswith("百分之"):
        t = t[3:]
    t = re.sub(r"(?<=.)[余多](?=[万亿]*$)", "", t)
    if re.fullmatch(rf"(?:{ARABIC})(?:(?:{MULTIPLIER})(?:(?:{ARABIC})(?:{MULTIPLIER}))*)?", t):
        value = arabic_value(t)
    elif re.fullmatch(CN_NUMERAL, t):
        res = cn_value(t)
        value = None if res is None else res[0]
    else:
        return None
    return None if value is None else sign * float(value)
