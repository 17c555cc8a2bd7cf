"""Checks for the settings a user hands in with a question (CLI, chat UI, gradio API, OpenAI route).

Each check returns the cleaned value or raises :class:`InputError` with a Simplified Chinese
message that names the field, the rule and what to do. ``param`` on the error names the request
field (the OpenAI error's ``param``). The question itself is checked with question analysis
(:func:`rag.answer.question.check_question`, raising the subclass ``QuestionError``).

This module sits below :mod:`rag.pipeline` and :mod:`rag.answer` (it imports neither); backend
names come from the registry :mod:`rag.llm.registry`.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any, Iterable, Sequence

from rag.llm.registry import names as backend_names

__all__ = ["InputError", "check_k", "check_temperature", "check_max_tokens", "check_backend", "parse_date",
           "check_filters"]
_DATE_RE = re.compile(r"^(\d{4})(?:\s*[-/.年]\s*(\d{1,2})(?:\s*[-/.月]\s*(\d{1,2})\s*日?)?\s*月?)?\s*年?$")


class InputError(ValueError):
    """A value the user can fix. ``str(exc)`` is the Chinese message; ``param`` the field name."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def _integer(value: Any, name: str, param: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InputError(f"{name}必须是整数，收到 {value!r}。", param)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int):
        raise InputError(f"{name}必须是整数，收到 {value!r}。", param)
    return value


def check_k(value: Any, *, limit: int, param: str = "k", zero_is_default: bool = False,
            setting: str = "retrieval.max_k") -> int | None:
    """Passages shown to the model: an integer in ``1..limit`` (None = the configured default).

    Args:
        value: the requested number (int, integral float or digit string); None/"" = default.
        limit: largest accepted value (``retrieval.max_k``).
        param: field name for the error.
        zero_is_default: treat 0 as "use the default" (the gradio API's convention).
        setting: the config key named in the message as the source of ``limit``.

    Raises:
        InputError: not an integer or out of range.
    """
    k = _integer(value, "段落数 k ", param)
    if k is None or (zero_is_default and k == 0):
        return None
    if not 1 <= k <= limit:
        raise InputError(f"段落数 k 必须在 1 到 {limit} 之间，收到 {k}（上限见配置项 {setting}）。", param)
    return k


def check_temperature(value: Any, param: str = "temperature") -> float | None:
    """Sampling temperature: a number in ``[0, 2]`` (None = the configured default)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"temperature 必须是 0 到 2 之间的数字，收到 {value!r}。", param)
    t = float(value)
    if math.isnan(t) or not 0.0 <= t <= 2.0:
        raise InputError(f"temperature 必须在 0 到 2 之间，收到 {value!r}。", param)
    return t


def check_max_tokens(value: Any, *, limit: int, param: str = "max_tokens") -> int | None:
    """Tokens generated per (sub-)question: an integer in ``1..limit`` (None = the default)."""
    n = _integer(value, "max_tokens ", param)
    if n is None:
        return None
    if not 1 <= n <= limit:
        raise InputError(f"max_tokens 必须在 1 到 {limit} 之间，收到 {n}（上限见配置项 answer.max_tokens_limit）。",
                         param)
    return n


def check_backend(name: Any, *, default: str | None = None, extra: Iterable[str] = (),
                  param: str = "backend") -> str | None:
    """A backend name a request may choose: a built-in one (:mod:`rag.llm.registry`), the configured
    default or ``extra``.

    Plugins (``module:Class``) are chosen in the config, never by a request, so a request cannot
    make the server import a module.

    Returns:
        The name, or None for an empty value (= the configured default).

    Raises:
        InputError: not a string, or not one of the allowed names (the message lists them).
    """
    if name is None or name == "":
        return None
    allowed = list(dict.fromkeys([*backend_names(), *([default] if default else []), *extra]))
    if not isinstance(name, str) or name.strip() not in allowed:
        raise InputError(f"未知的回答后端 {name!r}：可选 {'、'.join(allowed)}。", param)
    return name.strip()


def parse_date(value: Any, label: str = "日期", param: str | None = None) -> str | None:
    """A date bound as ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (also ``2020/8/19``, ``2020年8月``).

    Returns:
        The ISO form (``2020-08-19``, ``2020-08``, ``2020``), or None for an empty value.

    Raises:
        InputError: not a date of that form, or no such day (``2020-13-45``, ``2021-02-29``).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{label}必须是文字形式的日期（如 2020-08-19），收到 {value!r}。", param)
    text = value.strip()
    if not text:
        return None
    hint = "请写成 2020-08-19、2020-08 或 2020。"
    m = _DATE_RE.match(text)
    if not m:
        raise InputError(f"{label}「{text}」格式不对：{hint}", param)
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    try:
        _dt.date(year, int(month or 1), int(day or 1))
    except ValueError:
        raise InputError(f"{label}「{text}」不是有效的日期（没有这个月份或日子）：{hint}", param) from None
    return "-".join([f"{year:04d}", *(f"{int(x):02d}" for x in (month, day) if x)])


def check_filters(sources: Sequence[str] | str | None = None, date_from: Any = None, date_to: Any = None):
    """Retrieval filters from user inputs (None when nothing is set).

    Args:
        sources: outlets to keep (a document matches when its source contains one of them).
        date_from: earliest document date (see :func:`parse_date`).
        date_to: latest document date.

    Returns:
        A :class:`rag.retrieve.Filters` or None.

    Raises:
        InputError: a bad date, ``date_from`` after ``date_to``, or sources that are not text.
    """
    from rag.retrieve import Filters

    lo = parse_date(date_from, "起始日期", "date_from")
    hi = parse_date(date_to, "截止日期", "date_to")
    if lo and hi and lo[: min(len(lo), len(hi))] > hi[: min(len(lo), len(hi))]:
        raise InputError(f"起始日期 {lo} 晚于截止日期 {hi}：请交换两者或放宽范围。", "date_from")
    if isinstance(sources, str):
        sources = [sources]
    if sources is not None and not all(isinstance(s, str) for s in sources):
        raise InputError("sources 必须是来源名称（文字）的列表。", "sources")
    srcs = [s.strip() for s in (sources or []) if s and s.strip()]
    f = Filters(sources=srcs or None, date_from=lo, date_to=hi)
    return f if f.active() else None
