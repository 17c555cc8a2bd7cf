"""Writing the files of one generation (BM25, vectors, dense index) from the writer's store.

A mixin of :class:`rag.index.writer.IndexWriter`, kept apart so each module stays small.
The store and the vectors are the source of truth; ``bm25/`` and ``dense.faiss`` are derived
from them. A normal commit reuses what the previous generation already computed (token ids
of unchanged chunks, trained IVF centroids); a repair (``reuse_derived=False``) rebuilds
everything from the store and the vectors only, so damaged derived files are never read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from rag.index import dense as dense_mod
from rag.index.manifest import (
    DENSE,
    SCHEMA_VERSION,
    VECTORS,
    IndexCorruptError,
    check_files,
    embedding_record,
    gen_name,
    now_iso,
)
from rag.index.sparse import SPARSE_DIR, SparseIndex
from rag.index.store import Store
from rag.text.tokenize import TOKENIZER_VERSION, bigram_tokens, word_tokens


class GenerationBuilder:
    """Mixin: ``_write_generation(store, tmp)`` fills ``tmp`` and returns the manifest draft.

    Expects the writer's attributes: ``path``, ``dim``, ``model_name``, ``_base``,
    ``_base_vecs``, ``_pending``, ``_next_gen``, ``_live_dir``, ``_index_params``,
    ``_chunk_params``, ``_embedding_info``, ``_reuse_derived`` and the method ``_vector_rows``.
    """

    def _base_dir(self) -> Path:
        return self.path / self._base["generation_dir"]

    def _intact(self, rel: str) -> bool:
        """Whether the base generation's derived file (or folder) still has its recorded checksum."""
        try:
            check_files({"files": {k: v for k, v in self._base["files"].items() if k == rel or k.startswith(rel + "/")}},
                        self._base_dir(), digests=True)
        except IndexCorruptError:
            return False
        return True

    def _sparse_rows(self, store: Store, order: list[tuple[str, str, int]]) -> tuple[Iterator, dict[str, int]]:
        """Token rows in ``order``: ids saved with the base generation for unchanged chunks,
        stored words + bigrams of the text for the others (all of them when no ids are usable)."""
        same_tokens = (
            self._reuse_derived
            and self._base is not None
            and (self._base.get("sparse") or {}).get("tokenizer") == TOKENIZER_VERSION
        )
        cached = SparseIndex.load_ids(self._base_dir() / SPARSE_DIR) if same_tokens and self._intact(SPARSE_DIR) else None
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
        reuse = self._reuse_derived and self._base is not None and self._base["index"]["type"] == kind
        reuse = reuse and kind != "flat" and self._intact(DENSE)
        backend.build(vectors, previous=self._base_dir() / DENSE if reuse else None)
        backend.save(tmp / DENSE)
        del backend
        now = now_iso()
        chunk_params = self._chunk_params if self._chunk_params is not None else (self._base or {}).get("params", {})
        return {
            "schema_version": SCHEMA_VERSION,
            "generation": self._next_gen,
            "generation_dir": gen_name(self._next_gen),
            "previous_generation_dir": self._live_dir,
            "embedding": embedding_record(self.model_name, self.dim, self._embedding_info, self._base),
            "params": chunk_params,
            "index": {"type": kind, "requested": self._index_params.get("type"), "params": self._index_params},
            "sparse": {"tokenizer": TOKENIZER_VERSION, **sparse_params},
            "counts": {"docs": n_docs, "chunks": n_chunks, "vectors": int(len(vectors))},
            "files": {},
            "created": (self._base or {}).get("created") or now,
            "updated": now,
        }
