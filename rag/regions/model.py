"""Records of the region gazetteer: regions, pairs and their evidence (typed, JSON-able)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Region:
    """A place of the corpus with every way it is written.

    Attributes:
        name: canonical name (``沿河县``, ``甘肃省``), the key.
        stem: name without suffix (``沿河``).
        level: 省/市/州/盟/县/区/旗/镇/乡/村.
        aliases: every written form seen, Simplified and original script (``沿河土家族自治县``,
            ``沿河縣``, ``沿河``), plus forms qualified by the parent (``天津市和平区``).
        parent: canonical name of the higher-level place it is written under, or None.
        docs: doc_id → mentions in that document (references such as ``该区`` included).
        chunks: ids of the chunks that mention it, in document order.
        mentions: total mentions.
    """

    name: str
    stem: str
    level: str
    aliases: list[str]
    parent: str | None
    docs: dict[str, int]
    chunks: list[str]
    mentions: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evidence:
    """The sentence (and chunk) that states a pairing."""

    doc_id: str
    chunk_id: str
    start: int
    end: int
    text: str
    original: str
    relation: str
    directed: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Pair:
    """A helper → helped relation between two regions.

    Attributes:
        donor: canonical name of the helping region.
        recipient: canonical name of the helped region.
        directed: False when the text only says the two are paired (order as written).
        relations: the verbs/keywords seen (对口帮扶, 结对帮扶, 捐赠 …).
        evidence: the sentences that state it.
        donor_label: donor as shown to users, qualified by its parent (``天津市和平区``).
        recipient_label: recipient likewise.
    """

    donor: str
    recipient: str
    directed: bool
    relations: list[str]
    evidence: list[Evidence] = field(default_factory=list)
    donor_label: str = ""
    recipient_label: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["evidence"] = [e.to_json() for e in self.evidence]
        return out

    def arrow(self) -> str:
        """``天津市和平区 → 靖远县`` (``↔`` when undirected)."""
        arrow = "→" if self.directed else "↔"
        return f"{self.donor_label or self.donor} {arrow} {self.recipient_label or self.recipient}"
