"""Hybrid retrieval: dense (e5 + FAISS) and BM25 (jieba) fused by weighted reciprocal rank fusion.

Flow of :meth:`Retriever.search`: normalise the query (t2s) -> dense top-N and BM25 top-N
(over-fetching when filters are set) -> weighted RRF -> near-duplicate collapse -> top-k
:class:`~rag.types.Hit` with the cosine, the rank in each list and the chunk span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from rag.index.folder import Index
from rag.index.manifest import IndexMismatchError
from rag.text.injection import INJECTION_FLAG
from rag.text.ngrams import char_ngrams, jaccard
from rag.text.normalize import normalize
from rag.types import Chunk, DocMeta, Hit

_NON_TEXT = re.compile(r"[\W_]+", re.UNICODE)
_DATE_DIGITS = re.compile(r"\d+")


class EmptyQueryError(ValueError):
    """The query has no searchable content."""


@dataclass
class Filters:
    """Optional restrictions on what :meth:`Retriever.search` returns.

    ``sources``: keep documents whose source contains any of these strings (case-insensitive).
    ``date_from`` / ``date_to``: inclusive bounds (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``,
    compared at the bound's precision); documents without a date are dropped when set.
    ``doc_ids``: keep only these documents.
    """

    sources: list[str] | None = None
    date_from: str | None = None
    date_to: str | None = None
    doc_ids: list[str] | None = None

    def active(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to or self.doc_ids)


def iso_date(text: str | None) -> str | None:
    """``2020年8月19日`` / ``2020-08-19`` / ``2020/8`` -> ``2020-08-19`` / ``2020-08`` (None if no year)."""
    if not text:
        return None
    parts = _DATE_DIGITS.findall(text)
    if not parts or len(parts[0]) != 4:
        return None
    return "-".join([parts[0], *(p.zfill(2) for p in parts[1:3])])


def doc_matches(meta: DocMeta, filters: Filters) -> bool:
    """Whether a document passes the filters (pure function)."""
    if filters.doc_ids and meta.doc_id not in filters.doc_ids:
        return False
    if filters.sources:
        src = (meta.source or "").lower()
        if not any(s.lower() in src for s in filters.sources if s):
            return False
    if filters.date_from or filters.date_to:
        date = iso_date(meta.date)
        if date is None:
            return False
        lo, hi = iso_date(filters.date_from), iso_date(filters.date_to)
        if lo and date[: len(lo)] < lo:
            return False
        if hi and date[: len(hi)] > hi:
            return False
    return True


def rrf_fuse(
    rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None, k: float = 60.0
) -> list[tuple[str, float]]:
    """Weighted reciprocal rank fusion.

    ``score(d) = sum_i w_i / (k + rank_i(d))`` with 1-based ranks; lists where ``d`` is absent
    add nothing. Source: Cormack, Clarke & Buettcher, "Reciprocal Rank Fusion outperforms
    Condorcet and individual Rank Learning Methods", SIGIR 2009 (k = 60).

    Args:
        rankings: ranked id lists, best first (duplicates inside a list are ignored).
        weights: one weight per list (default 1.0 each).
        k: the RRF constant.

    Returns:
        (id, score) best first; ties broken by the best single rank, then first appearance.
    """
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError("weights and rankings differ in length")
    scores: dict[str, float] = {}
    best: dict[str, int] = {}
    for ranking, w in zip(rankings, weights):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, 1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
            best[item] = min(best.get(item, rank), rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], order[kv[0]]))


def shingles(text: str, n: int = 4) -> set[str]:
    """Character n-grams of ``text`` with punctuation/whitespace removed."""
    s = _NON_TEXT.sub("", text)
    if len(s) <= n:
        return {s} if s else set()
    return set(char_ngrams(s, n))


class Retriever:
    """Hybrid search over an :class:`~rag.index.folder.Index`.

    Args:
        index: the opened index.
        encoder: has ``encode_query(text) -> (dim,)`` normalised float32, ``name``, ``dim``.
        candidates: results taken from each list before fusion.
        rrf_k: RRF constant.
        dense_weight: weight of the dense list in the fusion.
        sparse_weight: weight of the BM25 list.
        collapse_near_duplicates: drop a hit whose document is a marked near-duplicate of a
            better hit's document when their texts overlap (4-gram Jaccard > ``collapse_jaccard``).
        collapse_jaccard: the overlap threshold.
    """

    def __init__(
        self,
        index: Index,
        encoder,
        *,
        candidates: int = 50,
        rrf_k: int = 60,
        dense_weight: float = 1.0,
        sparse_weight: float = 1.0,
        collapse_near_duplicates: bool = True,
        collapse_jaccard: float = 0.5,
    ):
        emb = index.manifest.get("embedding") or {}
        used = (getattr(encoder, "name", emb.get("model")), int(getattr(encoder, "dim", emb.get("dim"))))
        if used != (emb.get("model"), emb.get("dim")):
            raise IndexMismatchError(
                f"索引是用 {emb.get('model')}（{emb.get('dim')} 维）构建的，检索用的模型却是 "
                f"{getattr(encoder, 'name', '?')}（{getattr(encoder, 'dim', '?')} 维）。"
                f"请运行 `shanhai ingest --rebuild <路径>` 重建索引，或用 --index 指向匹配的索引。"
            )
        self.index = index
        self.encoder = encoder
        self.candidates = max(1, int(candidates))
        self.rrf_k = rrf_k
        self.weights = (float(dense_weight), float(sparse_weight))
        self.collapse = collapse_near_duplicates
        self.collapse_jaccard = collapse_jaccard

    def _allowed_docs(self, filters: Filters | None) -> set[str] | None:
        if filters is None or not filters.active():
            return None
        return {m.doc_id for m in self.index.docs() if doc_matches(m, filters)}

    def _fetch(
        self, search: Callable[..., list[tuple[str, float]]], allowed: set[str] | None
    ) -> list[tuple[str, float]]:
        """Top candidates from one list, restricted to the allowed documents.

        Filtered searches over-fetch once from the full index (x4); when too few survive,
        the list is scored exactly over the allowed documents' chunks instead.
        """
        n = self.candidates
        if allowed is None:
            return search(n)
        total = max(1, self.index.counts["chunks"])
        m = min(total, n * 4)
        found = search(m)
        kept = [(c, s) for c, s in found if self.index.doc_of(c) in allowed]
        if len(kept) >= n or len(found) < m:
            return kept[:n]
        return search(n, among=self.index.chunk_ids_of(allowed))

    def search(self, query: str, k: int = 5, *, filters: Filters | None = None, normalized: bool = False) -> list[Hit]:
        """Top-``k`` chunks for ``query``.

        Args:
            query: the question, any script (normalised to Simplified first).
            k: hits wanted.
            filters: optional source/date/doc restrictions.
            normalized: ``query`` was already checked and normalised by the caller (the answer
                path): it is neither normalised nor checked again.

        Returns:
            Hits best first, with fused score, cosine and per-list ranks.

        Raises:
            EmptyQueryError: nothing searchable in the query.
        """
        q = query if normalized else normalize((query or "").strip())
        if not normalized and not _NON_TEXT.sub("", q):
            raise EmptyQueryError("问题为空或只包含标点：请输入要查询的内容。")
        allowed = self._allowed_docs(filters)
        if allowed is not None and not allowed:
            return []
        qvec = np.asarray(self.encoder.encode_query(q), np.float32).reshape(-1)
        dense = self._fetch(lambda m, among=None: self.index.dense_search(qvec, m, among=among), allowed)
        sparse = self._fetch(lambda m, among=None: self.index.sparse_search(q, m, among=among), allowed)
        dense_rank = {c: i for i, (c, _s) in enumerate(dense, 1)}
        sparse_rank = {c: i for i, (c, _s) in enumerate(sparse, 1)}
        fused = rrf_fuse([[c for c, _ in dense], [c for c, _ in sparse]], self.weights, self.rrf_k)
        picked = self._collapse(fused, k)
        cosines = dict(dense)
        missing = [c for c, _s, _ch in picked if c not in cosines]
        cosines.update(self.index.dense_scores(qvec, missing))
        hits = []
        for chunk_id, score, chunk in picked:
            meta = self.index.meta(chunk.doc_id) or DocMeta(chunk.doc_id, "", "", None)
            hits.append(
                Hit(chunk, meta, score, cosines.get(chunk_id), dense_rank.get(chunk_id), sparse_rank.get(chunk_id))
            )
        return hits

    def _collapse(self, fused: list[tuple[str, float]], k: int) -> list[tuple[str, float, Chunk]]:
        """Walk the fused list, dropping near-duplicate repeats, until ``k`` hits are kept."""
        kept: list[tuple[str, float, Chunk]] = []
        grams: dict[str, set[str]] = {}
        pos = 0
        while len(kept) < k and pos < len(fused):
            batch = fused[pos : pos + max(2 * k, 10)]
            pos += len(batch)
            chunks = self.index.get_chunks([c for c, _ in batch])
            for chunk_id, score in batch:
                chunk = chunks.get(chunk_id)
                if chunk is None or len(kept) >= k:
                    continue
                if self.collapse and self._is_repeat(chunk, kept, grams):
                    continue
                kept.append((chunk_id, score, chunk))
        return kept

    def _is_repeat(self, chunk: Chunk, kept: list[tuple[str, float, Chunk]], grams: dict[str, set[str]]) -> bool:
        dups = set(self.index.near_duplicates(chunk.doc_id))
        if not dups:
            return False
        mine = shingles(chunk.text)
        for other_id, _score, other in kept:
            if other.doc_id in dups and not self._withheld(other):  # a doctored copy hides nothing
                theirs = grams.setdefault(other_id, shingles(other.text))
                if jaccard(mine, theirs) > self.collapse_jaccard:
                    return True
        return False

    def _withheld(self, chunk: Chunk) -> bool:
        """Whether a chunk's article addresses the model (never evidence: see rag.text.injection)."""
        meta = self.index.meta(chunk.doc_id)
        return bool(chunk.flagged) or (meta is not None and INJECTION_FLAG in meta.flags)

    def neighbours(self, chunk_id: str, before: int = 1, after: int = 1) -> list[Chunk]:
        """The chunk and up to ``before``/``after`` adjacent chunks of its document, in order."""
        return self.index.neighbours(chunk_id, before, after)
