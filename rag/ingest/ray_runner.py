"""Batch ingest on Ray: workers clean, chunk, tokenise and embed; the writer stays in this process.

``shanhai ingest`` runs here when ``ray.address`` is set (``--set ray.address=local`` or
``SHANHAI_RAY__ADDRESS=auto``). The driver reads the input, skips documents already in the
index, sends the rest to Ray in tasks of ``ray.docs_per_task`` documents and writes the
results in input order (near-duplicates, SQLite, checkpoints), so the index is the same as
a local run's: same documents, chunk ids, tokens, and vectors equal to ~1e-7 (only the
batch composition differs). While one window of tasks is being embedded, the driver writes
the previous one.

Each worker process loads the embedding model once (a module-level cache) from
``models.embedding.dir`` (the driver's path), preparing it from the installed packages if it
is missing there. Settings (``ray`` section):

* ``address``: null = no Ray; ``local`` = start or reuse a Ray instance on this machine;
  ``auto`` or ``ray://head:10001`` = a running cluster (workers need this package installed).
* ``num_cpus``: CPUs of a local instance (null = all).
* ``workers``: tasks in flight (0 = twice the cluster's CPUs).
* ``docs_per_task``: documents per task (default 32).
* ``threads_per_worker``: torch threads per worker (default 1: one worker per core is
  faster than one process using every core).

Re-embedding note: a document whose text changed is embedded again in full here (the local
path reuses the vectors of its unchanged passages from the index).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from rag.config import Config
from rag.index.folder import IndexWriter
from rag.ingest.local import Ingestor
from rag.ingest.stages import Prepared, WorkItem, embed_texts, prepare_document
from rag.parallel import parallel_map
from rag.types import RawDocument

# Encoders loaded in this (worker) process, by (model folder, batch size, threads).
_ENCODERS: dict[tuple, Any] = {}


@dataclass
class BatchTask:
    """What one Ray task needs (picklable): the documents and how to process them."""

    raws: list[RawDocument]
    chunk_params: dict[str, int]
    model_dir: str
    batch_size: int
    threads: int
    backend: str = "torch"  # models.embedding.backend of the driver's encoder
    onnx_dir: str | None = None


@dataclass
class BatchResult:
    """A task's output: one prepared document (or None) per input, in order."""

    prepared: list[Prepared | None]
    embedded: int
    embed_seconds: float
    seconds: float
    pid: int


def worker_encoder(model_dir: str, batch_size: int, threads: int, backend: str = "torch", onnx_dir: str | None = None):
    """The encoder of this process for these settings, created on first use (model loads lazily)."""
    key = (model_dir, batch_size, threads, backend, onnx_dir)
    enc = _ENCODERS.get(key)
    if enc is None:
        from embeddings.encoder import Encoder

        enc = Encoder(Path(model_dir), batch_size=batch_size, threads=threads, progress=False, backend=backend,
                      onnx_dir=Path(onnx_dir) if onnx_dir else None)
        _ENCODERS[key] = enc
    return enc


def process_batch(task: BatchTask) -> BatchResult:
    """Prepare and embed a batch of documents (runs in a Ray worker; pure apart from the model).

    Args:
        task: the documents and settings.

    Returns:
        The prepared documents with every chunk's vector filled in.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    t0 = time.perf_counter()
    prepared = [prepare_document(raw, task.chunk_params) for raw in task.raws]
    texts = [c.text for p in prepared if p is not None for c in p.chunks]
    t1 = time.perf_counter()
    encoder = worker_encoder(task.model_dir, task.batch_size, task.threads, task.backend, task.onnx_dir)
    vectors, embedded = embed_texts(encoder, texts, call_size=task.batch_size)
    embed_seconds = time.perf_counter() - t1
    row = 0
    for p in prepared:
        if p is not None:
            p.vectors = list(vectors[row : row + len(p.chunks)])
            row += len(p.chunks)
    return BatchResult(prepared, embedded, embed_seconds, time.perf_counter() - t0, os.getpid())


def _ping(_: int) -> int:
    return os.getpid()


def _model_dir(config: Config, encoder) -> str:
    folder = getattr(encoder, "model_dir", None)
    if folder is None:
        from rag.models import embedding_dir

        folder = embedding_dir(config)
    return str(Path(folder).expanduser().resolve())


class RayIngestor(Ingestor):
    """:class:`rag.ingest.local.Ingestor` whose prepare + embed stage runs as Ray tasks.

    Args:
        config: resolved config (``ray`` section, see the module docstring).
        encoder: the local encoder; only its name, dimension and model folder are used here.
        progress: optional ``(done, total, message)`` callback.
    """

    def __init__(self, config: Config, encoder, *, progress=None):
        super().__init__(config, encoder, progress=progress)
        ray_cfg = config.get("ray") or {}
        self.address = ray_cfg.get("address")
        self.workers = int(ray_cfg.get("workers") or 0)
        self.docs_per_task = max(1, int(ray_cfg.get("docs_per_task") or 32))
        self.threads = max(1, int(ray_cfg.get("threads_per_worker") or 1))
        local = self.address in (None, "local")
        self.ray_init = {"num_cpus": int(ray_cfg["num_cpus"])} if local and ray_cfg.get("num_cpus") else {}
        self.model_dir = _model_dir(config, encoder)
        # the workers run the backend the driver's encoder runs (after any parity fallback)
        info = getattr(encoder, "index_info", None) or {}
        onnx = getattr(encoder, "onnx_dir", None)
        self._backend = (info.get("backend", "torch"), str(onnx) if onnx else None)
        self.worker_pids: set[int] = set()

    def _map(self, tasks: list[BatchTask]) -> tuple[list[BatchResult], float]:
        t = time.perf_counter()

        def tick(done: int, total: int) -> None:
            if self.progress and done:
                self.progress(self._seen, None, f"Ray 批次 {done}/{total}")

        results = parallel_map(
            process_batch, tasks, workers=self.workers, backend="ray", ray_address=self.address,
            progress=tick, ray_init=self.ray_init,
        )
        return results, time.perf_counter() - t

    def _window_tasks(self) -> int:
        """Tasks per parallel_map call: enough to keep every CPU of the cluster busy twice over."""
        parallel_map(_ping, [0], backend="ray", ray_address=self.address, ray_init=self.ray_init)
        import ray

        cpus = int(ray.cluster_resources().get("CPU", 1))
        return max(2, 2 * (self.workers or cpus))

    def process(self, todo: Iterable[tuple[RawDocument, bool]], writer: IndexWriter) -> Iterator[WorkItem]:
        """Send documents to Ray a window at a time; yield them in input order, embedded."""
        per_window = self._window_tasks() * self.docs_per_task
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ray-ingest")
        inflight: tuple[list[tuple[RawDocument, bool]], Future] | None = None
        try:
            window: list[tuple[RawDocument, bool]] = []
            for entry in todo:
                window.append(entry)
                if len(window) >= per_window:
                    nxt = (window, pool.submit(self._map, self._tasks(window)))
                    if inflight is not None:
                        yield from self._collect(*inflight)
                    inflight, window = nxt, []
            if window:
                nxt = (window, pool.submit(self._map, self._tasks(window)))
                if inflight is not None:
                    yield from self._collect(*inflight)
                inflight = nxt
            if inflight is not None:
                yield from self._collect(*inflight)
                inflight = None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _tasks(self, window: list[tuple[RawDocument, bool]]) -> list[BatchTask]:
        raws = [raw for raw, _replaced in window]
        return [
            BatchTask(raws[i : i + self.docs_per_task], self.chunk_params, self.model_dir, self.batch_size, self.threads,
                      *self._backend)
            for i in range(0, len(raws), self.docs_per_task)
        ]

    def _collect(self, window: list[tuple[RawDocument, bool]], future: Future) -> Iterator[WorkItem]:
        results, seconds = future.result()
        prepared = [p for r in results for p in r.prepared]
        self.worker_pids.update(r.pid for r in results)
        items = [WorkItem(raw, replaced, p) for (raw, replaced), p in zip(window, prepared)]
        if items:
            items[0].embed_seconds = seconds
            items[0].embedded = sum(r.embedded for r in results)
        for item in items:
            if item.prepared is not None:
                item.prepared.vectors = [np.asarray(v, np.float32) for v in item.prepared.vectors]
        yield from items
