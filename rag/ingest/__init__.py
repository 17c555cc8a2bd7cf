"""Ingest entry point: :func:`ingest` runs the local runner (:mod:`rag.ingest_local`) or, when
``ray.address`` is set, the Ray one (:mod:`rag.distributed`).

The names of the ingest API (:class:`Ingestor`, :data:`NOTE`, the stage functions) are re-exported
here so callers keep one import; the runners import only lower modules, never this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rag.config import Config
from rag.ingest_local import NOTE, Ingestor, ProgressFn, StopFn
from rag.ingest_report import IngestReport
from rag.ingest_stages import Prepared, WorkItem, chunk_params_of, embed_texts, prepare_document, text_hash

__all__ = ["Ingestor", "IngestReport", "Prepared", "WorkItem", "ingest", "prepare_document", "embed_texts",
           "chunk_params_of", "text_hash", "NOTE", "ProgressFn", "StopFn"]


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

    Runs on Ray (``rag.distributed``) when ``ray.address`` is set in the config, else in this
    process (``rag.ingest_local``).

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
    if config.get("ray.address"):
        from rag.distributed import RayIngestor

        ingestor: Ingestor = RayIngestor(config, encoder, progress=progress)
    else:
        ingestor = Ingestor(config, encoder, progress=progress)
    return ingestor.run(list(paths), target, rebuild=rebuild, stop=stop)
