"""SQLite document/chunk store of one index generation.

Tables: ``docs`` (metadata, normalised text, original text when it differs, zlib-compressed
raw text and raw offsets), ``chunks`` (spans into the document text, the sha256 of the chunk
text for the embedding cache, the vector row, the BM25 tokens), ``near_dups`` (symmetric
pairs) and ``signatures`` (near-duplicate sketches the ingester keeps between runs).
Chunk text is never stored twice: it is ``substr`` of the document text.

``chunks.flagged`` holds the chunk's spans of suspected instructions to the model as JSON
(``""`` = none). Stores written before that column existed (or rows with NULL) are checked
when read (:func:`rag.text.injection.injected_spans` on the chunk text), so an older index
is protected too; a writer adds the column to the copy it works on.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import logging
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from rag.text.hashing import text_hash
from rag.text.injection import injected_spans
from rag.types import Chunk, DocMeta, Document

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS docs(
    doc_id TEXT PRIMARY KEY, title TEXT, source TEXT, date TEXT, url TEXT, path TEXT,
    text TEXT NOT NULL, original TEXT, raw BLOB, raw_offsets BLOB, content_hash TEXT,
    encoding TEXT, script TEXT, flags TEXT, params_key TEXT);
CREATE TABLE IF NOT EXISTS chunks(
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER, start INTEGER,
    "end" INTEGER, text_hash TEXT, row INTEGER, tokens TEXT, flagged TEXT);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, ordinal);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(text_hash);
CREATE TABLE IF NOT EXISTS near_dups(doc_id TEXT, other TEXT, PRIMARY KEY(doc_id, other));
CREATE TABLE IF NOT EXISTS signatures(doc_id TEXT PRIMARY KEY, dtype TEXT, data BLOB);
"""

_CHUNK_COLUMNS = (
    'SELECT c.chunk_id, c.doc_id, c.ordinal, c.start, c."end", '
    "substr(d.text, c.start + 1, c.\"end\" - c.start), "
    "substr(coalesce(d.original, d.text), c.start + 1, c.\"end\" - c.start), {flagged} "
    "FROM chunks c JOIN docs d ON d.doc_id = c.doc_id"
)
_CHUNK_SQL = _CHUNK_COLUMNS.format(flagged="c.flagged")
_CHUNK_SQL_OLD = _CHUNK_COLUMNS.format(flagged="NULL")
_TOKEN_SEP = " "


def params_key(params: dict[str, Any] | None) -> str:
    """Short stable hash of the chunking parameters a document was split with."""
    return hashlib.sha256(json.dumps(params or {}, sort_keys=True).encode()).hexdigest()[:16]


def encode_offsets(offsets: Sequence[int]) -> bytes:
    """Raw offsets as zlib-compressed int32 deltas (mostly 1s, so they shrink to almost nothing)."""
    arr = np.asarray(offsets, dtype=np.int64)
    if arr.size == 0:
        return b""
    deltas = np.diff(arr, prepend=0).astype(np.int32)
    return zlib.compress(deltas.tobytes(), 6)


def decode_offsets(blob: bytes | None) -> list[int]:
    """Inverse of :func:`encode_offsets`."""
    if not blob:
        return []
    deltas = np.frombuffer(zlib.decompress(blob), dtype=np.int32)
    return np.cumsum(deltas, dtype=np.int64).tolist()


def encode_flagged(spans: Sequence[Sequence[int]]) -> str:
    """Chunk-relative spans as stored in ``chunks.flagged`` (``""`` = none)."""
    return json.dumps([[int(a), int(b)] for a, b in spans]) if spans else ""


def decode_flagged(value: str | None, text: str) -> list[tuple[int, int]]:
    """Inverse of :func:`encode_flagged`; NULL (an older store) is detected from ``text``."""
    if value is None:
        return injected_spans(text)
    return [(int(a), int(b)) for a, b in json.loads(value)] if value else []


def _row_to_chunk(row: Sequence[Any]) -> Chunk:
    return Chunk(row[0], row[1], row[2], row[5], row[6], row[3], row[4], decode_flagged(row[7], row[5]))


def _has_flag_column(conn: sqlite3.Connection) -> bool:
    return any(r[1] == "flagged" for r in conn.execute("PRAGMA table_info(chunks)"))


class Store:
    """One generation's ``store.sqlite``; thread-safe for readers (one lock per connection)."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path
        self._lock = threading.RLock()
        #: False for a store written before injection flags were recorded (checked when read)
        self.records_flags = _has_flag_column(conn)
        self._chunk_sql = _CHUNK_SQL if self.records_flags else _CHUNK_SQL_OLD

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open_readonly(cls, path: Path) -> "Store":
        """Open a committed (immutable) store without locks or journals."""
        uri = f"file:{path.as_posix()}?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM docs").fetchone()  # fail now if not a store
        store = cls(conn, path)
        if not store.records_flags:
            log.info("索引 %s 建于指令文本检测之前：检索时临时检测；重新导入（ingest --rebuild）会把结果存入索引。", path)
        return store

    @classmethod
    def create(cls, path: Path, source: Path | None = None) -> "Store":
        """Create a writable store at ``path``, copying ``source`` (sqlite backup API) if given."""
        conn = sqlite3.connect(path, check_same_thread=False)
        if source is not None:
            src = sqlite3.connect(f"file:{source.as_posix()}?mode=ro&immutable=1", uri=True)
            try:
                src.backup(conn)
            finally:
                src.close()
        conn.execute("PRAGMA journal_mode=MEMORY")
        conn.execute("PRAGMA synchronous=OFF")
        conn.executescript(_SCHEMA)
        if not _has_flag_column(conn):  # a copy of an older store: old rows stay NULL (checked when read)
            conn.execute("ALTER TABLE chunks ADD COLUMN flagged TEXT")
        conn.commit()
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # -- reading -----------------------------------------------------------------------------
    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        with self._lock:
            docs = self.conn.execute("SELECT count(*) FROM docs").fetchone()[0]
            chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return docs, chunks

    def row_order(self) -> list[tuple[str, str, int]]:
        """[(chunk_id, doc_id, row)] sorted by vector row."""
        with self._lock:
            return self.conn.execute('SELECT chunk_id, doc_id, row FROM chunks ORDER BY row').fetchall()

    def doc_metas(self) -> list[DocMeta]:
        """Metadata of every document with chunk counts and near-duplicates, sorted by doc_id."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT d.doc_id, d.title, d.source, d.date, d.url, d.path, d.flags, "
                "(SELECT count(*) FROM chunks c WHERE c.doc_id = d.doc_id) FROM docs d ORDER BY d.doc_id"
            ).fetchall()
            pairs = self.conn.execute(
                "SELECT n.doc_id, n.other FROM near_dups n JOIN docs d ON d.doc_id = n.other ORDER BY n.other"
            ).fetchall()
        dups: dict[str, list[str]] = {}
        for a, b in pairs:
            dups.setdefault(a, []).append(b)
        return [
            DocMeta(
                r[0], r[1] or "", r[2] or "", r[3], r[4], r[5] or "", json.loads(r[6] or "[]"), r[7], dups.get(r[0], [])
            )
            for r in rows
        ]

    def get_doc(self, doc_id: str) -> Document | None:
        """The full document, or None."""
        with self._lock:
            r = self.conn.execute(
                "SELECT doc_id, title, source, date, url, path, text, original, raw, raw_offsets, "
                "content_hash, encoding, script, flags FROM docs WHERE doc_id = ?",
                (doc_id,),
            ).fetchone()
        if r is None:
            return None
        raw = zlib.decompress(r[8]).decode("utf-8") if r[8] else ""
        return Document(
            doc_id=r[0], title=r[1] or "", source=r[2] or "", date=r[3], url=r[4], path=r[5] or "",
            original=r[7] if r[7] is not None else r[6], text=r[6], raw=raw,
            raw_offsets=decode_offsets(r[9]), content_hash=r[10] or "", encoding=r[11] or "utf-8",
            script=r[12] or "simplified", flags=json.loads(r[13] or "[]"), injected=injected_spans(r[6]),
        )

    def doc_hash(self, doc_id: str) -> tuple[str, str] | None:
        """(content_hash, params_key) of a stored document, or None."""
        with self._lock:
            r = self.conn.execute("SELECT content_hash, params_key FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if r is None else (r[0], r[1])

    def doc_versions(self) -> dict[str, tuple[str, str]]:
        """{doc_id: (content_hash, params_key)} of every document."""
        with self._lock:
            rows = self.conn.execute("SELECT doc_id, content_hash, params_key FROM docs").fetchall()
        return {d: (h or "", k or "") for d, h, k in rows}

    def get_chunks(self, chunk_ids: Iterable[str]) -> dict[str, Chunk]:
        """{chunk_id: Chunk} for the ids that exist (batched ``IN`` queries)."""
        ids = list(dict.fromkeys(chunk_ids))
        out: dict[str, Chunk] = {}
        with self._lock:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                sql = f"{self._chunk_sql} WHERE c.chunk_id IN ({','.join('?' * len(part))})"
                for row in self.conn.execute(sql, part):
                    out[row[0]] = _row_to_chunk(row)
        return out

    def chunks_of(self, doc_id: str, lo: int | None = None, hi: int | None = None) -> list[Chunk]:
        """Chunks of a document in order, optionally only ordinals ``lo..hi`` (inclusive)."""
        lo = -(1 << 62) if lo is None else lo
        hi = (1 << 62) if hi is None else hi
        with self._lock:
            rows = self.conn.execute(
                f"{self._chunk_sql} WHERE c.doc_id = ? AND c.ordinal BETWEEN ? AND ? ORDER BY c.ordinal",
                (doc_id, lo, hi),
            ).fetchall()
        return [_row_to_chunk(r) for r in rows]

    def chunk_position(self, chunk_id: str) -> tuple[str, int] | None:
        """(doc_id, ordinal) of a chunk, or None."""
        with self._lock:
            r = self.conn.execute("SELECT doc_id, ordinal FROM chunks WHERE chunk_id = ?", (chunk_id,)).fetchone()
        return None if r is None else (r[0], r[1])

    def near_duplicates(self, doc_id: str) -> list[str]:
        """Stored documents marked as near-duplicates of ``doc_id``."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT n.other FROM near_dups n JOIN docs d ON d.doc_id = n.other WHERE n.doc_id = ? ORDER BY n.other",
                (doc_id,),
            ).fetchall()
        return [r[0] for r in rows]

    def rows_for_hashes(self, hashes: Sequence[str]) -> dict[str, int]:
        """{text_hash: vector row} for chunk texts already stored."""
        out: dict[str, int] = {}
        uniq = list(dict.fromkeys(hashes))
        with self._lock:
            for i in range(0, len(uniq), 500):
                part = uniq[i : i + 500]
                sql = f"SELECT text_hash, row FROM chunks WHERE text_hash IN ({','.join('?' * len(part))})"
                for h, row in self.conn.execute(sql, part):
                    out.setdefault(h, row)
        return out

    def iter_tokens(self, min_row: int = 0) -> Iterator[tuple[str, list[str], str]]:
        """(chunk_id, stored word tokens, normalised chunk text) in vector-row order, rows >= min_row."""
        sql = (
            'SELECT c.chunk_id, c.tokens, substr(d.text, c.start + 1, c."end" - c.start) '
            "FROM chunks c JOIN docs d ON d.doc_id = c.doc_id WHERE c.row >= ? ORDER BY c.row"
        )
        with self._lock:
            for chunk_id, tokens, text in self.conn.execute(sql, (min_row,)):
                yield chunk_id, tokens.split(_TOKEN_SEP) if tokens else [], text

    def signatures(self) -> dict[str, np.ndarray]:
        """Near-duplicate sketches of the stored documents."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT s.doc_id, s.dtype, s.data FROM signatures s JOIN docs d ON d.doc_id = s.doc_id"
            ).fetchall()
        return {doc_id: np.frombuffer(data, dtype=np.dtype(dtype)).copy() for doc_id, dtype, data in rows}

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            r = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if r is None else r[0]

    # -- writing (writer's own store only) ----------------------------------------------------
    def put_document(
        self,
        doc: Document,
        chunks: Sequence[Chunk],
        rows: Sequence[int],
        tokens: Sequence[Sequence[str]],
        near_duplicates: Sequence[str],
        params: str,
    ) -> list[tuple[str, int]]:
        """Insert (or replace) a document and its chunks in one transaction.

        Returns:
            [(text_hash, row)] of the chunks the replaced version had (for the embedding cache).
        """
        raw = zlib.compress(doc.raw.encode("utf-8"), 6) if doc.raw else b""
        original = None if doc.original == doc.text else doc.original
        with self._lock, self.conn:
            old = self._delete_rows(doc.doc_id, keep_signature=True)
            self.conn.execute(
                "INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (doc.doc_id, doc.title, doc.source, doc.date, doc.url, doc.path, doc.text, original, raw,
                 encode_offsets(doc.raw_offsets), doc.content_hash, doc.encoding, doc.script,
                 json.dumps(list(doc.flags), ensure_ascii=False), params),
            )
            self.conn.executemany(
                'INSERT INTO chunks (chunk_id, doc_id, ordinal, start, "end", text_hash, row, tokens, flagged) '
                "VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (c.chunk_id, doc.doc_id, c.ordinal, c.start, c.end, text_hash(c.text), row, _TOKEN_SEP.join(tok),
                     encode_flagged(c.flagged))
                    for c, row, tok in zip(chunks, rows, tokens)
                ],
            )
            pairs = [(doc.doc_id, o) for o in near_duplicates if o != doc.doc_id]
            self.conn.executemany("INSERT OR IGNORE INTO near_dups VALUES (?,?)", pairs)
            self.conn.executemany("INSERT OR IGNORE INTO near_dups VALUES (?,?)", [(b, a) for a, b in pairs])
        return old

    def delete_document(self, doc_id: str) -> list[tuple[str, int]] | None:
        """Delete a document, its chunks, pairs and signature; None when it was not stored."""
        with self._lock, self.conn:
            if self.conn.execute("SELECT 1 FROM docs WHERE doc_id = ?", (doc_id,)).fetchone() is None:
                return None
            return self._delete_rows(doc_id, keep_signature=False)

    def _delete_rows(self, doc_id: str, *, keep_signature: bool) -> list[tuple[str, int]]:
        old = self.conn.execute("SELECT text_hash, row FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
        self.conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self.conn.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,))
        self.conn.execute("DELETE FROM near_dups WHERE doc_id = ? OR other = ?", (doc_id, doc_id))
        if not keep_signature:
            self.conn.execute("DELETE FROM signatures WHERE doc_id = ?", (doc_id,))
        return [(h, r) for h, r in old]

    def set_signature(self, doc_id: str, signature: np.ndarray) -> None:
        arr = np.ascontiguousarray(signature)
        with self._lock, self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO signatures VALUES (?,?,?)", (doc_id, arr.dtype.str, arr.tobytes())
            )

    def set_rows(self, updates: Sequence[tuple[int, str]]) -> None:
        """Apply ``[(new_row, chunk_id)]`` after the vectors were compacted."""
        with self._lock, self.conn:
            self.conn.executemany("UPDATE chunks SET row = ? WHERE chunk_id = ?", updates)

    def set_tokens(self, updates: Sequence[tuple[str, str]]) -> None:
        """Apply ``[(joined tokens, chunk_id)]`` (after a tokenizer change)."""
        with self._lock, self.conn:
            self.conn.executemany("UPDATE chunks SET tokens = ? WHERE chunk_id = ?", updates)

    def all_chunk_texts(self) -> list[tuple[str, str]]:
        """[(chunk_id, normalised text)] of every chunk."""
        with self._lock:
            return [(r[0], r[5]) for r in self.conn.execute(self._chunk_sql).fetchall()]

    def finish(self, meta: dict[str, str]) -> None:
        """Record meta values, drop orphan signatures, commit and close (the writer's last step)."""
        with self._lock:
            with self.conn:
                self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", list(meta.items()))
                self.conn.execute("DELETE FROM signatures WHERE doc_id NOT IN (SELECT doc_id FROM docs)")
            free = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            if pages and free > pages // 4:
                self.conn.execute("VACUUM")
            self.conn.close()
