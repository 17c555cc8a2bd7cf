"""``summarize --all``: many regions, locally or on Ray (same results either way).

Each worker process opens the index read-only and keeps one pipeline, gazetteer and LLM
per (index, backend) for all the regions it is given. The caller passes the pipeline's factory
(:class:`rag.Pipeline`), so nothing here imports the facade.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from rag.summarize.summary import RegionSummary, SummaryError, summarize

__all__ = ["SummarizeTask", "summarize_many"]

_STATE: dict[tuple, tuple[Any, Any, Any]] = {}
_STATE_LOCK = threading.Lock()


def _state(make_pipeline: Callable[[Any], Any], config: Any, backend: str) -> tuple[Any, Any, Any]:
    """(pipeline, llm, gazetteer) of this process for ``config``'s index and ``backend``."""
    from rag.llm.factory import create_llm
    from rag.regions import update_regions

    key = (make_pipeline, str(config.index_dir), backend)
    with _STATE_LOCK:
        if key not in _STATE:
            pipe = make_pipeline(config)
            _STATE[key] = (pipe, create_llm(backend, config), update_regions(pipe.index))
        return _STATE[key]


@dataclass(frozen=True)
class SummarizeTask:
    """Picklable ``region name -> RegionSummary | {"region", "reason"}`` (skipped) for Ray or local use.

    ``make_pipeline(config)`` builds the worker's pipeline (:class:`rag.Pipeline`; a class pickles).
    """

    make_pipeline: Callable[[Any], Any]
    config: Any
    backend: str

    def __call__(self, name: str) -> RegionSummary | dict:
        pipe, llm, store = _state(self.make_pipeline, self.config, self.backend)
        try:
            return summarize(pipe, name, backend=self.backend, llm=llm, store=store)
        except SummaryError as exc:
            return {"region": name, "reason": str(exc)}


def summarize_many(config: Any, names: Sequence[str], *, make_pipeline: Callable[[Any], Any], backend: str,
                   parallel: str = "local", workers: int = 1, progress: Callable[[int, int], None] | None = None,
                   on_result: Callable[[str, RegionSummary | dict], None] | None = None
                   ) -> tuple[list[RegionSummary], list[dict]]:
    """Summarise every region in ``names``.

    Args:
        config: resolved config (``index_dir``; ``ray.address`` / ``ray.num_cpus`` for Ray).
        names: region names.
        make_pipeline: ``make_pipeline(config)`` -> the pipeline that reads the index (pass
            :class:`rag.Pipeline`).
        backend: generation backend (:mod:`rag.llm.registry`; ``extractive`` needs no LLM).
        parallel: ``local`` | ``threads`` | ``ray`` (:func:`rag.parallel.parallel_map`).
        workers: tasks in flight (threads / Ray).
        progress: ``progress(done, total)``.
        on_result: ``on_result(name, summary or skipped entry)`` as each region finishes, in the
            calling thread (``summarize --all`` saves it for a resume).

    Returns:
        ``(summaries in the order of names, skipped [{"region", "reason"}])``.
    """
    from rag.parallel import parallel_map

    num_cpus = config.get("ray.num_cpus")
    names = list(names)
    report = (lambda i, value: on_result(names[i], value)) if on_result else None
    out = parallel_map(SummarizeTask(make_pipeline, config, backend), names, workers=workers, backend=parallel,
                       ray_address=config.get("ray.address"), progress=progress, on_result=report,
                       ray_init={"num_cpus": int(num_cpus)} if num_cpus else None)
    return [r for r in out if isinstance(r, RegionSummary)], [r for r in out if isinstance(r, dict)]
