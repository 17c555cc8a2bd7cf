"""Tokenising (question, text) pairs and building the judge network (torch).

The tokenizer is e5-small's ``tokenizer.json`` (XLM-R pieces; pairs become
``<s> question </s></s> text </s>``), truncated on the text side only. The network is
``BertForSequenceClassification`` with one logit, built from e5-small's configuration cut to
the first ``num_layers`` layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

MAX_LENGTH = 160
PAD_ID = 1  # <pad> of the XLM-R vocabulary


def load_tokenizer(folder: Path, max_length: int = MAX_LENGTH) -> Any:
    """The fast tokenizer of a model folder, truncating the second sequence to ``max_length``."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tok.enable_truncation(max_length=max_length, strategy="only_second")
    tok.no_padding()
    return tok


def encode_pairs(tok: Any, questions: Sequence[str], texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each (question, text) pair (no padding)."""
    return [e.ids for e in tok.encode_batch(list(zip(questions, texts)))]


def pad(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) int64 arrays, right-padded to the longest row."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def bert_config(e5_folder: Path, num_layers: int) -> Any:
    """e5-small's BERT configuration with ``num_layers`` layers and a one-logit head."""
    from transformers import BertConfig

    config = BertConfig.from_pretrained(str(e5_folder))
    config.num_hidden_layers = num_layers
    config.num_labels = 1
    config.architectures = ["BertForSequenceClassification"]
    return config


def build_network(e5_folder: Path, num_layers: int, state: dict[str, Any] | None = None, *,
                  pooling: str = "mean") -> Any:
    """A ``BertForSequenceClassification`` in fp32.

    Args:
        e5_folder: the prepared multilingual-e5-small folder (config and, for a fresh network,
            the embeddings and the first ``num_layers`` layers).
        num_layers: encoder layers kept.
        state: a full state dict to load (a trained judge); None starts from e5-small with a
            fresh pooler and classifier.
        pooling: ``"mean"`` (:class:`rag.judge.network.MeanPoolJudge`) or ``"cls"`` (BERT's own).
    """
    import torch
    from safetensors.torch import load_file
    from transformers import BertForSequenceClassification

    from rag.judge.network import MeanPoolJudge

    cls = MeanPoolJudge if pooling == "mean" else BertForSequenceClassification
    model = cls(bert_config(e5_folder, num_layers)).to(torch.get_default_dtype())
    if state is None:
        base = load_file(str(Path(e5_folder) / "model.safetensors"))
        state = {f"bert.{k}": v.float() for k, v in base.items()
                 if k.startswith("embeddings.") or any(k.startswith(f"encoder.layer.{i}.") for i in range(num_layers))}
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert not unexpected, unexpected
        assert all(k.startswith(("bert.pooler.", "classifier.")) or k.endswith("position_ids") for k in missing), missing
    else:
        model.load_state_dict(state, strict=True)
    return model
