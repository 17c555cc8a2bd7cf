"""``seed`` — our own question sets (``../shared/eval/seed_qa_dev.jsonl``).

Fields: ``question``, ``answer_type``, ``must_include`` (every figure must appear), ``any_of``
(at least one must appear), ``gold_docs``; ``answer_type == "unanswerable"`` marks questions
the corpus cannot answer. Answered from an index (retrieval + generation).
"""

from __future__ import annotations

from typing import Any

from rag.eval.formats.base import DatasetFormat, EvalItem, ItemOptions, strs

__all__ = ["SeedFormat"]


class SeedFormat(DatasetFormat):
    """Questions answered by retrieval from an index, scored by figures and gold documents."""

    name = "seed"
    label = "种子格式"
    keys = "question + must_include/gold_docs"
    modes = ("qa",)
    priority = 30

    def detect(self, record: dict[str, Any]) -> bool:
        keys = set(record)
        return "question" in keys and bool(keys & {"must_include", "any_of", "gold_docs", "answer_type"})

    def retrieval(self, requested: str) -> str:
        return "index"

    def items(self, record: dict[str, Any], rid: str, opts: ItemOptions) -> list[EvalItem]:
        must, anyf = strs(record.get("must_include")), strs(record.get("any_of"))
        atype = str(record.get("answer_type") or ("unanswerable" if not must and not anyf else "text"))
        return [EvalItem(id=rid, base_id=rid, question=record["question"], task="qa", group=atype,
                         must_include=must, any_of=anyf, gold_docs=strs(record.get("gold_docs")),
                         unanswerable=atype == "unanswerable",
                         extra={k: record[k] for k in ("notes",) if k in record})]
