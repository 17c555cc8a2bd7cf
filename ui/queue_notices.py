"""Run a chat turn in its own thread so the page hears about the local model's queue while it waits.

The local model answers one request at a time (:class:`rag.llm.turns.TurnQueue`). A turn blocked
in that queue cannot yield, so :func:`with_queue_notices` runs the turn in a thread and merges
``{"kind": "queue", "message": "排队中：前面还有 2 个请求（约 8 秒）", ...}`` events into its
event stream. Closing the returned iterator (the user left) takes the request out of the queue.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

from rag import QueueStatus, queue_listener

_END = object()


class _Abandoned(BaseException):
    """Raised in the waiting thread once nobody reads its events (BaseException: not an error
    for the ``except Exception`` handlers of the turn)."""


def with_queue_notices(make_events: Callable[[], Iterator[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """Yield the events of ``make_events()``, plus a ``queue`` event whenever the wait changes.

    Args:
        make_events: starts the turn and returns its event iterator (called in the worker thread).

    Yields:
        The turn's own events, and ``{"kind": "queue", "message", "ahead", "eta_s"}``.
    """
    box: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    shown: list[str] = []

    def listener(status: QueueStatus) -> None:
        if stop.is_set():
            raise _Abandoned()
        message = status.message()
        if not shown or shown[-1] != message:
            shown.append(message)
            box.put({"kind": "queue", "message": message, "ahead": status.ahead, "eta_s": status.eta_s})

    def run() -> None:
        try:
            with queue_listener(listener):
                events = make_events()
                try:
                    for event in events:
                        box.put(event)
                        if stop.is_set():
                            break
                finally:
                    events.close()
        except _Abandoned:
            pass
        except BaseException as exc:  # handed to the reader, raised there
            box.put(exc)
        finally:
            box.put(_END)

    threading.Thread(target=run, daemon=True, name="shanhai-chat-turn").start()
    try:
        while True:
            item = box.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
