"""The ingest wing: files → documents → chunks → embeddings → index commits.

:func:`ingest` is the entry; :func:`make_runner` is the one place that picks the runner: the
local one (:mod:`rag.ingest.local`) or, when ``ray.address`` is set, the Ray one
(:mod:`rag.ingest.ray_runner`, imported only then). The other modules are the stages
(:mod:`~rag.ingest.loaders`, :mod:`~rag.ingest.chunk`, :mod:`~rag.ingest.dedup`,
:mod:`~rag.ingest.stages`, :mod:`~rag.ingest.prefetch`) and the :mod:`~rag.ingest.report`.

The names of the ingest API (:class:`Ingestor`, :data:`NOTE`, the stage functions) are re-exported
here so callers keep one import; the modules of the wing never import this package module.
The wing imports only lower layers (config, types, text, index), never pipeline, answer, eval,
summarize, the UI or the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rag.config import Config
from rag.ingest.local import NOTE, Ingestor, ProgressFn, StopFn
from rag.ingest.report import IngestReport
from rag.ingest.stages import Prepared, WorkItem, chunk_params_of, embed_texts, prepare_document, text_hash

__all__ = ["Ingestor", "IngestReport", "Prepared", "WorkItem", "ingest", "make_runner", "prepare_document",
           "embed_texts", "chunk_params_of", "text_hash", "NOTE", "ProgressFn", "StopFn"]


def make_runner(config: Config, encoder, *, progress: ProgressFn | None = None) -> Ingestor:
    """The ingest runner for ``config``: Ray workers when ``ray.address`` is set, else this process.

    Args:
        config: resolved config (``ingest``, ``index`` and ``ray`` sections are used).
        encoder: an ``embeddings.encoder.Encoder`` (or anything with name/dim/encode_passages).
        progress: optional callback ``(done, total, message)``.

    Returns:
        An :class:`Ingestor` (a :class:`rag.ingest.ray_runner.RayIngestor` on Ray).
    """
    if config.get("ray.address"):
        from rag.ingest.ray_runner import RayIngestor

        return RayIngestor(config, encoder, progress=progress)
    return Ingestor(config, encoder, progress=progress)


def ingest(
    paths: Iterable[str | Path],
    config: Config,
    encoder,
    *,
    index_dir: Path | None = None,
    rebuild: bool = False,
    progress: ProgressFn | None = None,
    stop: StopFn | None = None,
) -> IngestReport:
    """Ingest files/folders into the index.

    Runs on Ray (:mod:`rag.ingest.ray_runner`) when ``ray.address`` is set in the config, else in
    this process (:mod:`rag.ingest.local`); :func:`make_runner` decides.

    Args:
        paths: files or folders (.txt .md .html .jsonl .jsonl.gz).
        config: resolved config (``ingest``, ``index`` and ``ray`` sections are used).
        encoder: an ``embeddings.encoder.Encoder`` (or anything with name/dim/encode_passages).
        index_dir: target index folder; defaults to ``config.index_dir``.
        rebuild: start from an empty index instead of updating the current one.
        progress: optional callback ``(done, total, message)``.
        stop: optional callable asked after each document; True ends the run early with
            what is done committed (``report.stopped``).

    Returns:
        An :class:`IngestReport`; nothing is committed when no document changed.
    """
    target = Path(index_dir) if index_dir else config.index_dir
    runner = make_runner(config, encoder, progress=progress)
    return runner.run(list(paths), target, rebuild=rebuild, stop=stop)
