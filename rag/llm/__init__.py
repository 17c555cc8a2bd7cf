"""LLM backends behind one small interface.

>>> backend = create_backend("llama_cpp", load_config())
>>> for delta in backend.stream([{"role": "user", "content": "你好"}]):
...     print(delta, end="")
"""

from rag.llm.base import GenerationStats, LLMBackend, LLMError, ModelMissingError
from rag.llm.factory import BACKENDS, create_backend, resolve_class
from rag.llm.gguf import GGUF_NAME, configured_gguf, ensure_gguf, gguf_status, prepare_gguf

__all__ = [
    "BACKENDS",
    "GGUF_NAME",
    "GenerationStats",
    "LLMBackend",
    "LLMError",
    "ModelMissingError",
    "configured_gguf",
    "create_backend",
    "ensure_gguf",
    "gguf_status",
    "prepare_gguf",
    "resolve_class",
]
