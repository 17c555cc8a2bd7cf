"""LLM backends behind one small interface; the registry of answer backends (:mod:`rag.llm.registry`).

>>> backend = create_backend("llama_cpp", load_config())
>>> for delta in backend.stream([{"role": "user", "content": "你好"}]):
...     print(delta, end="")
"""

from rag.llm.base import GenerationStats, LLMBackend, LLMError, ModelMissingError
from rag.llm.factory import create_backend, create_llm, resolve_class
from rag.llm.gguf import GGUF_NAME, configured_gguf, ensure_gguf, gguf_status, prepare_gguf
from rag.llm.registry import BACKENDS, BackendSpec, default_backend, needs_llm

__all__ = [
    "BACKENDS",
    "BackendSpec",
    "GGUF_NAME",
    "GenerationStats",
    "LLMBackend",
    "LLMError",
    "ModelMissingError",
    "configured_gguf",
    "create_backend",
    "create_llm",
    "default_backend",
    "ensure_gguf",
    "gguf_status",
    "needs_llm",
    "prepare_gguf",
    "resolve_class",
]
