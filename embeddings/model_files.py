"""Files of an assembled model folder: checksums, manifests, progress bars, atomic replacement.

Shared by the e5 folder (:mod:`embeddings.provision`), its ONNX variants
(:mod:`embeddings.onnx_export`) and the evidence judge (:mod:`rag.judge.provision`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

from tqdm.auto import tqdm

from embeddings.e5_spec import MANIFEST, MODEL_NAME


def sha256_file(path: Path, bar: tqdm | None = None, chunk: int = 4 << 20) -> str:
    """Hex sha256 of a file, advancing ``bar`` by bytes read."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            if bar is not None:
                bar.update(len(block))
    return digest.hexdigest()


def progress_bar(progress: bool, desc: str, total: int | None, unit: str = "it", **kw) -> tqdm:
    """A transient tqdm bar labelled ``multilingual-e5-small：<desc>`` (disabled unless ``progress``)."""
    return tqdm(total=total, desc=f"{MODEL_NAME}：{desc}", unit=unit, disable=not progress,
                leave=False, dynamic_ncols=True, **kw)


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as indented UTF-8 JSON, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _model_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def hash_folder(folder: Path, *, progress: bool = False, desc: str = "计算校验和") -> dict[str, dict]:
    """sha256 and size of every file in the folder except the manifest (keys are POSIX relpaths)."""
    files = _model_files(folder)
    out: dict[str, dict] = {}
    with progress_bar(progress, desc, sum(p.stat().st_size for p in files), unit="B", unit_scale=True) as bar:
        for path in files:
            out[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size,
                                                        "sha256": sha256_file(path, bar)}
    return out


def folder_mb(folder: Path) -> float:
    """Total size of the files under ``folder`` in MB (0.0 when it is missing)."""
    if not folder.is_dir():
        return 0.0
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def read_manifest(folder: Path, name: str, *, missing_hint: str = "") -> tuple[dict, str | None]:
    """The parsed manifest ``folder/name`` and None, or ``({}, Chinese reason)`` when the folder or
    the manifest is missing or unreadable (shared by every assembled model folder)."""
    if not folder.is_dir():
        return {}, "目录不存在"
    try:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"缺少清单文件 {name}{missing_hint}"
    except (OSError, ValueError) as exc:
        return {}, f"清单文件 {name} 无法读取：{exc}"
    return (data, None) if isinstance(data, dict) else ({}, f"清单文件 {name} 不是对象")


def check_files(folder: Path, files: dict, sha256: Callable[[str], str | None] | None = None) -> str | None:
    """None when every manifest file exists with its size (and, given ``sha256(rel)``, its
    checksum), else a Chinese reason naming the first bad file. Sizes are checked first."""
    for rel, info in files.items():
        path = folder / rel
        if not path.is_file():
            return f"缺少文件 {rel}"
        if path.stat().st_size != info.get("size"):
            return f"文件 {rel} 大小不符（{path.stat().st_size} 字节，应为 {info.get('size')}）"
    if sha256 is not None:
        for rel, info in files.items():
            if sha256(rel) != info.get("sha256"):
                return f"文件 {rel} 的 sha256 与清单不符（文件已损坏或被修改）"
    return None


@contextlib.contextmanager
def folder_lock(target: Path) -> Iterator[None]:
    """Serialise concurrent prepares of the same folder (advisory, POSIX only)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(target.parent / f".{target.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def swap_into_place(tmp: Path, target: Path) -> None:
    """Replace ``target`` with the finished folder ``tmp`` (the old one is removed afterwards)."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
