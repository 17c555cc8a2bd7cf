"""Pick an LLM backend by name (txtai-style factory, with user plugins as ``module:Class``)."""

from __future__ import annotations

import importlib
from typing import Any

from rag.llm.base import LLMBackend, LLMError
from rag.llm.registry import find, names, needs_llm


def _choices() -> str:
    return "、".join(names()) + "，或 模块:类名 形式的自定义后端"


def resolve_class(name: str) -> type[LLMBackend]:
    """Return the backend class for ``name`` without instantiating it.

    Args:
        name: a built-in name (:data:`rag.llm.registry.BACKENDS`) or ``"package.module:ClassName"``.

    Returns:
        A subclass of ``LLMBackend``.

    Raises:
        LLMError: unknown name, a backend without an LLM (``extractive``), or a plugin that
            cannot be imported or is not an ``LLMBackend``.
    """
    key = (name or "").strip()
    spec = find(key)
    if spec is not None and spec.loader is None:
        raise LLMError(
            f"“{key}” 不是大模型后端：抽取式回答不调用 LLM，由回答模块直接处理，不能通过 create_backend 创建"
        )
    if spec is not None and spec.loader is not None:
        module_name, class_name = spec.loader
    elif ":" in key:
        module_name, _, class_name = key.partition(":")
    else:
        raise LLMError(f"未知的 LLM 后端 “{key}”。可选：{_choices()}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LLMError(f"无法导入后端模块 {module_name}：{exc}。请检查模块名和 PYTHONPATH") from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, LLMBackend)):
        raise LLMError(
            f"{module_name} 中没有名为 {class_name} 的 LLMBackend 子类。"
            f"自定义后端须继承 rag.llm.LLMBackend 并实现 _stream()"
        )
    return cls


def create_backend(name: str, config: Any) -> LLMBackend:
    """Create the backend ``name`` configured by ``config``.

    Args:
        name: a built-in name with an LLM (:data:`rag.llm.registry.BACKENDS`) or ``"module:Class"``
            (a user plugin: an ``LLMBackend`` subclass taking the config).
        config: the resolved ``Config``.

    A backend registered with ``worker=True`` (``llama_cpp``) and ``llm.llama_cpp.worker: process``
    runs the model in a worker process (:class:`rag.llm.worker_backend.ProcessLlamaBackend`);
    ``inline`` (and ``auto`` outside ``shanhai serve``) loads it in this process.

    Returns:
        A ready-to-use backend (models load lazily on first generation).

    Raises:
        LLMError: unknown name (the message lists the choices), bad plugin or worker mode.
    """
    spec = find(name)
    if spec is not None and spec.worker and config is not None:
        from rag.llm.worker_backend import ProcessLlamaBackend, worker_mode

        if worker_mode(config) == "process":
            return ProcessLlamaBackend(config)
    return resolve_class(name)(config)


def create_llm(name: str, config: Any) -> LLMBackend | None:
    """The LLM behind the answer backend ``name``: :func:`create_backend`, or None for a backend
    registered without one (``extractive``)."""
    return create_backend(name, config) if needs_llm(name) else None
