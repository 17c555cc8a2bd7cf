"""Diagnose and repair an index folder (``shanhai index check`` / ``shanhai index repair``).

What each damaged file means and what repair does:

* ``dense.faiss`` or ``bm25/`` (derived): rebuilt from the store and the saved vectors as a
  new generation; nothing is read from the damaged files.
* ``vectors.npy``: restored from ``dense.faiss`` when that is intact and can give its vectors
  back (flat, HNSW, IVF); the restored file must hash to the recorded SHA-256, so the
  restoration is exact or not done at all.
* ``manifest.json`` missing or garbled: restored from the newest generation whose own copy
  (``generation.json``) and files verify.
* ``store.sqlite`` (articles, chunks, embedding cache): cannot be derived from anything
  else. ``repair --rollback`` makes the previous generation live again (it lacks the last
  commit's changes); otherwise ``shanhai ingest --rebuild <paths>`` rebuilds from the articles.

Leftovers of a killed writer (``tmp-…`` working copies, generations neither live nor previous)
do not harm the index: ``check`` lists them with their size (unless a writer is running, whose
working copy they are), the next ingest or ``repair`` removes them. A resume journal
(``resume-vectors.bin``) is listed too: the interrupted ingest's vectors, used by its re-run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.index.journal import JOURNAL_FILE
from rag.index.manifest import (
    DENSE, GEN_PREFIX, MANIFEST, VECTORS, IndexCorruptError, IndexLockedError, file_digest, fsync_path,
    read_generation_copy, read_manifest, write_manifest,
)
from rag.index.lock import leftovers, writer_lock
from rag.index.sparse import SPARSE_DIR


@dataclass
class Problem:
    """One damaged file: ``file`` relative to the index folder, a Chinese ``detail``."""

    file: str
    detail: str
    derived: bool

    def message(self) -> str:
        how = "可由存储和向量重建" if self.derived else "无法从其他文件推导"
        return f"{self.file}：{self.detail}（{how}）"


@dataclass
class Diagnosis:
    """The state of an index folder."""

    path: Path
    found: bool
    manifest: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    # (name, bytes) of crash leftovers; ``writing``: a writer holds the lock (they may be its own)
    leftovers: list[tuple[str, int]] = field(default_factory=list)
    writing: bool = False
    journal_bytes: int = 0

    @property
    def healthy(self) -> bool:
        return self.found and not self.problems

    def describe(self) -> str:
        """One line about the live generation (Chinese)."""
        m = self.manifest
        if not self.found:
            return f"索引不存在：{self.path}。请先运行 `shanhai ingest <路径>` 导入文章。"
        if m is None:
            return f"索引：{self.path}（清单文件不可用）"
        c = m.get("counts", {})
        kind = (m.get("index") or {}).get("type", "?")
        return (f"索引：{self.path}  第 {m.get('generation')} 代  {c.get('docs', '?')} 篇文档 / "
                f"{c.get('chunks', '?')} 个片段  向量索引 {kind}  模型 {(m.get('embedding') or {}).get('model')}")

    def notes(self) -> list[str]:
        """Leftovers and the resume journal, one Chinese line each (empty when there are none)."""
        out = []
        if self.leftovers:
            names = "、".join(n for n, _ in self.leftovers[:3]) + ("等" if len(self.leftovers) > 3 else "")
            mb = sum(b for _, b in self.leftovers) / 1024 / 1024
            if self.writing:
                out.append(f"正在导入：临时目录 {len(self.leftovers)} 个（{names}，共 {mb:.1f} MB）属于进行中的写入。")
            else:
                out.append(f"发现上次中断留下的临时目录 {len(self.leftovers)} 个（{names}，共 {mb:.1f} MB），不影响索引；"
                           f"下次导入或运行 `shanhai index repair --index {self.path}` 时会清理。")
        if self.journal_bytes:
            out.append(f"断点记录 {JOURNAL_FILE}（{self.journal_bytes / 1024 / 1024:.1f} MB）：上次导入在提交前被中断，"
                       "重新运行同一 ingest 命令会直接使用其中已算好的向量。")
        return out


@dataclass
class RepairReport:
    """What ``repair`` did and what is still wrong (both in Chinese)."""

    actions: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.remaining


def _is_derived(rel: str) -> bool:
    return rel == DENSE or rel == SPARSE_DIR or rel.startswith(SPARSE_DIR + "/")


def _file_problems(manifest: dict[str, Any], gen_dir: Path, digests: bool) -> list[Problem]:
    out: list[Problem] = []
    for rel, info in manifest.get("files", {}).items():
        path = gen_dir / rel
        shown = f"{gen_dir.name}/{rel}"
        if not path.is_file():
            out.append(Problem(shown, "文件缺失", _is_derived(rel)))
        elif path.stat().st_size != info.get("size"):
            out.append(Problem(shown, f"文件大小 {path.stat().st_size} 字节，应为 {info.get('size')} 字节", _is_derived(rel)))
        elif digests and file_digest(path) != info.get("sha256"):
            out.append(Problem(shown, "校验和不一致（内容被改动或损坏）", _is_derived(rel)))
    return out


def diagnose(path: Path, *, digests: bool = True) -> Diagnosis:
    """Check every file of the live generation (sizes, SHA-256) and open it fully.

    Args:
        path: the index folder.
        digests: compare SHA-256 checksums (slow on large indexes but catches bit flips).

    Returns:
        A :class:`Diagnosis`; ``healthy`` when nothing is wrong (leftovers of a killed writer
        are listed in ``leftovers`` but do not make it unhealthy).
    """
    path = Path(path)
    diag = _diagnose(path, digests)
    if diag.found:
        diag.leftovers, diag.writing = leftovers(path, diag.manifest)
        journal = path / JOURNAL_FILE
        diag.journal_bytes = journal.stat().st_size if journal.is_file() else 0
    return diag


def _diagnose(path: Path, digests: bool) -> Diagnosis:
    from rag.index.folder import _load_generation

    gens = sorted(p for p in path.iterdir() if p.is_dir() and p.name.startswith(GEN_PREFIX)) if path.is_dir() else []
    try:
        manifest = read_manifest(path) if path.is_dir() else None
    except IndexCorruptError as exc:
        return Diagnosis(path, True, None, [Problem(MANIFEST, exc.detail, False)])
    if manifest is None:
        if gens:
            return Diagnosis(path, True, None, [Problem(MANIFEST, "清单文件缺失", False)])
        return Diagnosis(path, False, None)
    gen_dir = path / str(manifest.get("generation_dir"))
    if not gen_dir.is_dir():
        return Diagnosis(path, True, manifest, [Problem(gen_dir.name, "清单指向的数据目录不存在", False)])
    problems = _file_problems(manifest, gen_dir, digests)
    if not problems:
        try:
            store, *_rest = _load_generation(path, manifest, int(manifest["embedding"]["dim"]))
            store.close()
        except IndexCorruptError as exc:
            where = Path(exc.path)
            rel = where.relative_to(gen_dir).as_posix() if where.is_relative_to(gen_dir) else where.name
            problems.append(Problem(f"{gen_dir.name}/{rel}", exc.detail, _is_derived(rel)))
    return Diagnosis(path, True, manifest, problems)


def _remove_leftovers(path: Path, report: "RepairReport") -> None:
    """Delete crash leftovers (under the writer lock; nothing when a writer is running)."""
    import shutil

    try:
        with writer_lock(path):
            found, _ = leftovers(path, read_manifest(path), check_lock=False)
            for name, _size in found:
                shutil.rmtree(path / name, ignore_errors=True)
    except (IndexLockedError, IndexCorruptError):
        return
    if found:
        mb = sum(b for _, b in found) / 1024 / 1024
        report.actions.append(f"已清理上次中断留下的临时目录 {len(found)} 个（共 {mb:.1f} MB）")


def _verified_copies(path: Path) -> list[dict[str, Any]]:
    """Manifest copies of generations whose files all verify, newest first."""
    out = []
    for gen_dir in sorted((p for p in path.iterdir() if p.is_dir() and p.name.startswith(GEN_PREFIX)), reverse=True):
        copy = read_generation_copy(gen_dir)
        if copy is not None and not _file_problems(copy, gen_dir, digests=True):
            out.append(copy)
    return out


def _restore_manifest(path: Path, report: RepairReport) -> bool:
    copies = _verified_copies(path)
    if not copies:
        report.remaining.append(
            "清单文件 manifest.json 缺失或损坏，且没有找到可用的数据目录副本（generation.json）。"
            "请运行 `shanhai ingest --rebuild <文章路径>` 重建索引。"
        )
        return False
    with writer_lock(path):
        write_manifest(path, copies[0])
    report.actions.append(f"已从 {copies[0]['generation_dir']}/generation.json 恢复清单文件 manifest.json（第 {copies[0]['generation']} 代）")
    return True


def _restore_vectors(path: Path, manifest: dict[str, Any], report: RepairReport) -> bool:
    """Rewrite vectors.npy from an intact dense.faiss when the result hashes as recorded."""
    import faiss

    gen_dir = path / manifest["generation_dir"]
    files = manifest.get("files", {})
    dense, want = gen_dir / DENSE, files.get(VECTORS, {}).get("sha256")
    if DENSE not in files or not dense.is_file() or file_digest(dense) != files[DENSE].get("sha256"):
        return False
    try:
        index = faiss.read_index(str(dense))
        if hasattr(index, "make_direct_map"):
            index.make_direct_map()
        vectors = np.ascontiguousarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)
    except RuntimeError:
        return False
    with writer_lock(path):
        tmp = gen_dir / f".{VECTORS}.restore.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, vectors)
            fh.flush()
            os.fsync(fh.fileno())
        if file_digest(tmp) != want:
            tmp.unlink(missing_ok=True)
            return False
        os.replace(tmp, gen_dir / VECTORS)
        fsync_path(gen_dir)
    report.actions.append(f"已从 {gen_dir.name}/{DENSE} 还原 {VECTORS}（与记录的 SHA-256 完全一致）")
    return True


def _rollback(path: Path, manifest: dict[str, Any] | None, report: RepairReport) -> bool:
    live = (manifest or {}).get("generation_dir")
    candidates = [c for c in _verified_copies(path) if c["generation_dir"] != live]
    if manifest is not None:
        candidates = [c for c in candidates if int(c["generation"]) < int(manifest["generation"])]
    if not candidates:
        report.remaining.append("没有可回退的上一代索引（上一代已被清理或同样损坏）。请运行 `shanhai ingest --rebuild <文章路径>` 重建索引。")
        return False
    target = {**candidates[0], "previous_generation_dir": None}
    with writer_lock(path):
        write_manifest(path, target)
    report.actions.append(
        f"已回退到第 {target['generation']} 代（{target['generation_dir']}）：最近一次导入或删除的更改不在其中，需要时请重新导入。"
    )
    return True


def _primary_advice(path: Path, diag: Diagnosis) -> str:
    names = "、".join(p.file for p in diag.problems if not p.derived)
    live = (diag.manifest or {}).get("generation_dir")
    older = [c for c in _verified_copies(path) if c["generation_dir"] != live]
    text = f"{names} 损坏：存储文件保存文章正文、片段和向量缓存，无法从其他文件推导。"
    if older:
        text += (f"可以运行 `shanhai index repair --rollback --index {path}` 回退到第 {older[0]['generation']} 代"
                 f"（缺少最近一次导入或删除的更改），或")
    else:
        text += "请"
    return text + f"运行 `shanhai ingest --rebuild --index {path} <文章路径>` 从原文重建。"


def repair(path: Path, *, rollback: bool = False) -> RepairReport:
    """Repair what can be repaired; see the module docstring.

    Args:
        path: the index folder.
        rollback: when the store (or the vectors, unrecoverably) is damaged, make the previous
            generation live again.

    Returns:
        A :class:`RepairReport` (``ok`` when the index is healthy afterwards).
    """
    from rag.index.writer import IndexWriter

    path = Path(path)
    report = RepairReport()
    diag = diagnose(path)
    if not diag.found:
        report.remaining.append(diag.describe())
        return report
    if diag.leftovers and not diag.writing:
        _remove_leftovers(path, report)
    if diag.healthy:
        report.actions.append("索引完好，无需修复。")
        return report
    if any(p.file == MANIFEST for p in diag.problems) or diag.manifest is None:
        if not _restore_manifest(path, report):
            return report
        diag = diagnose(path)
    primary = [p for p in diag.problems if not p.derived]
    if primary and [p.file.rsplit("/", 1)[-1] for p in primary] == [VECTORS] and _restore_vectors(path, diag.manifest, report):
        diag = diagnose(path)
        primary = [p for p in diag.problems if not p.derived]
    if primary:
        if not rollback:
            report.remaining.append(_primary_advice(path, diag))
            return report
        if not _rollback(path, diag.manifest, report):
            return report
        diag = diagnose(path)
    if diag.problems and all(p.derived for p in diag.problems):
        m = diag.manifest or {}
        with IndexWriter(path, model_name=m["embedding"]["model"], dim=int(m["embedding"]["dim"]), params=None) as w:
            new = w.commit(force=True, reuse_derived=False)
        report.actions.append(
            f"已由存储和向量重建 {'、'.join(p.file for p in diag.problems)} → 第 {new['generation']} 代（{new['generation_dir']}）"
        )
        diag = diagnose(path)
    report.remaining.extend(p.message() for p in diag.problems)
    return report
