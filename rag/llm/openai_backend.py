"""Any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, a cloud API)."""

from __future__ import annotations

import os
from typing import Any, Iterator

from rag.llm.base import LLMBackend, LLMError, _StatsBuilder


class OpenAIBackend(LLMBackend):
    """Stream chat completions from an OpenAI-compatible server.

    Args:
        config: resolved ``Config``; reads ``llm.openai.base_url``, ``model``,
            ``api_key_env`` (name of the env var with the key) and ``timeout`` (s).
        **overrides: the same keys given directly (they win over ``config``).
    """

    name = "openai"

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__()
        section = dict((config.get("llm.openai") if config is not None else None) or {})
        section.update({k: v for k, v in overrides.items() if v is not None})
        self.base_url = str(section.get("base_url") or "http://127.0.0.1:8000/v1").rstrip("/")
        self.model = str(section.get("model") or "qwen2.5")
        self.api_key_env = str(section.get("api_key_env") or "OPENAI_API_KEY")
        self.timeout = float(section.get("timeout") or 60)
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The ``openai.OpenAI`` client (created on first use)."""
        if self._client is None:
            try:
                import openai
            except ImportError as exc:
                raise LLMError("未安装 openai 软件包，无法使用 openai 后端。请运行 `pip install openai`") from exc
            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=os.environ.get(self.api_key_env) or "not-needed",
                timeout=self.timeout,
                max_retries=0,
            )
        return self._client

    def _stream(self, messages, *, max_tokens, temperature, stop, stats: _StatsBuilder) -> Iterator[str]:
        import openai

        request = dict(model=self.model, messages=messages, max_tokens=max_tokens,
                       temperature=temperature, stream=True)
        if stop:
            request["stop"] = stop
        try:
            try:
                chunks = self.client.chat.completions.create(
                    **request, stream_options={"include_usage": True})
            except openai.BadRequestError:
                # Some servers reject stream_options; retry plainly once.
                chunks = self.client.chat.completions.create(**request)
            n_deltas = 0
            for chunk in chunks:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    stats.prompt_tokens = usage.prompt_tokens or 0
                    stats.completion_tokens = usage.completion_tokens or 0
                    details = getattr(usage, "prompt_tokens_details", None)
                    cached = getattr(details, "cached_tokens", None) if details is not None else None
                    stats.cached_prompt_tokens = cached
                for choice in chunk.choices or []:
                    text = getattr(choice.delta, "content", None) or ""
                    if text:
                        n_deltas += 1
                        yield text
            if not stats.completion_tokens:
                stats.completion_tokens = n_deltas
        except openai.OpenAIError as exc:
            raise self._translate(exc) from exc
        except LLMError:
            raise
        except Exception as exc:  # transport errors raised mid-stream by the HTTP library
            if type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "h11"}:
                raise LLMError(
                    f"从 {self.base_url} 读取回答时连接中断：{type(exc).__name__}: {exc}。"
                    f"请检查服务是否仍在运行，或调大 llm.openai.timeout（当前 {self.timeout:g} 秒）"
                ) from exc
            raise

    def _translate(self, exc: Exception) -> LLMError:
        """Turn an ``openai`` exception into a specific Chinese message."""
        import openai

        url = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(
                f"请求 {url} 超时（{self.timeout:g} 秒内没有响应）。请确认服务负载正常，"
                f"或调大配置项 llm.openai.timeout"
            )
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(
                f"无法连接到 OpenAI 兼容服务 {url}：{exc}。请确认服务已启动、地址和端口正确"
                f"（配置项 llm.openai.base_url），或改用本地后端 --backend llama_cpp"
            )
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return LLMError(
                f"{url} 拒绝了请求（HTTP {exc.status_code}，认证失败）。请在环境变量 {self.api_key_env} "
                f"中设置正确的 API key（变量名由 llm.openai.api_key_env 指定）"
            )
        if isinstance(exc, openai.NotFoundError):
            return LLMError(
                f"{url} 返回 404：找不到模型 {self.model!r} 或接口路径。请检查 llm.openai.model，"
                f"以及 base_url 是否以 /v1 结尾"
            )
        if isinstance(exc, openai.RateLimitError):
            return LLMError(f"{url} 返回 429（请求过多或额度用尽），请稍后重试")
        if isinstance(exc, openai.APIStatusError):
            return LLMError(f"{url} 返回错误 HTTP {exc.status_code}：{_short(exc.message)}。请查看服务端日志")
        return LLMError(f"调用 {url} 失败：{type(exc).__name__}: {_short(str(exc))}")

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"
