"""BM25 over jieba tokens, stored and scored with ``bm25s`` (eager sparse scores, numpy backend).

Rows are the same vector rows the dense index uses. The score matrix is built here with
vectorised numpy (:func:`bm25_matrix`, the same Lucene-variant formulas and CSC layout as
``bm25s``, checked against it in the tests): ``bm25s``' own per-document Python loop took
~100 s for 63k chunks on this 2-core machine, which every commit would pay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from rag.index import npio

SPARSE_DIR = "bm25"
IDS_FILE, OFFSETS_FILE = "token_ids.npy", "token_offsets.npy"
DEFAULTS: dict[str, Any] = {"k1": 1.5, "b": 0.75, "method": "lucene"}  # only lucene is built here


def _json_loads(data: bytes) -> Any:
    """orjson when installed (~5x faster on the 15 MB vocabulary of a 60k-chunk index), else json."""
    try:
        import orjson
    except ImportError:
        return json.loads(data)
    return orjson.loads(data)


def _bm25s():
    import bm25s

    return bm25s


def bm25_matrix(
    doc_token_ids: Sequence[np.ndarray], n_vocab: int, *, k1: float = 1.5, b: float = 0.75
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BM25 (Lucene variant) score matrix in CSC form: columns are tokens, rows documents.

    ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``; ``tfc = tf / (k1 * (1 - b + b * dl / avgdl) + tf)``;
    entry = ``idf * tfc``. Source: Kamphuis, de Vries, Boytsov & Lin, "Which BM25 Do You
    Mean? A Large-Scale Reproducibility Study of Scoring Variants", ECIR 2020 (as in bm25s).

    Args:
        doc_token_ids: one int array of token ids per document (repeats = term frequency).
        n_vocab: vocabulary size (ids are ``0..n_vocab-1``).
        k1: term-frequency saturation.
        b: length normalisation.

    Returns:
        (data float32, indices int32 = document rows, indptr int64 of length n_vocab + 1).
    """
    n_docs = len(doc_token_ids)
    lengths = np.fromiter((len(t) for t in doc_token_ids), dtype=np.int64, count=n_docs)
    if n_docs == 0 or lengths.sum() == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(n_vocab + 1, np.int64)
    # per-row term frequencies, then a stable sort by token: rows stay ascending in each column
    per_row = [np.unique(np.asarray(t), return_counts=True) for t in doc_token_ids]
    tok = np.concatenate([u for u, _c in per_row]).astype(np.int32, copy=False)
    tf = np.concatenate([c for _u, c in per_row]).astype(np.float32)
    row = np.repeat(np.arange(n_docs, dtype=np.int32), [len(u) for u, _c in per_row])
    del per_row
    order = np.argsort(tok, kind="stable")
    tok, tf, row = tok[order], tf[order], row[order]
    del order
    df = np.bincount(tok, minlength=n_vocab)
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = (k1 * ((1 - b) + b * lengths / lengths.mean())).astype(np.float32)  # per document
    data = idf[tok] * (tf / (norm[row] + tf))
    indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
    return data.astype(np.float32, copy=False), row, indptr


def top_positive(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the ``n`` highest strictly positive scores, best first (pure function).

    Args:
        scores: one score per row.
        n: how many to keep.

    Returns:
        (rows, scores) as arrays of equal length <= n; ties keep the lower row first.
    """
    positive = np.flatnonzero(scores > 0)
    if positive.size == 0 or n <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if positive.size > n:
        part = np.argpartition(-scores[positive], n - 1)[:n]
        positive = positive[part]
    order = np.lexsort((positive, -scores[positive]))
    rows = positive[order]
    return rows, scores[rows]


class SparseIndex:
    """A BM25 index over token lists, one per row.

    Besides the ``bm25s`` files, :meth:`save` keeps every row's token ids
    (``token_ids.npy`` + ``token_offsets.npy``), so the next generation re-scores unchanged
    rows from ids instead of mapping ~300 token strings per chunk again (:meth:`load_ids`).
    """

    def __init__(self, model: Any | None, n_rows: int, params: dict[str, Any] | None = None):
        self.model = model
        self.n_rows = n_rows
        self.params = {**DEFAULTS, **(params or {})}
        self._ids: np.ndarray | None = None
        self._offsets: np.ndarray | None = None

    @classmethod
    def build(
        cls,
        rows: Iterable[Sequence[str] | np.ndarray],
        params: dict[str, Any] | None = None,
        vocab: dict[str, int] | None = None,
    ) -> "SparseIndex":
        """Index one row per item: a token list, or an int array of ids from ``vocab``.

        Args:
            rows: token lists and/or id arrays (a generator is fine: each row becomes an int32
                array at once, ~4 bytes per token instead of a Python string per token).
            params: BM25 ``k1``/``b``.
            vocab: token -> id map the id arrays refer to (extended with new tokens).

        Returns:
            The built index.
        """
        p = {**DEFAULTS, **(params or {})}
        vocab = dict(vocab or {})
        ids = [
            row.astype(np.int32, copy=False) if isinstance(row, np.ndarray)
            else np.fromiter((vocab.setdefault(t, len(vocab)) for t in row), dtype=np.int32, count=len(row))
            for row in rows
        ]
        if not ids:
            return cls(None, 0, p)
        out = cls(None, len(ids), p)
        out._offsets = np.concatenate([[0], np.cumsum([len(r) for r in ids])]).astype(np.int64)
        out._ids = np.concatenate(ids) if out._offsets[-1] else np.zeros(0, np.int32)
        data, indices, indptr = bm25_matrix(ids, len(vocab), k1=p["k1"], b=p["b"])
        del ids
        model = _bm25s().BM25(k1=p["k1"], b=p["b"], method="lucene")
        model.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": out.n_rows}
        model.vocab_dict = vocab
        model.unique_token_ids_set = set(vocab.values())
        model.nonoccurrence_array = None
        out.model = model
        return out

    def save(self, folder: Path) -> None:
        """Write the index files into ``folder`` (created)."""
        folder.mkdir(parents=True, exist_ok=True)
        info: dict[str, Any] = {"rows": self.n_rows, "params": self.params}
        if self.model is not None:
            self.model.save(str(folder), show_progress=False)
            np.save(folder / IDS_FILE, self._ids)
            np.save(folder / OFFSETS_FILE, self._offsets)
            info["vocab_used"] = int(np.count_nonzero(np.diff(self.model.scores["indptr"])))
        (folder / "rows.json").write_text(json.dumps(info), encoding="utf-8")

    @staticmethod
    def load_ids(folder: Path) -> tuple[dict[str, int], np.ndarray, np.ndarray] | None:
        """(vocab, flat token ids, row offsets) saved with an index.

        Returns:
            None when absent or unusable, or when over half the vocabulary is no longer
            used (removed documents): a fresh build then compacts it.
        """
        try:
            info = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
            vocab = _json_loads((folder / "vocab.index.json").read_bytes())
            ids = npio.load(folder / IDS_FILE, mmap_mode="r")
            offsets = npio.load(folder / OFFSETS_FILE)
        except (OSError, ValueError):
            return None
        if len(offsets) != int(info["rows"]) + 1 or int(offsets[-1]) != len(ids):
            return None
        if len(vocab) > 2 * int(info.get("vocab_used", 0)) + 1000:
            return None
        if len(ids) and int(ids.max()) >= len(vocab):
            return None
        return vocab, ids, offsets

    @classmethod
    def load(cls, folder: Path) -> "SparseIndex":
        """Read an index written by :meth:`save`."""
        info = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
        n_rows = int(info["rows"])
        if n_rows == 0:
            return cls(None, 0, info.get("params"))
        with npio.LOAD_LOCK:  # bm25s reads .npy files too
            model = _bm25s().BM25.load(str(folder), show_progress=False)
        if int(model.scores["num_docs"]) != n_rows:
            raise ValueError(f"BM25 行数 {model.scores['num_docs']} 与记录的 {n_rows} 不一致")
        return cls(model, n_rows, info.get("params"))

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row for the query tokens (zeros when none is known)."""
        if self.model is None:
            return np.zeros(self.n_rows, np.float32)
        ids = self.model.get_tokens_ids(list(tokens))
        if not ids:
            return np.zeros(self.n_rows, np.float32)
        return self.model.get_scores_from_ids(ids)

    def search(self, tokens: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` rows with a positive score: (rows, scores), best first."""
        return top_positive(self.scores(tokens), n)
