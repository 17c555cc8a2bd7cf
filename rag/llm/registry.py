"""The answer backends: one registry of names, Chinese labels, loaders and flags.

Every place that offers, checks or dispatches on a backend reads it here: the factory
(:func:`rag.llm.factory.create_backend`), request validation (:mod:`rag.validate`), the answer
and summary paths (:func:`needs_llm`), the CLI help and the UI's backend menus (:func:`choices`).
The backend used when none is chosen comes from the config (:func:`default_backend`).

Nothing heavy is imported here: a loader names a module, imported only when the backend is created.

>>> [spec.name for spec in BACKENDS]
['llama_cpp', 'extractive', 'openai', 'transformers']
>>> needs_llm("extractive"), needs_llm("my_pkg:MyLLM")
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag.config import ConfigError

__all__ = ["BackendSpec", "BACKENDS", "EXTRACTIVE", "names", "find", "needs_llm", "backend_choices", "describe_backends",
           "default_backend"]


@dataclass(frozen=True)
class BackendSpec:
    """One answer backend.

    Attributes:
        name: the name used in the config (``answer.backend``), ``--backend`` and requests.
        label: how the UI lists it (Simplified Chinese).
        loader: ``(module, class)`` of its :class:`rag.llm.LLMBackend`; None for a backend that
            answers without an LLM (``extractive``: the best supporting sentences, cited).
        worker: it may run in a worker process (``llm.<name>.worker``,
            :class:`rag.llm.worker_backend.ProcessLlamaBackend`).
    """

    name: str
    label: str
    loader: tuple[str, str] | None
    worker: bool = False

    @property
    def needs_llm(self) -> bool:
        """Whether answering calls a language model (False: extractive, no model is loaded)."""
        return self.loader is not None


EXTRACTIVE = "extractive"

# In the order menus and messages list them.
BACKENDS: tuple[BackendSpec, ...] = (
    BackendSpec("llama_cpp", "本地模型（llama_cpp）", ("rag.llm.llama_cpp_backend", "LlamaCppBackend"), worker=True),
    BackendSpec(EXTRACTIVE, "抽取式（不用大模型，最快）", None),
    BackendSpec("openai", "OpenAI 兼容服务（openai）", ("rag.llm.openai_backend", "OpenAIBackend")),
    BackendSpec("transformers", "Transformers 本地模型（transformers）",
                ("rag.llm.transformers_backend", "TransformersBackend")),
)
_BY_NAME = {spec.name: spec for spec in BACKENDS}


def names() -> tuple[str, ...]:
    """The built-in backend names, in menu order."""
    return tuple(_BY_NAME)


def find(name: str | None) -> BackendSpec | None:
    """The built-in backend called ``name`` (case and surrounding spaces ignored); None for a
    plugin (``module:Class``) or an unknown name."""
    return _BY_NAME.get((name or "").strip().lower())


def needs_llm(name: str | None) -> bool:
    """Whether the backend ``name`` answers with a language model (plugins and unknown names do:
    creating them reports what is wrong)."""
    spec = find(name)
    return spec is None or spec.needs_llm


def backend_choices() -> list[tuple[str, str]]:
    """``(label, name)`` for menus."""
    return [(spec.label, spec.name) for spec in BACKENDS]


def describe_backends() -> str:
    """The built-in names for help texts: ``llama_cpp、extractive（不用大模型）、openai、transformers``."""
    return "、".join(spec.name + ("" if spec.needs_llm else "（不用大模型）") for spec in BACKENDS)


def default_backend(config: Any) -> str:
    """The backend used when none is chosen: the config's ``answer.backend``.

    Raises:
        ConfigError: the config sets no ``answer.backend``.
    """
    name = config.get("answer.backend") if config is not None else None
    if not name:
        raise ConfigError(f"配置中没有设置 answer.backend（回答后端）：请在配置文件中设置，可选 {'、'.join(names())}")
    return str(name)
