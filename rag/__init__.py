"""shanhai's public API: ``from rag import <Name>``.

Everything the UI (and the CLI) needs from the library is named here; nothing below imports
this module. Names are imported lazily on first use, so ``import rag`` costs nothing. No name
equals a subpackage's (``rag.summarize`` is a package, so the summary is ``Pipeline.summarize``).

* :class:`Pipeline`: index, search, answers (``ask``, ``ask_stream``, ``chat``), documents,
  region gazetteer and summaries, warm-up.
* Input checks and their errors: :class:`InputError`, :class:`QuestionError`,
  :func:`check_backend`, :func:`check_filters`, :func:`check_k`; :class:`Filters`.
* Errors the caller reports: the ``Index*Error`` classes, :class:`LLMError`.
* The local model's queue, for "waiting" notices: :class:`QueueStatus`, :func:`queue_listener`.
* Region summaries (:meth:`Pipeline.summarize`): :func:`render_markdown` (of a summary),
  :class:`RegionNotFoundError`, :class:`SummaryError`.
* Evaluation runs: :func:`run_eval`, :func:`list_runs`, :func:`runs_root`, :func:`detect_format`,
  :func:`load_run`, :func:`build_tables`, :func:`render_html`, :func:`status_text`,
  :func:`expected_text`, :func:`metric_label`, :func:`compare_runs`, :func:`format_comparison`.

Also public: :mod:`rag.config` and the pure-text helpers of :mod:`rag.text` (citations, escaping,
spans, injection labels), the grammar shared by the library and its front ends.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {  # public name -> module that defines it (imported lazily)
    "Pipeline": "rag.pipeline",
    # input checks
    "InputError": "rag.validate",
    "QuestionError": "rag.answer.question",
    "check_backend": "rag.validate",
    "check_filters": "rag.validate",
    "check_k": "rag.validate",
    "Filters": "rag.retrieve",
    # errors callers report
    "IndexCorruptError": "rag.index.manifest",
    "IndexLockedError": "rag.index.manifest",
    "IndexMismatchError": "rag.index.manifest",
    "IndexNotFoundError": "rag.index.manifest",
    "LLMError": "rag.llm",
    # the local model's request queue
    "QueueStatus": "rag.llm.turns",
    "queue_listener": "rag.llm.turns",
    # region summaries
    "render_markdown": "rag.summarize",
    "RegionNotFoundError": "rag.summarize",
    "SummaryError": "rag.summarize",
    # evaluation runs
    "run_eval": "rag.eval.runner",
    "list_runs": "rag.eval.runner",
    "runs_root": "rag.eval.runner",
    "detect_format": "rag.eval.datasets",
    "load_run": "rag.eval.report",
    "build_tables": "rag.eval.report",
    "render_html": "rag.eval.report",
    "status_text": "rag.eval.report",
    "expected_text": "rag.eval.report",
    "metric_label": "rag.eval.report",
    "compare_runs": "rag.eval.compare",
    "format_comparison": "rag.eval.compare",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
