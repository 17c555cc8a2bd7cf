"""Evaluation datasets: reading a JSONL file and expanding its records into scored items.

The format (``seed``, ``rgb``, ``rgb_int``, ``rgb_fact``, ``drcd``; see :mod:`rag.eval.formats`,
one module each) is detected from the keys of the records. A record becomes one item per
*setting* of its format (RGB noise ratios, negative rejection, …). ``limit`` counts records,
so ``limit=2`` with six RGB settings gives 12 items.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.eval.formats import REGISTRY, detect_format, get_format
from rag.eval.formats.base import DatasetError, DatasetFormat, EvalItem, ItemOptions

__all__ = ["Dataset", "read_records", "load_dataset"]


@dataclass
class Dataset:
    """A loaded dataset: its format, the expanded items and the settings that produced them.

    Attributes:
        name: file name without ``.jsonl``.
        path: the file.
        format: a name of :data:`rag.eval.formats.REGISTRY`.
        items: the items to run.
        records: all records of the file (before ``limit``).
        settings: modes, noise ratios, retrieval, seed, passages per item, limit.
    """

    name: str
    path: Path
    format: str
    items: list[EvalItem]
    records: list[dict[str, Any]]
    settings: dict[str, Any]

    @property
    def spec(self) -> DatasetFormat:
        """The :class:`~rag.eval.formats.base.DatasetFormat` of this dataset."""
        return get_format(self.format)

    @property
    def needs_index(self) -> bool:
        """Whether some item must be answered by retrieval (``passages is None``)."""
        return any(it.passages is None for it in self.items)

    def corpus(self) -> list[dict[str, str]]:
        """The file's own paragraphs as articles ``{"id", "title", "text"}`` (formats with
        ``own_corpus``, e.g. DRCD). Every record counts, not only the first ``limit``.

        Raises:
            DatasetError: the format carries no paragraphs to index.
        """
        if not self.spec.own_corpus:
            own = "、".join(f.label for f in REGISTRY.values() if f.own_corpus)
            raise DatasetError(f"只有 {own} 数据集自带可建索引的段落（当前格式：{self.format}）")
        return self.spec.corpus(self.records)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file into dicts (blank lines skipped).

    Args:
        path: the file.

    Returns:
        The records in file order.

    Raises:
        DatasetError: missing file, a line that is not a JSON object, or no records.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DatasetError(f"找不到评测集文件：{p}（请检查路径）")
    out = []
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DatasetError(f"{p.name} 第 {n} 行不是有效的 JSON（{err.msg}）：请修正该行") from err
            if not isinstance(obj, dict):
                raise DatasetError(f"{p.name} 第 {n} 行不是 JSON 对象：每行应是一个 {{...}} 记录")
            out.append(obj)
    if not out:
        raise DatasetError(f"评测集 {p.name} 是空的：没有任何记录")
    return out


def _options(fmt: DatasetFormat, modes: Sequence[str] | None, noises: Sequence[float] | None, retrieval: str,
             limit: int | None, seed: int, passages: int) -> ItemOptions:
    """Check the settings against the format (raises :class:`DatasetError`)."""
    allowed = fmt.modes
    chosen = list(modes or allowed)
    bad = [m for m in chosen if m not in allowed]
    if bad:
        raise DatasetError(f"{fmt.name} 格式没有评测模式 {'、'.join(bad)}：可选 {' / '.join(allowed)}")
    if retrieval not in ("passages", "index"):
        raise DatasetError(f"未知的检索方式 {retrieval!r}：可选 passages（用自带段落）或 index（建索引检索）")
    fmt.check(retrieval)
    noise_list = [float(x) for x in (noises if noises is not None else fmt.default_noise)]
    if any(not 0 <= x < 1 for x in noise_list):
        raise DatasetError("噪声比例必须在 [0, 1) 之间；只含负例的拒答测试请用 --mode rejection")
    if limit is not None and limit < 1:
        raise DatasetError(f"--limit 必须是正整数（收到 {limit}）")
    return ItemOptions(modes=chosen, noises=noise_list, retrieval=retrieval, seed=seed, passages=passages)


def load_dataset(path: str | Path, *, fmt: str | None = None, modes: Sequence[str] | None = None,
                 noises: Sequence[float] | None = None, retrieval: str = "passages", limit: int | None = None,
                 seed: int = 0, passages: int = 5) -> Dataset:
    """Load a dataset file and expand its records into items.

    Args:
        path: a JSONL file in one of the formats of :data:`rag.eval.formats.REGISTRY`.
        fmt: force a format instead of detecting it.
        modes: settings to run (a subset of the format's ``modes``; default all).
        noises: noise ratios (default the format's ``default_noise``).
        retrieval: ``"passages"`` (answer from the record's own passages) or ``"index"``
            (DRCD: retrieve from an index over all paragraphs; seed sets always retrieve).
        limit: use only the first ``limit`` records.
        seed: seed of the RGB passage shuffle.
        passages: passages per RGB item.

    Returns:
        The :class:`Dataset`.

    Raises:
        DatasetError: unreadable file, unknown format, or settings the format does not have.
    """
    p = Path(path).expanduser()
    records = read_records(p)
    spec = get_format(fmt or detect_format(records, name=p.name))
    opts = _options(spec, modes, noises, retrieval, limit, seed, passages)
    items: list[EvalItem] = []
    for i, rec in enumerate(records[:limit] if limit else records, 1):
        if not isinstance(rec.get("question"), str) or not rec["question"].strip():
            raise DatasetError(f"{p.name} 第 {i} 条记录没有 question 字段或问题为空")
        items += spec.items(rec, str(rec.get("id", f"{p.stem}-{i}")), opts)
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise DatasetError(f"{p.name} 中有重复的题目 id：{dup}（请保证 id 唯一）")
    settings = {"modes": list(opts.modes), "noise": list(opts.noises) if spec.default_noise else [],
                "retrieval": spec.retrieval(retrieval), "seed": seed, "passages": passages, "limit": limit}
    return Dataset(name=p.name.removesuffix(".jsonl"), path=p, format=spec.name, items=items, records=records,
                   settings=settings)
