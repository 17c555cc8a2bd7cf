"""``manifest.json``: what the live generation of an index folder is, and the errors around it.

The manifest is the single commit point of an index folder: a writer builds a complete
``gen-NNNNNN/`` folder, fsyncs it, then swaps ``manifest.json`` with ``os.replace``.
Readers only ever open the generation the manifest names.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
GEN_PREFIX = "gen-"
TMP_PREFIX = "tmp-"
# Files of a generation folder (plus the bm25/ folder, see rag.index.sparse).
STORE, VECTORS, DENSE = "store.sqlite", "vectors.npy", "dense.faiss"
# A copy of the manifest that published a generation, kept inside it (not in its file list):
# `shanhai index repair` uses it to restore a lost manifest.json or roll back one generation.
GEN_MANIFEST = "generation.json"


class IndexNotFoundError(FileNotFoundError):
    """There is no committed index in the folder."""

    def __init__(self, path: Path):
        super().__init__(f"索引不存在：{path}。请先运行 `shanhai ingest <路径>` 导入文章。")
        self.path = path


class IndexMismatchError(RuntimeError):
    """The index was built with another embedding model, dimension or schema version."""


class IndexCorruptError(RuntimeError):
    """A file of the live generation is missing, unreadable or inconsistent."""

    def __init__(self, path: Path, detail: str):
        super().__init__(
            f"索引文件损坏：{path}（{detail}）。请运行 `shanhai index check` 查看详情，"
            f"再用 `shanhai index repair` 修复，或用 `shanhai ingest --rebuild <路径>` 重建索引。"
        )
        self.path = path
        self.detail = detail


class IndexLockedError(RuntimeError):
    """Another process is writing to the index folder."""

    def __init__(self, path: Path):
        super().__init__(f"另一个进程正在写入索引 {path}，请等它完成后再试。")
        self.path = path


class IndexDiskFullError(OSError):
    """The disk (or quota) filled up while writing; whatever was being written was removed."""

    def __init__(self, path: Path, cause: BaseException | str):
        super().__init__(errno.ENOSPC, "No space left on device")
        self.path = path
        self.cause = str(cause)

    def __str__(self) -> str:
        return (
            f"磁盘空间不足，写入索引 {self.path} 失败（{self.cause}）。写了一半的文件已删除，"
            f"索引仍是上一次提交（或检查点）的内容；请释放磁盘空间后重新运行同一命令，已提交的文档会被跳过。"
        )


def is_disk_full(exc: BaseException) -> bool:
    """Whether an exception from a write means "no space left" (OSError, SQLite or FAISS)."""
    if isinstance(exc, IndexDiskFullError):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    text = str(exc).lower()
    return "no space left" in text or "disk is full" in text or "disk quota exceeded" in text


def now_iso() -> str:
    """Current UTC time as an ISO-8601 string (seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def gen_name(generation: int) -> str:
    """Folder name of a generation number."""
    return f"{GEN_PREFIX}{generation:06d}"


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (directories make renames inside them durable)."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (and ``root`` itself)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def file_digest(path: Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_files(gen_dir: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {size, sha256}} for every file of a generation folder."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in gen_dir.rglob("*") if p.is_file()):
        out[path.relative_to(gen_dir).as_posix()] = {"size": path.stat().st_size, "sha256": file_digest(path)}
    return out


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The parsed manifest, or None when the folder has none.

    Raises:
        IndexCorruptError: the file exists but is not a valid manifest.
    """
    path = folder / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexCorruptError(path, f"无法读取：{exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IndexCorruptError(path, f"不是有效的 JSON：{exc.msg}") from exc
    required = ("schema_version", "generation", "embedding", "counts", "files")
    if not isinstance(data, dict) or any(key not in data for key in required):
        raise IndexCorruptError(path, "缺少必需字段")
    return data


def live_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an index folder.

    Raises:
        IndexNotFoundError: no index there (no manifest and no generation folders).
        IndexCorruptError: generation folders exist but the manifest is missing or garbled.
    """
    manifest = read_manifest(folder) if folder.is_dir() else None
    if manifest is None:
        if folder.is_dir() and any(p.name.startswith(GEN_PREFIX) and p.is_dir() for p in folder.iterdir()):
            raise IndexCorruptError(folder / MANIFEST, "清单文件缺失")
        raise IndexNotFoundError(folder)
    return manifest


def write_manifest(folder: Path, data: dict[str, Any]) -> None:
    """Atomically replace ``manifest.json`` (tmp file + fsync + os.replace + dir fsync)."""
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / MANIFEST)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(folder)


def write_generation_copy(gen_dir: Path, data: dict[str, Any]) -> None:
    """Keep the manifest that publishes ``gen_dir`` inside it (``generation.json``, fsynced)."""
    path = gen_dir / GEN_MANIFEST
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2)
        fh.flush()
        os.fsync(fh.fileno())


def read_generation_copy(gen_dir: Path) -> dict[str, Any] | None:
    """The manifest copy kept in a generation folder, or None when absent or unreadable."""
    try:
        data = json.loads((gen_dir / GEN_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    required = ("schema_version", "generation", "generation_dir", "embedding", "counts", "files")
    if not isinstance(data, dict) or any(key not in data for key in required) or data["generation_dir"] != gen_dir.name:
        return None
    return data


def check_compatible(manifest: dict[str, Any], folder: Path, *, model_name: str, dim: int) -> None:
    """Refuse an index built with another schema, embedding model or dimension.

    Raises:
        IndexMismatchError: with both settings named and what to do.
    """
    schema = manifest.get("schema_version")
    if schema != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"索引 {folder} 的格式版本是 {schema}，本程序使用版本 {SCHEMA_VERSION}。"
            f"请运行 `shanhai ingest --rebuild <路径>` 重建索引。"
        )
    emb = manifest.get("embedding") or {}
    built = (emb.get("model"), emb.get("dim"))
    if built != (model_name, int(dim)):
        raise IndexMismatchError(
            f"索引 {folder} 是用向量模型 {built[0]}（{built[1]} 维）构建的，"
            f"而当前配置的模型是 {model_name}（{dim} 维）。"
            f"请运行 `shanhai ingest --rebuild <路径>` 用当前模型重建索引，"
            f"或用 --index 指向用 {model_name} 构建的索引目录。"
        )


def embedding_record(model_name: str, dim: int, info: dict[str, Any] | None,
                     base: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest's ``embedding`` entry: model, dim, and the backend/quantisation that built it.

    Args:
        model_name: embedding model name.
        dim: its dimension.
        info: ``{"backend", "quantization"}`` of the encoder adding vectors now; None (remove,
            repair) keeps what the base generation recorded.
        base: the base generation's manifest, or None for a new index.

    Returns:
        ``{"model", "dim", "backend", "quantization"}`` (backend keys only when known) plus
        ``mixed_backends`` when vectors from more than one backend are in the index.
    """
    record: dict[str, Any] = {"model": model_name, "dim": int(dim)}
    before = (base or {}).get("embedding") or {}
    built = {k: before[k] for k in ("backend", "quantization") if before.get(k)}
    now = {k: info[k] for k in ("backend", "quantization") if info and info.get(k)}
    record.update(now or built)
    mixed = set(before.get("mixed_backends") or [])
    if built and now and built.get("backend") != now.get("backend"):
        mixed |= {built["backend"], now["backend"]}
    if mixed:
        record["mixed_backends"] = sorted(mixed)
    return record


def backend_mismatch(manifest: dict[str, Any], info: dict[str, Any] | None) -> str | None:
    """A warning when the index's vectors came from another backend than the queries will.

    Vectors of the ONNX fp32/int8 and torch backends agree only within a tolerance (cosine
    >= 0.99 per text; see docs/benchmarks.md), so rankings can differ slightly.

    Returns:
        A Chinese sentence, or None when the backends agree (or either is unknown).
    """
    emb = manifest.get("embedding") or {}
    built, used = emb.get("backend"), (info or {}).get("backend")
    if not built or not used or (built == used and emb.get("quantization") == (info or {}).get("quantization")):
        return None
    return (
        f"索引的向量由后端 {built}（{emb.get('quantization', '?')}）计算，当前查询使用 {used}"
        f"（{(info or {}).get('quantization', '?')}）：两者的向量只在容差内一致，检索排序可能略有不同。"
        f"如需完全一致，请设置 models.embedding.backend={built}，或用 `shanhai ingest --rebuild <路径>` 重建索引。"
    )


def check_files(
    manifest: dict[str, Any], gen_dir: Path, *, digests: bool = False, only: tuple[str, ...] | None = None
) -> None:
    """Check that every file the manifest lists exists with the recorded size (and hash).

    Args:
        manifest: the parsed manifest.
        gen_dir: the generation folder it names.
        digests: also compare sha256 (slow on large indexes; used by ``index check``).
        only: check just these relative paths (e.g. the store and vectors a writer needs).

    Raises:
        IndexCorruptError: naming the first bad file.
    """
    if not gen_dir.is_dir():
        raise IndexCorruptError(gen_dir, "清单指向的数据目录不存在")
    for rel, info in manifest["files"].items():
        if only is not None and rel not in only:
            continue
        path = gen_dir / rel
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise IndexCorruptError(path, "文件缺失") from exc
        if size != info.get("size"):
            raise IndexCorruptError(path, f"文件大小 {size} 字节，应为 {info.get('size')} 字节")
        if digests and file_digest(path) != info.get("sha256"):
            raise IndexCorruptError(path, "校验和不一致")


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when unreadable)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total
