"""shanhai's public API: ``from rag import <Name>``.

Everything the CLI and the UI need from the library is named here; nothing below imports this
module. Names are imported lazily on first use, so ``import rag`` (and ``shanhai --help``) costs
nothing and loads no model library. No name equals a subpackage's (``rag.summarize`` is a
package, so a summary is :meth:`Pipeline.summarize` or :func:`summarize_region`).

* :class:`Pipeline`: index, search, answers (``ask``, ``ask_stream``, ``chat``), documents,
  region gazetteer and summaries, warm-up; :class:`Answer`, :class:`Citation`;
  :func:`start_warmup` (load the encoder and jieba in the background).
* Input checks and their errors: :class:`InputError`, :class:`QuestionError`,
  :func:`check_question`, :func:`check_backend`, :func:`check_filters`, :func:`check_k`; :class:`Filters`.
* Errors the caller reports: the ``Index*Error`` classes, :class:`LLMError`.
* Ingest: :data:`NOTE` (prefix of progress messages that are events). Index upkeep:
  :func:`diagnose`, :func:`repair`.
* Models: :func:`prepare_models`, :func:`model_status`, :func:`llm_runtime_status`,
  :func:`smoke_test_llm`; answer backends (one registry): :func:`create_backend`,
  :func:`create_llm` (None for ``extractive``), :func:`default_backend`, :func:`describe_backends`,
  :func:`backend_choices` (label, name) for menus.
* The local model's queue, for "waiting" notices: :class:`QueueStatus`, :func:`queue_listener`.
* Regions and summaries: :func:`update_regions`, :func:`regions_stale`, :func:`summarize_region`,
  :func:`summarize_many` (resumable through :class:`SummaryCheckpoint`, :func:`summary_checkpoint_path`),
  :func:`summary_backend`, :func:`render_markdown`, :func:`export_summary`
  (Markdown, CSV, JSON or HTML, written atomically; :func:`write_atomic` for other text),
  :func:`all_figures_csv` (every region's key figures as one CSV), :func:`regions_text`,
  :func:`group_rows` (key-figure rows ordered by label), charts (inline SVG, points and bars linking
  to passages): :func:`timeline_chart` (each measure over time), :func:`peer_regions`,
  :func:`shared_measures`, :func:`compare_points`, :func:`comparison_chart` (regions compared on one measure),
  :data:`DEFAULTS` (the ``summarize`` settings' defaults), :class:`RegionNotFoundError`,
  :class:`SummaryError`.
* Evaluation runs: :func:`run_eval`, :func:`list_runs`, :func:`runs_root`, :func:`detect_format`, :func:`get_format`,
  :func:`load_run`, :func:`build_tables`, :func:`render_html`, :func:`status_text`,
  :func:`expected_text`, :func:`metric_label`, :func:`compare_runs`, :func:`format_comparison`,
  :func:`write_report`.

Also public: :mod:`rag.config` and the pure-text helpers of :mod:`rag.text` (citations, escaping,
spans, injection labels), the grammar shared by the library and its front ends.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {  # public name -> module that defines it (imported lazily)
    # pipeline and results
    "Answer": "rag.types",
    "Citation": "rag.types",
    "Pipeline": "rag.pipeline",
    "start_warmup": "rag.warmup",
    # input checks
    "Filters": "rag.retrieve",
    "InputError": "rag.validate",
    "QuestionError": "rag.answer.question",
    "check_backend": "rag.validate",
    "check_filters": "rag.validate",
    "check_k": "rag.validate",
    "check_question": "rag.answer.question",
    # errors callers report
    "IndexCorruptError": "rag.index.manifest",
    "IndexLockedError": "rag.index.manifest",
    "IndexMismatchError": "rag.index.manifest",
    "IndexNotFoundError": "rag.index.manifest",
    "LLMError": "rag.llm",
    # ingest and index upkeep
    "NOTE": "rag.ingest.local",
    "diagnose": "rag.index.repair",
    "repair": "rag.index.repair",
    # models and answer backends
    "create_backend": "rag.llm.factory",
    "create_llm": "rag.llm.factory",
    "backend_choices": "rag.llm.registry",
    "default_backend": "rag.llm.registry",
    "describe_backends": "rag.llm.registry",
    "llm_runtime_status": "rag.models",
    "model_status": "rag.models",
    "prepare_models": "rag.models",
    "smoke_test_llm": "rag.models",
    # the local model's request queue
    "QueueStatus": "rag.llm.turns",
    "queue_listener": "rag.llm.turns",
    # regions and summaries
    "DEFAULTS": "rag.summarize.summary",
    "group_rows": "rag.summarize.labels",
    "comparison_chart": "rag.summarize.compare",
    "compare_points": "rag.summarize.compare",
    "peer_regions": "rag.summarize.compare",
    "shared_measures": "rag.summarize.compare",
    "timeline_chart": "rag.summarize.charts",
    "RegionNotFoundError": "rag.summarize",
    "SummaryError": "rag.summarize",
    "export_summary": "rag.summarize.export",
    "all_figures_csv": "rag.summarize.export",
    "regions_stale": "rag.regions.store",
    "regions_text": "rag.summarize.render",
    "render_markdown": "rag.summarize.render",
    "summarize_many": "rag.summarize.batch",
    "SummaryCheckpoint": "rag.summarize.checkpoint",
    "summary_checkpoint_path": "rag.summarize.checkpoint",
    "summarize_region": "rag.summarize.summary",
    "summary_backend": "rag.summarize.summary",
    "update_regions": "rag.regions.store",
    "write_atomic": "rag.summarize.export",
    # evaluation runs
    "build_tables": "rag.eval.report",
    "compare_runs": "rag.eval.compare",
    "detect_format": "rag.eval.formats",
    "get_format": "rag.eval.formats",
    "expected_text": "rag.eval.report",
    "format_comparison": "rag.eval.compare",
    "list_runs": "rag.eval.runner",
    "load_run": "rag.eval.report",
    "metric_label": "rag.eval.report",
    "render_html": "rag.eval.report",
    "run_eval": "rag.eval.runner",
    "runs_root": "rag.eval.runner",
    "status_text": "rag.eval.report",
    "write_report": "rag.eval.report",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
