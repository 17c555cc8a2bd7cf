"""Loading the PyTorch reference model: a local sentence-transformers folder, on CPU, offline.

A leaf of the embeddings package (it imports only :mod:`embeddings.onnx_runtime`), so the
encoder, the provisioning sanity check and the ONNX export can all use it without a loop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from embeddings.onnx_runtime import available_cores

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

__all__ = ["load_sentence_transformer"]


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
