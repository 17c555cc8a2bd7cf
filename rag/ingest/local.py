"""The local ingest runner: files → documents → chunks → embeddings → index commits, in this process.

The input is streamed (a 20k-article ``.jsonl.gz`` is read line by line) and memory stays
bounded: a reader thread (:class:`rag.ingest.prefetch.ReadAhead`) reads, cleans and chunks at most
``ingest.read_ahead`` documents ahead while the model embeds the current group of at most
``ingest.embed_group`` chunks, and the writer keeps only the vectors added since its last
commit in memory.

Resuming after a kill loses about ``ingest.checkpoint_seconds`` of work at most:

* every embedded group's vectors go to the index's resume journal (``rag.index.journal``,
  fsynced); groups are sized so one takes about half that long to embed (from the measured
  rate), so a kill loses at most one group of model time;
* the writer commits a complete generation (a checkpoint) every ``ingest.checkpoint_every``
  documents, and after ``checkpoint_seconds`` when a commit is cheap enough: never sooner
  than its own duration divided by ``ingest.checkpoint_max_share`` (commits grow with the
  index, the model time they cost stays a bounded share);
* a restarted run recognises committed documents by their content hash (neither cleaned nor
  embedded again), says where it continues, takes the vectors of later documents from the
  journal and cleans up temporary folders the killed run left.

Embedding cost: the chunks of a group are embedded longest-first in batches of
``models.embedding.batch_size`` (similar lengths pad less; ~16% less CPU than batches in
document order, same vectors to 1e-7), and a chunk text that occurs twice is embedded once.

:class:`Ingestor` prepares and embeds documents in this process; ``rag.ingest.ray_runner`` swaps
that stage for Ray workers while the writer stays here; :func:`rag.ingest.make_runner` picks one.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from rag.config import Config
from rag.index.folder import IndexWriter
from rag.index.journal import VectorJournal
from rag.ingest.dedup import NearDuplicateIndex
from rag.ingest.loaders import Skipped, decoding_warning, discover, read_raw
from rag.ingest.prefetch import ReadAhead
from rag.ingest.report import IngestReport, cleaned_note
from rag.ingest.stages import Prepared, WorkItem, chunk_params_of, embed_texts, prepare_document, text_hash, where
from rag.text.encoding import DEFAULT_MAX_BAD_RATIO
from rag.types import RawDocument

__all__ = ["Ingestor", "NOTE", "ProgressFn", "StopFn"]
# Texts per encode call: enough for the encoder to run passes side by side
# (embeddings.encoder.PARALLEL_MIN_PASSES), few enough for a live progress count.
ENCODE_CALL = 64

# Progress callback: (done, total or None, message). A message starting with NOTE is an event
# worth a line of its own (where a resumed run continues, leftovers cleaned); others are status.
ProgressFn = Callable[[int, int | None, str], None]
NOTE = "※ "
# Asked after every written document; True stops the run gracefully (what is done is committed).
StopFn = Callable[[], bool]
EMPTY_REASON = "清洗后没有剩余正文（可能只有导航或乱码）"


class Ingestor:
    """Runs one ingest into an index folder. Use :func:`ingest` unless you need the pieces.

    Subclasses replace :meth:`process` (prepare + embed, yielding :class:`WorkItem` in input
    order); reading, skipping unchanged documents, near-duplicates, writing, the resume
    journal and checkpoints stay here.
    """

    def __init__(self, config: Config, encoder, *, progress: ProgressFn | None = None):
        self.config = config
        self.encoder = encoder
        self.progress = progress
        ing = config["ingest"]
        self.chunk_params = chunk_params_of(config)
        self.max_file_mb = float(ing["max_file_mb"])
        self.max_bad_ratio = float(ing.get("max_bad_bytes_ratio", DEFAULT_MAX_BAD_RATIO))
        self.dup_threshold = float(ing["near_duplicate_threshold"])
        self.batch_size = max(1, int(config.get("models.embedding.batch_size", 32)))
        self.embed_group = max(self.batch_size, int(ing.get("embed_group", 512) or 512))
        self.checkpoint_every = max(1, int(ing["checkpoint_every"]))
        self.checkpoint_seconds = max(0.0, float(ing.get("checkpoint_seconds", 60) or 0))
        self.checkpoint_share = min(1.0, max(0.01, float(ing.get("checkpoint_max_share", 0.1) or 0.1)))
        self.read_ahead = max(0, int(ing.get("read_ahead", 64) or 0))
        self._seen = 0
        self._embedded = 0
        self._status = ""
        self._notes: list[str] = []
        self._rate: float | None = None  # chunks embedded per second, measured
        self.journal: VectorJournal | None = None
        self._written: list[str] = []  # text hashes written since the last commit

    def _writer(self, index_dir: Path, rebuild: bool) -> IndexWriter:
        params = dict(self.chunk_params)
        params["index"] = dict(self.config["index"])
        return IndexWriter(index_dir, model_name=self.encoder.name, dim=self.encoder.dim, params=params, rebuild=rebuild,
                           embedding=getattr(self.encoder, "index_info", None))

    # -- progress (reported from the consuming thread only) -----------------------------------
    def _note(self, text: str) -> None:
        self._notes.append(text)  # list.append is atomic: the reader thread may call this

    def _tick(self, status: str | None = None) -> None:
        while self._notes:
            note = self._notes.pop(0)
            if self.progress:
                self.progress(self._seen, None, NOTE + note)
        if self.progress:
            self.progress(self._seen, None, status or self._status)

    # -- reading (runs in the reader thread when read_ahead > 0) --------------------------------
    def _inputs(self, paths: Sequence[str | Path], report: IngestReport) -> Iterator[RawDocument]:
        for item in discover(paths):
            if isinstance(item, Skipped):
                report.skipped.append(item)
                continue
            report.files += 1
            for raw in read_raw(item, max_file_mb=self.max_file_mb, max_bad_ratio=self.max_bad_ratio):
                if isinstance(raw, Skipped):
                    report.skipped.append(raw)
                    continue
                if raw.bad_bytes:
                    warning = decoding_warning(raw)
                    report.warnings.append(warning)
                    self._note(warning)
                yield raw

    def _todo(self, raws: Iterable[RawDocument], writer: IndexWriter, report: IngestReport,
              known: dict[str, tuple[str, str]]) -> Iterator[tuple[RawDocument, bool]]:
        """(raw, replaces a stored version) for documents that are new or changed.

        ``known`` is the writer's :meth:`~IndexWriter.stored_versions` snapshot, so this may run
        in another thread than the writer; a document repeated in the input counts once.
        """
        passed = 0
        first = True
        for raw in raws:
            self._seen += 1
            self._status = raw.doc_id
            content_hash = hashlib.sha256(raw.raw.encode("utf-8", "surrogatepass")).hexdigest()
            version = known.get(raw.doc_id)
            if writer.is_current(version, content_hash):
                report.docs_unchanged += 1
                report.doc_ids.append(raw.doc_id)
                passed += 1
                continue
            if first and passed:
                report.resumed_after = passed
                self._note(f"前 {passed} 篇已在索引中（未变化，跳过），从第 {self._seen} 篇 {where(raw)} 继续导入")
            first = False
            known[raw.doc_id] = writer.version_for(content_hash)
            yield raw, version is not None

    def run(self, paths: Sequence[str | Path], index_dir: Path, *, rebuild: bool = False, stop: StopFn | None = None) -> IngestReport:
        """Ingest ``paths`` into ``index_dir``: checkpoints on the way, a final commit at the end.

        Args:
            paths: files or folders.
            index_dir: the index folder.
            rebuild: start from an empty index.
            stop: asked after each written document; when it returns True the run stops,
                commits what it has and sets ``report.stopped``.
        """
        report = IngestReport()
        t0 = time.perf_counter()
        self._seen = self._embedded = 0
        with self._writer(index_dir, rebuild) as writer:
            self._open_journal(writer, rebuild, report)
            dups = NearDuplicateIndex()
            for doc_id, sig in writer.signatures().items():
                dups.add(doc_id, sig)
            todo = self._todo(self._inputs(paths, report), writer, report, writer.stored_versions())
            items = self.process(todo, writer)
            clock = _Checkpoints(self.checkpoint_every, self.checkpoint_seconds, self.checkpoint_share)
            try:
                for item in items:
                    report.embed_seconds += item.embed_seconds
                    report.chunks_embedded += item.embedded
                    if item.prepared is None:
                        report.skipped.append(Skipped(where(item.raw), EMPTY_REASON))
                        continue
                    self._write(item, writer, dups, report)
                    if clock.due():
                        self._checkpoint(writer, clock, report)
                    if stop is not None and stop():
                        report.stopped = True
                        break
            finally:
                close = getattr(items, "close", None)
                if close:
                    close()
            # Writes nothing unless documents or index settings changed.
            writer.commit()
            self._committed(everything=not report.stopped)
        self._tick()
        report.seconds = time.perf_counter() - t0
        return report

    def _open_journal(self, writer: IndexWriter, rebuild: bool, report: IngestReport) -> None:
        report.cleaned = list(writer.cleaned)
        if report.cleaned:
            self._note(cleaned_note(report.cleaned))
        self.journal = VectorJournal(writer.path, self.encoder.name, self.encoder.dim)
        if rebuild:
            self.journal.clear()
        elif len(self.journal):
            self._note(f"找到上次中断前保存的 {len(self.journal)} 段向量（断点记录），可直接使用")

    def _committed(self, *, everything: bool = False) -> None:
        """After a commit: the journal forgets what the index holds now (all of it at the end of
        a complete run; a stopped run keeps vectors of documents it embedded but did not write)."""
        if self.journal is not None:
            if everything:
                self.journal.clear()
            else:
                self.journal.drop(set(self._written))
        self._written = []

    def _checkpoint(self, writer: IndexWriter, clock: "_Checkpoints", report: IngestReport) -> None:
        t = time.perf_counter()
        writer.checkpoint()
        self._committed()
        clock.committed(time.perf_counter() - t)
        report.checkpoints += 1
        report.checkpoint_seconds += time.perf_counter() - t
        self._tick(f"检查点 {report.checkpoints}：已提交 {len(report.doc_ids)} 篇")

    def _write(self, item: WorkItem, writer: IndexWriter, dups: NearDuplicateIndex, report: IngestReport) -> None:
        prep = item.prepared
        assert prep is not None
        doc = prep.doc
        near = [d for d, sim in dups.query(prep.signature) if d != doc.doc_id and sim >= self.dup_threshold]
        dups.add(doc.doc_id, prep.signature)
        report.near_duplicates.extend((doc.doc_id, other) for other in near)
        writer.set_signature(doc.doc_id, prep.signature)
        if prep.chunks:
            matrix = np.vstack(prep.vectors).astype(np.float32)
        else:
            matrix = np.zeros((0, self.encoder.dim), np.float32)
        writer.add_document(doc, prep.chunks, matrix, near, tokens=prep.tokens)
        self._written.extend(text_hash(c.text) for c in prep.chunks)
        report.chunks_from_journal += prep.from_journal
        report.chunks_added += len(prep.chunks)
        report.doc_ids.append(doc.doc_id)
        if item.replaced:
            report.docs_updated += 1
        else:
            report.docs_added += 1

    # -- the stage subclasses replace ---------------------------------------------------------
    def _prepared(self, todo: Iterable[tuple[RawDocument, bool]]) -> Iterator[WorkItem]:
        return (WorkItem(raw, replaced, prepare_document(raw, self.chunk_params)) for raw, replaced in todo)

    def process(self, todo: Iterable[tuple[RawDocument, bool]], writer: IndexWriter) -> Iterator[WorkItem]:
        """Prepare (in a reader thread) and embed documents, a group of chunks at a time.

        Chunk texts already in the index (a replaced document's unchanged passages, a text
        seen in an earlier group) or in the resume journal come from there instead of the model.
        """
        source = self._prepared(todo)
        reader = ReadAhead(source, self.read_ahead, on_wait=self._tick) if self.read_ahead else None
        group: list[WorkItem] = []
        missing = 0
        try:
            for item in reader if reader is not None else source:
                if item.prepared is not None:
                    missing += self._lookup(item.prepared, writer)
                group.append(item)
                if missing >= self._group_limit():
                    yield from self._embed_group(group)
                    group, missing = [], 0
                elif len(group) % 64 == 0:
                    self._tick()
            yield from self._embed_group(group)
        finally:
            if reader is not None:
                reader.close()

    def _lookup(self, prep: Prepared, writer: IndexWriter) -> int:
        """Fill the vectors the index or the journal already has; returns how many are missing."""
        hashes = [text_hash(c.text) for c in prep.chunks]
        cached = writer.cached_vectors(hashes)
        prep.vectors = [cached.get(h) for h in hashes]
        if self.journal is not None and len(self.journal):
            saved = self.journal.lookup([h for h, v in zip(hashes, prep.vectors) if v is None])
            for j, h in enumerate(hashes):
                if prep.vectors[j] is None and h in saved:
                    prep.vectors[j] = saved[h]
                    prep.from_journal += 1
        return sum(v is None for v in prep.vectors)

    def _group_limit(self) -> int:
        """Chunks per group: ``embed_group``, fewer when one group would take longer to embed than
        half of ``checkpoint_seconds`` (at the measured rate; two batches before any measurement)."""
        if not self.checkpoint_seconds:
            return self.embed_group
        if self._rate is None:
            return min(self.embed_group, 2 * self.batch_size)
        fit = int(self._rate * self.checkpoint_seconds / 2)
        return max(self.batch_size, min(self.embed_group, fit))

    def _embed_group(self, group: list[WorkItem]) -> Iterator[WorkItem]:
        todo = [(p, j) for it in group if (p := it.prepared) is not None for j, v in enumerate(p.vectors) if v is None]
        if todo:
            base = self._embedded

            def tick(n: int) -> None:
                self._tick(f"向量 {base + n} 段")

            t = time.perf_counter()
            texts = [p.chunks[j].text for p, j in todo]
            vectors, n_embedded = embed_texts(self.encoder, texts, call_size=max(self.batch_size, ENCODE_CALL),
                                              progress=tick)
            seconds = time.perf_counter() - t
            self._rate = n_embedded / seconds if seconds > 0 and n_embedded else self._rate
            self._embedded += n_embedded
            for (p, j), v in zip(todo, vectors):
                p.vectors[j] = v
            if self.journal is not None:
                self.journal.append([text_hash(x) for x in texts], vectors)
            group[0].embed_seconds = seconds
            group[0].embedded = n_embedded
        yield from group


class _Checkpoints:
    """When to commit a checkpoint: every ``every`` documents, or after ``seconds`` once a commit
    costs no more than ``share`` of the time between two of them."""

    def __init__(self, every: int, seconds: float, share: float):
        self.every, self.seconds, self.share = every, seconds, share
        self.docs = 0
        self.since = time.monotonic()
        self.cost = 0.0

    def due(self) -> bool:
        self.docs += 1
        if self.docs >= self.every:
            return True
        wait = max(self.seconds, self.cost / self.share)
        return bool(self.seconds) and time.monotonic() - self.since >= wait

    def committed(self, cost: float) -> None:
        self.docs, self.cost, self.since = 0, cost, time.monotonic()

