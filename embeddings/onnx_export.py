"""ONNX export and int8 quantisation of the prepared e5 folder, verified against torch fp32.

Why not ``SentenceTransformer(folder, backend="onnx")`` and its
``export_dynamic_quantized_onnx_model`` helper: both need ``optimum-onnx``, whose only
release (0.1.0) pins ``transformers<4.58`` and ``optimum~=2.1``; with the transformers 5
that sentence-transformers 6 requires it fails on import (``get_parameter_dtype`` is gone
from ``transformers.modeling_utils``), and pinning it would make pip downgrade
transformers. So this module makes the same two library calls that helper makes:
``torch.onnx.export`` of the transformer (what optimum's exporter runs) and
``onnxruntime.quantization``'s dynamic quantiser with the settings of the helper's named
presets (``avx512_vnni``/``avx512``/``arm64``: per-channel symmetric int8 weights, uint8
activations, full range; ``avx2``: uint8 weights). Pooling and normalisation stay outside
the graph (mean over the attention mask, L2), as sentence-transformers does them.

The folder (``<models>/multilingual-e5-small-onnx``) holds ``model.onnx`` (fp32),
``model_<dtype>_<preset>.onnx`` (int8), ``tokenizer.json`` and ``shanhai-onnx.json``
(sha256 of every file, parity of each variant with torch fp32). It is built in a temporary
folder and renamed into place, like the sentence-transformers folder.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from embeddings.e5_spec import DIM, MODEL_NAME, ModelVerifyError
from embeddings.model_files import check_files, folder_lock, hash_folder, progress_bar, swap_into_place, write_json
from embeddings.provision import prepare_embedding_model

ONNX_MANIFEST = "shanhai-onnx.json"
ONNX_CONVERTER_VERSION = 1  # bump when the written files change; older folders are rebuilt
FP32_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MIN_PARITY_COSINE = 0.99  # every sample text, ONNX variant vs torch fp32
OPSET = 17
# Backends from fastest to slowest on this project's CPUs (docs/benchmarks.md).
BACKENDS = ("onnx-int8", "onnx", "torch")


def onnx_dir_for(model_dir: Path) -> Path:
    """The ONNX folder that belongs beside a sentence-transformers folder."""
    model_dir = Path(model_dir).expanduser()
    return model_dir.parent / f"{model_dir.name}-onnx"


def quantization_preset() -> str:
    """The sentence-transformers/optimum dynamic-quantisation preset for this CPU.

    Returns:
        ``avx512_vnni``, ``avx512``, ``avx2`` or ``arm64`` (``avx2`` when nothing better is seen).
    """
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = set(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="ignore").split())
    except OSError:  # pragma: no cover - non-Linux
        flags = set()
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def int8_file(preset: str) -> str:
    """File name of the quantised model (sentence-transformers' naming: weights dtype + preset)."""
    return f"model_{'quint8' if preset == 'avx2' else 'qint8'}_{preset}.onnx"


# --------------------------------------------------------------------------- parity sample

def parity_texts() -> list[str]:
    """Fixed sample: our own Chinese queries and passages, plus long passages (padding, length)."""
    from embeddings.sanity import PASSAGES, QUERIES

    passages = [f"passage: {p}" for p in PASSAGES]
    passages += [f"passage: {''.join(PASSAGES[i:i + 4] * 3)}" for i in (0, 4)]  # ~300-char inputs
    return [f"query: {q}" for q, _ in QUERIES] + passages


def parity_report(reference: np.ndarray, vectors: np.ndarray) -> dict:
    """Compare one variant's vectors with torch fp32 on :func:`parity_texts`.

    Returns:
        ``min_cosine``, ``mean_cosine`` (per text), ``argmax_agreement`` (queries whose best
        passage is the same) and ``passed`` (min cosine >= MIN_PARITY_COSINE, full agreement).
    """
    from embeddings.sanity import QUERIES

    cos = (reference * vectors).sum(1)
    nq = len(QUERIES)
    best_ref = (reference[:nq] @ reference[nq:].T).argmax(1)
    best = (vectors[:nq] @ vectors[nq:].T).argmax(1)
    agree = float((best_ref == best).mean())
    return {"texts": int(cos.size), "min_cosine": round(float(cos.min()), 6),
            "mean_cosine": round(float(cos.mean()), 6), "argmax_agreement": agree,
            "passed": bool(cos.min() >= MIN_PARITY_COSINE and agree == 1.0)}


# --------------------------------------------------------------------------- export / quantise

def export_fp32(model_dir: Path, out_file: Path) -> None:
    """Export the BertModel of the sentence-transformers folder to ONNX (fp32, dynamic axes).

    Inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64, batch x seq); output
    ``last_hidden_state``. Eager attention: the graph ONNX Runtime fuses into ``Attention``.
    """
    import torch
    from transformers import AutoModel

    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers' per-tensor "Loading weights" bar
    try:
        bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True,
                                         dtype=torch.float32)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    bert.eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = tuple(torch.ones((2, 16), dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about python control flow on shapes
        torch.onnx.export(_Hidden(bert), dummy, str(out_file), dynamo=False, opset_version=OPSET,
                          input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                          do_constant_folding=True)


def quantize_int8(fp32_file: Path, out_file: Path, preset: str) -> dict:
    """Dynamic int8 quantisation with the sentence-transformers/optimum preset's settings.

    Returns:
        The settings used (recorded in the manifest).
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight = QuantType.QUInt8 if preset == "avx2" else QuantType.QInt8
    settings = {"preset": preset, "weights": weight.name, "activations": "QUInt8", "per_channel": True,
                "reduce_range": False, "weights_symmetric": True, "activations_symmetric": False}
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs a pre-processing hint at WARNING
    try:
        quantize_dynamic(str(fp32_file), str(out_file), weight_type=weight, per_channel=True, reduce_range=False,
                         extra_options={"WeightSymmetric": True, "ActivationSymmetric": False,
                                        "DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)
    return settings


def _verify_variants(model_dir: Path, folder: Path, files: dict[str, str], bar) -> dict[str, dict]:
    """Parity of every ONNX variant with the torch fp32 model on the fixed sample."""
    from embeddings.onnx_runtime import OnnxEmbedder
    from embeddings.torch_model import load_sentence_transformer

    texts = parity_texts()
    model = load_sentence_transformer(model_dir)
    reference = np.asarray(model.encode(texts, convert_to_numpy=True, normalize_embeddings=True), np.float32)
    del model
    out = {}
    for backend, name in files.items():
        embedder = OnnxEmbedder(folder / name, folder / TOKENIZER_FILE, threads=0)
        vectors = embedder.embed(texts, batch_size=8)
        out[backend] = {"file": name, **parity_report(reference, vectors)}
        bar.update(1)
    return out


# --------------------------------------------------------------------------- status

def read_onnx_manifest(folder: Path) -> dict | None:
    """The parsed ``shanhai-onnx.json`` or None when missing or unreadable."""
    try:
        data = json.loads((Path(folder) / ONNX_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _check_onnx(folder: Path, deep: bool) -> str | None:
    """None when the folder is complete and current, else a Chinese reason."""
    if not folder.is_dir():
        return "目录不存在"
    manifest = read_onnx_manifest(folder)
    if manifest is None:
        return f"缺少或无法读取清单文件 {ONNX_MANIFEST}"
    if manifest.get("name") != MODEL_NAME or manifest.get("dim") != DIM:
        return f"清单中的模型是 {manifest.get('name')}，不是 {MODEL_NAME}"
    if manifest.get("converter_version") != ONNX_CONVERTER_VERSION:
        return f"由旧版导出程序生成（版本 {manifest.get('converter_version')}，当前 {ONNX_CONVERTER_VERSION}）"
    if (manifest.get("quantization") or {}).get("preset") != quantization_preset():
        return f"量化预设是 {(manifest.get('quantization') or {}).get('preset')}，本机应为 {quantization_preset()}"
    files = manifest.get("files") or {}
    if FP32_FILE not in files or TOKENIZER_FILE not in files:
        return "清单不完整"
    problem = check_files(folder, files)
    if problem or not deep:
        return problem
    actual = hash_folder(folder, desc="复核 ONNX 校验和")
    return check_files(folder, files, lambda rel: actual.get(rel, {}).get("sha256"))


def onnx_model_status(folder: Path, *, deep: bool = False) -> dict:
    """Describe the ONNX folder: ``name, path, ready, size_mb, detail, variants``.

    ``variants`` maps ``onnx``/``onnx-int8`` to their parity record (``passed`` etc.).
    """
    folder = Path(folder).expanduser()
    problem = _check_onnx(folder, deep)
    manifest = read_onnx_manifest(folder) or {}
    variants = manifest.get("variants") or {}
    if problem is None:
        parts = [f"{k} 余弦≥{v.get('min_cosine')}" + ("" if v.get("passed") else "（未通过，不使用）")
                 for k, v in variants.items()]
        detail = "已就绪（" + "；".join(parts) + "）"
    else:
        detail = f"未就绪：{problem}。请运行 `shanhai models prepare` 生成。"
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6 if folder.is_dir() else 0.0
    return {"name": f"{MODEL_NAME} (ONNX)", "path": str(folder), "ready": problem is None,
            "size_mb": round(size, 1), "detail": detail, "variants": variants if problem is None else {}}


# --------------------------------------------------------------------------- prepare

def _build(model_dir: Path, tmp: Path, progress: bool) -> dict:
    """Export, quantise and verify into ``tmp``; returns the manifest (files not hashed yet)."""
    preset = quantization_preset()
    files = {"onnx": FP32_FILE, "onnx-int8": int8_file(preset)}
    started = time.time()
    with progress_bar(progress, "导出 ONNX", 5, unit="步") as bar:
        export_fp32(model_dir, tmp / FP32_FILE)
        bar.update(1)
        settings = quantize_int8(tmp / FP32_FILE, tmp / files["onnx-int8"], preset)
        bar.update(1)
        shutil.copyfile(model_dir / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        variants = _verify_variants(model_dir, tmp, files, bar)
        bar.update(1)
    if not variants["onnx"]["passed"]:
        raise ModelVerifyError(
            f"导出的 ONNX 模型与 PyTorch 模型不一致（最小余弦 {variants['onnx']['min_cosine']}，"
            f"要求 ≥ {MIN_PARITY_COSINE}）。未写入 ONNX 模型；可在配置中设 models.embedding.backend: torch。"
        )
    return {"name": MODEL_NAME, "dim": DIM, "format": "onnx", "converter_version": ONNX_CONVERTER_VERSION,
            "source": str(model_dir), "opset": OPSET, "quantization": settings, "variants": variants,
            "min_parity_cosine": MIN_PARITY_COSINE, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(time.time() - started, 1)}


def prepare_onnx_model(model_dir: Path, onnx_dir: Path | None = None, *, progress: bool = True,
                       force: bool = False) -> Path:
    """Build (or confirm) the ONNX fp32 and int8 models from the sentence-transformers folder.

    Steps: make sure the sentence-transformers folder is ready (prepared if not), export fp32,
    quantise to int8, check both against torch fp32 on a fixed sample (cosine >= 0.99 per
    text, same best passage per query), record sha256 of every file, rename into place. A
    deleted or corrupted file (sha256 differs) makes the next call rebuild the folder.

    Args:
        model_dir: the sentence-transformers folder.
        onnx_dir: destination (default: ``<model_dir>-onnx`` beside it).
        progress: show tqdm bars on stderr.
        force: rebuild even when the folder is ready.

    Returns:
        The ONNX folder.

    Raises:
        ModelVerifyError: the fp32 export disagrees with torch (an int8 model that fails
            parity is kept but marked, and the encoder does not use it).
    """
    model_dir = prepare_embedding_model(model_dir, progress=progress)
    target = Path(onnx_dir or onnx_dir_for(model_dir)).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(target):
        if not force and _check_onnx(target, deep=True) is None:
            return target
        if target.exists() and not (target / ONNX_MANIFEST).exists() and any(target.iterdir()) \
                and not any(p.suffix == ".onnx" for p in target.iterdir()):
            raise FileExistsError(f"目标目录 {target} 非空且不是 shanhai 生成的 ONNX 目录，请换一个目录。")
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            manifest = _build(model_dir, tmp, progress)
            manifest["files"] = hash_folder(tmp, progress=progress, desc="写入 ONNX 清单")
            write_json(tmp / ONNX_MANIFEST, manifest)
            swap_into_place(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
