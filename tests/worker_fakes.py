"""Light LLM backends run inside the real model worker process (rag.llm.worker_main) by the tests.

The last user message steers them: ``崩溃:SIGILL`` (or another signal name) kills the process with
that signal after two characters, ``卡住`` hangs, ``报错`` raises an LLMError; anything else is
echoed one character at a time (``llm.fake.delay`` seconds apart, default 0.02).
"""

from __future__ import annotations

import os
import re
import signal
import time
from contextlib import contextmanager
from pathlib import Path

from rag.llm import LLMBackend, LLMError


def pid_alive(pid: int) -> bool:
    """The process ``pid`` still exists (signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def importable_in_workers():
    """Let worker processes started inside this block import this module (PYTHONPATH)."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parent), old) if p)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


class Echo(LLMBackend):
    """Echoes the question slowly; reports a KV-cache-like reused prefix between calls."""

    name = "fake-echo"

    def __init__(self, config=None):
        super().__init__()
        self.delay = float((config.get("llm.fake.delay") if config is not None else None) or 0.02)
        self._previous = ""

    def runtime_info(self) -> dict:
        return {"variant": "zen4", "build": "portable", "runnable": ["zen4", "icelake", "haswell", "x64"]}

    def count_tokens(self, text: str) -> int:
        return len(text)

    def _stream(self, messages, *, max_tokens, temperature, stop, stats):
        prompt = "".join(m["content"] for m in messages)
        question = messages[-1]["content"]
        reused = 0
        for a, b in zip(self._previous, prompt):
            if a != b:
                break
            reused += 1
        self._previous = prompt
        stats.prompt_tokens, stats.cached_prompt_tokens = len(prompt), reused
        crash = re.search(r"崩溃:(SIG[A-Z]+)", question)
        text = question[:max_tokens]
        for s in stop:
            text = text.split(s)[0]
        for i, ch in enumerate(text):
            if crash and i == 2:
                os.kill(os.getpid(), getattr(signal, crash.group(1)))
            if "卡住" in question and i == 2:
                time.sleep(3600)
            if "报错" in question and i == 2:
                raise LLMError("测试用的生成错误")
            time.sleep(self.delay)
            stats.completion_tokens += 1
            yield ch


class CrashOnLoad(Echo):
    """Reports its CPU variant, then dies with SIGILL while 'loading the model'."""

    def load(self):
        print("loading model weights (fake)…", flush=True)
        os.kill(os.getpid(), signal.SIGILL)


class FailOnLoad(Echo):
    """A Python error while loading."""

    def load(self):
        raise LLMError("无法加载模型文件 /nowhere/model.gguf：测试用的加载错误")


class HangOnce(Echo):
    """Hangs in its first generation only (across restarts: a flag file ``llm.fake.flag``)."""

    def __init__(self, config=None):
        super().__init__(config)
        self.flag = config.get("llm.fake.flag")

    def _stream(self, messages, *, max_tokens, temperature, stop, stats):
        if not os.path.exists(self.flag):
            open(self.flag, "w").close()
            time.sleep(3600)
        yield from super()._stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                   stats=stats)
