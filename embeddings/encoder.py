"""The embedding encoder the pipeline uses: multilingual-e5-small via sentence-transformers on CPU."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from embeddings.provision import (
    DIM,
    MODEL_NAME,
    ModelMissingError,
    embedding_model_status,
    prepare_embedding_model,
)

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

# Loaded models shared by every Encoder in the process (keyed by folder), so the CLI, the UI
# and tests pay the load once.
_LOADED: dict[str, "SentenceTransformer"] = {}
_LOAD_LOCK = threading.Lock()

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


def available_cores() -> int:
    """CPU cores this process may use (respects affinity masks / containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def load_sentence_transformer(model_dir: Path, *, threads: int | None = None) -> "SentenceTransformer":
    """Load a local sentence-transformers folder on CPU, strictly offline.

    Args:
        model_dir: the prepared folder.
        threads: torch intra-op threads; 0 = all cores, None = leave torch's setting alone.

    Returns:
        The loaded ``SentenceTransformer`` in eval mode.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    if threads is not None:
        torch.set_num_threads(threads if threads > 0 else available_cores())
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # hide transformers' per-tensor "Loading weights" bar
    try:
        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    model.eval()
    return model


class Encoder:
    """Encodes passages and queries into L2-normalised 384-d float32 vectors.

    The model is loaded on first use. If the folder is missing or incomplete it
    is prepared from the installed packages (``auto_prepare=True``) or
    :class:`ModelMissingError` is raised.

    Attributes:
        name: model name recorded in index manifests.
        dim: vector dimension.
    """

    name: str = MODEL_NAME
    dim: int = DIM

    def __init__(self, model_dir: Path, *, batch_size: int = 32, threads: int = 0,
                 auto_prepare: bool = True, progress: bool = True):
        """Set up a lazy encoder.

        Args:
            model_dir: prepared model folder (``<home>/models/multilingual-e5-small``).
            batch_size: texts per forward pass.
            threads: torch CPU threads; 0 = all cores.
            auto_prepare: build the folder on first use if it is missing.
            progress: show progress while preparing the model.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size 必须是正整数，收到 {batch_size}")
        if threads < 0:
            raise ValueError(f"threads 不能为负数，收到 {threads}（0 表示使用全部核心）")
        self.model_dir = Path(model_dir).expanduser()
        self.batch_size = batch_size
        self.threads = threads
        self.auto_prepare = auto_prepare
        self.progress = progress
        self._model: SentenceTransformer | None = None

    @property
    def loaded(self) -> bool:
        """Whether the model is already in memory."""
        return self._model is not None

    @property
    def model(self) -> "SentenceTransformer":
        """The underlying SentenceTransformer (loads it on first access)."""
        if self._model is None:
            key = str(self.model_dir.resolve())
            with _LOAD_LOCK:
                if key not in _LOADED:
                    self._ensure_ready()
                    _LOADED[key] = load_sentence_transformer(self.model_dir, threads=self.threads)
                self._model = _LOADED[key]
        return self._model

    def _ensure_ready(self) -> None:
        status = embedding_model_status(self.model_dir)
        if status["ready"]:
            return
        if not self.auto_prepare:
            raise ModelMissingError(
                f"嵌入模型 {MODEL_NAME} 不可用（{self.model_dir}）：{status['detail']}"
            )
        if self.progress:
            print(f"首次使用：正在从已安装的软件包生成嵌入模型 {MODEL_NAME} → {self.model_dir}",
                  file=sys.stderr)
        prepare_embedding_model(self.model_dir, progress=self.progress)

    def _encode(self, texts: Sequence[str], prefix: str, progress: bool) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("需要字符串列表；单条查询请用 encode_query()")
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise TypeError(f"第 {i} 条输入不是字符串（{type(text).__name__}）")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            [prefix + text for text in items],
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed passages (adds the e5 ``"passage: "`` prefix).

        Args:
            texts: passages; sentence-transformers truncates each at 512 tokens.
            progress: show a tqdm bar over batches.

        Returns:
            ``(len(texts), 384)`` float32, rows L2-normalised.
        """
        return self._encode(texts, PASSAGE_PREFIX, progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (adds the e5 ``"query: "`` prefix); ``(n, 384)`` float32, normalised."""
        return self._encode(texts, QUERY_PREFIX, False)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query; returns a ``(384,)`` float32 unit vector."""
        if not isinstance(text, str):
            raise TypeError(f"查询必须是字符串（收到 {type(text).__name__}）")
        return self._encode([text], QUERY_PREFIX, False)[0]
