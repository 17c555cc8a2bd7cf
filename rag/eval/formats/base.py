"""What every evaluation dataset format provides: :class:`DatasetFormat`, and the item it yields.

A format is one module under :mod:`rag.eval.formats` with a :class:`DatasetFormat` subclass
(its name, modes, how to recognise a record and how to expand one into :class:`EvalItem`),
registered in :data:`rag.eval.formats.REGISTRY`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Sequence

__all__ = ["DatasetError", "EvalItem", "ItemOptions", "DatasetFormat", "strs"]


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


@dataclass(frozen=True)
class ItemOptions:
    """The checked settings a record is expanded with.

    Attributes:
        modes: settings to run (a subset of the format's ``modes``).
        noises: noise ratios (formats that sample passages).
        retrieval: ``passages`` or ``index``.
        seed: seed of the passage shuffle.
        passages: passages per sampled item.
    """

    modes: Sequence[str]
    noises: Sequence[float]
    retrieval: str
    seed: int
    passages: int


class DatasetFormat:
    """One dataset format.

    Attributes:
        name: the format's name (``seed``, ``rgb`` …), recorded in runs.
        label: the family's name in messages (``种子格式``, ``RGB``, ``DRCD``).
        keys: the keys that identify it, for the message on an unknown record.
        modes: the settings it can run; all of them run by default.
        default_noise: noise ratios run by default (empty: the format samples no passages).
        priority: detection order, lowest first: a format whose records also carry another
            format's keys (RGB records have ``question``) must be tried before that one.
        own_corpus: the records carry paragraphs an index can be built from (:meth:`corpus`).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    keys: ClassVar[str]
    modes: ClassVar[tuple[str, ...]]
    default_noise: ClassVar[tuple[float, ...]] = ()
    priority: ClassVar[int] = 50
    own_corpus: ClassVar[bool] = False

    def detect(self, record: dict[str, Any]) -> bool:
        """Whether ``record`` (one JSONL object) is of this format, judged by its keys."""
        raise NotImplementedError

    def check(self, retrieval: str) -> None:
        """Reject a retrieval setting the format does not support (raises :class:`DatasetError`)."""

    def retrieval(self, requested: str) -> str:
        """The retrieval the items actually use for the requested one (recorded in the settings)."""
        return requested

    def needs_index(self, retrieval: str) -> bool:
        """Whether items are answered by retrieval from an index rather than from own passages."""
        return self.retrieval(retrieval) == "index"

    def needs_library_index(self, retrieval: str) -> bool:
        """Whether items need an index that the records cannot build (an existing one or ``--corpus``)."""
        return self.needs_index(retrieval) and not self.own_corpus

    def items(self, record: dict[str, Any], rid: str, opts: ItemOptions) -> list[EvalItem]:
        """Expand one record (id ``rid``) into the items of the chosen settings."""
        raise NotImplementedError

    def corpus(self, records: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
        """Articles ``{"id", "title", "text"}`` to index for retrieval (formats with ``own_corpus``)."""
        raise NotImplementedError


def strs(value: Any) -> list[str]:
    """A string or a list of values as a list of strings (None: empty)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]
