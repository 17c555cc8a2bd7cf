"""Assemble the loadable judge folder from the e5-small folder and the shipped weights.

``shanhai models prepare`` calls :func:`prepare_judge`: verify the shipped
``judge-weights.safetensors`` (sha256 from ``judge.json``), rebuild the full network (e5-small
embeddings + shipped layers), write a Hugging Face / sentence-transformers ``CrossEncoder``
folder (``model.safetensors`` fp16 with ``torch_dtype`` float32, config, tokenizer), export an
int8 ONNX model for fast CPU inference, check the reference pair's score with both engines,
record everything in ``shanhai-judge.json`` and rename the folder into place. Nothing is
downloaded; a failure leaves no half-written folder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from embeddings.model_files import check_files, read_manifest
from rag.judge.weights import REFERENCE_PAIR, SHIPPED_DIR, JudgeWeightsError, assemble_state, sha256_of, verify_weights

NAME = "evidence-judge-zh"
MANIFEST = "shanhai-judge.json"
ONNX_FILE = "model.int8.onnx"
BUILD_VERSION = 1
TORCH_TOLERANCE = 2e-3  # logit; fp16 weights -> fp32, same machine or not
# logit, int8 ONNX vs the torch engine on the same pair: dynamic int8 quantisation moves single
# scores by up to ~0.6 logit (measured: mean |probability change| 0.04 on RGB dev windows, set-level
# AUC unchanged); a broken export is off by far more.
ONNX_TOLERANCE = 1.0


def _bar(progress: bool, total: int) -> tqdm:
    return tqdm(total=total, desc=f"{NAME}：组装", unit="步", disable=not progress, leave=False, dynamic_ncols=True)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def export_onnx(model: Any, folder: Path) -> Path:
    """Export the network to ONNX and quantise its weights to int8 (dynamic quantisation)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = folder / "model.fp32.onnx"
    ids = torch.randint(5, 1000, (2, 16))
    with torch.inference_mode():
        torch.onnx.export(model, (ids, torch.ones_like(ids)), str(fp32), input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "logits": {0: "batch"}})
    out = folder / ONNX_FILE
    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
    fp32.unlink()
    return out


def write_folder(folder: Path, e5: Path, weights: Path, meta: dict[str, Any], bar: tqdm) -> dict[str, float]:
    """Write the judge folder's files into ``folder``; returns the reference logits per engine."""
    import warnings

    from safetensors.torch import save_file

    from rag.judge.encode import bert_config, build_network, load_tokenizer
    from rag.judge.engines import OnnxEngine, TorchEngine

    layers, max_length, pooling = int(meta["num_layers"]), int(meta["max_length"]), meta.get("pooling", "cls")
    state = assemble_state(e5, weights, layers)
    model = build_network(e5, layers, state, pooling=pooling).eval()
    bar.update(1)
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    os.chmod(folder / "model.safetensors", 0o644)
    config = bert_config(e5, layers).to_dict()
    config.update({"torch_dtype": "float32", "judge_pooling": pooling, "id2label": {"0": "answers"}, "label2id": {"answers": 0},
                   "sentence_transformers": {"activation_fn": "torch.nn.modules.activation.Sigmoid"}})
    _write_json(folder / "config.json", config)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(e5 / name, folder / name)
    bar.update(1)
    tok = load_tokenizer(folder, max_length)
    got = {"torch": float(TorchEngine(model, tok).logits([REFERENCE_PAIR[0]], [REFERENCE_PAIR[1]])[0])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_path = export_onnx(model, folder)
    bar.update(1)
    got["onnx"] = float(OnnxEngine(onnx_path, tok, threads=1).logits([REFERENCE_PAIR[0]], [REFERENCE_PAIR[1]])[0])
    bar.update(1)
    return got


def check_reference(got: dict[str, float], meta: dict[str, Any]) -> None:
    """Torch logit of the reference pair = the value recorded at training time; ONNX close to torch."""
    want = float(meta["reference"]["logit"])
    for engine, tol, target in (("torch", TORCH_TOLERANCE, want), ("onnx", ONNX_TOLERANCE, got["torch"])):
        if abs(got[engine] - target) > tol:
            raise JudgeWeightsError(
                f"组装后的证据判别模型（{engine}）在参考句对上的得分 {got[engine]:.4f} 与应有的 {target:.4f} 相差过大"
                f"（允许 {tol}）。请确认 e5-small 模型目录完好（`shanhai models prepare --force`）以及 torch/onnxruntime 版本。")


def _folder_problem(folder: Path, weights_sha: str, deep: bool) -> str | None:
    """None when the folder is ready for these weights, else a Chinese reason."""
    manifest, problem = read_manifest(folder, MANIFEST)
    if problem:
        return problem
    if manifest.get("build_version") != BUILD_VERSION:
        return "由旧版程序组装"
    if manifest.get("weights_sha256") != weights_sha:
        return "随项目发布的权重已更新，需要重新组装"
    files = manifest.get("files") or {}
    if not files:
        return "清单不完整"
    return check_files(folder, files, (lambda rel: sha256_of(folder / rel)) if deep else None)


def judge_status(folder: Path, *, deep: bool = False, shipped: Path = SHIPPED_DIR) -> dict[str, Any]:
    """Status row for ``shanhai models status``: name, path, ready, size_mb, detail."""
    folder = Path(folder).expanduser()
    try:
        _weights, meta = verify_weights(shipped)
        problem = _folder_problem(folder, meta["weights"]["sha256"], deep)
        detail = None if problem is None else f"未就绪：{problem}。请运行 `shanhai models prepare` 组装证据判别模型。"
    except JudgeWeightsError as exc:
        problem = detail = f"未就绪：{exc}"
    size = round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1) if folder.is_dir() else 0.0
    if problem is None:
        detail = "已就绪" + ("（已逐个复核文件的 sha256）" if deep else "（已核对文件清单和大小）")
    return {"name": NAME, "path": str(folder), "ready": problem is None, "size_mb": size, "detail": detail}


def prepare_judge(target: Path, e5: Path, *, progress: bool = True, force: bool = False,
                  shipped: Path = SHIPPED_DIR) -> Path:
    """Build (or confirm) the judge folder at ``target`` from ``e5`` and the shipped weights.

    Raises:
        JudgeWeightsError: shipped weights missing/corrupt, or the reference score is off.
    """
    target = Path(target).expanduser().resolve()
    weights, meta = verify_weights(shipped)
    if not force and _folder_problem(target, meta["weights"]["sha256"], deep=True) is None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        started = time.time()
        with _bar(progress, 4) as bar:
            got = write_folder(tmp, Path(e5), weights, meta, bar)
        check_reference(got, meta)
        files = {p.relative_to(tmp).as_posix(): {"size": p.stat().st_size, "sha256": sha256_of(p)}
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        _write_json(tmp / MANIFEST, {"name": NAME, "build_version": BUILD_VERSION, "weights_sha256": meta["weights"]["sha256"],
                                     "num_layers": meta["num_layers"], "max_length": meta["max_length"],
                                     "reference": {"want": meta["reference"]["logit"], "got": got},
                                     "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                     "build_seconds": round(time.time() - started, 1), "files": files})
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
