"""The model worker process: hosts one LLM backend and serves requests over JSON lines.

Started by :mod:`rag.llm.worker` as ``python -m rag.llm.worker_main``. The first line on stdin
is ``{"op": "init", "target": "module:Class", "config": {...}}``; the worker creates the backend,
reports ``{"event": "runtime", ...}`` (e.g. the llama.cpp CPU variant) before loading the model
and ``{"event": "ready"}`` after, or ``{"event": "fatal", "kind", "message"}`` and exits 1.

Then, one request at a time:

- ``{"op": "generate", "id", "messages", "max_tokens", "temperature", "stop"}`` →
  ``{"id", "delta"}``… then ``{"id", "done": true, "stats", "cancelled"}`` or ``{"id", "error", "kind"}``
- ``{"op": "count", "id", "text"}`` → ``{"id", "count"}``
- ``{"op": "cancel", "id"}`` (read while generating): stop that generation at the next token.

Replies go to the original stdout; anything else written to fd 1 (C libraries) is redirected to
stderr so it cannot corrupt the protocol. End of stdin (the server closed it or died) ends the
process at once, even in the middle of a generation.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import traceback
from typing import Any, TextIO


def _protocol_stream() -> TextIO:
    """A private copy of fd 1 for replies; fd 1 itself now points at stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1)


class _Channel:
    """Reads requests in a thread (so cancels arrive during a generation) and writes replies."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.requests: queue.Queue[dict] = queue.Queue()
        self.cancelled: set[int] = set()
        self._write = threading.Lock()
        threading.Thread(target=self._read, daemon=True, name="worker-stdin").start()

    def _read(self) -> None:
        for line in sys.stdin:
            try:
                msg = json.loads(line)
            except ValueError:
                print(f"worker: ignored a malformed request line: {line[:80]!r}", file=sys.stderr)
                continue
            if msg.get("op") == "cancel":
                self.cancelled.add(int(msg["id"]))
            else:
                self.requests.put(msg)
        os._exit(0)  # the server is gone or shut us down: stop now, mid-generation included

    def send(self, msg: dict[str, Any]) -> None:
        with self._write:
            self.out.write(json.dumps(msg, ensure_ascii=False) + "\n")


def _start(init: dict, ch: _Channel) -> Any:
    from rag.config import Config
    from rag.llm.factory import resolve_class

    config = Config(init.get("config") or {})
    backend = resolve_class(str(init["target"]))(config)
    info = getattr(backend, "runtime_info", None)
    ch.send({"event": "runtime", **(info() if callable(info) else {})})
    started = time.perf_counter()
    load = getattr(backend, "load", None)
    if callable(load):
        load()
    ch.send({"event": "ready", "pid": os.getpid(), "load_s": round(time.perf_counter() - started, 3)})
    return backend


def _generate(backend: Any, msg: dict, ch: _Channel) -> None:
    rid = int(msg["id"])
    cancelled = False
    stream = backend.stream(msg["messages"], max_tokens=int(msg.get("max_tokens", 320)),
                            temperature=float(msg.get("temperature", 0.0)), stop=msg.get("stop") or None)
    try:
        for delta in stream:
            if rid in ch.cancelled:
                cancelled = True
                break
            ch.send({"id": rid, "delta": delta})
    finally:
        stream.close()
        ch.cancelled.discard(rid)
    stats = None if cancelled or backend.last_stats is None else backend.last_stats.to_dict()
    ch.send({"id": rid, "done": True, "stats": stats, "cancelled": cancelled})


def _serve(backend: Any, ch: _Channel) -> None:
    while True:
        msg = ch.requests.get()
        rid = msg.get("id")
        try:
            if msg.get("op") == "generate":
                _generate(backend, msg, ch)
            elif msg.get("op") == "count":
                ch.send({"id": rid, "count": int(backend.count_tokens(msg["text"]))})
            else:
                ch.send({"id": rid, "error": f"未知的请求 {msg.get('op')!r}", "kind": "LLMError"})
        except Exception as exc:  # reported to the caller; the worker keeps serving
            traceback.print_exc(file=sys.stderr)
            ch.send({"id": rid, "error": str(exc), "kind": type(exc).__name__})


def main() -> int:
    """Entry point of ``python -m rag.llm.worker_main``."""
    ch = _Channel(_protocol_stream())
    init = ch.requests.get()
    try:
        backend = _start(init, ch)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        ch.send({"event": "fatal", "kind": type(exc).__name__, "message": str(exc)})
        return 1
    _serve(backend, ch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
