"""Inference engines: score (question, text) pairs with torch or ONNX Runtime.

Both take already tokenised, length-sorted batches (:func:`run_sorted`) so padding stays small,
and return one probability (sigmoid of the logit) per pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rag.judge.encode import encode_pairs, pad

BATCH = 64


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Elementwise logistic function (float32)."""
    return (1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))).astype(np.float32)


def run_sorted(rows: Sequence[Sequence[int]], forward: Callable[[np.ndarray, np.ndarray], np.ndarray],
               batch: int = BATCH) -> np.ndarray:
    """Logits for token rows, computed in length-sorted batches, returned in input order."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = np.zeros(len(rows), dtype=np.float32)
    for lo in range(0, len(order), batch):
        idx = order[lo:lo + batch]
        ids, mask = pad([rows[i] for i in idx])
        out[idx] = np.asarray(forward(ids, mask), dtype=np.float32).reshape(-1)
    return out


class TorchEngine:
    """A ``BertForSequenceClassification`` on CPU."""

    name = "torch"

    def __init__(self, model: Any, tokenizer: Any, *, threads: int = 0, batch: int = BATCH):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.model = model.eval()
        self.tok = tokenizer
        self.batch = batch

    def logits(self, questions: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Raw logits, one per pair."""
        import torch

        rows = encode_pairs(self.tok, questions, texts)

        def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                out = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
            return out.logits[:, 0].float().numpy()

        if self.model.training:
            self.model.eval()
        return run_sorted(rows, forward, self.batch)

    def __call__(self, questions: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        return sigmoid(self.logits(questions, texts))


class OnnxEngine:
    """An exported (optionally int8-quantised) judge run by ONNX Runtime."""

    name = "onnx"

    def __init__(self, path: Path, tokenizer: Any, *, threads: int = 0, batch: int = BATCH):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.tok = tokenizer
        self.batch = batch

    def logits(self, questions: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Raw logits, one per pair."""
        rows = encode_pairs(self.tok, questions, texts)

        def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0][:, 0]

        return run_sorted(rows, forward, self.batch)

    def __call__(self, questions: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        return sigmoid(self.logits(questions, texts))
