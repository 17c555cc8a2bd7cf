"""First-come-first-served turns for the one local model, with queue positions and wait estimates.

Callers that want to show their place in the queue install a listener for the current thread
(or context) with :func:`queue_listener`; while a call waits, the listener receives a
:class:`QueueStatus` about once a second. A listener that raises abandons the wait (the
request leaves the queue), which is how a closed chat stops waiting.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

_LISTENER: contextvars.ContextVar[Callable[["QueueStatus"], None] | None] = contextvars.ContextVar(
    "shanhai_queue_listener", default=None)


@dataclass(frozen=True)
class QueueStatus:
    """Where a waiting request stands.

    Attributes:
        ahead: requests before this one (the running one included).
        eta_s: rough seconds until this request starts (None before any request finished).
    """

    ahead: int
    eta_s: float | None

    def message(self) -> str:
        """``排队中：前面还有 2 个请求（约 8 秒）`` (Simplified Chinese, for the UI)."""
        eta = f"（约 {max(1, round(self.eta_s))} 秒）" if self.eta_s is not None else ""
        return f"排队中：前面还有 {self.ahead} 个请求{eta}"


@contextmanager
def queue_listener(fn: Callable[[QueueStatus], None]) -> Iterator[None]:
    """Send queue updates of the calls made inside this block (same thread/context) to ``fn``."""
    token = _LISTENER.set(fn)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def current_listener() -> Callable[[QueueStatus], None] | None:
    """The listener installed by :func:`queue_listener` for this context, if any."""
    return _LISTENER.get()


class TurnQueue:
    """A fair (FIFO) lock that knows who waits and how long turns take.

    Args:
        poll_s: how often waiting callers re-check and notify their listener.
        smoothing: weight of the newest turn in the running mean of turn durations.
    """

    def __init__(self, *, poll_s: float = 1.0, smoothing: float = 0.3) -> None:
        self._cond = threading.Condition()
        self._tickets = itertools.count()
        self._waiting: list[int] = []
        self._holder: int | None = None
        self._held_since = 0.0
        self._mean_s: float | None = None
        self.poll_s = poll_s
        self.smoothing = smoothing

    @property
    def waiting(self) -> int:
        """Requests waiting for a turn now (the running one not included)."""
        with self._cond:
            return len(self._waiting)

    @property
    def busy(self) -> bool:
        """Whether a turn is held now."""
        with self._cond:
            return self._holder is not None

    def _status(self, ticket: int) -> QueueStatus:
        before = self._waiting.index(ticket)
        ahead = before + (1 if self._holder is not None else 0)
        eta = None
        if self._mean_s is not None:
            running_left = 0.0
            if self._holder is not None:
                running_left = max(0.0, self._mean_s - (time.monotonic() - self._held_since))
            eta = running_left + before * self._mean_s
        return QueueStatus(ahead, eta)

    @contextmanager
    def turn(self, listener: Callable[[QueueStatus], None] | None = None, *, timed: bool = True) -> Iterator[None]:
        """Hold the next turn in arrival order.

        Args:
            listener: called with the queue status while waiting (default: the context's
                :func:`queue_listener`); an exception it raises abandons the wait.
            timed: count this turn's duration in the wait estimate (False for short
                bookkeeping calls such as token counting or start-up).
        """
        listener = listener if listener is not None else current_listener()
        with self._cond:
            ticket = next(self._tickets)
            self._waiting.append(ticket)
            try:
                while self._holder is not None or self._waiting[0] != ticket:
                    if listener is not None:
                        listener(self._status(ticket))
                    self._cond.wait(self.poll_s)
            except BaseException:
                self._waiting.remove(ticket)
                self._cond.notify_all()
                raise
            self._waiting.pop(0)
            self._holder = ticket
            self._held_since = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                took = time.monotonic() - self._held_since
                if timed:
                    a = self.smoothing
                    self._mean_s = took if self._mean_s is None else (1 - a) * self._mean_s + a * took
                self._holder = None
                self._cond.notify_all()
