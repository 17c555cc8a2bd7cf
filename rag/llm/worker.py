"""Run an LLM backend in a worker process that the server survives.

A crash (SIGILL, SIGSEGV, an OOM kill), a hang or a Python error inside the model only ends the
worker: the request being answered gets a clear :class:`WorkerError`, a new worker is started at
once, and the next request is served by it. Requests take turns (:class:`rag.llm.turns.TurnQueue`),
so the one model serves one request at a time and waiting callers can show their place in line.

The child is :mod:`rag.llm.worker_main`; the protocol is JSON lines on its stdin/stdout.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from rag.llm.base import LLMError, ModelMissingError
from rag.llm.exits import ExitInfo, describe_exit, fix_hint
from rag.llm.turns import TurnQueue

log = logging.getLogger("shanhai.llm.worker")
_EOF = object()
_ROOT = Path(__file__).resolve().parents[2]


class WorkerError(LLMError):
    """The model process crashed, hung or could not start (message in Chinese, with the fix).

    Attributes:
        phase: ``start`` (while loading) or ``generate``.
        exit_info: how the process ended (None for a timeout: it was killed by us).
        timeout_s: the limit that ran out, for timeouts.
        variant: the llama.cpp CPU variant the process used or tried (None when unknown).
        stderr_tail: the last lines the process wrote to stderr.
        restarted: whether a new worker was started already.
    """

    def __init__(self, message: str, *, phase: str, exit_info: ExitInfo | None = None,
                 timeout_s: float | None = None, variant: str | None = None,
                 stderr_tail: list[str] | None = None, restarted: bool = False) -> None:
        super().__init__(message)
        self.phase, self.exit_info, self.timeout_s = phase, exit_info, timeout_s
        self.variant, self.stderr_tail, self.restarted = variant, list(stderr_tail or []), restarted


class _Gone(Exception):
    """The worker's output ended: it exited or was killed."""


class _TimedOut(Exception):
    """No reply before the deadline."""


def worker_command() -> list[str]:
    """The command that starts a worker: this Python, ``-m rag.llm.worker_main``."""
    return [sys.executable, "-m", "rag.llm.worker_main"]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


class _Process:
    """One worker child plus the threads reading its stdout (replies) and stderr (kept as a tail)."""

    def __init__(self, command: list[str], init: dict[str, Any]) -> None:
        self.popen = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=_child_env(), start_new_session=True)
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self.runtime: dict[str, Any] = {}
        self.ready = False
        self.closed = False  # stopped on purpose (server shutting down): not a crash
        self._err = threading.Thread(target=self._read_err, daemon=True, name="llm-worker-stderr")
        self._err.start()
        threading.Thread(target=self._read_out, daemon=True, name="llm-worker-stdout").start()
        try:
            self.send(init)
        except _Gone:  # died at once: the reader sees the end of its output
            pass

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def _read_out(self) -> None:
        for raw in self.popen.stdout:
            try:
                self.inbox.put(json.loads(raw))
            except ValueError:
                self.tail.append(raw.decode("utf-8", "replace").rstrip())
        self.inbox.put(_EOF)

    def _read_err(self) -> None:
        for raw in self.popen.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.tail.append(line)
                log.debug("worker %s: %s", self.popen.pid, line)

    def send(self, msg: dict[str, Any]) -> None:
        try:
            self.popen.stdin.write((json.dumps(msg, ensure_ascii=False) + "\n").encode("utf-8"))
            self.popen.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise _Gone() from exc

    def recv(self, deadline: float) -> dict[str, Any]:
        try:
            msg = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise _TimedOut() from None
        if msg is _EOF:
            self.inbox.put(_EOF)  # later reads see the end too
            raise _Gone()
        return msg

    def exit_info(self, wait_s: float = 5.0) -> ExitInfo:
        """How the child ended (waits a little for it; its last stderr lines are collected too)."""
        try:
            code = self.popen.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.popen.returncode
        self._err.join(timeout=2)
        return describe_exit(code)

    def kill(self) -> None:
        if self.alive:
            self.popen.kill()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
            log.error("worker %s did not exit after SIGKILL", self.pid)

    def close(self, wait_s: float = 3.0) -> None:
        """Ask the child to stop (end of stdin), then kill it if it does not."""
        self.closed = True
        try:
            self.popen.stdin.close()
        except OSError:
            pass
        try:
            self.popen.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.kill()


def _rebuild(kind: str, message: str) -> LLMError:
    """The worker's error as an exception of the parent (same class for the known LLM errors)."""
    from rag.llm.cpu_backend import CpuBackendError

    known: dict[str, type[LLMError]] = {"LLMError": LLMError, "ModelMissingError": ModelMissingError,
                                        "CpuBackendError": CpuBackendError}
    if kind in known:
        return known[kind](message)
    return LLMError(f"本地模型进程内出错（{kind}）：{message}")


class LocalWorker:
    """The worker process of one model configuration: start, restart, take turns, talk to it.

    Args:
        init: the first message for the child (``target`` class and ``config`` data).
        command: the command to start; default :func:`worker_command` (tests pass stand-ins).
        runnable: returns the CPU variants this machine can run, best first (for fix hints).
        auto_restart: start a new worker right after a crash or timeout (False: leave it to
            the next request, as the one-shot smoke test does).
    """

    def __init__(self, init: dict[str, Any], *, command: list[str] | None = None,
                 runnable: Callable[[], list[str]] | None = None, auto_restart: bool = True) -> None:
        self.init = {"op": "init", **init}
        self.auto_restart = auto_restart
        self.command = list(command or worker_command())
        self.turns = TurnQueue()
        self.restarts = 0
        self.runtime: dict[str, Any] = {}
        self._runnable = runnable or (lambda: [])
        self._proc: _Process | None = None
        self._ids = itertools.count(1)
        self._spawn_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The running worker's process id (None before the first start)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.alive else None

    def _spawn(self) -> _Process:
        with self._spawn_lock:
            self._proc = _Process(self.command, self.init)
            return self._proc

    def _replace(self, proc: _Process) -> bool:
        """Kill ``proc`` (if still running) and start its successor now; False if that failed or
        automatic restarts are off."""
        proc.kill()
        self._proc = None
        if not self.auto_restart:
            return False
        self.restarts += 1
        try:
            self._spawn()
            return True
        except OSError as exc:
            log.error("could not restart the model worker: %s", exc)
            self._proc = None
            return False

    def _variant(self, proc: _Process) -> str | None:
        return proc.runtime.get("variant") or self.runtime.get("variant")

    def _hint(self, proc: _Process, info: ExitInfo | None) -> str:
        runnable = proc.runtime.get("runnable") or self.runtime.get("runnable")
        if info is not None and info.signum is not None and not runnable:
            try:
                runnable = self._runnable()
            except Exception:  # a hint is optional
                runnable = []
        return fix_hint(info, variant=self._variant(proc), runnable=list(runnable or []))

    def _ready(self, start_timeout_s: float) -> _Process:
        """The running worker, started (and its model loaded) if needed. Hold a turn to call."""
        proc = self._proc
        if proc is not None and proc.ready and not proc.alive:
            log.warning("model worker %s had exited while idle (%s); starting a new one",
                        proc.pid, proc.exit_info(0.1).text)
            proc = None
        if proc is None:
            try:
                proc = self._spawn()
            except OSError as exc:
                raise WorkerError(f"无法启动本地模型进程（{' '.join(self.command)}）：{exc}", phase="start") from exc
        if proc.ready:
            return proc
        deadline = time.monotonic() + start_timeout_s
        try:
            while True:
                msg = proc.recv(deadline)
                if msg.get("event") == "runtime":
                    proc.runtime = {k: v for k, v in msg.items() if k != "event"}
                    self.runtime.update(proc.runtime)
                elif msg.get("event") == "ready":
                    proc.ready = True
                    self.runtime["load_s"] = msg.get("load_s")
                    return proc
                elif msg.get("event") == "fatal":
                    proc.close()
                    self._proc = None
                    raise _rebuild(str(msg.get("kind")), str(msg.get("message")))
        except _TimedOut:
            proc.kill()
            self._proc = None
            raise WorkerError(
                f"本地模型进程在 {start_timeout_s:g} 秒内没有启动完成（配置项 llm.llama_cpp.start_timeout），"
                f"已结束该进程。机器繁忙时可调大该值后重试。", phase="start", timeout_s=start_timeout_s,
                variant=self._variant(proc), stderr_tail=list(proc.tail)) from None
        except _Gone:
            info = proc.exit_info()
            self._proc = None
            variant = self._variant(proc)
            where = f"（llama.cpp CPU 变体 {variant}）" if variant else ""
            raise WorkerError(
                f"本地模型进程启动失败（{info.short}）{where}：{info.meaning or info.text}。{self._hint(proc, info)}",
                phase="start", exit_info=info, variant=variant, stderr_tail=list(proc.tail)) from None

    def start(self, *, start_timeout_s: float = 120.0) -> dict[str, Any]:
        """Start the worker and load the model now (waits its turn). Returns the runtime info."""
        with self.turns.turn(timed=False):
            self._ready(start_timeout_s)
        return dict(self.runtime)

    def request(self, payload: dict[str, Any], *, timeout_s: float, start_timeout_s: float,
                timed: bool = True) -> Iterator[dict[str, Any]]:
        """Send one request and yield its replies until the final one (``done`` / ``count``).

        Args:
            payload: ``{"op": "generate", ...}`` or ``{"op": "count", "text": ...}`` (no id).
            timeout_s: seconds the worker may take for this request once it started on it.
            start_timeout_s: seconds a (re)start with model loading may take.
            timed: count the turn in the queue's wait estimate.

        Raises:
            WorkerError: the worker crashed, hung or could not start.
            LLMError: the backend inside the worker reported an error (it keeps running).
        """
        with self.turns.turn(timed=timed):
            proc = self._ready(start_timeout_s)
            rid = next(self._ids)
            finished = False
            deadline = time.monotonic() + timeout_s
            try:
                proc.send({**payload, "id": rid})
                while True:
                    msg = proc.recv(deadline)
                    if msg.get("id") != rid:
                        continue
                    if "error" in msg:
                        finished = True
                        raise _rebuild(str(msg.get("kind")), str(msg["error"]))
                    finished = "delta" not in msg
                    yield msg
                    if finished:
                        return
            except _TimedOut:
                finished = True
                raise self._timed_out(proc, timeout_s) from None
            except _Gone:
                finished = True
                raise self._died(proc) from None
            finally:
                if not finished:  # the caller stopped reading: cancel, and wait for the worker to stop
                    self._cancel(proc, rid, deadline)

    def _timed_out(self, proc: _Process, timeout_s: float) -> WorkerError:
        """Kill the hung worker, start the next one, and say so."""
        tail = list(proc.tail)
        restarted = self._replace(proc)
        log.warning("model worker %s timed out after %.0f s; restarted=%s", proc.pid, timeout_s, restarted)
        return WorkerError(
            f"本地模型生成超时：{timeout_s:g} 秒内没有完成（配置项 llm.llama_cpp.generation_timeout），"
            f"模型进程已结束{'并已自动重启，请重试' if restarted else ''}。", phase="generate",
            timeout_s=timeout_s, variant=self._variant(proc), stderr_tail=tail, restarted=restarted)

    def _died(self, proc: _Process) -> WorkerError:
        """The worker exited mid-request: name the signal, start the next one, say how to fix it."""
        info = proc.exit_info()
        if proc.closed:  # close() stopped it: no restart
            return WorkerError("本地模型进程已停止（服务正在关闭），请稍后重试。", phase="generate", exit_info=info)
        restarted = self._replace(proc)
        log.warning("model worker %s exited mid-request (%s); restarted=%s; stderr tail: %s",
                    proc.pid, info.text, restarted, " | ".join(list(proc.tail)[-5:]))
        again = ("，已自动重启，请重试" if restarted else
                 "，重启失败，请查看服务端日志" if self.auto_restart else "")
        detail = f"原因：{info.meaning}。" if info.meaning else ""
        return WorkerError(f"本地模型进程意外退出（{info.short}）{again}。{detail}{self._hint(proc, info)}",
                           phase="generate", exit_info=info, variant=self._variant(proc),
                           stderr_tail=list(proc.tail), restarted=restarted)

    def _cancel(self, proc: _Process, rid: int, deadline: float) -> None:
        try:
            proc.send({"op": "cancel", "id": rid})
            while True:
                msg = proc.recv(deadline)
                if msg.get("id") == rid and "delta" not in msg:
                    return
        except (_TimedOut, _Gone):
            self._replace(proc)

    def close(self) -> None:
        """Stop the worker process (a later request starts a new one)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.close()


_WORKERS: dict[tuple, LocalWorker] = {}
_WORKERS_LOCK = threading.Lock()


def shared_worker(key: tuple, make: Callable[[], LocalWorker]) -> LocalWorker:
    """The process-wide worker for ``key`` (created by ``make`` on first use)."""
    with _WORKERS_LOCK:
        worker = _WORKERS.get(key)
        if worker is None:
            worker = _WORKERS[key] = make()
        return worker


def shutdown_workers() -> None:
    """Stop every shared worker process (registered to run at exit)."""
    with _WORKERS_LOCK:
        workers = list(_WORKERS.values())
        _WORKERS.clear()
    for worker in workers:
        worker.close()


atexit.register(shutdown_workers)
