"""A local Hugging Face model folder through transformers (for users with a GPU).

The folder needs a tokenizer with a chat template (an instruct model). On CPU the
weights run in float32; ``device: auto`` picks CUDA when available. Text is
streamed with ``TextIteratorStreamer`` while ``generate`` runs in a thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

from rag.llm.base import LLMBackend, LLMError, _StatsBuilder

_MODELS: dict[tuple[str, str], tuple[Any, Any, threading.Lock]] = {}
_MODELS_LOCK = threading.Lock()


def _resolve_device(device: str | None) -> str:
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LLMError(f"配置了 device={device}，但本机没有可用的 CUDA GPU。请把 llm.transformers.device 设为 auto 或 cpu")
    return device


def _load(folder: Path, device: str) -> tuple[Any, Any, threading.Lock]:
    key = (str(folder.resolve()), device)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            dtype = torch.float32 if device == "cpu" else "auto"
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device)
        except (OSError, ValueError, KeyError) as exc:
            raise LLMError(
                f"无法从 {folder} 加载 Hugging Face 模型：{type(exc).__name__}: {str(exc)[:200]}。"
                f"该文件夹应包含 config.json、权重（*.safetensors）和分词器文件"
            ) from exc
        model.eval()
        if not getattr(tokenizer, "chat_template", None):
            raise LLMError(
                f"{folder} 中的分词器没有对话模板（chat_template），这通常是基础模型而非指令模型。"
                f"请换用 *-Instruct 模型文件夹"
            )
        _MODELS[key] = (tokenizer, model, threading.Lock())
        return _MODELS[key]


class _StopFilter:
    """Hold back just enough text to cut the output at the first stop string."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.keep = max((len(s) for s in self.stops), default=1) - 1
        self.buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add ``text``; return what can be emitted safely."""
        self.buffer += text
        hits = [i for i in (self.buffer.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.buffer, self.stopped = self.buffer[:min(hits)], "", True
            return out
        cut = len(self.buffer) - self.keep
        if cut <= 0:
            return ""
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return out

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return out


class TransformersBackend(LLMBackend):
    """Chat with a local HF causal-LM folder.

    Args:
        config: resolved ``Config``; reads ``llm.transformers.model_dir`` and ``device``.
        model_dir: folder override. device: ``auto`` | ``cpu`` | ``cuda[:n]`` override.
    """

    name = "transformers"

    def __init__(self, config: Any = None, *, model_dir: str | Path | None = None,
                 device: str | None = None) -> None:
        super().__init__()
        section = (config.get("llm.transformers") if config is not None else None) or {}
        folder = model_dir or section.get("model_dir")
        if not folder:
            raise LLMError("transformers 后端需要一个本地模型文件夹：请在配置项 llm.transformers.model_dir 中设置路径")
        self.model_dir = Path(str(folder)).expanduser()
        if not (self.model_dir / "config.json").is_file():
            raise LLMError(
                f"模型文件夹 {self.model_dir} 不存在或缺少 config.json。请检查配置项 llm.transformers.model_dir"
            )
        self.device = _resolve_device(device or section.get("device"))

    def _stream(self, messages, *, max_tokens, temperature, stop, stats: _StatsBuilder) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        tokenizer, model, lock = _load(self.model_dir, self.device)
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        n_prompt = int(inputs["input_ids"].shape[1])
        stats.prompt_tokens = n_prompt
        cancel = threading.Event()

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool,
                                  device=input_ids.device)

        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs: dict[str, Any] = dict(**inputs, max_new_tokens=max_tokens, streamer=streamer,
                                      stopping_criteria=StoppingCriteriaList([_Cancel()]),
                                      pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with torch.inference_mode():
                    result["output"] = model.generate(**kwargs)
            except Exception as exc:  # surfaced in the consumer thread
                result["error"] = exc
                streamer.end()

        stop_filter = _StopFilter(stop)
        with lock:
            worker = threading.Thread(target=run, name="transformers-generate", daemon=True)
            worker.start()
            try:
                for text in streamer:
                    out = stop_filter.feed(text)
                    if out:
                        yield out
                    if stop_filter.stopped:
                        break
                if not stop_filter.stopped:
                    tail = stop_filter.flush()
                    if tail:
                        yield tail
            finally:
                cancel.set()
                worker.join()
        if "error" in result:
            error = result["error"]
            raise LLMError(f"transformers 生成失败：{type(error).__name__}: {error}") from error
        stats.completion_tokens = int(result["output"].shape[1]) - n_prompt
