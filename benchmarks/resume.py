"""Kill a real `shanhai ingest` of the CRUD archive, restart it, and measure what was lost.

Usage:
    python benchmarks/resume.py [--kill-after 120] [--restart-for 240] [--index /tmp/ingest-safety/archive]

1. ``shanhai ingest crud_news_sample.jsonl.gz --index INDEX --json`` (real e5 model, default
   config: ``ingest.checkpoint_seconds: 60``) is SIGKILLed ``--kill-after`` seconds after start.
2. What survived: the committed checkpoint (manifest counts), the resume journal (vectors embedded
   after it), the leftovers ``shanhai index check`` reports; the articles whose work was done
   (committed, or every chunk in the journal) and the chunks embedded but lost (the group being
   embedded at the kill, from the killed run's own progress counter).
3. The same command again: where it says it continues, how many vectors it takes from the
   journal, the time until it embeds anything new (= back where the kill stopped it); it is
   stopped gracefully (SIGINT: commits, prints its JSON report) after ``--restart-for`` seconds.

Timings are wall-clock on whatever else the machine runs (loadavg recorded). Writes
benchmarks/results/resume.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, machine, write_result  # noqa: E402

CRUD = SHARED / "corpus" / "external" / "crud_news_sample.jsonl.gz"
_VEC = re.compile(r"向量 (\d+) 段")


class Watched:
    """A child process whose stderr (tqdm \\r updates and note lines) is kept with timestamps."""

    def __init__(self, cmd: list[str], env: dict):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        self.lines: list[tuple[float, str]] = []
        self.stdout = b""
        self._threads = [threading.Thread(target=self._err, daemon=True), threading.Thread(target=self._out, daemon=True)]
        for t in self._threads:
            t.start()

    def _err(self) -> None:
        buf = b""
        while chunk := self.proc.stderr.read1(4096):
            buf += chunk
            *done, buf = re.split(rb"[\r\n]", buf)
            now = time.monotonic() - self.t0
            self.lines += [(now, x.decode("utf-8", "replace")) for x in done if x.strip()]
        if buf.strip():  # tqdm's last status has no line end until the next one: keep it too
            self.lines.append((time.monotonic() - self.t0, buf.decode("utf-8", "replace")))

    def _out(self) -> None:
        self.stdout = self.proc.stdout.read()

    def first(self, pattern: str) -> tuple[float, re.Match] | None:
        rx = re.compile(pattern)
        for t, line in self.lines:
            if m := rx.search(line):
                return t, m
        return None

    def last_vectors(self) -> int:
        found = [int(m.group(1)) for _t, line in self.lines if (m := _VEC.search(line))]
        return max(found, default=0)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        return code


def committed_hashes(index: Path) -> set[str]:
    """Chunk-text hashes of the live generation."""
    from rag.index.manifest import STORE, read_manifest
    from rag.index.store import Store

    manifest = read_manifest(index)
    if not manifest:
        return set()
    store = Store.open_readonly(index / manifest["generation_dir"] / STORE)
    try:
        return {h for (h,) in store.conn.execute("SELECT text_hash FROM chunks")}
    finally:
        store.close()


def saved_articles(committed_docs: int, saved: set[str]) -> tuple[int, int]:
    """(articles after the committed ones whose every chunk vector is saved (journal or index),
    their chunks), counting in input order until the first article with an unsaved chunk."""
    from rag.config import load_config
    from rag.ingest import chunk_params_of, prepare_document, text_hash
    from rag.ingest.loaders import read_raw

    params = chunk_params_of(load_config(environ={}))
    docs = chunks = 0
    for i, raw in enumerate(read_raw(CRUD, max_file_mb=20)):
        if i < committed_docs:
            continue
        prep = prepare_document(raw, params)
        hashes = [text_hash(c.text) for c in prep.chunks] if prep else []
        if hashes and not all(h in saved for h in hashes):
            break
        docs, chunks = docs + 1, chunks + len(hashes)
    return docs, chunks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", default="/tmp/ingest-safety/archive")
    ap.add_argument("--kill-after", type=float, default=120)
    ap.add_argument("--restart-for", type=float, default=240)
    args = ap.parse_args()
    index = Path(args.index)
    shutil.rmtree(index, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SHANHAI_SHARED": str(SHARED)}
    cmd = ["nice", "-n", "10", sys.executable, "-m", "rag", "ingest", str(CRUD), "--index", str(index), "--json"]
    info = {"machine": machine(), "command": "shanhai ingest " + f"{CRUD} --index {index} --json"}

    first = Watched(cmd, env)
    time.sleep(args.kill_after)
    os.kill(first.proc.pid, signal.SIGKILL) if first.proc.poll() is None else None
    first.wait(30)
    from rag.index.journal import VectorJournal
    from rag.index.manifest import read_manifest
    from rag.index.repair import diagnose

    manifest = read_manifest(index) or {}
    counts = manifest.get("counts", {"docs": 0, "chunks": 0})
    emb = manifest.get("embedding") or {}
    journal = set(VectorJournal(index, emb.get("model", "multilingual-e5-small"), int(emb.get("dim", 384))).lookup_keys())
    saved = committed_hashes(index) | journal
    more_docs, more_chunks = saved_articles(counts["docs"], saved)
    embedded = first.last_vectors()  # distinct chunk texts the killed run had embedded (its last report)
    started = first.first(r"导入: ")
    check = subprocess.run([sys.executable, "-m", "rag", "index", "check", "--index", str(index)], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    diag = diagnose(index, digests=False)
    killed = {
        "killed_after_s": args.kill_after, "progress_bar_at_s": round(started[0], 1) if started else None,
        "checkpoints_committed": int(manifest.get("generation", 0)),
        "committed_articles": counts["docs"], "committed_chunks": counts["chunks"],
        "journal_vectors": len(journal), "articles_saved_after_checkpoint": more_docs, "their_chunks": more_chunks,
        "articles_done_before_kill": counts["docs"] + more_docs,
        "distinct_chunks_embedded_before_kill": embedded, "distinct_chunks_saved": len(saved),
        "chunks_lost": max(0, embedded - len(saved)),
        "leftovers": diag.leftovers, "index_check": check.stdout.strip().splitlines(),
    }
    fresh = next((t for t, line in first.lines if (m := _VEC.search(line)) and int(m.group(1)) > 0), None)
    killed["fresh_start_first_batch_at_s"] = round(fresh, 1) if fresh is not None else None  # model load + 1 batch
    rate = embedded / max(1e-9, args.kill_after - (started[0] if started else 0))
    killed["embedding_rate_chunks_per_s"] = round(rate, 2)
    killed["seconds_of_embedding_lost"] = round(killed["chunks_lost"] / rate, 1) if rate else None
    print(json.dumps(killed, ensure_ascii=False, indent=1), flush=True)

    second = Watched(cmd, env)
    time.sleep(args.restart_for)
    if second.proc.poll() is None:
        os.kill(second.proc.pid, signal.SIGINT)  # graceful: commits what is done, prints the report
    second.wait(900)
    report = json.loads(second.stdout.decode("utf-8") or "{}")
    note = second.first(r"前 (\d+) 篇已在索引中.*从第 (\d+) 篇")
    found = second.first(r"找到上次中断前保存的 (\d+) 段向量")
    loaded = second.first(r"导入: ")
    new = next(((t, int(m.group(1))) for t, line in second.lines if (m := _VEC.search(line)) and int(m.group(1)) > 0), None)
    restarted = {
        "ran_s": args.restart_for, "progress_bar_at_s": round(loaded[0], 1) if loaded else None,
        "says_continues_at_article": int(note[1].group(2)) if note else None,
        "note_at_s": round(note[0], 1) if note else None,
        "journal_vectors_found": int(found[1].group(1)) if found else 0,
        "first_new_embedding_at_s": round(new[0], 1) if new else None,
        "report": {k: report.get(k) for k in ("docs_unchanged", "docs_added", "resumed_after", "chunks_from_journal",
                                              "chunks_embedded", "checkpoints", "cleaned", "seconds")},
        "notes": [line for _t, line in second.lines if not line.startswith("导入")][:10],
    }
    print(json.dumps(restarted, ensure_ascii=False, indent=1), flush=True)
    out = write_result("resume", {**info, "killed": killed, "restarted": restarted})
    print(f"written {out}")


if __name__ == "__main__":
    main()
