"""The single-writer lock of an index folder and what a killed writer leaves behind.

One writer at a time holds ``fcntl.flock`` on ``.writer.lock``. A writer that dies leaves
``tmp-…`` working copies and, sometimes, generations neither live nor previous: harmless,
listed by ``index check``, removed by the next writer or ``index repair``.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from rag.index.manifest import GEN_PREFIX, TMP_PREFIX, IndexLockedError, tree_size

LOCK_FILE = ".writer.lock"


def lock_writer(path: Path) -> int:
    """Take the writer lock of the index folder ``path`` without waiting; returns its fd.

    Raises:
        IndexLockedError: another process holds it.
    """
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise IndexLockedError(path) from None
    return fd


def unlock_writer(fd: int) -> None:
    """Release a lock taken by :func:`lock_writer`."""
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold the writer lock for a block (raises :class:`IndexLockedError` when taken)."""
    fd = lock_writer(path)
    try:
        yield
    finally:
        unlock_writer(fd)


def stale_dirs(path: Path, manifest: dict[str, Any] | None) -> list[Path]:
    """``tmp-…`` folders and, when the manifest is readable, generation folders that are
    neither live nor previous (without a manifest nothing is known to be stale: every
    generation is kept)."""
    keep = {manifest.get("generation_dir"), manifest.get("previous_generation_dir")} if manifest else None
    found = []
    for p in sorted(path.iterdir()):
        stale_gen = keep is not None and p.name.startswith(GEN_PREFIX) and p.name not in keep
        if p.is_dir() and (p.name.startswith(TMP_PREFIX) or stale_gen):
            found.append(p)
    return found


def leftovers(path: Path, manifest: dict[str, Any] | None, *, check_lock: bool = True) -> tuple[list[tuple[str, int]], bool]:
    """(crash leftovers as (name, bytes), whether a writer holds the lock now).

    Leftovers are ``tmp-…`` folders and, when the manifest is readable, generation folders that
    are neither live nor previous: what the next writer removes.
    """
    found = [(p.name, tree_size(p)) for p in stale_dirs(path, manifest)]
    if not check_lock:
        return found, False
    try:
        with writer_lock(path):
            writing = False
    except IndexLockedError:
        writing = True
    return found, writing
