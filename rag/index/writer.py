""":class:`IndexWriter`: incremental changes to an index folder, committed atomically.

Crash safety: a commit writes ``tmp-…/`` (store, vectors, dense, bm25), fsyncs it, renames
it to ``gen-NNNNNN/``, fsyncs the folder and then swaps ``manifest.json``. Until that swap
readers (and a restarted writer) see the previous generation; leftovers are removed when
the next writer starts. One writer at a time (``fcntl.flock`` on ``.writer.lock``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from rag.index import dense as dense_mod
from rag.index.manifest import (
    DENSE, GEN_PREFIX, STORE, TMP_PREFIX, VECTORS, IndexCorruptError, IndexLockedError, SCHEMA_VERSION,
    IndexNotFoundError, check_compatible, check_files, describe_files, fsync_path, fsync_tree, gen_name,
    live_manifest, now_iso, read_manifest, write_manifest,
)
from rag.index.sparse import SPARSE_DIR, SparseIndex
from rag.index.store import Store, params_key
from rag.text.tokenize import TOKENIZER_VERSION, bigram_tokens, word_tokens
from rag.types import Chunk, Document

LOCK_FILE = ".writer.lock"
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


class IndexWriter:
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

    Raises:
        IndexLockedError: another process is writing.
        IndexMismatchError: the live index was built with another model/dim (unless rebuild).
        IndexCorruptError: the live index is damaged (unless rebuild).
    """

    def __init__(self, path: Path, *, model_name: str, dim: int, params: dict | None = None, rebuild: bool = False):
        self.path = Path(path)
        self.model_name, self.dim = model_name, int(dim)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise IndexLockedError(self.path) from None
        self._store: Store | None = None
        self._tmp: Path | None = None
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
        # the store and vectors are the source of truth; dense.faiss and bm25/ are rebuilt
        check_files(base, self.path / base["generation_dir"], only=(STORE, VECTORS))
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
        keep = {live.get("generation_dir"), live.get("previous_generation_dir")} if live else None
        for p in self.path.iterdir():
            # without a readable manifest nothing is known to be stale: keep every generation
            stale_gen = keep is not None and p.name.startswith(GEN_PREFIX) and p.name not in keep
            if p.is_dir() and (p.name.startswith(TMP_PREFIX) or stale_gen):
                shutil.rmtree(p, ignore_errors=True)
            elif p.name.startswith(".manifest.json.") and p.name.endswith(".tmp"):
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
                np.load(base_dir / VECTORS, mmap_mode="r") if base_dir else np.zeros((0, self.dim), np.float32)
            )
        except (sqlite3.DatabaseError, OSError, ValueError) as exc:
            self._discard()
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
        """True when ``doc_id`` is stored with this content hash and the current chunk settings.

        ``content_hash=None`` asks only whether any version of the document is stored.
        """
        found = self._session().doc_hash(doc_id)
        if found is None:
            return False
        if content_hash is None:
            return True
        return found[0] == content_hash and (self._chunk_key is None or found[1] == self._chunk_key)

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
    def add_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray, near_duplicates: list[str]) -> None:
        """Store a document with its chunks and their vectors, replacing a stored one with the same id.

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
        tokens = [word_tokens(c.text) for c in chunks]
        try:
            old = store.put_document(doc, chunks, rows, tokens, near_duplicates, self._store_key)
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"文档 {doc.doc_id}：片段编号与其他文档重复（{exc}）") from exc
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

    def commit(self, *, force: bool = False) -> dict[str, Any]:
        """Publish the changes as a new generation (atomic); returns the new manifest.

        Nothing is written when nothing changed (the live manifest is returned) unless
        ``force``: then the dense index and BM25 are rebuilt from the store and the stored
        vectors, which repairs a damaged ``dense.faiss`` or ``bm25/``.
        """
        store = self._session()
        if not force and not self._dirty and not self._settings_changed():
            self._discard()
            return dict(self._base)  # type: ignore[arg-type]
        tmp = self._tmp
        assert tmp is not None
        gen_dir = self.path / gen_name(self._next_gen)
        try:
            manifest = self._write_generation(store, tmp)
            _hook("files_written")
            fsync_tree(tmp)
            manifest["files"] = describe_files(tmp)
            os.rename(tmp, gen_dir)
            self._tmp = None
            fsync_path(self.path)
            _hook("before_manifest")
            write_manifest(self.path, manifest)
        except BaseException:
            self._discard()
            shutil.rmtree(gen_dir, ignore_errors=True)
            raise
        previous = self._live_dir
        for p in self._gen_dirs():  # keep the new and the previous generation for open readers
            if p.name not in (gen_dir.name, previous):
                shutil.rmtree(p, ignore_errors=True)
        self._base, self._store = manifest, None
        self._live_dir = manifest["generation_dir"]
        return dict(manifest)

    def _sparse_rows(self, store: Store, order: list[tuple[str, str, int]]) -> tuple[Iterator, dict[str, int]]:
        """Token rows in ``order``: ids saved with the base generation for unchanged chunks,
        stored words + bigrams of the text for the others (all of them when no ids are usable)."""
        same_tokens = self._base is not None and (self._base.get("sparse") or {}).get("tokenizer") == TOKENIZER_VERSION
        cached = SparseIndex.load_ids(self.path / self._base["generation_dir"] / SPARSE_DIR) if same_tokens else None
        vocab, ids, offsets = cached if cached else ({}, None, None)
        first_new = len(self._base_vecs) if cached else 0
        fresh = (words + bigram_tokens(text) for _c, words, text in store.iter_tokens(first_new))

        def rows() -> Iterator:
            for _c, _d, r in order:
                yield np.asarray(ids[offsets[r] : offsets[r + 1]]) if r < first_new else next(fresh)

        return rows(), vocab

    def _write_generation(self, store: Store, tmp: Path) -> dict[str, Any]:
        order = store.row_order()
        if self._base is not None and (self._base.get("sparse") or {}).get("tokenizer") != TOKENIZER_VERSION:
            store.set_tokens([(" ".join(word_tokens(text)), cid) for cid, text in store.all_chunk_texts()])
        rows, vocab = self._sparse_rows(store, order)
        sparse = SparseIndex.build(rows, vocab=vocab)
        sparse.save(tmp / SPARSE_DIR)
        sparse_params = sparse.params
        del sparse, rows, vocab
        store.set_rows([(i, c) for i, (c, _d, r) in enumerate(order) if i != r])
        n_docs, n_chunks = store.counts()
        store.finish({"tokenizer": TOKENIZER_VERSION, "generation": str(self._next_gen)})
        self._store = None
        vectors = self._vector_rows([r for _c, _d, r in order]) if order else np.zeros((0, self.dim), np.float32)
        self._pending = []
        np.save(tmp / VECTORS, vectors)
        kind = dense_mod.resolve_kind(self._index_params, n_chunks)
        backend = dense_mod.create(kind, self.dim, self._index_params)
        previous = self.path / self._base["generation_dir"] / DENSE if self._base else None
        backend.build(vectors, previous=previous if self._base and self._base["index"]["type"] == kind else None)
        backend.save(tmp / DENSE)
        del backend
        now = now_iso()
        chunk_params = self._chunk_params if self._chunk_params is not None else (self._base or {}).get("params", {})
        return {
            "schema_version": SCHEMA_VERSION,
            "generation": self._next_gen,
            "generation_dir": gen_name(self._next_gen),
            "previous_generation_dir": self._live_dir,
            "embedding": {"model": self.model_name, "dim": self.dim},
            "params": chunk_params,
            "index": {"type": kind, "requested": self._index_params.get("type"), "params": self._index_params},
            "sparse": {"tokenizer": TOKENIZER_VERSION, **sparse_params},
            "counts": {"docs": n_docs, "chunks": n_chunks, "vectors": int(len(vectors))},
            "files": {},
            "created": (self._base or {}).get("created") or now,
            "updated": now,
        }

    def checkpoint(self) -> None:
        """Make progress so far durable and visible (a full commit when anything changed).

        An interrupted large ingest then resumes from here: documents already committed
        are skipped by :meth:`has_doc` on the next run.
        """
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
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
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
