"""The ``llama_cpp`` backend with the model in a worker process (``llm.llama_cpp.worker: process``).

Same interface and behaviour as :class:`rag.llm.llama_cpp_backend.LlamaCppBackend` (streaming,
``stop``, ``max_tokens``, temperature, ``last_stats`` with cached prompt tokens, ``count_tokens``),
but the 1.9 GB model lives only in the worker (:mod:`rag.llm.worker`): a crash, hang or OOM there
fails the current request with a clear error and the next request gets a fresh worker. Every
instance with the same model settings shares one worker, and its requests take turns.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from rag.llm.base import LLMBackend, LLMError, _StatsBuilder
from rag.llm.worker import LocalWorker, shared_worker

LLAMA_TARGET = "rag.llm.llama_cpp_backend:LlamaCppBackend"
WORKER_MODES = ("auto", "process", "inline")


def worker_mode(config: Any) -> str:
    """``process`` or ``inline`` for ``llm.llama_cpp.worker`` (``auto`` means inline here;
    ``shanhai serve`` turns ``auto`` into ``process``).

    Raises:
        LLMError: an unknown value.
    """
    value = str((config.get("llm.llama_cpp.worker") if config is not None else None) or "auto").strip().lower()
    if value not in WORKER_MODES:
        raise LLMError(f"配置项 llm.llama_cpp.worker 的值 {value!r} 无效：可选 {'、'.join(WORKER_MODES)}")
    return "inline" if value == "auto" else value


class ProcessLlamaBackend(LLMBackend):
    """A backend whose model runs in a (shared) worker process.

    Args:
        config: resolved ``Config``; reads ``llm.llama_cpp.*`` and the model settings.
        target: the ``LLMBackend`` class run inside the worker (``module:Class``); default the
            real llama.cpp backend. Tests use light stand-ins.
        command: the command starting the worker (default ``python -m rag.llm.worker_main``).
        shared: share the worker with other instances of the same settings (False: a private
            worker, e.g. for the smoke test).
        auto_restart: start a new worker right after a crash or timeout.
    """

    name = "llama_cpp"

    def __init__(self, config: Any, *, target: str = LLAMA_TARGET, command: list[str] | None = None,
                 shared: bool = True, auto_restart: bool = True) -> None:
        super().__init__()
        section = config.get("llm.llama_cpp") or {}
        self.generation_timeout = float(section.get("generation_timeout") or 180)
        self.start_timeout = float(section.get("start_timeout") or 120)
        self.cpu_variant = str(section.get("cpu_variant") or "auto")
        self._config = config
        self._target = target
        self._command = list(command) if command else None
        self._shared = shared
        self._auto_restart = auto_restart
        self._worker: LocalWorker | None = None

    def _init_message(self) -> tuple[tuple, dict[str, Any]]:
        over: dict[str, Any] = {"llm.llama_cpp.worker": "inline"}
        path = None
        if self._target == LLAMA_TARGET:  # prepare/check the file here, load it only in the worker
            from rag.llm.gguf import ensure_gguf

            path = str(ensure_gguf(self._config))
            over.update({"models.llm.gguf": path, "models.auto_prepare": False})
        data = json.loads(json.dumps(self._config.with_overrides(over).data, default=str))
        s = data["llm"]["llama_cpp"]
        key = (self._target, tuple(self._command or ()), path, s.get("n_ctx"), s.get("n_threads"),
               s.get("n_batch"), self.cpu_variant)
        return key, {"target": self._target, "config": data}

    @property
    def worker(self) -> LocalWorker:
        """The worker this backend sends its requests to (created on first use, not started)."""
        if self._worker is None:
            key, init = self._init_message()

            def runnable() -> list[str]:
                from rag.llm.cpu_backend import describe_build

                return describe_build(self.cpu_variant).runnable

            def make() -> LocalWorker:
                return LocalWorker(init, command=self._command, runnable=runnable, auto_restart=self._auto_restart)

            self._worker = shared_worker(key, make) if self._shared else make()
        return self._worker

    @property
    def pid(self) -> int | None:
        """Process id of the running worker (None when none runs)."""
        return self._worker.pid if self._worker is not None else None

    def load(self) -> "ProcessLlamaBackend":
        """Start the worker and load the model now (instead of on the first request)."""
        self.worker.start(start_timeout_s=self.start_timeout)
        return self

    def runtime_info(self) -> dict[str, Any]:
        """What the worker reported: llama.cpp CPU ``variant``, ``runnable`` variants, ``load_s``."""
        return dict(self._worker.runtime) if self._worker is not None else {}

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in ``text`` (counted by the worker)."""
        for msg in self.worker.request({"op": "count", "text": text}, timeout_s=self.generation_timeout,
                                       start_timeout_s=self.start_timeout, timed=False):
            return int(msg["count"])
        raise LLMError("本地模型进程没有返回 token 数")  # pragma: no cover - request always yields

    def _stream(self, messages, *, max_tokens, temperature, stop, stats: _StatsBuilder) -> Iterator[str]:
        payload = {"op": "generate", "messages": messages, "max_tokens": int(max_tokens),
                   "temperature": float(temperature), "stop": list(stop)}
        for msg in self.worker.request(payload, timeout_s=self.generation_timeout,
                                       start_timeout_s=self.start_timeout):
            if "delta" in msg:
                yield msg["delta"]
                continue
            st = msg.get("stats") or {}
            stats.prompt_tokens = int(st.get("prompt_tokens") or 0)
            stats.completion_tokens = int(st.get("completion_tokens") or 0)
            stats.cached_prompt_tokens = st.get("cached_prompt_tokens")

    def close(self) -> None:
        """Detach (a shared worker keeps running for the others); stop a private worker."""
        if self._worker is not None and not self._shared:
            self._worker.close()
        self._worker = None
