"""Local GGUF chat model on CPU through llama-cpp-python (the default backend).

The model is loaded lazily once per file and shared by every backend instance
in the process (~1 s and ~1.9 GB for the 1.5B Q4_K_M). Generation holds a
per-model lock, so concurrent callers are served one after another.

Prompt processing dominates latency on a small CPU, so the KV cache of the
previous call is reused for the longest common token prefix (llama-cpp-python
does this in ``Llama.generate``). Keep fixed instructions at the start of the
messages and only the evidence/question changes; ``last_stats.cached_prompt_tokens``
reports how many prompt tokens were reused.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from rag.llm.base import LLMBackend, LLMError, _StatsBuilder
from rag.llm.cpu_backend import ensure_cpu_backend
from rag.llm.gguf import ensure_gguf


@dataclass
class _SharedModel:
    """One loaded model plus what is needed to prompt it."""

    llm: Any
    params: tuple
    formatter: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_MODELS: dict[str, _SharedModel] = {}
_MODELS_LOCK = threading.Lock()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _make_formatter(llm: Any) -> Any:
    """The GGUF's own chat template as a llama-cpp formatter (None if it has none)."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
    bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos,
                               stop_token_ids=[eos_id])


def load_shared(path: Path, *, n_ctx: int, n_threads: int, n_batch: int,
                cpu_variant: str = "auto") -> _SharedModel:
    """Load ``path`` once per process (keyed by path) and return the shared entry.

    Args:
        path: GGUF file.
        n_ctx: context window in tokens.
        n_threads: CPU threads for decode and prompt processing (0 = all cores).
        n_batch: prompt-processing batch size.
        cpu_variant: llama.cpp CPU backend variant (``auto`` = best for this CPU, never AMX).

    Returns:
        The shared model entry; a different set of parameters for the same path
        reloads the model.

    Raises:
        LLMError: llama-cpp-python is missing or the file cannot be loaded.
    """
    threads = n_threads or _cpu_count()
    params = (int(n_ctx), int(threads), int(n_batch))
    key = str(Path(path).resolve())
    with _MODELS_LOCK:
        entry = _MODELS.get(key)
        if entry is not None and entry.params == params:
            return entry
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError(
                "未安装 llama-cpp-python，无法使用 llama_cpp 后端。请运行 "
                "`pip install llama-cpp-python==0.3.36`（需编译约 5 分钟），或改用其他后端（--backend）"
            ) from exc
        ensure_cpu_backend(cpu_variant)
        try:
            llm = Llama(model_path=key, n_ctx=params[0], n_threads=threads, n_threads_batch=threads,
                        n_batch=params[2], verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMError(
                f"无法加载模型文件 {key}：{exc}。文件可能已损坏，请运行 `shanhai models prepare --force`"
            ) from exc
        entry = _SharedModel(llm=llm, params=params, formatter=_make_formatter(llm))
        _MODELS[key] = entry
        return entry


def unload_all() -> None:
    """Drop every shared model (frees memory once no generation is running)."""
    with _MODELS_LOCK:
        _MODELS.clear()


def _count(llm: Any, text: str) -> int:
    """Tokens in generated ``text`` (re-tokenised; streamed chunks may merge tokens)."""
    return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0


def _reused_prefix(llm: Any, tokens: list[int]) -> int | None:
    """Prompt tokens llama-cpp will take from the KV cache of the previous call.

    Mirrors ``Llama.generate``: the longest common prefix with the tokens already
    evaluated, less one when the whole prompt matches (the last token is replayed
    to refresh the logits). None if this llama-cpp version hides that state.
    """
    try:
        previous = llm._input_ids if llm.n_tokens > 0 else []
    except AttributeError:  # pragma: no cover - other llama-cpp-python versions
        return None
    n = 0
    for x, y in zip(previous, tokens):
        if x != y:
            break
        n += 1
    return min(n, len(tokens) - 1) if n else 0


class LlamaCppBackend(LLMBackend):
    """Chat with a local GGUF via llama-cpp-python.

    Args:
        config: resolved ``Config``; reads ``llm.llama_cpp.*``, ``models.llm.gguf``
            and ``models.auto_prepare``.
        model_path: explicit GGUF path (skips config resolution and preparation).
    """

    name = "llama_cpp"

    def __init__(self, config: Any = None, *, model_path: str | Path | None = None) -> None:
        super().__init__()
        section = (config.get("llm.llama_cpp") if config is not None else None) or {}
        self.n_ctx = int(section.get("n_ctx", 4096))
        self.n_threads = int(section.get("n_threads", 0))
        self.n_batch = int(section.get("n_batch", 512))
        self.cpu_variant = str(section.get("cpu_variant") or "auto")
        self._config = config
        self._path = Path(model_path) if model_path else None
        self._entry: _SharedModel | None = None

    @property
    def model_path(self) -> Path:
        """The GGUF this backend runs (prepared on first use when allowed)."""
        if self._path is None:
            if self._config is None:
                raise LLMError("llama_cpp 后端需要配置（config）或 model_path")
            self._path = ensure_gguf(self._config)
        elif not self._path.is_file():
            raise LLMError(f"找不到模型文件 {self._path}。请运行 `shanhai models prepare`")
        return self._path

    def load(self) -> "LlamaCppBackend":
        """Load (or attach to) the shared model now instead of on first use."""
        if self._entry is None:
            self._entry = load_shared(self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                                      n_batch=self.n_batch, cpu_variant=self.cpu_variant)
        return self

    def runtime_info(self) -> dict[str, Any]:
        """The llama.cpp CPU backend of this process (loaded now if needed; not the model).

        Returns:
            ``{"variant", "build": "portable"|"native", "runnable": [...best first]}``.
        """
        from rag.llm.cpu_backend import EXCLUDED_VARIANTS

        loaded = ensure_cpu_backend(self.cpu_variant)
        ranked = sorted(loaded.scores.items(), key=lambda kv: -kv[1])
        return {"variant": loaded.variant, "build": "native" if loaded.variant == "builtin" else "portable",
                "runnable": [n for n, s in ranked if s > 0 and n not in EXCLUDED_VARIANTS]}

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in ``text`` (no special tokens added)."""
        return _count(self.load()._entry.llm, text)

    def _stream(self, messages, *, max_tokens, temperature, stop, stats: _StatsBuilder) -> Iterator[str]:
        entry = self.load()._entry
        llm = entry.llm
        with entry.lock:
            if entry.formatter is None:
                yield from self._stream_chat(llm, messages, max_tokens, temperature, stop, stats)
                return
            rendered = entry.formatter(messages=messages)
            tokens = llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special,
                                  special=True)
            if len(tokens) >= self.n_ctx:
                raise LLMError(
                    f"提示过长：{len(tokens)} 个 token，超过上下文窗口 n_ctx={self.n_ctx}。"
                    f"请减少段落数量（retrieval.top_k）或每段证据长度（answer.evidence_chars）"
                )
            stats.prompt_tokens = len(tokens)
            stats.cached_prompt_tokens = _reused_prefix(llm, tokens)
            extra_stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]
            chunks = llm.create_completion(
                prompt=tokens, max_tokens=max_tokens, temperature=temperature,
                stop=stop + [s for s in extra_stop if s], stopping_criteria=rendered.stopping_criteria,
                stream=True,
            )
            pieces: list[str] = []
            try:
                for chunk in chunks:
                    text = chunk["choices"][0].get("text") or ""
                    pieces.append(text)
                    yield text
            except (ValueError, RuntimeError) as exc:
                raise LLMError(
                    f"本地模型生成失败：{exc}。如反复出现，请运行 `shanhai models prepare --force`"
                ) from exc
            finally:
                chunks.close()
            stats.completion_tokens = _count(llm, "".join(pieces))

    def _stream_chat(self, llm, messages, max_tokens, temperature, stop, stats) -> Iterator[str]:
        """Fallback for GGUFs without a chat template: llama-cpp's own chat handler."""
        pieces: list[str] = []
        for chunk in llm.create_chat_completion(messages=messages, stream=True, temperature=temperature,
                                                max_tokens=max_tokens, stop=stop or None):
            text = chunk["choices"][0].get("delta", {}).get("content") or ""
            pieces.append(text)
            yield text
        stats.completion_tokens = _count(llm, "".join(pieces))

    def close(self) -> None:
        """Detach from the shared model (it stays loaded for other users; see ``unload_all``)."""
        self._entry = None
