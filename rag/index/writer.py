""":class:`IndexWriter`: incremental changes to an index folder, committed atomically.

Crash safety: a commit writes ``tmp-…/`` (store, vectors, dense, bm25), fsyncs it, renames
it to ``gen-NNNNNN/``, fsyncs the folder and then swaps ``manifest.json``. Until that swap
readers (and a restarted writer) see the previous generation; leftovers are removed when
the next writer starts. One writer at a time (``fcntl.flock`` on ``.writer.lock``, :mod:`rag.index.lock`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rag.index import dense as dense_mod
from rag.index import npio
from rag.index.generation import GenerationBuilder
from rag.index.lock import lock_writer, stale_dirs, unlock_writer
from rag.index.manifest import (
    GEN_PREFIX, STORE, TMP_PREFIX, VECTORS, IndexCorruptError, IndexDiskFullError, IndexNotFoundError,
    check_compatible, check_files, describe_files, fsync_path, fsync_tree, gen_name, is_disk_full, live_manifest,
    read_manifest, tree_size, write_generation_copy, write_manifest,
)
from rag.index.store import Store, params_key
from rag.text.tokenize import TOKENIZER_VERSION, word_tokens
from rag.types import Chunk, Document

# Test hooks called by name during a commit: "files_written", "renamed", "before_manifest".
_HOOKS: dict[str, Callable[[], None]] = {}


def _hook(name: str) -> None:
    fn = _HOOKS.get(name)
    if fn is not None:
        fn()


def _gen_number(name: str) -> int:
    try:
        return int(name[len(GEN_PREFIX):])
    except ValueError:
        return -1


def _split_params(params: dict[str, Any] | None, base: dict[str, Any] | None) -> tuple[dict | None, dict]:
    """(chunk params or None = keep per-doc params unchecked, index params)."""
    base_index = ((base or {}).get("index") or {}).get("params") or {}
    if params is None:
        return None, {**dense_mod.DEFAULTS, **base_index}
    chunk = {k: v for k, v in params.items() if k != "index"}
    return chunk, {**dense_mod.DEFAULTS, **(params.get("index") or base_index)}


class IndexWriter(GenerationBuilder):
    """Adds, replaces and removes documents; :meth:`commit` publishes a new generation.

    Use as a context manager: a clean exit commits pending changes, an exception discards
    them (the previous index stays live).

    Args:
        path: the index folder (created if missing).
        model_name: embedding model of the vectors that will be added.
        dim: their dimension.
        params: chunking settings plus ``"index"`` (the ``index`` config section), recorded
            in the manifest; None keeps the index's recorded settings.
        rebuild: start from an empty index instead of the live generation.
        embedding: ``{"backend", "quantization"}`` of the encoder whose vectors are added,
            recorded in the manifest; None keeps the index's record.

    Raises:
        IndexLockedError: another process is writing.
        IndexMismatchError: the live index was built with another model/dim (unless rebuild).
        IndexCorruptError: the live index is damaged (unless rebuild).
        IndexDiskFullError: the disk filled up (here or in a later call); nothing was half-written.
    """

    def __init__(self, path: Path, *, model_name: str, dim: int, params: dict | None = None, rebuild: bool = False,
                 embedding: dict | None = None):
        self.path = Path(path)
        self.model_name, self.dim = model_name, int(dim)
        self._embedding_info = embedding
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = lock_writer(self.path)  # IndexLockedError when another writer runs
        self._store: Store | None = None
        self._tmp: Path | None = None
        self._reuse_derived = True
        self.cleaned: list[tuple[str, int]] = []  # (name, bytes) of crash leftovers removed at start
        try:
            self._base = self._read_base(rebuild)
            self._cleanup_stale()
            self._chunk_params, self._index_params = _split_params(params, self._base)
            self._chunk_key = None if self._chunk_params is None else params_key(self._chunk_params)
            # recorded per document: the settings it was chunked with (the index's when params=None)
            self._store_key = self._chunk_key or params_key((self._base or {}).get("params"))
        except BaseException:
            self._release()
            raise

    # -- session --------------------------------------------------------------------------------
    def _read_base(self, rebuild: bool) -> dict[str, Any] | None:
        if rebuild:
            return None
        try:
            base = live_manifest(self.path)
        except IndexNotFoundError:
            return None
        check_compatible(base, self.path, model_name=self.model_name, dim=self.dim)
        # The store and vectors are the source of truth (dense.faiss and bm25/ are rebuilt), and
        # everything later generations hold comes from them: verify their checksums (~1 s per
        # 250 MB, once per writer) so a silent bit flip is not copied forward.
        check_files(base, self.path / base["generation_dir"], digests=True, only=(STORE, VECTORS))
        return base

    def _gen_dirs(self) -> list[Path]:
        return [p for p in self.path.iterdir() if p.is_dir() and p.name.startswith(GEN_PREFIX)]

    def _cleanup_stale(self) -> None:
        """Remove tmp generations and generations neither live nor previous (crash leftovers)."""
        try:
            live = read_manifest(self.path)
        except IndexCorruptError:
            live = None
        self._live_dir = live.get("generation_dir") if live else None
        for p in stale_dirs(self.path, live):
            self.cleaned.append((p.name, tree_size(p)))
            shutil.rmtree(p, ignore_errors=True)
        for p in self.path.iterdir():
            if p.name.startswith(".manifest.json.") and p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)

    def _session(self) -> Store:
        """Open (lazily) the working copy: a tmp folder with a copy of the live store."""
        if self._lock_fd is None:
            raise RuntimeError("IndexWriter 已关闭")
        if self._store is not None:
            return self._store
        used = [_gen_number(p.name) for p in self._gen_dirs()]
        self._next_gen = max([int(self._base["generation"]) if self._base else 0, *used]) + 1
        self._tmp = self.path / f"{TMP_PREFIX}{self._next_gen:06d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._tmp.mkdir()
        base_dir = self.path / self._base["generation_dir"] if self._base else None
        try:
            self._store = Store.create(self._tmp / STORE, base_dir / STORE if base_dir else None)
            n_docs, n_chunks = self._store.counts()
            self._base_vecs = (
                npio.load(base_dir / VECTORS, mmap_mode="r") if base_dir else np.zeros((0, self.dim), np.float32)
            )
        except (sqlite3.DatabaseError, OSError, ValueError) as exc:
            self._discard()
            if is_disk_full(exc):
                raise IndexDiskFullError(self.path, exc) from exc
            raise IndexCorruptError(base_dir or self.path, f"{type(exc).__name__}: {exc}") from exc
        if self._base and (n_docs, n_chunks, len(self._base_vecs)) != (
            self._base["counts"]["docs"], self._base["counts"]["chunks"], self._base["counts"]["chunks"]
        ):
            self._discard()
            raise IndexCorruptError(base_dir, "文档/片段/向量数与清单不一致")
        self._pending: list[np.ndarray] = []
        self._orphans: dict[str, int] = {}
        self._next_row = len(self._base_vecs)
        self._dirty = False
        return self._store

    def _vector_rows(self, rows: Sequence[int]) -> np.ndarray:
        """Vectors for working-copy rows: base rows from the mmap, newer rows from memory."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), np.float32)
        n_base = len(self._base_vecs)
        old = rows < n_base
        if old.any():
            out[old] = self._base_vecs[rows[old]]
        if (~old).any():
            out[~old] = np.stack([self._pending[r - n_base] for r in rows[~old]])
        return out

    # -- queries used by the ingester -------------------------------------------------------------
    def has_doc(self, doc_id: str, content_hash: str | None) -> bool:
        """Whether ``doc_id`` is stored with this content hash and the current chunk settings
        (``content_hash=None``: whether any version of it is stored)."""
        found = self._session().doc_hash(doc_id)
        return found is not None and (content_hash is None or self.is_current(found, content_hash))

    def stored_versions(self) -> dict[str, tuple[str, str]]:
        """{doc_id: (content_hash, chunking key)}: a snapshot the ingester's reader thread checks."""
        return self._session().doc_versions()

    def is_current(self, version: tuple[str, str] | None, content_hash: str) -> bool:
        """Whether a stored ``version`` is this content under the current chunk settings."""
        return version is not None and version[0] == content_hash and version[1] == (self._chunk_key or version[1])

    def version_for(self, content_hash: str) -> tuple[str, str]:
        """The version :meth:`stored_versions` lists for a document added now with this content."""
        return content_hash, self._store_key

    def cached_vectors(self, text_hashes: list[str]) -> dict[str, np.ndarray]:
        """Embedding cache: {text_hash: vector} for chunk texts already embedded (sha256 of the text)."""
        rows = self._session().rows_for_hashes(text_hashes)
        for h in text_hashes:
            if h not in rows and h in self._orphans:
                rows[h] = self._orphans[h]
        if not rows:
            return {}
        keys = list(rows)
        vecs = self._vector_rows([rows[k] for k in keys])
        return {k: vecs[i] for i, k in enumerate(keys)}

    def signatures(self) -> dict[str, np.ndarray]:
        """Near-duplicate sketches stored for the documents (set with :meth:`set_signature`)."""
        return self._session().signatures()

    def set_signature(self, doc_id: str, signature: np.ndarray | Sequence[int]) -> None:
        """Keep a document's near-duplicate sketch (kept across replacements, dropped on removal)."""
        self._session().set_signature(doc_id, np.asarray(signature))
        self._dirty = True

    # -- changes ----------------------------------------------------------------------------------
    def add_document(
        self, doc: Document, chunks: list[Chunk], vectors: np.ndarray, near_duplicates: list[str],
        tokens: Sequence[Sequence[str]] | None = None,
    ) -> None:
        """Store a document with its chunks and their vectors, replacing a stored one with the same id.

        Args:
            doc: the document.
            chunks: its chunks (slices of ``doc.text``).
            vectors: one row per chunk.
            near_duplicates: doc_ids of stored near-duplicates.
            tokens: the chunks' BM25 words (``rag.text.tokenize.word_tokens``) when already
                computed, e.g. by an ingest worker; computed here otherwise.

        Raises:
            ValueError: vectors/chunks do not match, a chunk is not a slice of the document,
                or a chunk_id is already used by another document.
        """
        store = self._session()
        vecs = np.asarray(vectors, np.float32)
        if not chunks and vecs.size == 0:
            vecs = np.zeros((0, self.dim), np.float32)
        if vecs.shape != (len(chunks), self.dim):
            raise ValueError(f"文档 {doc.doc_id}：{len(chunks)} 个片段需要形状 ({len(chunks)}, {self.dim}) 的向量，实际是 {vecs.shape}")
        vecs = dense_mod.normalize_rows(vecs)
        if not np.isfinite(vecs).all():
            raise ValueError(f"文档 {doc.doc_id}：向量中有非有限值")
        for c in chunks:
            if c.doc_id != doc.doc_id or doc.text[c.start:c.end] != c.text or doc.original[c.start:c.end] != c.original:
                raise ValueError(f"片段 {c.chunk_id} 不是文档 {doc.doc_id} 在 [{c.start}, {c.end}) 处的原文切片")
        rows = list(range(self._next_row, self._next_row + len(chunks)))
        if tokens is None:
            tokens = [word_tokens(c.text) for c in chunks]
        elif len(tokens) != len(chunks):
            raise ValueError(f"文档 {doc.doc_id}：{len(chunks)} 个片段却给了 {len(tokens)} 组分词")
        try:
            old = store.put_document(doc, chunks, rows, tokens, near_duplicates, self._store_key)
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"文档 {doc.doc_id}：片段编号与其他文档重复（{exc}）") from exc
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc):
                self._discard()
                raise IndexDiskFullError(self.path, exc) from exc
            raise
        for h, r in old:
            self._orphans.setdefault(h, r)
        self._pending.extend(vecs)
        self._next_row += len(chunks)
        self._dirty = True

    def remove_document(self, doc_id: str) -> bool:
        """Remove a document; False when it is not stored."""
        old = self._session().delete_document(doc_id)
        if old is None:
            return False
        for h, r in old:
            self._orphans.setdefault(h, r)
        self._dirty = True
        return True

    # -- commit -----------------------------------------------------------------------------------
    def _settings_changed(self) -> bool:
        if self._base is None:
            return True
        built = self._base.get("index") or {}
        wanted_kind = dense_mod.resolve_kind(self._index_params, int(self._base["counts"]["chunks"]))
        return (
            built.get("params") != self._index_params
            or built.get("type") != wanted_kind
            or (self._base.get("sparse") or {}).get("tokenizer") != TOKENIZER_VERSION
            or (self._chunk_params is not None and self._base.get("params") != self._chunk_params)
        )

    def commit(self, *, force: bool = False, reuse_derived: bool = True) -> dict[str, Any]:
        """Publish the changes as a new generation (atomic); returns the new manifest.

        Nothing is written when nothing changed (the live manifest is returned) unless
        ``force``: then the dense index and BM25 are rebuilt from the store and the stored
        vectors, which repairs a damaged ``dense.faiss`` or ``bm25/`` (pass
        ``reuse_derived=False`` so nothing is read from the damaged files).

        Raises:
            IndexDiskFullError: the disk filled up; the new generation was removed and the
                previous one stays live.
        """
        store = self._session()
        if not force and not self._dirty and not self._settings_changed():
            self._discard()
            return dict(self._base)  # type: ignore[arg-type]
        tmp = self._tmp
        assert tmp is not None
        gen_dir = self.path / gen_name(self._next_gen)
        self._reuse_derived = reuse_derived
        try:
            manifest = self._write_generation(store, tmp)
            _hook("files_written")
            fsync_tree(tmp)
            manifest["files"] = describe_files(tmp)
            write_generation_copy(tmp, manifest)
            os.rename(tmp, gen_dir)
            self._tmp = None
            fsync_path(self.path)
            _hook("before_manifest")
            write_manifest(self.path, manifest)
        except BaseException as exc:
            self._discard()
            if not self._published(gen_dir):
                shutil.rmtree(gen_dir, ignore_errors=True)
            if is_disk_full(exc):
                raise IndexDiskFullError(self.path, exc) from exc
            raise
        finally:
            self._reuse_derived = True
        previous = self._live_dir
        for p in self._gen_dirs():  # keep the new and the previous generation for open readers
            if p.name not in (gen_dir.name, previous):
                shutil.rmtree(p, ignore_errors=True)
        self._base, self._store = manifest, None
        self._live_dir = manifest["generation_dir"]
        return dict(manifest)

    def _published(self, gen_dir: Path) -> bool:
        """Whether manifest.json already names ``gen_dir`` (a failure after the swap)."""
        try:
            live = read_manifest(self.path)
        except IndexCorruptError:
            return False
        return bool(live) and live.get("generation_dir") == gen_dir.name

    def checkpoint(self) -> None:
        """Make progress so far durable and visible (a full commit when anything changed): an
        interrupted ingest resumes from here, committed documents are skipped on the next run."""
        if self._store is not None and self._dirty:
            self.commit()

    # -- closing ----------------------------------------------------------------------------------
    def _discard(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except sqlite3.Error:
                pass
            self._store = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _release(self) -> None:
        if self._lock_fd is not None:
            unlock_writer(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        """Discard uncommitted changes and release the writer lock."""
        self._discard()
        self._release()

    def __del__(self) -> None:  # a forgotten writer must not keep the lock
        if getattr(self, "_lock_fd", None) is not None:
            self.close()

    def __enter__(self) -> "IndexWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._store is not None and self._dirty:
                self.commit()
        finally:
            self.close()
