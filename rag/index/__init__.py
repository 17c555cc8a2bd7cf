"""The index folder: SQLite doc/chunk store, FAISS vectors, BM25, manifest; atomic commits.

Public API: :class:`Index` (read-only snapshot), :class:`IndexWriter` (incremental, atomic
commit) and the errors raised when an index is missing, built differently or damaged.
"""

from rag.index.folder import (
    SCHEMA_VERSION,
    Index,
    IndexCorruptError,
    IndexDiskFullError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexWriter,
    check_index,
)

__all__ = [
    "SCHEMA_VERSION",
    "Index",
    "IndexWriter",
    "IndexNotFoundError",
    "IndexMismatchError",
    "IndexCorruptError",
    "IndexDiskFullError",
    "IndexLockedError",
    "check_index",
]
