"""The judge's shipped weights: only what differs from the e5-small folder, stored fp16.

The judge is a BERT cross-encoder whose frozen embeddings (word, position, type, LayerNorm) are
e5-small's. ``judge-weights.safetensors`` holds everything else — the first ``num_layers``
encoder layers after fine-tuning, the pooler and the one-logit classifier — and
``judge.json`` describes it (layers, max length, sha256, a reference score on a fixed pair,
training metrics). :func:`assemble_state` rebuilds the full model from the e5 folder that
``shanhai models prepare`` writes plus these two files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

WEIGHTS_FILE = "judge-weights.safetensors"
META_FILE = "judge.json"
SHIPPED_DIR = Path(__file__).resolve().parent / "weights"
EMBEDDING_PREFIX = "bert.embeddings."
# A pair written for the reference check (not from any data set): its score is stored at training
# time and re-checked whenever the judge folder is assembled.
REFERENCE_PAIR = ("临河县2020年新建了多少所小学？",
                  "2020年，临河县新建小学12所，新增学位6000个，比上年增加三成。")
REFETCH = ("请从项目仓库重新取回该文件（例如 `git checkout -- rag/judge/weights/`），然后运行 "
           "`shanhai models prepare`。")


class JudgeWeightsError(RuntimeError):
    """The shipped judge weights are missing, corrupt or do not match their description."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def delta_state(model: Any) -> dict[str, Any]:
    """The trained tensors of a ``BertForSequenceClassification`` minus the frozen embeddings (fp16)."""
    return {k: v.detach().to("cpu").half().contiguous() for k, v in model.state_dict().items()
            if not k.startswith(EMBEDDING_PREFIX)}


def save_weights(model: Any, folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``judge-weights.safetensors`` and ``judge.json`` (meta plus size and sha256).

    Returns:
        The meta dict as written.
    """
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / WEIGHTS_FILE
    save_file(delta_state(model), str(path), metadata={"format": "pt"})
    meta = {**meta, "weights": {"file": WEIGHTS_FILE, "size": path.stat().st_size, "sha256": sha256_of(path)}}
    (folder / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return meta


def read_meta(folder: Path = SHIPPED_DIR) -> dict[str, Any]:
    """``judge.json`` of a weights folder.

    Raises:
        JudgeWeightsError: missing or unreadable (the message names ``shanhai models prepare``).
    """
    path = Path(folder) / META_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JudgeWeightsError(f"缺少证据判别模型的说明文件 {path}。{REFETCH}") from exc
    except (OSError, ValueError) as exc:
        raise JudgeWeightsError(f"证据判别模型的说明文件 {path} 无法读取（{exc}）。{REFETCH}") from exc


def verify_weights(folder: Path = SHIPPED_DIR) -> tuple[Path, dict[str, Any]]:
    """Check the weights file against ``judge.json`` (size, then sha256).

    Returns:
        (weights path, meta).

    Raises:
        JudgeWeightsError: missing, truncated or corrupt (names ``shanhai models prepare``).
    """
    meta = read_meta(folder)
    info = meta.get("weights") or {}
    path = Path(folder) / info.get("file", WEIGHTS_FILE)
    if not path.is_file():
        raise JudgeWeightsError(f"缺少证据判别模型权重文件 {path}。{REFETCH}")
    if path.stat().st_size != info.get("size"):
        raise JudgeWeightsError(f"证据判别模型权重文件 {path} 大小不符（{path.stat().st_size} 字节，应为 "
                                f"{info.get('size')} 字节），文件可能不完整。{REFETCH}")
    digest = sha256_of(path)
    if digest != info.get("sha256"):
        raise JudgeWeightsError(f"证据判别模型权重文件 {path} 的 sha256 不符（得到 {digest[:12]}…，应为 "
                                f"{str(info.get('sha256'))[:12]}…），文件已损坏或被修改。{REFETCH}")
    return path, meta


def assemble_state(e5_folder: Path, weights: Path, num_layers: int) -> dict[str, Any]:
    """Full ``BertForSequenceClassification`` state: e5 embeddings + the shipped tensors (fp32).

    Raises:
        JudgeWeightsError: the weights file cannot be read or lacks layers.
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        delta = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise JudgeWeightsError(f"无法读取证据判别模型权重 {weights}（{exc}）。{REFETCH}") from exc
    base = load_file(str(Path(e5_folder) / "model.safetensors"))
    state = {f"bert.{k}": v for k, v in base.items() if k.startswith("embeddings.")}
    state.update(delta)
    need = f"bert.encoder.layer.{num_layers - 1}.output.LayerNorm.weight"
    if need not in state or "classifier.weight" not in state:
        raise JudgeWeightsError(f"证据判别模型权重 {weights} 不完整（缺少 {need} 或分类层）。{REFETCH}")
    return {k: v.to(torch.float32) for k, v in state.items()}
