"""``drcd`` — DRCD (Traditional-script reading comprehension): ``context`` + ``answers``.

Answered from the item's own paragraph, or (``retrieval="index"``) from an index over all
distinct paragraphs of the file (:meth:`DrcdFormat.corpus`).
"""

from __future__ import annotations

from typing import Any, Sequence

from rag.eval.formats.base import DatasetFormat, EvalItem, ItemOptions, strs

__all__ = ["DrcdFormat"]


class DrcdFormat(DatasetFormat):
    """Reading comprehension over the record's own paragraph (or all paragraphs, indexed)."""

    name = "drcd"
    label = "DRCD"
    keys = "context/answers"
    modes = ("reading",)
    priority = 20
    own_corpus = True

    def detect(self, record: dict[str, Any]) -> bool:
        return {"context", "answers", "question"} <= set(record)

    def items(self, record: dict[str, Any], rid: str, opts: ItemOptions) -> list[EvalItem]:
        pid = str(record.get("paragraph_id") or rid)
        passages = None if opts.retrieval == "index" else [record["context"]]
        return [EvalItem(id=rid, base_id=rid, question=record["question"], task="reading",
                         group=f"reading ({opts.retrieval})", passages=passages, gold_docs=[pid],
                         answer_groups=[strs(record.get("answers"))],
                         extra={"script": record.get("script", ""), "title": record.get("title", "")})]

    def corpus(self, records: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
        """Distinct paragraphs as articles; every record counts (not only the first ``limit``),
        so retrieval runs over the whole paragraph pool."""
        seen: dict[str, dict[str, str]] = {}
        for r in records:
            pid = str(r.get("paragraph_id") or r["id"])
            seen.setdefault(pid, {"id": pid, "title": str(r.get("title") or ""), "text": r["context"]})
        return list(seen.values())
