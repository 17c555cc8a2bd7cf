"""``rgb`` / ``rgb_int`` / ``rgb_fact`` — RGB Chinese (Chen et al., AAAI-24).

``zh_refine`` / ``zh_int`` / ``zh_fact`` records carry their own ``positive`` / ``negative``
passages and are answered from 5 sampled passages (the RGB protocol, :func:`rgb_sample`). A
record becomes one item per setting: each noise ratio, negative rejection (5 negative passages),
information integration, counterfactual (``positive_wrong`` passages).
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

from rag.eval.formats.base import DatasetError, DatasetFormat, EvalItem, ItemOptions

__all__ = ["RgbFormat", "RgbIntegrationFormat", "RgbCounterfactualFormat", "rgb_sample"]


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


def _variant(record: dict[str, Any]) -> str | None:
    """Which RGB file a record comes from (None: not an RGB record)."""
    keys = set(record)
    if not {"positive", "negative", "question"} <= keys:
        return None
    if "positive_wrong" in keys:
        return "rgb_fact"
    return "rgb_int" if "positive_groups" in keys else "rgb"


class RgbFormat(DatasetFormat):
    """``zh_refine``: noise robustness at each noise ratio, and negative rejection."""

    name = "rgb"
    label = "RGB"
    keys = "positive/negative"
    modes = ("noise", "rejection")
    # RGB's published columns: 0..0.8 for noise robustness
    default_noise = (0.0, 0.2, 0.4, 0.6, 0.8)
    priority = 10
    task = "noise"

    def detect(self, record: dict[str, Any]) -> bool:
        return _variant(record) == self.name

    def check(self, retrieval: str) -> None:
        if retrieval == "index":
            raise DatasetError("RGB 按其协议直接使用抽样的 5 段资料回答，不支持 --retrieval index")

    def retrieval(self, requested: str) -> str:
        return "passages"

    def positives(self, record: dict[str, Any]) -> list[str]:
        """The answer-bearing pool the samples draw from."""
        return list(record["positive"])

    def extra(self, record: dict[str, Any]) -> dict[str, Any]:
        """Format-specific expectations copied into each item."""
        return {}

    def items(self, record: dict[str, Any], rid: str, opts: ItemOptions) -> list[EvalItem]:
        groups, positives, extra = _groups(record), self.positives(record), self.extra(record)
        out = []
        if self.task in opts.modes:
            for r in opts.noises:
                setting = f"noise={r:g}"
                docs = rgb_sample(positives, record["negative"], r, n=opts.passages, rng=_rng(opts.seed, rid, setting))
                group = setting if self.task == "noise" else f"{self.task} {setting}"
                out.append(EvalItem(id=f"{rid}@{setting}", base_id=rid, question=record["question"], task=self.task,
                                    group=group, passages=docs, answer_groups=groups, noise=r, extra=dict(extra)))
        if "rejection" in opts.modes:
            docs = rgb_sample([], record["negative"], 1.0, n=opts.passages, rng=_rng(opts.seed, rid, "rejection"))
            out.append(EvalItem(id=f"{rid}@rejection", base_id=rid, question=record["question"], task="rejection",
                                group="rejection", passages=docs, answer_groups=groups, unanswerable=True, noise=1.0))
        return out


class RgbIntegrationFormat(RgbFormat):
    """``zh_int``: information integration (``positive_groups``, one per sub-answer)."""

    name = "rgb_int"
    modes = ("integration",)
    default_noise = (0.0, 0.2, 0.4)  # RGB's published columns for information integration
    task = "integration"

    def positives(self, record: dict[str, Any]) -> list[str]:
        return _round_robin(record.get("positive_groups") or [record["positive"]])


class RgbCounterfactualFormat(RgbFormat):
    """``zh_fact``: counterfactual robustness (``positive_wrong`` passages state ``fakeanswer``)."""

    name = "rgb_fact"
    modes = ("counterfactual",)
    default_noise = (0.0,)  # counterfactual was published at noise 0
    task = "counterfactual"

    def positives(self, record: dict[str, Any]) -> list[str]:
        return list(record["positive_wrong"])

    def extra(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"fakeanswer": record["fakeanswer"]}
