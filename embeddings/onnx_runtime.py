"""Torch-free e5 inference: ONNX Runtime for the transformer, ``tokenizers`` for the input.

Imports neither torch nor transformers, so a query (``shanhai search``) costs the ONNX
session and the tokenizer load, not the ~8 s torch + sentence-transformers import. The
results equal sentence-transformers' ``encode(..., normalize_embeddings=True)`` of the same
model: same tokenizer file and truncation (512 tokens including ``<s>``/``</s>``), mean
pooling over the attention mask, L2 normalisation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

MAX_TOKENS = 512


def available_cores() -> int:
    """CPU cores this process may use (respects affinity masks / containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Group indices into batches of similar length (longest first), to waste little padding.

    Args:
        lengths: token count of each text.
        batch_size: texts per batch at most.

    Returns:
        Index arrays, one per batch; together they cover every index once.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), max(1, batch_size))]


class OnnxEmbedder:
    """One ONNX Runtime session of the e5 transformer plus its tokenizer.

    Args:
        model_file: ``model.onnx`` or a quantised variant.
        tokenizer_file: the model's ``tokenizer.json``.
        threads: ONNX Runtime intra-op threads; 0 = all cores.
        spin: let idle intra-op threads spin-wait between operators (ONNX Runtime's default).
            Off by default: on this project's shared 2-core machines spinning cost 35-45% more
            wall time and CPU (docs/benchmarks.md).
    """

    def __init__(self, model_file: Path, tokenizer_file: Path, *, threads: int = 0, spin: bool = False):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads if threads > 0 else available_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()  # truncated in token_ids(), after the trailing-space fix
        self.space_id = self.tokenizer.token_to_id("▁")
        self.pad_id = self.tokenizer.token_to_id("<pad>")
        if self.pad_id is None:
            self.pad_id = 1
        self.threads = options.intra_op_num_threads
        self.model_file = Path(model_file)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (with ``<s>``/``</s>``, truncated to 512), as transformers makes them.

        transformers' XLM-R tokenizer (what sentence-transformers runs) emits no token for
        whitespace at the end of the normalised text, where the bare ``tokenizers`` pipeline
        emits a lone ``▁``; it is dropped here before truncating (checked on every seed and
        RGB dev text, ``tests/test_embed_backends.py``).
        """
        out = []
        for enc in self.tokenizer.encode_batch(list(texts)):
            ids = enc.ids
            if len(ids) > 2 and ids[-2] == self.space_id:
                ids = ids[:-2] + ids[-1:]
            if len(ids) > MAX_TOKENS:
                ids = ids[:MAX_TOKENS - 1] + ids[-1:]
            out.append(ids)
        return out

    def embed_ids(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
        """Run one padded batch; returns ``(len(batch), dim)`` L2-normalised float32."""
        width = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, :len(ids)] = ids
            mask[row, :len(ids)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.input_names})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Embed texts (prefixes already added) in length-sorted batches; input order kept."""
        ids = self.token_ids(texts)
        out: np.ndarray | None = None
        for rows in length_batches([len(x) for x in ids], batch_size):
            vecs = self.embed_ids([ids[i] for i in rows])
            if out is None:
                out = np.zeros((len(ids), vecs.shape[1]), dtype=np.float32)
            out[rows] = vecs
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)
