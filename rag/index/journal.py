"""Resume journal: vectors embedded since the last committed checkpoint, kept on disk.

Embedding is nearly all of an ingest's time, while a full checkpoint (a new generation) costs
more as the index grows. So the ingester appends every embedded group's vectors here (a few
hundred KB, fsynced) and commits generations less often; after a kill, the restarted ingest
finds the lost documents' chunk texts here and does not embed them again. Entries are keyed
by the sha256 of the chunk text, like the index's own embedding cache, so a stale entry can
only ever supply the vector of the same text under the same model.

File ``<index>/resume-vectors.bin``: a JSON header line (model, dim, version), then blocks of
``magic | count | crc32 | count × (32-byte digest + dim float32)``. A torn or damaged block
ends the file (everything before it is kept). The journal is emptied after each commit.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["VectorJournal", "JOURNAL_FILE"]

JOURNAL_FILE = "resume-vectors.bin"
_VERSION = 1
_MAGIC = b"SHVJ"
_BLOCK = struct.Struct("<4sII")


class VectorJournal:
    """Append-only (text hash → vector) store for one model in one index folder.

    Args:
        folder: the index folder.
        model: embedding model name (a journal of another model is discarded).
        dim: vector dimension.
    """

    def __init__(self, folder: Path, model: str, dim: int):
        self.path = Path(folder) / JOURNAL_FILE
        self.model, self.dim = model, int(dim)
        self._header = (json.dumps({"model": model, "dim": self.dim, "version": _VERSION}) + "\n").encode()
        self._rows: dict[str, np.ndarray] = {}
        self._load()

    # -- reading --------------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        if not data.startswith(self._header):
            self.clear()  # another model, another format or garbage: nothing usable
            return
        rec = 32 + 4 * self.dim
        pos, good = len(self._header), len(self._header)
        while pos + _BLOCK.size <= len(data):
            magic, count, crc = _BLOCK.unpack_from(data, pos)
            payload = data[pos + _BLOCK.size:pos + _BLOCK.size + count * rec]
            if magic != _MAGIC or len(payload) != count * rec or zlib.crc32(payload) != crc:
                break
            for i in range(count):
                part = payload[i * rec:(i + 1) * rec]
                self._rows[part[:32].hex()] = np.frombuffer(part[32:], dtype="<f4").copy()
            pos += _BLOCK.size + count * rec
            good = pos
        if good < len(data):  # drop a torn tail so later appends stay readable
            with open(self.path, "r+b") as fh:
                fh.truncate(good)

    def __len__(self) -> int:
        return len(self._rows)

    def lookup_keys(self) -> list[str]:
        """Every text hash held."""
        return list(self._rows)

    def lookup(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """{hash: vector} for the text hashes the journal holds."""
        return {h: self._rows[h] for h in hashes if h in self._rows}

    # -- writing --------------------------------------------------------------------------------
    def _block(self, entries: list[tuple[str, np.ndarray]]) -> bytes:
        payload = b"".join(bytes.fromhex(h) + np.ascontiguousarray(v, dtype="<f4").tobytes() for h, v in entries)
        return _BLOCK.pack(_MAGIC, len(entries), zlib.crc32(payload)) + payload

    def append(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors (one row per hash) durably: written, flushed and fsynced as one block."""
        vecs = np.asarray(vectors, dtype="<f4").reshape(len(hashes), self.dim)
        new = [(h, v) for h, v in zip(hashes, vecs) if h not in self._rows]
        if not new:
            return
        with open(self.path, "ab") as fh:
            if fh.tell() == 0:
                fh.write(self._header)
            fh.write(self._block(new))
            fh.flush()
            os.fsync(fh.fileno())
        self._rows.update((h, v.copy()) for h, v in new)

    def drop(self, hashes: set[str]) -> None:
        """Forget ``hashes`` (committed to the index now); the rest is rewritten atomically."""
        if not hashes & self._rows.keys():
            return
        keep = [(h, v) for h, v in self._rows.items() if h not in hashes]
        if not keep:
            self.clear()
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(self._header + self._block(keep))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._rows = dict(keep)

    def clear(self) -> None:
        """Forget everything (the index holds these vectors now, or they are unusable)."""
        self._rows.clear()
        self.path.unlink(missing_ok=True)
