"""Dense vector backends (FAISS, inner product on L2-normalised vectors) behind a small factory.

Modelled on txtai's ``ann/dense/factory.py``: one class per backend, a factory that picks
by config key (``flat`` / ``ivf`` / ``hnsw`` / ``auto``) and also resolves a user-supplied
``"package.module:ClassName"`` implementing :class:`DenseBackend`.
"""

from __future__ import annotations

import importlib
import math
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

DEFAULTS: dict[str, Any] = {
    "type": "auto",
    "ann_threshold": 200_000,
    "ivf_nlist": 0,
    "ivf_nprobe": 16,
    "hnsw_m": 32,
    "hnsw_ef_construction": 40,
    "hnsw_ef_search": 64,
    "search_threads": 1,
}
_OMP_LOCK = threading.Lock()


def _faiss():
    import faiss

    return faiss


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 copy with unit-length rows (zero rows stay zero)."""
    arr = np.array(vectors, dtype=np.float32, copy=True, ndmin=2)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    np.divide(arr, norms, out=arr, where=norms > 0)
    return arr


class DenseBackend(ABC):
    """A vector index over rows ``0..n-1``; scores are inner products.

    Args:
        dim: vector dimension.
        params: the ``index`` config section (missing keys fall back to :data:`DEFAULTS`).
    """

    kind = "base"

    def __init__(self, dim: int, params: dict[str, Any] | None = None):
        self.dim = int(dim)
        self.params = {**DEFAULTS, **(params or {})}
        self.index: Any = None

    @abstractmethod
    def build(self, vectors: np.ndarray, previous: Path | None = None) -> None:
        """Index ``vectors`` (n, dim) float32, replacing any previous content.

        Args:
            vectors: the rows to index.
            previous: the same backend's file from the previous generation, which a backend
                may reuse (IVF keeps its trained centroids); others ignore it.
        """

    def configure(self) -> None:
        """Apply search-time parameters after building or loading (nprobe, efSearch)."""

    @property
    def size(self) -> int:
        """Number of indexed vectors."""
        return 0 if self.index is None else int(self.index.ntotal)

    def search(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` rows per query.

        Args:
            queries: (m, dim) float32, normalised.
            n: results wanted per query.

        Returns:
            (scores, rows), each (m, n'); rows are -1 where fewer than n' results exist.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        n = max(1, min(int(n), self.size))
        if self.size == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        threads = int(self.params.get("search_threads") or 0)
        if threads <= 0:
            return self.index.search(q, n)
        faiss = _faiss()
        # One query is too little work to share: OpenMP spin-waiting made a 60k flat search
        # 3-4x slower on 2 busy cores. The thread count is process-wide, hence the lock.
        with _OMP_LOCK:
            previous = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(threads)
            try:
                return self.index.search(q, n)
            finally:
                faiss.omp_set_num_threads(previous)

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (faiss ``write_index``; the caller fsyncs)."""
        _faiss().write_index(self.index, str(path))

    def load(self, path: Path) -> None:
        """Read an index written by :meth:`save` (raises RuntimeError if it is damaged)."""
        self.index = _faiss().read_index(str(path))
        self.configure()


class FlatBackend(DenseBackend):
    """Exact search (``IndexFlatIP``): instant build, ~10 ms per query at 60k vectors."""

    kind = "flat"

    def build(self, vectors: np.ndarray, previous: Path | None = None) -> None:
        self.index = _faiss().IndexFlatIP(self.dim)
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))


class IVFBackend(DenseBackend):
    """Inverted lists (``IndexIVFFlat``): ``nlist`` ~ 4*sqrt(n) (capped so each list gets >= 39
    training points), ``nprobe`` lists visited per query."""

    kind = "ivf"

    def nlist_for(self, n: int) -> int:
        """Number of inverted lists for ``n`` vectors."""
        wanted = int(self.params.get("ivf_nlist") or 0) or int(round(4 * math.sqrt(max(n, 1))))
        return max(1, min(wanted, n // 39 if n >= 39 else 1))

    def build(self, vectors: np.ndarray, previous: Path | None = None) -> None:
        faiss = _faiss()
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        nlist = self.nlist_for(len(data))
        self.index = self._reusable(previous, nlist)
        if self.index is None:
            quantizer = faiss.IndexFlatIP(self.dim)
            self.index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            if len(data):
                self.index.train(data)
        if len(data):
            self.index.add(data)
        self.configure()

    def _reusable(self, previous: Path | None, nlist: int):
        """The previous IVF index emptied, when its centroids still fit (nlist within 2x)."""
        if previous is None or not previous.is_file():
            return None
        try:
            old = _faiss().read_index(str(previous))
        except RuntimeError:
            return None
        explicit = int(self.params.get("ivf_nlist") or 0)
        if not hasattr(old, "nlist") or old.d != self.dim or not old.is_trained:
            return None
        if (explicit and old.nlist != explicit) or not nlist / 2 <= old.nlist <= nlist * 2:
            return None
        old.reset()  # drops the vectors, keeps the trained quantizer
        return old

    def configure(self) -> None:
        if self.index is not None:
            self.index.nprobe = max(1, int(self.params.get("ivf_nprobe") or 16))


class HNSWBackend(DenseBackend):
    """Graph search (``IndexHNSWFlat``): slow to build, ~1 ms queries at any size here."""

    kind = "hnsw"

    def build(self, vectors: np.ndarray, previous: Path | None = None) -> None:
        faiss = _faiss()
        self.index = faiss.IndexHNSWFlat(self.dim, int(self.params["hnsw_m"]), faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = int(self.params["hnsw_ef_construction"])
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.configure()

    def configure(self) -> None:
        if self.index is not None:
            self.index.hnsw.efSearch = int(self.params["hnsw_ef_search"])


BACKENDS: dict[str, type[DenseBackend]] = {"flat": FlatBackend, "ivf": IVFBackend, "hnsw": HNSWBackend}


def resolve_kind(params: dict[str, Any] | None, n: int) -> str:
    """The backend to build for ``n`` vectors: ``auto`` is flat up to ``ann_threshold``, IVF above.

    Args:
        params: the ``index`` config section.
        n: number of vectors.

    Returns:
        A key of :data:`BACKENDS` or a ``"module:Class"`` string.
    """
    p = {**DEFAULTS, **(params or {})}
    kind = str(p.get("type") or "auto").strip()
    if kind.lower() == "auto":
        return "ivf" if n > int(p["ann_threshold"]) else "flat"
    return kind if ":" in kind else kind.lower()


def create(kind: str, dim: int, params: dict[str, Any] | None = None) -> DenseBackend:
    """Instantiate a backend by name or ``"module:Class"``.

    Args:
        kind: ``flat``, ``ivf``, ``hnsw`` or ``"package.module:ClassName"``.
        dim: vector dimension.
        params: the ``index`` config section.

    Returns:
        An empty backend (call ``build`` or ``load``).

    Raises:
        ValueError: unknown kind, or the class is not a :class:`DenseBackend`.
    """
    if kind in BACKENDS:
        return BACKENDS[kind](dim, params)
    if ":" in kind:
        module_name, _, class_name = kind.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"无法加载自定义向量索引类 {kind}：{exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, DenseBackend)):
            raise ValueError(f"{kind} 不是 DenseBackend 的子类")
        return cls(dim, params)
    raise ValueError(f"未知的向量索引类型 {kind!r}：可选 auto、flat、ivf、hnsw 或 \"模块:类名\"")
