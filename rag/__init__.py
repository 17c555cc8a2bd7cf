"""shanhai's public API: the names the command line (and other front ends) build on.

Every name is imported lazily from the module that defines it, on first use, so that
``import rag`` (and ``shanhai --help``) stays fast and never loads a model library.

- Pipeline and results: :class:`Pipeline`, :class:`Answer`, :class:`Citation`,
  :func:`start_warmup` (load the encoder and jieba in the background).
- Input checks: :func:`check_question`, :func:`check_filters`.
- Ingest: :data:`NOTE` (prefix of progress messages that are events).
- Index upkeep: :func:`diagnose`, :func:`repair`.
- Models: :func:`prepare_models`, :func:`model_status`, :func:`llm_runtime_status`,
  :func:`smoke_test_llm`; answer backends (one registry): :func:`create_backend`,
  :func:`create_llm` (None for ``extractive``), :func:`default_backend`, :func:`describe_backends`.
- Regions and summaries: :func:`update_regions`, :func:`regions_stale`, :func:`summarize_region`,
  :func:`summarize_many`, :func:`summary_backend`, :func:`render_markdown`, :func:`regions_text`, :data:`DEFAULTS`
  (the ``summarize`` settings' defaults).
- Evaluation: :func:`run_eval`, :func:`compare_runs`, :func:`format_comparison`,
  :func:`write_report`, :func:`metric_label`.
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
    "check_filters": "rag.validate",
    "check_question": "rag.validate",
    # ingest
    "NOTE": "rag.ingest.local",
    # index upkeep
    "diagnose": "rag.index.repair",
    "repair": "rag.index.repair",
    # models and LLM backends
    "create_backend": "rag.llm.factory",
    "create_llm": "rag.llm.factory",
    "default_backend": "rag.llm.registry",
    "describe_backends": "rag.llm.registry",
    "llm_runtime_status": "rag.models",
    "model_status": "rag.models",
    "prepare_models": "rag.models",
    "smoke_test_llm": "rag.models",
    # regions and summaries
    "DEFAULTS": "rag.summarize.summary",
    "regions_stale": "rag.regions.store",
    "regions_text": "rag.summarize.render",
    "render_markdown": "rag.summarize.render",
    "summarize_many": "rag.summarize.batch",
    "summarize_region": "rag.summarize.summary",
    "summary_backend": "rag.summarize.summary",
    "update_regions": "rag.regions.store",
    # evaluation
    "compare_runs": "rag.eval.compare",
    "format_comparison": "rag.eval.compare",
    "metric_label": "rag.eval.report",
    "run_eval": "rag.eval.runner",
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
