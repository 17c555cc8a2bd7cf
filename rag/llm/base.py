"""The interface every LLM backend implements, plus its error and statistics types."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Iterator

PREPARE_HINT = "请先运行 `shanhai models prepare` 准备模型文件"


class LLMError(RuntimeError):
    """A backend failed: endpoint down, timeout, model missing, bad configuration.

    The message is in Simplified Chinese and says what went wrong and what to do.
    """


class ModelMissingError(LLMError):
    """The model file (or the packages it is assembled from) is not available."""


@dataclass
class GenerationStats:
    """Token counts and timings of one generation.

    Attributes:
        prompt_tokens: tokens in the prompt (exact for local backends; as reported
            by the server for ``openai``, or 0 when it reports nothing).
        completion_tokens: tokens generated.
        first_token_s: seconds from the call to the first non-empty text delta
            (None when nothing was generated).
        total_s: seconds from the call to the end of the stream.
        cached_prompt_tokens: prompt tokens whose KV state was reused from the
            previous call (None when the backend cannot tell).
    """

    prompt_tokens: int
    completion_tokens: int
    first_token_s: float | None
    total_s: float
    cached_prompt_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


class LLMBackend(ABC):
    """A chat model that streams text.

    Subclasses implement :meth:`_stream` (yield text deltas, fill ``stats``).
    ``last_stats`` is kept per thread, so concurrent users of one backend each
    see the statistics of their own last call.
    """

    name: str = "base"

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def last_stats(self) -> GenerationStats | None:
        """Statistics of this thread's last completed :meth:`stream` call."""
        return getattr(self._local, "stats", None)

    @last_stats.setter
    def last_stats(self, value: GenerationStats | None) -> None:
        self._local.stats = value

    def stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 320,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Generate a reply, yielding text deltas as they arrive.

        Args:
            messages: OpenAI-style chat messages (``{"role": ..., "content": ...}``).
            max_tokens: upper bound on generated tokens.
            temperature: sampling temperature; 0 means greedy.
            stop: strings that end the generation (not included in the output).

        Returns:
            An iterator of text deltas. After it is exhausted ``last_stats`` is set.

        Raises:
            LLMError: the backend failed (raised while iterating).
        """
        _check_messages(messages)
        self.last_stats = None
        started = time.perf_counter()
        stats = _StatsBuilder(started)
        for delta in self._stream(messages, max_tokens=max_tokens, temperature=temperature,
                                  stop=list(stop or []), stats=stats):
            if delta:
                stats.mark_first()
                yield delta
        self.last_stats = stats.build()

    def complete(self, messages: list[dict], **kwargs: Any) -> str:
        """Generate a reply and return it whole (same arguments as :meth:`stream`)."""
        return "".join(self.stream(messages, **kwargs))

    def close(self) -> None:
        """Release resources held by this backend instance (default: nothing)."""

    @abstractmethod
    def _stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str],
        stats: "_StatsBuilder",
    ) -> Iterator[str]:
        """Backend-specific generation; set ``stats.prompt_tokens`` etc. as known."""


class _StatsBuilder:
    """Mutable collector a backend fills while it streams."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first: float | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cached_prompt_tokens: int | None = None

    def mark_first(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def build(self) -> GenerationStats:
        now = time.perf_counter()
        return GenerationStats(
            prompt_tokens=int(self.prompt_tokens),
            completion_tokens=int(self.completion_tokens),
            first_token_s=None if self.first is None else self.first - self.started,
            total_s=now - self.started,
            cached_prompt_tokens=self.cached_prompt_tokens,
        )


def _check_messages(messages: list[dict]) -> None:
    if not messages:
        raise LLMError("没有要发送给模型的消息（messages 为空）")
    for message in messages:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise LLMError(f"消息格式不正确，应为包含 role 和 content 的字典：{message!r}"[:200])
