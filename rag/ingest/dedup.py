"""Near-duplicate articles: MinHash over character shingles plus shared numeric facts, with LSH.

Two kinds of "the same article" occur in scraped news:

* reposts: the same text with different page furniture -> high character-shingle Jaccard;
* different write-ups of one story (seeds 000 and 002): few shared phrases (5-gram Jaccard
  ~0.04) but the same specific figures (``208个``, ``3.3%``...).

A signature therefore has two parts: ``num_perm`` MinHash values over character shingles of
the text (punctuation and spaces removed), then ``FACT_SLOTS`` bottom-k hashes of its
numeric facts (number + unit, years and small counts left out). The similarity of two
signatures is ``max(char Jaccard estimate, fact overlap)``, where the fact overlap (shared
facts / facts of the shorter list) only counts when at least ``MIN_SHARED_FACTS`` are shared. The index finds candidates by banded
LSH on the MinHash part and an inverted index on fact hashes, then scores them exactly on
the signatures, so a query costs a few dictionary look-ups, not a scan of the corpus.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict
from typing import Iterable

import numpy as np

FACT_SLOTS = 64
MIN_SHARED_FACTS = 3
_EMPTY = np.uint32(0xFFFFFFFF)
_PRIME_BASE = np.uint64(1_000_003)
_SEED = 20240611
_STRIP_RE = re.compile(r"[\W_]+", re.UNICODE)
_FACT_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(%|[万亿]*[\u4e00-\u9fff])")
_DATE_UNITS = set("年月日号时点分秒")


def _prep(text: str) -> str:
    return _STRIP_RE.sub("", text).lower()


def _perm_seeds(num_perm: int) -> np.ndarray:
    return np.random.default_rng(_SEED).integers(0, 2**63 - 1, size=num_perm, dtype=np.uint64)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-mixed 64-bit hash of each element."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def shingle_hashes(text: str, shingle: int = 5) -> np.ndarray:
    """Unique 64-bit hashes of the character ``shingle``-grams of ``text`` (punctuation removed)."""
    s = _prep(text)
    if not s:
        return np.zeros(0, dtype=np.uint64)
    codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    k = min(shingle, len(codes))
    n = len(codes) - k + 1
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _PRIME_BASE + codes[j:j + n]
    return np.unique(_mix64(h))


def facts(text: str) -> set[str]:
    """Distinctive numeric facts: number + unit, without years/dates and counts below 20."""
    out = set()
    for m in _FACT_RE.finditer(text):
        num, unit = m.group(1), m.group(2)
        if unit[0] in _DATE_UNITS:
            continue
        if "." in num or unit == "%" or unit[0] in "万亿" or float(num) >= 20:
            out.add(num + unit)
    return out


def _fact_sketch(text: str) -> np.ndarray:
    hs = sorted({zlib.crc32(f.encode("utf-8")) & 0xFFFFFFFE for f in facts(text)})[:FACT_SLOTS]
    out = np.full(FACT_SLOTS, _EMPTY, dtype=np.uint32)
    out[: len(hs)] = hs
    return out


def minhash_signature(text: str, *, num_perm: int = 64, shingle: int = 5) -> np.ndarray:
    """Signature of ``text``: ``num_perm`` MinHash values, then ``FACT_SLOTS`` fact hashes.

    Args:
        text: normalised document text.
        num_perm: number of MinHash permutations (char-shingle part).
        shingle: shingle length in characters.

    Returns:
        ``uint32`` array of length ``num_perm + FACT_SLOTS`` (empty slots = 0xFFFFFFFF).
    """
    hashes = shingle_hashes(text, shingle)
    mins = np.full(num_perm, _EMPTY, dtype=np.uint32)
    if len(hashes):
        seeds = _perm_seeds(num_perm)
        block = 4096
        for i in range(0, len(hashes), block):
            vals = _mix64(hashes[None, i:i + block] ^ seeds[:, None]) >> np.uint64(32)
            mins = np.minimum(mins, vals.min(axis=1).astype(np.uint32))
        mins[mins == _EMPTY] -= np.uint32(1)  # keep 0xFFFFFFFF for "empty"
    return np.concatenate([mins, _fact_sketch(text)])


def jaccard(a: str, b: str, shingle: int = 5) -> float:
    """Exact Jaccard similarity of the character-shingle sets of two texts."""
    x, y = set(shingle_hashes(a, shingle).tolist()), set(shingle_hashes(b, shingle).tolist())
    if not x and not y:
        return 1.0
    return len(x & y) / len(x | y)


def fact_overlap(a: str, b: str) -> tuple[float, int]:
    """(shared facts / facts of the text with fewer, number of shared facts) of two texts."""
    x, y = facts(a), facts(b)
    if not x or not y:
        return 0.0, 0
    return len(x & y) / min(len(x), len(y)), len(x & y)


def _fact_part(sig_a: np.ndarray, sig_b: np.ndarray) -> tuple[float, int]:
    """(overlap coefficient, shared count) of two bottom-k fact sketches.

    Exact when both sketches hold their full fact sets (fewer than FACT_SLOTS facts);
    otherwise the shared count is taken among the k smallest hashes of the union.
    """
    fa = sig_a[sig_a != _EMPTY]
    fb = sig_b[sig_b != _EMPTY]
    if not len(fa) or not len(fb):
        return 0.0, 0
    if len(fa) < FACT_SLOTS and len(fb) < FACT_SLOTS:
        shared = len(np.intersect1d(fa, fb))
        return shared / min(len(fa), len(fb)), shared
    cut = np.union1d(fa, fb)[:FACT_SLOTS]
    shared = len(np.intersect1d(np.intersect1d(fa, fb), cut))
    return shared / min(len(fa), len(fb), len(cut)), shared


def signature_similarity(sig_a: np.ndarray, sig_b: np.ndarray, num_perm: int = 64) -> float:
    """Similarity of two signatures: max(char-shingle Jaccard estimate, fact overlap).

    The fact overlap (shared facts / facts of the smaller set) only counts when at least
    ``MIN_SHARED_FACTS`` facts are shared.
    """
    ma, mb = sig_a[:num_perm], sig_b[:num_perm]
    valid = (ma != _EMPTY) | (mb != _EMPTY)
    char = float(np.mean(ma[valid] == mb[valid])) if valid.any() else 0.0
    overlap, shared = _fact_part(sig_a[num_perm:], sig_b[num_perm:])
    return max(char, overlap if shared >= MIN_SHARED_FACTS else 0.0)


class NearDuplicateIndex:
    """Finds near-duplicate documents among many (LSH bands + fact postings).

    Args:
        num_perm: MinHash part length of the signatures (must match ``minhash_signature``).
        bands: LSH bands over the MinHash part; ``num_perm // bands`` rows each. The default
            (32 bands x 2 rows) makes a pair with char Jaccard 0.35 a candidate with
            probability 0.98 and one with 0.05 with probability 0.08.
    """

    def __init__(self, num_perm: int = 64, bands: int = 32) -> None:
        if num_perm % bands:
            raise ValueError("num_perm 必须是 bands 的整数倍")
        self.num_perm = num_perm
        self.bands = bands
        self.rows = num_perm // bands
        self._sigs: dict[str, np.ndarray] = {}
        self._buckets: list[dict[bytes, set[str]]] = [defaultdict(set) for _ in range(bands)]
        self._facts: dict[int, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._sigs)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._sigs

    def _band_keys(self, sig: np.ndarray) -> Iterable[tuple[int, bytes]]:
        mins = sig[: self.num_perm]
        if np.all(mins == _EMPTY):
            return
        for band in range(self.bands):
            yield band, mins[band * self.rows:(band + 1) * self.rows].tobytes()

    def _fact_keys(self, sig: np.ndarray) -> list[int]:
        part = sig[self.num_perm:]
        return [int(h) for h in part[part != _EMPTY]]

    def add(self, doc_id: str, sig: np.ndarray) -> None:
        """Add (or replace) a document's signature."""
        if doc_id in self._sigs:
            self.remove(doc_id)
        sig = np.asarray(sig, dtype=np.uint32)
        self._sigs[doc_id] = sig
        for band, key in self._band_keys(sig):
            self._buckets[band][key].add(doc_id)
        for h in self._fact_keys(sig):
            self._facts[h].add(doc_id)

    def remove(self, doc_id: str) -> None:
        """Forget a document (no error if unknown)."""
        sig = self._sigs.pop(doc_id, None)
        if sig is None:
            return
        for band, key in self._band_keys(sig):
            bucket = self._buckets[band].get(key)
            if bucket is not None:
                bucket.discard(doc_id)
                if not bucket:
                    del self._buckets[band][key]
        for h in self._fact_keys(sig):
            posting = self._facts.get(h)
            if posting is not None:
                posting.discard(doc_id)
                if not posting:
                    del self._facts[h]

    def candidates(self, sig: np.ndarray) -> set[str]:
        """Documents sharing an LSH band or at least ``MIN_SHARED_FACTS`` facts with ``sig``."""
        found: set[str] = set()
        for band, key in self._band_keys(sig):
            found |= self._buckets[band].get(key, set())
        counts: Counter[str] = Counter()
        for h in self._fact_keys(sig):
            counts.update(self._facts.get(h, ()))
        found |= {d for d, c in counts.items() if c >= MIN_SHARED_FACTS}
        return found

    def query(self, sig: np.ndarray, *, min_similarity: float = 0.0, exclude: str | None = None) -> list[tuple[str, float]]:
        """Candidates with their estimated similarity, best first.

        Args:
            sig: a signature from ``minhash_signature``.
            min_similarity: drop candidates below this similarity.
            exclude: a doc_id to leave out (the query document itself).
        """
        sig = np.asarray(sig, dtype=np.uint32)
        out = []
        for doc_id in self.candidates(sig):
            if doc_id == exclude:
                continue
            s = signature_similarity(sig, self._sigs[doc_id], self.num_perm)
            if s >= min_similarity and s > 0:
                out.append((doc_id, s))
        out.sort(key=lambda t: (-t[1], t[0]))
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for persistence (e.g. ``np.savez``): ids, signatures, parameters."""
        ids = sorted(self._sigs)
        width = self.num_perm + FACT_SLOTS
        sigs = np.stack([self._sigs[i] for i in ids]) if ids else np.zeros((0, width), dtype=np.uint32)
        return {
            "ids": np.array(ids, dtype=np.str_),
            "signatures": sigs.astype(np.uint32),
            "params": np.array([self.num_perm, self.bands, FACT_SLOTS], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "NearDuplicateIndex":
        """Rebuild an index saved with ``to_arrays``."""
        num_perm, bands, slots = (int(x) for x in arrays["params"])
        if slots != FACT_SLOTS:
            raise ValueError(f"近重复索引格式不兼容（事实槽位 {slots} ≠ {FACT_SLOTS}），请重新导入语料")
        index = cls(num_perm=num_perm, bands=bands)
        for doc_id, sig in zip(arrays["ids"].tolist(), arrays["signatures"]):
            index.add(str(doc_id), sig)
        return index
