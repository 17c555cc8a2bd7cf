"""Evaluation dataset formats: one module per format, registered here.

A new format is one module with a :class:`~rag.eval.formats.base.DatasetFormat` subclass
(name, modes, ``detect``, ``items``) added to :data:`REGISTRY`. Formats are detected from the
keys of the records (:func:`detect_format`), tried in ``priority`` order.

>>> detect_format([{"question": "…", "context": "…", "answers": ["…"]}])
'drcd'
>>> get_format("rgb").modes
('noise', 'rejection')
"""

from __future__ import annotations

from typing import Any, Sequence

from rag.eval.formats.base import DatasetError, DatasetFormat
from rag.eval.formats.drcd import DrcdFormat
from rag.eval.formats.rgb import RgbCounterfactualFormat, RgbFormat, RgbIntegrationFormat
from rag.eval.formats.seed import SeedFormat

__all__ = ["REGISTRY", "names", "get_format", "format_of", "detect_format"]

# name -> format, in the order they are listed to users
REGISTRY: dict[str, DatasetFormat] = {f.name: f for f in (
    SeedFormat(), RgbFormat(), RgbIntegrationFormat(), RgbCounterfactualFormat(), DrcdFormat())}
_DETECT_ORDER = sorted(REGISTRY.values(), key=lambda f: f.priority)
_REGIONS = "regions"  # the region-summary set (region + key_facts): known, but not a QA set


def names() -> tuple[str, ...]:
    """The registered format names."""
    return tuple(REGISTRY)


def get_format(name: str) -> DatasetFormat:
    """The format called ``name``.

    Raises:
        DatasetError: no such format (the message lists the choices).
    """
    if name not in REGISTRY:
        raise DatasetError(f"未知的评测集格式 {name!r}：可选 {' / '.join(REGISTRY)}")
    return REGISTRY[name]


def format_of(record: dict[str, Any]) -> str | None:
    """The name of the first format (by priority) that recognises ``record``; ``"regions"`` for a
    region-summary record; None when nothing does."""
    for fmt in _DETECT_ORDER:
        if fmt.detect(record):
            return fmt.name
    if "region" in record and "key_facts" in record:
        return _REGIONS
    return None


def _supported() -> str:
    hints = {f"{f.label}（{f.keys}）": None for f in REGISTRY.values()}
    return "、".join(hints)


def detect_format(records: Sequence[dict[str, Any]], *, name: str = "评测集") -> str:
    """Detect the dataset format from its records' keys (every record must agree).

    Args:
        records: the records (from :func:`rag.eval.datasets.read_records`, or only the first).
        name: the file name, for messages.

    Returns:
        A name of :data:`REGISTRY`.

    Raises:
        DatasetError: unknown keys, mixed formats, or the region-summary set.
    """
    found = {format_of(r) for r in records}
    if found == {_REGIONS}:
        raise DatasetError(f"{name} 是地区摘要评测集（region/key_facts），不是问答集：shanhai eval 只评测问答")
    if None in found:
        bad = next(i for i, r in enumerate(records, 1) if format_of(r) is None)
        keys = "、".join(sorted(records[bad - 1])[:8])
        raise DatasetError(f"无法识别 {name} 第 {bad} 条记录的格式（字段：{keys}）。支持：{_supported()}")
    if len(found) > 1:
        raise DatasetError(f"{name} 混合了多种格式（{'、'.join(sorted(found))}）：请每个文件只放一种格式")
    return found.pop()
