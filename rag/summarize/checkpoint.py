"""Resumable ``summarize --all``: every finished region is appended to a checkpoint file.

The file (JSON lines, in the index folder) starts with a header naming what the results
depend on (index generation, backend, summary settings, the region list); each further line
is one region: its Markdown and JSON, or the reason it was skipped. A rerun of the same job
reads the finished regions back and summarises only the rest; a header that does not match
(re-ingested index, other backend or settings) starts the file over. A line cut short by a
kill is ignored. The file is removed once the whole job has been written out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["SummaryCheckpoint", "summary_checkpoint_path"]

FORMAT = "summarize-all-1"
log = logging.getLogger(__name__)


def summary_checkpoint_path(index_dir: str | Path, backend: str) -> Path:
    """Where ``summarize --all`` with ``backend`` keeps its progress for the index at ``index_dir``."""
    safe = re.sub(r"[^\w.-]+", "_", backend) or "default"
    return Path(index_dir) / f"summarize-all.{safe}.partial.jsonl"


def _digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()[:16]


class SummaryCheckpoint:
    """Finished regions of one ``summarize --all`` job, read back on a rerun and appended to as regions finish.

    Args:
        path: the checkpoint file (:func:`summary_checkpoint_path`).
        key: what the results depend on (JSON-able); a file with another key is started over.
        names: the job's regions, in order (part of the key).
    """

    def __init__(self, path: str | Path, key: dict[str, Any], names: list[str]):
        self.path = Path(path)
        self.header = {"format": FORMAT, "key": key, "regions": len(names), "regions_sha": _digest(names)}
        self.done: dict[str, dict[str, Any]] = {}
        self._fh = None
        self._open(set(names))

    def _open(self, wanted: set[str]) -> None:
        lines = self._read()
        if lines and lines[0] == self.header:
            self.done = {e["region"]: e for e in lines[1:] if isinstance(e, dict) and e.get("region") in wanted}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.done or (lines and lines[0] == self.header):
                self._fh = open(self.path, "a", encoding="utf-8")
                self._rewrite_if_torn()
            else:
                self._fh = open(self.path, "w", encoding="utf-8")
                self._write(self.header)
        except OSError as exc:  # read-only index folder: the job still runs, without resume
            log.warning("无法写入进度文件 %s：%s（本次中断后无法续跑）", self.path, exc)
            self._fh = None

    def _read(self) -> list[Any]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, OSError, UnicodeDecodeError):
            return []
        out = []
        for line in raw.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:  # the last line of a killed run may be cut short
                continue
        return out

    def _rewrite_if_torn(self) -> None:
        """Start a fresh line when the file does not end with one (a write cut by a kill)."""
        with open(self.path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
        if torn and self._fh is not None:
            self._fh.write("\n")
            self._fh.flush()

    def _write(self, obj: dict[str, Any]) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    @property
    def resumable(self) -> bool:
        """Whether finished regions are being saved (False when the folder is read-only)."""
        return self._fh is not None

    def add_summary(self, name: str, markdown: str, data: dict[str, Any]) -> None:
        """Record a finished region: its Markdown and JSON."""
        entry = {"region": name, "markdown": markdown, "json": data}
        self.done[name] = entry
        self._write(entry)

    def add_skipped(self, name: str, reason: str) -> None:
        """Record a region that has nothing to summarise."""
        entry = {"region": name, "skipped": reason}
        self.done[name] = entry
        self._write(entry)

    def close(self, *, remove: bool = False) -> None:
        """Close the file; ``remove``: the job is complete, delete it."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if remove:
            self.path.unlink(missing_ok=True)
