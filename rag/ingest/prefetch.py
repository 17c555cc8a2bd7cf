"""Run an iterator in a background thread, a bounded number of items ahead of its consumer.

Ingest reads, cleans and chunks the next documents (:mod:`rag.ingest.local`) while the embedding model
works on the current group: the model spends its time in native code (torch / onnxruntime
release the GIL), so the pure-Python preparation overlaps with it. At most ``size`` items wait
in the queue, which bounds memory; an exception in the thread is raised in the consumer;
:meth:`ReadAhead.close` stops the thread (after a stop, a crash or a ``break``).
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["ReadAhead"]

_END = object()


class ReadAhead(Generic[T]):
    """Iterate ``source`` in a daemon thread, at most ``size`` items ahead.

    Args:
        source: any iterable; it is consumed only by the thread.
        size: queue bound (>= 1).
        on_wait: called (in the consumer's thread) every ``wait_s`` seconds while the consumer
            waits for the next item, e.g. to report progress that the thread recorded.
        wait_s: see ``on_wait``.
    """

    def __init__(self, source: Iterable[T], size: int, *, on_wait: Callable[[], None] | None = None,
                 wait_s: float = 0.5, name: str = "shanhai-read-ahead"):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(size)))
        self._stop = threading.Event()
        self._on_wait = on_wait
        self._wait_s = wait_s
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(iter(source),), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, it: Iterator[T]) -> None:
        try:
            for item in it:
                if not self._put(("item", item)):
                    return
            self._put(("end", _END))
        except BaseException as exc:  # handed to the consumer
            self._put(("error", exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass

    def __iter__(self) -> "ReadAhead[T]":
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        while True:
            try:
                kind, value = self._queue.get(timeout=self._wait_s)
                break
            except queue.Empty:
                if self._on_wait is not None:
                    self._on_wait()
        if kind == "item":
            return value
        self._done = True
        self._thread.join(timeout=5)
        if kind == "error":
            raise value
        raise StopIteration

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and wait for it (the source's ``close`` runs in the thread)."""
        self._done = True
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=timeout)

    @property
    def alive(self) -> bool:
        """Whether the thread is still running."""
        return self._thread.is_alive()
