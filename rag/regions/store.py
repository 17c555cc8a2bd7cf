"""The gazetteer sidecar: ``<index>/regions.json``, kept in step with the index incrementally.

Entries are keyed by doc_id and carry the document's content hash: an update analyses only
documents that are new or whose hash changed and drops removed ones. The file is written
to a temporary name in the same folder, fsynced and renamed over the old one, so readers
see either the old or the new file, never half of one. The index writer leaves files it
does not know alone (it only manages ``gen-*`` folders and its manifest).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

from rag.regions.corpus import RegionStore, analyze_document

__all__ = ["SIDECAR", "ANALYZER_VERSION", "load_regions", "update_regions", "regions_stale", "write_sidecar"]

SIDECAR = "regions.json"
# Bump when analysis output changes for the same text: every document is analysed again.
ANALYZER_VERSION = "regions-2"
log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int, str], None]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("地区索引文件 %s 无法读取（%s），将重新分析全部文档。", path, exc)
        return None
    if not isinstance(data, dict) or data.get("analyzer") != ANALYZER_VERSION or not isinstance(data.get("docs"), dict):
        return None
    return data


def write_sidecar(index_dir: Path, docs: dict[str, dict[str, Any]], generation: int) -> Path:
    """Atomically replace ``<index_dir>/regions.json``.

    Args:
        index_dir: the index folder.
        docs: doc_id → per-document analysis.
        generation: the index generation the entries describe.

    Returns:
        The sidecar path.
    """
    path = Path(index_dir) / SIDECAR
    tmp = path.with_name(f".{SIDECAR}.{os.getpid()}.tmp")
    payload = {"analyzer": ANALYZER_VERSION, "generation": generation, "docs": docs}
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, ensure_ascii=False, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # directories cannot be fsynced on some platforms
        pass
    return path


def load_regions(index_dir: str | Path) -> RegionStore | None:
    """The stored gazetteer as is (possibly stale), or None when there is none."""
    data = _read(Path(index_dir) / SIDECAR)
    return None if data is None else RegionStore(data["docs"], int(data.get("generation", -1)))


def regions_stale(index) -> bool:
    """Whether the sidecar is missing or describes another generation of ``index``."""
    data = _read(Path(index.path) / SIDECAR)
    return data is None or int(data.get("generation", -1)) != index.generation


def update_regions(index, *, progress: ProgressFn | None = None, persist: bool = True) -> RegionStore:
    """Bring the gazetteer of ``index`` up to date and return it.

    Only documents that are new or changed (content hash) are analysed; documents no longer
    in the index are dropped. Call after every successful ingest/remove; cheap when nothing
    changed (one manifest comparison).

    Args:
        index: an open :class:`rag.index.folder.Index`.
        progress: optional ``(done, total, doc_id)`` callback while analysing.
        persist: write the sidecar (False: read it if present, keep the result in memory only,
            e.g. for a read-only index).

    Returns:
        The merged :class:`RegionStore`.
    """
    path = Path(index.path)
    data = _read(path / SIDECAR)
    if data is not None and int(data.get("generation", -1)) == index.generation:
        return RegionStore(data["docs"], index.generation)
    old: dict[str, dict[str, Any]] = data["docs"] if data else {}
    metas = index.docs()
    todo = [m.doc_id for m in metas if old.get(m.doc_id, {}).get("hash") != index.doc_hash(m.doc_id)]
    docs = {m.doc_id: old[m.doc_id] for m in metas if m.doc_id in old and m.doc_id not in todo}
    for i, doc_id in enumerate(todo, 1):
        doc = index.get_doc(doc_id)
        if doc is not None:
            docs[doc_id] = analyze_document(doc, index.chunks_of(doc_id))
        if progress:
            progress(i, len(todo), doc_id)
    docs = {m.doc_id: docs[m.doc_id] for m in metas if m.doc_id in docs}  # index order
    if not persist:
        return RegionStore(docs, index.generation)
    try:
        write_sidecar(path, docs, index.generation)
    except OSError as exc:  # read-only index folder: still usable in memory
        log.warning("无法写入地区索引文件 %s：%s（本次结果仅保存在内存中）", path / SIDECAR, exc)
    return RegionStore(docs, index.generation)
