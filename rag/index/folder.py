"""An index folder: read-only snapshots (:class:`Index`) and an atomic writer (:class:`IndexWriter`).

Layout::

    <index>/manifest.json      names the live generation (swapped with os.replace)
    <index>/gen-000007/        store.sqlite, vectors.npy, dense.faiss, bm25/
    <index>/gen-000006/        the previous generation, kept for readers until the next commit
    <index>/tmp-000008-…/      a generation being written (removed by the next writer if stale)

A writer copies the live store, applies changes, writes a complete new generation, fsyncs
it, renames it into place and only then replaces ``manifest.json``. An exception or a kill
at any earlier point leaves the previous index untouched.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from rag.index import dense as dense_mod
from rag.index import npio
from rag.index.manifest import (
    DENSE, GEN_PREFIX, SCHEMA_VERSION, STORE, VECTORS, IndexCorruptError, IndexDiskFullError, IndexLockedError,
    IndexMismatchError, IndexNotFoundError, backend_mismatch, check_compatible, check_files, live_manifest,
    read_manifest,
)
from rag.index.sparse import SPARSE_DIR, SparseIndex, top_positive
from rag.index.store import Store
from rag.index.writer import IndexWriter
from rag.text.tokenize import TOKENIZER_VERSION, tokenize
from rag.types import Chunk, DocMeta, Document

__all__ = [
    "SCHEMA_VERSION", "Index", "IndexWriter", "IndexNotFoundError", "IndexMismatchError",
    "IndexCorruptError", "IndexDiskFullError", "IndexLockedError", "check_index",
]

log = logging.getLogger(__name__)
# Index settings that only affect searching, so a reader may override what the build recorded.
SEARCH_KEYS = ("ivf_nprobe", "hnsw_ef_search", "search_threads")


_WARNED: set[tuple[str, str]] = set()  # (index folder, warning) already logged in this process


def _warn_backend(path: Path, manifest: dict[str, Any], embedding: dict[str, Any] | None) -> None:
    """Log (once per folder and message) when the index was built with another embedding backend."""
    message = backend_mismatch(manifest, embedding)
    if message and (str(path), message) not in _WARNED:
        _WARNED.add((str(path), message))
        log.warning(message)


def _corrupt(path: Path, exc: BaseException | str) -> IndexCorruptError:
    return IndexCorruptError(path, str(exc) if isinstance(exc, str) else f"{type(exc).__name__}: {exc}")


def _load_generation(path: Path, manifest: dict[str, Any], dim: int, search_params: dict[str, Any] | None = None):
    """Open and cross-check every file of a generation: (store, order, vectors, dense, sparse)."""
    gen_dir = path / manifest["generation_dir"]
    check_files(manifest, gen_dir)
    try:
        store = Store.open_readonly(gen_dir / STORE)
        n_docs, n_chunks = store.counts()
        order = store.row_order()
    except sqlite3.DatabaseError as exc:
        raise _corrupt(gen_dir / STORE, exc) from exc
    try:
        return (store, order, *_load_rest(gen_dir, manifest, dim, n_docs, n_chunks, order, search_params))
    except BaseException:
        store.close()
        raise


def _load_rest(gen_dir: Path, manifest: dict[str, Any], dim: int, n_docs: int, n_chunks: int, order, search_params):
    counts = manifest["counts"]
    if (n_docs, n_chunks) != (counts["docs"], counts["chunks"]):
        raise _corrupt(gen_dir / STORE, f"文档/片段数 {n_docs}/{n_chunks} 与清单记录的 {counts['docs']}/{counts['chunks']} 不一致")
    if any(row != i for i, (_c, _d, row) in enumerate(order)):
        raise _corrupt(gen_dir / STORE, "片段的向量行号不连续")
    try:
        vectors = npio.load(gen_dir / VECTORS, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise _corrupt(gen_dir / VECTORS, exc) from exc
    if vectors.shape != (n_chunks, dim):
        raise _corrupt(gen_dir / VECTORS, f"形状 {vectors.shape} 应为 {(n_chunks, dim)}")
    info = manifest.get("index") or {}
    try:
        params = {**(info.get("params") or {}), **{k: v for k, v in (search_params or {}).items() if k in SEARCH_KEYS}}
        backend = dense_mod.create(info.get("type", "flat"), dim, params)
        backend.load(gen_dir / DENSE)
    except Exception as exc:  # faiss raises RuntimeError on a damaged file
        raise _corrupt(gen_dir / DENSE, exc) from exc
    if backend.size != n_chunks:
        raise _corrupt(gen_dir / DENSE, f"向量数 {backend.size} 与片段数 {n_chunks} 不一致")
    try:
        sparse = SparseIndex.load(gen_dir / SPARSE_DIR)
    except Exception as exc:
        raise _corrupt(gen_dir / SPARSE_DIR, exc) from exc
    if sparse.n_rows != n_chunks:
        raise _corrupt(gen_dir / SPARSE_DIR, f"BM25 行数 {sparse.n_rows} 与片段数 {n_chunks} 不一致")
    return vectors, backend, sparse


class Index:
    """A read-only snapshot of one committed generation; safe to share between threads."""

    def __init__(self, path: Path, manifest: dict[str, Any], store: Store, order, vectors, backend, sparse):
        self.path = path
        self.manifest = manifest
        self.generation = int(manifest["generation"])
        self._store = store
        self._vectors = vectors
        self._dense = backend
        self._sparse = sparse
        self.chunk_ids: list[str] = [c for c, _d, _r in order]
        self._row_of = {c: i for i, c in enumerate(self.chunk_ids)}
        self._doc_of = {c: d for c, d, _r in order}
        self._chunks_by_doc: dict[str, list[str]] = {}
        for c, d, _r in order:
            self._chunks_by_doc.setdefault(d, []).append(c)
        self._metas = {m.doc_id: m for m in store.doc_metas()}
        if (manifest.get("sparse") or {}).get("tokenizer") != TOKENIZER_VERSION:
            log.warning("索引的分词版本与当前程序不同，关键词检索可能变差；重新运行 `shanhai ingest` 会更新。")

    @classmethod
    def open(cls, path: Path, *, model_name: str, dim: int, search_params: dict[str, Any] | None = None,
             embedding: dict[str, Any] | None = None) -> "Index":
        """Open the live generation of an index folder.

        Args:
            path: the index folder.
            model_name: the embedding model the caller will query with.
            dim: its vector dimension.
            search_params: optional search-time overrides (``ivf_nprobe``, ``hnsw_ef_search``,
                ``search_threads``), e.g. the ``index`` config section; other keys are ignored.
            embedding: ``{"backend", "quantization"}`` the caller will query with; a different
                one than the index was built with logs a warning (vectors comparable only
                within tolerance).

        Returns:
            The snapshot.

        Raises:
            IndexNotFoundError: no committed index in ``path``.
            IndexMismatchError: built with another model/dimension/schema.
            IndexCorruptError: a file is missing, damaged or inconsistent.
        """
        path = Path(path)
        failed_same_generation = False
        for _attempt in range(4):
            manifest = live_manifest(path)
            check_compatible(manifest, path, model_name=model_name, dim=dim)
            _warn_backend(path, manifest, embedding)
            try:
                return cls(path, manifest, *_load_generation(path, manifest, int(dim), search_params))
            except IndexCorruptError:
                latest = read_manifest(path)  # a writer may have swapped generations meanwhile
                if latest is None:
                    raise
                if latest.get("generation") == manifest.get("generation"):
                    # one more try: a load racing a concurrent writer can fail transiently,
                    # a damaged file fails the same way twice
                    if failed_same_generation:
                        raise
                    failed_same_generation = True
        raise IndexCorruptError(path, "索引在打开期间被反复更新")

    # -- documents and chunks -------------------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        """{"docs", "chunks", "vectors"} of this generation."""
        return dict(self.manifest["counts"])

    def docs(self) -> list[DocMeta]:
        """Metadata of every document (sorted by doc_id)."""
        return list(self._metas.values())

    def meta(self, doc_id: str) -> DocMeta | None:
        """Metadata of one document, or None."""
        return self._metas.get(doc_id)

    def get_doc(self, doc_id: str) -> Document | None:
        """The full document (text, original, raw, offsets), or None."""
        return self._store.get_doc(doc_id)

    def doc_hash(self, doc_id: str) -> str | None:
        """Content hash of a stored document, or None."""
        found = self._store.doc_hash(doc_id)
        return None if found is None else found[0]

    def get_chunk(self, chunk_id: str) -> Chunk | None:
        """One chunk (text/original sliced from its document), or None."""
        return self._store.get_chunks([chunk_id]).get(chunk_id)

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        """Several chunks in one query: {chunk_id: Chunk} for those that exist."""
        return self._store.get_chunks(chunk_ids)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """All chunks of a document in order."""
        return self._store.chunks_of(doc_id)

    def neighbours(self, chunk_id: str, before: int = 1, after: int = 1) -> list[Chunk]:
        """The chunk with up to ``before``/``after`` neighbours of the same document, in order."""
        pos = self._store.chunk_position(chunk_id)
        if pos is None:
            return []
        doc_id, ordinal = pos
        return self._store.chunks_of(doc_id, ordinal - max(0, before), ordinal + max(0, after))

    def doc_of(self, chunk_id: str) -> str | None:
        """doc_id of a chunk (in memory), or None."""
        return self._doc_of.get(chunk_id)

    def chunk_ids_of(self, doc_ids: set[str] | list[str]) -> list[str]:
        """Chunk ids of the given documents, in vector-row order per document (in memory)."""
        return [c for d in doc_ids for c in self._chunks_by_doc.get(d, ())]

    def near_duplicates(self, doc_id: str) -> list[str]:
        """Documents marked as near-duplicates of ``doc_id``."""
        meta = self._metas.get(doc_id)
        return list(meta.near_duplicates) if meta else []

    # -- search ---------------------------------------------------------------------------------
    def dense_search(self, qvec: np.ndarray, n: int, *, among: list[str] | None = None) -> list[tuple[str, float]]:
        """Top-``n`` chunks by inner product with a normalised query vector (cosine).

        ``among`` restricts the search to these chunk ids (exact scores from the stored vectors).
        """
        if n <= 0 or not self.chunk_ids:
            return []
        if among is not None:
            ranked = sorted(self.dense_scores(qvec, among).items(), key=lambda kv: (-kv[1], self._row_of[kv[0]]))
            return ranked[:n]
        scores, rows = self._dense.search(np.asarray(qvec, np.float32).reshape(1, -1), n)
        return [(self.chunk_ids[r], float(s)) for s, r in zip(scores[0], rows[0]) if r >= 0]

    def dense_scores(self, qvec: np.ndarray, chunk_ids: list[str]) -> dict[str, float]:
        """Exact cosine of the query with the given chunks (from the stored vectors)."""
        known = [c for c in chunk_ids if c in self._row_of]
        if not known:
            return {}
        rows = np.array([self._row_of[c] for c in known])
        sims = np.asarray(self._vectors[rows], np.float32) @ np.asarray(qvec, np.float32).reshape(-1)
        return {c: float(s) for c, s in zip(known, sims)}

    def sparse_search(self, query: str, n: int, *, among: list[str] | None = None) -> list[tuple[str, float]]:
        """Top-``n`` chunks by BM25 over the tokens of the (normalised) query; zero scores dropped.

        ``among`` restricts the result to these chunk ids.
        """
        if n <= 0:
            return []
        if among is None:
            rows, scores = self._sparse.search(tokenize(query), n)
        else:
            all_scores = self._sparse.scores(tokenize(query))
            mask = np.zeros(len(all_scores), bool)
            mask[[self._row_of[c] for c in among if c in self._row_of]] = True
            rows, scores = top_positive(np.where(mask, all_scores, 0.0), n)
        return [(self.chunk_ids[r], float(s)) for r, s in zip(rows, scores)]

    # -- lifecycle ------------------------------------------------------------------------------
    def is_stale(self) -> bool:
        """True when another writer has committed a newer generation since this one was opened."""
        try:
            latest = read_manifest(self.path)
        except IndexCorruptError:
            return True
        return latest is None or int(latest["generation"]) != self.generation

    def close(self) -> None:
        """Release the SQLite connection (the snapshot is unusable afterwards)."""
        self._store.close()


def check_index(path: Path, *, model_name: str | None = None, dim: int | None = None) -> list[str]:
    """Full consistency check for ``shanhai index check`` (checksums included).

    Returns:
        Problems found, as messages in Chinese; empty when the index is healthy.
    """
    try:
        manifest = live_manifest(Path(path))
        if model_name is not None and dim is not None:
            check_compatible(manifest, Path(path), model_name=model_name, dim=dim)
        check_files(manifest, Path(path) / manifest["generation_dir"], digests=True)
        store, *_rest = _load_generation(Path(path), manifest, int(manifest["embedding"]["dim"]))
        store.close()
    except (IndexNotFoundError, IndexMismatchError, IndexCorruptError) as exc:
        return [str(exc)]
    return []
