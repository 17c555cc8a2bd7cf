"""Evaluation datasets: format detection, loading, and expansion into scored items.

Formats (detected from the keys of the first records, see :func:`detect_format`):

* ``seed`` — our own sets (``../shared/eval/seed_qa_dev.jsonl``): ``question``,
  ``answer_type``, ``must_include`` (every figure must appear), ``any_of`` (at least one must
  appear), ``gold_docs``; ``answer_type == "unanswerable"`` marks questions the corpus cannot
  answer. Answered from an index (retrieval + generation).
* ``rgb`` / ``rgb_int`` / ``rgb_fact`` — RGB Chinese (Chen et al., AAAI-24) ``zh_refine`` /
  ``zh_int`` / ``zh_fact`` records with their own ``positive``/``negative`` passages.
  Answered from 5 sampled passages (the RGB protocol, :func:`rgb_sample`).
* ``drcd`` — DRCD (Traditional-script reading comprehension): ``context`` + ``answers``.
  Answered from the item's own paragraph, or (``retrieval="index"``) from an index over all
  distinct paragraphs of the file (:meth:`Dataset.corpus`).

A record becomes one item per *setting*: RGB noise ratios, negative rejection (5 negative
passages), information integration, counterfactual (``positive_wrong`` passages). ``limit``
counts records, so ``limit=2`` with six RGB settings gives 12 items.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EvalItem", "Dataset", "DatasetError", "FORMATS", "MODES", "DEFAULT_NOISE", "detect_format",
           "read_records", "rgb_sample", "load_dataset"]

FORMATS = ("seed", "rgb", "rgb_int", "rgb_fact", "drcd")
# Settings each format can run; the first list is the default.
MODES: dict[str, tuple[str, ...]] = {
    "seed": ("qa",),
    "rgb": ("noise", "rejection"),
    "rgb_int": ("integration",),
    "rgb_fact": ("counterfactual",),
    "drcd": ("reading",),
}
# Noise ratios run by default (RGB's published columns: 0..0.8 for noise robustness,
# 0..0.4 for information integration; counterfactual was run at 0).
DEFAULT_NOISE: dict[str, tuple[float, ...]] = {
    "rgb": (0.0, 0.2, 0.4, 0.6, 0.8),
    "rgb_int": (0.0, 0.2, 0.4),
    "rgb_fact": (0.0,),
}


class DatasetError(ValueError):
    """The dataset file cannot be read or has an unknown or inconsistent format."""


@dataclass
class EvalItem:
    """One question to answer and score.

    Attributes:
        id: unique within a run (``<record id>`` or ``<record id>@<setting>``).
        base_id: the record's id (shared by the settings of one RGB record).
        question: the question.
        task: ``qa`` | ``noise`` | ``rejection`` | ``integration`` | ``counterfactual`` | ``reading``.
        group: what reports break results down by (answer type, ``noise=0.4``, …).
        passages: the passages to answer from; None = retrieve from the index.
        must_include / any_of / gold_docs: seed-format expectations.
        answer_groups: RGB-style answers (every group must match, any member of a group counts).
        unanswerable: the right behaviour is to refuse.
        noise: RGB noise ratio of the sampled passages (None when not sampled).
        extra: format-specific fields (``fakeanswer``, ``script``, ``answer_type`` notes…).
    """

    id: str
    base_id: str
    question: str
    task: str
    group: str
    passages: list[str] | None = None
    must_include: list[str] = field(default_factory=list)
    any_of: list[str] = field(default_factory=list)
    gold_docs: list[str] = field(default_factory=list)
    answer_groups: list[list[str]] = field(default_factory=list)
    unanswerable: bool = False
    noise: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Dataset:
    """A loaded dataset: its format, the expanded items and the settings that produced them.

    Attributes:
        name: file name without ``.jsonl``.
        path: the file.
        format: one of :data:`FORMATS`.
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
    def needs_index(self) -> bool:
        """Whether some item must be answered by retrieval (``passages is None``)."""
        return any(it.passages is None for it in self.items)

    def corpus(self) -> list[dict[str, str]]:
        """Distinct paragraphs of a DRCD file as articles ``{"id", "title", "text"}``.

        Every record of the file counts (not only the first ``limit``), so retrieval runs
        over the whole paragraph pool.
        """
        if self.format != "drcd":
            raise DatasetError(f"只有 DRCD 数据集自带可建索引的段落（当前格式：{self.format}）")
        seen: dict[str, dict[str, str]] = {}
        for r in self.records:
            pid = str(r.get("paragraph_id") or r["id"])
            seen.setdefault(pid, {"id": pid, "title": str(r.get("title") or ""), "text": r["context"]})
        return list(seen.values())


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


def _format_of(rec: dict[str, Any]) -> str | None:
    keys = set(rec)
    if "positive" in keys and "negative" in keys and "question" in keys:
        if "positive_wrong" in keys:
            return "rgb_fact"
        if "positive_groups" in keys:
            return "rgb_int"
        return "rgb"
    if {"context", "answers", "question"} <= keys:
        return "drcd"
    if "question" in keys and keys & {"must_include", "any_of", "gold_docs", "answer_type"}:
        return "seed"
    if "region" in keys and "key_facts" in keys:
        return "regions"
    return None


def detect_format(records: Sequence[dict[str, Any]], *, name: str = "评测集") -> str:
    """Detect the dataset format from its records' keys (every record must agree).

    Args:
        records: the records (from :func:`read_records`).
        name: the file name, for messages.

    Returns:
        One of :data:`FORMATS`.

    Raises:
        DatasetError: unknown keys, mixed formats, or the region-summary set.
    """
    found = {_format_of(r) for r in records}
    if found == {"regions"}:
        raise DatasetError(f"{name} 是地区摘要评测集（region/key_facts），不是问答集：shanhai eval 只评测问答")
    if None in found:
        bad = next(i for i, r in enumerate(records, 1) if _format_of(r) is None)
        keys = "、".join(sorted(records[bad - 1])[:8])
        raise DatasetError(f"无法识别 {name} 第 {bad} 条记录的格式（字段：{keys}）。支持：种子格式"
                           "（question + must_include/gold_docs）、RGB（positive/negative）、DRCD（context/answers）")
    if len(found) > 1:
        raise DatasetError(f"{name} 混合了多种格式（{'、'.join(sorted(found))}）：请每个文件只放一种格式")
    return found.pop()


def _need(n_total: int, noise: float) -> int:
    # round() guards against float artefacts such as 5 * 0.7 = 3.5000000000000004.
    return int(math.ceil(round(n_total * noise, 9)))


def rgb_sample(positives: Sequence[str], negatives: Sequence[str], noise: float, *, n: int = 5,
               rng: random.Random | None = None) -> list[str]:
    """RGB's passage sampling for one item (``processdata`` of RGB's ``evalue.py``).

    Takes ``ceil(n * noise)`` passages from the front of ``negatives`` and the rest from the
    front of ``positives``; when one pool runs short the other fills in. ``noise >= 1`` is
    negative rejection: negatives only, never filled with positives. The result is shuffled
    with ``rng`` (pass a seeded one; None keeps the order positives-then-negatives).

    Args:
        positives: passages containing the answer, in upstream order.
        negatives: related passages without the answer, in upstream order.
        noise: noise ratio in [0, 1].
        n: passages per item (RGB: 5).
        rng: random generator for the shuffle.

    Returns:
        Up to ``n`` passages (fewer only when both pools together are smaller).
    """
    if not 0 <= noise <= 1:
        raise ValueError(f"噪声比例必须在 0 到 1 之间（收到 {noise}）")
    if noise >= 1:
        docs = list(negatives[:n])
    else:
        n_neg = min(_need(n, noise), len(negatives))
        n_pos = min(n - n_neg, len(positives))
        n_neg = min(n - n_pos, len(negatives))  # positives ran short: negatives fill in
        docs = list(positives[:n_pos]) + list(negatives[:n_neg])
    if rng is not None:
        rng.shuffle(docs)
    return docs


def _round_robin(groups: Sequence[Sequence[str]]) -> list[str]:
    """One passage from the front of each group in turn (RGB ``_int``: every sub-answer gets evidence)."""
    out: list[str] = []
    for i in range(max((len(g) for g in groups), default=0)):
        out += [g[i] for g in groups if i < len(g)]
    return out


def _rng(seed: int, item_id: str, setting: str) -> random.Random:
    """A generator fixed by (seed, item, setting): results do not depend on order or limit."""
    return random.Random(f"{seed}|{item_id}|{setting}")


def _groups(rec: dict[str, Any]) -> list[list[str]]:
    groups = rec.get("answer_groups")
    if not groups:
        groups = [[a] for a in rec.get("answers") or []]
    return [[g] if isinstance(g, str) else [str(x) for x in g] for g in groups]


def _strs(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _seed_items(rec: dict[str, Any], rid: str) -> list[EvalItem]:
    must, anyf = _strs(rec.get("must_include")), _strs(rec.get("any_of"))
    atype = str(rec.get("answer_type") or ("unanswerable" if not must and not anyf else "text"))
    return [EvalItem(id=rid, base_id=rid, question=rec["question"], task="qa", group=atype, must_include=must,
                     any_of=anyf, gold_docs=_strs(rec.get("gold_docs")), unanswerable=atype == "unanswerable",
                     extra={k: rec[k] for k in ("notes",) if k in rec})]


def _rgb_items(rec: dict[str, Any], rid: str, fmt: str, modes: Sequence[str], noises: Sequence[float],
               seed: int, n: int) -> list[EvalItem]:
    groups = _groups(rec)
    out = []
    if fmt == "rgb_int":
        positives = _round_robin(rec.get("positive_groups") or [rec["positive"]])
    elif fmt == "rgb_fact":
        positives = list(rec["positive_wrong"])
    else:
        positives = list(rec["positive"])
    extra = {"fakeanswer": rec["fakeanswer"]} if fmt == "rgb_fact" else {}
    task = {"rgb": "noise", "rgb_int": "integration", "rgb_fact": "counterfactual"}[fmt]
    if task in modes:
        for r in noises:
            setting = f"noise={r:g}"
            docs = rgb_sample(positives, rec["negative"], r, n=n, rng=_rng(seed, rid, setting))
            group = setting if task == "noise" else f"{task} {setting}"
            out.append(EvalItem(id=f"{rid}@{setting}", base_id=rid, question=rec["question"], task=task, group=group,
                                passages=docs, answer_groups=groups, noise=r, extra=dict(extra)))
    if "rejection" in modes:
        docs = rgb_sample([], rec["negative"], 1.0, n=n, rng=_rng(seed, rid, "rejection"))
        out.append(EvalItem(id=f"{rid}@rejection", base_id=rid, question=rec["question"], task="rejection",
                            group="rejection", passages=docs, answer_groups=groups, unanswerable=True, noise=1.0))
    return out


def _drcd_items(rec: dict[str, Any], rid: str, retrieval: str) -> list[EvalItem]:
    pid = str(rec.get("paragraph_id") or rid)
    passages = None if retrieval == "index" else [rec["context"]]
    return [EvalItem(id=rid, base_id=rid, question=rec["question"], task="reading",
                     group=f"reading ({retrieval})", passages=passages, gold_docs=[pid],
                     answer_groups=[_strs(rec.get("answers"))],
                     extra={"script": rec.get("script", ""), "title": rec.get("title", "")})]


def load_dataset(path: str | Path, *, fmt: str | None = None, modes: Sequence[str] | None = None,
                 noises: Sequence[float] | None = None, retrieval: str = "passages", limit: int | None = None,
                 seed: int = 0, passages: int = 5) -> Dataset:
    """Load a dataset file and expand its records into items.

    Args:
        path: a JSONL file in one of :data:`FORMATS`.
        fmt: force a format instead of detecting it.
        modes: settings to run (subset of :data:`MODES` for the format; default all).
        noises: RGB noise ratios (default :data:`DEFAULT_NOISE` for the format).
        retrieval: ``"passages"`` (answer from the record's own passages) or ``"index"``
            (DRCD only: retrieve from an index over all paragraphs).
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
    fmt = fmt or detect_format(records, name=p.name)
    if fmt not in FORMATS:
        raise DatasetError(f"未知的评测集格式 {fmt!r}：可选 {' / '.join(FORMATS)}")
    allowed = MODES[fmt]
    modes = list(modes or allowed)
    bad = [m for m in modes if m not in allowed]
    if bad:
        raise DatasetError(f"{fmt} 格式没有评测模式 {'、'.join(bad)}：可选 {' / '.join(allowed)}")
    if retrieval not in ("passages", "index"):
        raise DatasetError(f"未知的检索方式 {retrieval!r}：可选 passages（用自带段落）或 index（建索引检索）")
    if retrieval == "index" and fmt.startswith("rgb"):
        raise DatasetError("RGB 按其协议直接使用抽样的 5 段资料回答，不支持 --retrieval index")
    noise_list = [float(x) for x in (noises if noises is not None else DEFAULT_NOISE.get(fmt, ()))]
    if any(not 0 <= x < 1 for x in noise_list):
        raise DatasetError("噪声比例必须在 [0, 1) 之间；只含负例的拒答测试请用 --mode rejection")
    if limit is not None and limit < 1:
        raise DatasetError(f"--limit 必须是正整数（收到 {limit}）")
    items: list[EvalItem] = []
    for i, rec in enumerate(records[:limit] if limit else records, 1):
        if not isinstance(rec.get("question"), str) or not rec["question"].strip():
            raise DatasetError(f"{p.name} 第 {i} 条记录没有 question 字段或问题为空")
        rid = str(rec.get("id", f"{p.stem}-{i}"))
        if fmt == "seed":
            items += _seed_items(rec, rid)
        elif fmt == "drcd":
            items += _drcd_items(rec, rid, retrieval)
        else:
            items += _rgb_items(rec, rid, fmt, modes, noise_list, seed, passages)
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise DatasetError(f"{p.name} 中有重复的题目 id：{dup}（请保证 id 唯一）")
    settings = {"modes": modes, "noise": noise_list if fmt.startswith("rgb") else [],
                "retrieval": "index" if fmt == "seed" else retrieval, "seed": seed, "passages": passages,
                "limit": limit}
    return Dataset(name=p.name.removesuffix(".jsonl"), path=p, format=fmt, items=items, records=records,
                   settings=settings)
