"""Ingest orchestration: files → documents → chunks → embeddings → one atomic index commit."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from rag.chunk import chunk_document
from rag.config import Config
from rag.dedup import NearDuplicateIndex, minhash_signature
from rag.index.folder import IndexWriter
from rag.loaders import Skipped, build_document, discover, read_raw
from rag.types import Chunk, Document, RawDocument

# Progress callback: (done, total or None, message).
ProgressFn = Callable[[int, int | None, str], None]


@dataclass
class IngestReport:
    """What an ingest run did; printed as the final summary and returned by the API."""

    files: int = 0
    docs_added: int = 0
    docs_updated: int = 0
    docs_unchanged: int = 0
    chunks_added: int = 0
    chunks_embedded: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when something was ingested or everything was already up to date."""
        return bool(self.docs_added or self.docs_updated or self.docs_unchanged)

    def summary(self) -> str:
        """Human summary in Simplified Chinese."""
        lines = [
            f"文件 {self.files} 个；新增文档 {self.docs_added}，更新 {self.docs_updated}，"
            f"未变化 {self.docs_unchanged}；新增片段 {self.chunks_added}（新计算向量 {self.chunks_embedded}）；"
            f"耗时 {self.seconds:.1f} 秒（其中向量计算 {self.embed_seconds:.1f} 秒）。"
        ]
        for a, b in self.near_duplicates:
            lines.append(f"近似重复：{a} ≈ {b}")
        if self.skipped:
            lines.append(f"跳过 {len(self.skipped)} 项：")
            lines.extend(f"  - {s.path}：{s.reason}" for s in self.skipped)
        return "\n".join(lines)


def text_hash(text: str) -> str:
    """Content hash used as the embedding-cache key of a chunk."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iter_inputs(paths: Sequence[str | Path], max_file_mb: float, report: IngestReport) -> Iterator[RawDocument]:
    for item in discover(paths):
        if isinstance(item, Skipped):
            report.skipped.append(item)
            continue
        report.files += 1
        for raw in read_raw(item, max_file_mb=max_file_mb):
            if isinstance(raw, Skipped):
                report.skipped.append(raw)
            else:
                yield raw


@dataclass
class _Pending:
    doc: Document
    chunks: list[Chunk]
    vectors: list[np.ndarray | None]
    near_dups: list[str]
    replaced: bool


class Ingestor:
    """Runs one ingest into an index folder. Use :func:`ingest` unless you need the pieces."""

    def __init__(self, config: Config, encoder, *, progress: ProgressFn | None = None):
        self.config = config
        self.encoder = encoder
        self.progress = progress
        ing = config["ingest"]
        self.chunk_params = {
            "chunk_chars": int(ing["chunk_chars"]),
            "chunk_overlap": int(ing["chunk_overlap"]),
            "chunk_max_chars": int(ing["chunk_max_chars"]),
        }
        self.max_file_mb = float(ing["max_file_mb"])
        self.dup_threshold = float(ing["near_duplicate_threshold"])
        self.batch_chunks = max(8, int(config.get("models.embedding.batch_size", 32)) * 4)
        self.checkpoint_every = max(1, int(ing["checkpoint_every"]))
        self._seen = 0

    def _writer(self, index_dir: Path, rebuild: bool) -> IndexWriter:
        params = dict(self.chunk_params)
        params["index"] = dict(self.config["index"])
        return IndexWriter(index_dir, model_name=self.encoder.name, dim=self.encoder.dim, params=params, rebuild=rebuild)

    def run(self, paths: Sequence[str | Path], index_dir: Path, *, rebuild: bool = False) -> IngestReport:
        """Ingest ``paths`` into ``index_dir`` and commit once at the end (atomic)."""
        report = IngestReport()
        t0 = time.perf_counter()
        with self._writer(index_dir, rebuild) as writer:
            dups = NearDuplicateIndex()
            for doc_id, sig in writer.signatures().items():
                dups.add(doc_id, sig)
            pending: list[_Pending] = []
            n_pending_chunks = 0
            self._seen = 0
            for raw in _iter_inputs(paths, self.max_file_mb, report):
                self._seen += 1
                if self.progress:
                    self.progress(self._seen, None, raw.doc_id)
                item = self._prepare(raw, writer, dups, report)
                if item is None:
                    continue
                pending.append(item)
                n_pending_chunks += sum(v is None for v in item.vectors)
                if n_pending_chunks >= self.batch_chunks:
                    self._flush(pending, writer, report)
                    pending, n_pending_chunks = [], 0
                if self._seen % self.checkpoint_every == 0:
                    self._flush(pending, writer, report)
                    pending, n_pending_chunks = [], 0
                    writer.checkpoint()
            self._flush(pending, writer, report)
            # Writes nothing unless documents or index settings changed.
            writer.commit()
        report.seconds = time.perf_counter() - t0
        return report

    def _prepare(self, raw: RawDocument, writer: IndexWriter, dups: NearDuplicateIndex, report: IngestReport) -> _Pending | None:
        content_hash = hashlib.sha256(raw.raw.encode("utf-8")).hexdigest()
        if writer.has_doc(raw.doc_id, content_hash):
            report.docs_unchanged += 1
            report.doc_ids.append(raw.doc_id)
            return None
        replaced = writer.has_doc(raw.doc_id, None)
        doc = build_document(raw)
        if not doc.text.strip():
            report.skipped.append(Skipped(raw.path, "清洗后没有剩余正文（可能只有导航或乱码）"))
            return None
        chunks = chunk_document(
            doc,
            target=self.chunk_params["chunk_chars"],
            overlap=self.chunk_params["chunk_overlap"],
            max_chars=self.chunk_params["chunk_max_chars"],
        )
        cached = writer.cached_vectors([text_hash(c.text) for c in chunks])
        vectors = [cached.get(text_hash(c.text)) for c in chunks]
        sig = minhash_signature(doc.text)
        near = [d for d, sim in dups.query(sig) if d != doc.doc_id and sim >= self.dup_threshold]
        dups.add(doc.doc_id, sig)
        for other in near:
            report.near_duplicates.append((doc.doc_id, other))
        writer.set_signature(doc.doc_id, sig)
        return _Pending(doc, chunks, vectors, near, replaced)

    def _flush(self, pending: list[_Pending], writer: IndexWriter, report: IngestReport) -> None:
        todo = [(i, j) for i, p in enumerate(pending) for j, v in enumerate(p.vectors) if v is None]
        step = max(1, int(self.config.get("models.embedding.batch_size", 32)))
        for lo in range(0, len(todo), step):
            batch = todo[lo : lo + step]
            t = time.perf_counter()
            vecs = self.encoder.encode_passages([pending[i].chunks[j].text for i, j in batch])
            report.embed_seconds += time.perf_counter() - t
            report.chunks_embedded += len(batch)
            for (i, j), v in zip(batch, vecs):
                pending[i].vectors[j] = v
            if self.progress:
                self.progress(self._seen, None, f"向量 {report.chunks_embedded} 段")
        for p in pending:
            matrix = np.vstack(p.vectors).astype(np.float32) if p.chunks else np.zeros((0, self.encoder.dim), np.float32)
            writer.add_document(p.doc, p.chunks, matrix, p.near_dups)
            report.chunks_added += len(p.chunks)
            report.doc_ids.append(p.doc.doc_id)
            if p.replaced:
                report.docs_updated += 1
            else:
                report.docs_added += 1


def ingest(
    paths: Iterable[str | Path],
    config: Config,
    encoder,
    *,
    index_dir: Path | None = None,
    rebuild: bool = False,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Ingest files/folders into the index.

    Args:
        paths: files or folders (.txt .md .html .jsonl .jsonl.gz).
        config: resolved config (``ingest`` and ``index`` sections are used).
        encoder: an ``embeddings.encoder.Encoder`` (or anything with name/dim/encode_passages).
        index_dir: target index folder; defaults to ``config.index_dir``.
        rebuild: start from an empty index instead of updating the current one.
        progress: optional callback ``(done, total, message)``.

    Returns:
        An :class:`IngestReport`; nothing is committed when no document changed.
    """
    target = Path(index_dir) if index_dir else config.index_dir
    return Ingestor(config, encoder, progress=progress).run(list(paths), target, rebuild=rebuild)
