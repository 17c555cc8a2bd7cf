"""The peer for benchmarks/peer_compare.py: a typical LangChain-style RAG pipeline, configured
the way Langchain-Chatchat ships it by default.

* **Load**: the article text as it is: no cleaning, no Traditional→Simplified conversion.
  ``.txt`` files are decoded with encoding detection (LangChain's ``TextLoader(autodetect_encoding=True)``
  does the same), ``.jsonl``/``.jsonl.gz`` lines give their ``text`` field.
* **Split**: ``langchain_text_splitters.RecursiveCharacterTextSplitter`` with Chatchat's
  ``CHUNK_SIZE = 250`` and ``OVERLAP_SIZE = 50`` characters (``configs/kb_config.py``). Separators:
  Chatchat's default ``ChineseRecursiveTextSplitter`` list (sentence ends 。！？ first, then
  newlines, ；, ，; kept at the end of the piece, as Chatchat does); ``splitter="plain"``
  uses LangChain's own defaults (``\\n\\n``, ``\\n``, space, character), which is what
  Chatchat falls back to.
* **Embed**: the same multilingual-e5-small encoder object shanhai uses (with the e5
  ``passage: ``/``query: `` prefixes, which helps the peer). Each group of articles is
  embedded in one call, as ``HuggingFaceEmbeddings.embed_documents`` does for one file, so
  sentence-transformers sorts the texts by length as it does in LangChain.
* **Index**: FAISS ``IndexFlatIP`` over the normalised vectors (Chatchat: ``normalize_L2=True``,
  inner product), saved like ``FAISS.save_local``: ``index.faiss`` + a pickled docstore
  ``index.pkl``.
* **Search**: dense only, top-k 3 (``VECTOR_SEARCH_TOP_K``). Chatchat's score threshold is
  not applied (it can only remove results).
"""

from __future__ import annotations

import gzip
import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

CHUNK_SIZE, CHUNK_OVERLAP, TOP_K = 250, 50, 3
# Langchain-Chatchat's ChineseRecursiveTextSplitter separators (regexes, in order).
CHATCHAT_SEPARATORS = ["。|！|？", r"\.\s|\!\s|\?\s", "\n\n", "\n", "；|;\s", "，|,\s"]


def make_splitter(kind: str = "chatchat", chunk_size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP):
    """The LangChain text splitter of the peer.

    Args:
        kind: ``chatchat`` (Chinese sentence separators) or ``plain`` (LangChain defaults).
        chunk_size: characters per chunk.
        overlap: characters shared by neighbouring chunks.

    Returns:
        A configured ``RecursiveCharacterTextSplitter``.
    """
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if kind == "plain":
        return RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
    if kind != "chatchat":
        raise ValueError(f"unknown splitter {kind!r} (chatchat | plain)")
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=overlap, separators=CHATCHAT_SEPARATORS,
        is_separator_regex=True, keep_separator="end",
    )


def iter_articles(paths: Iterable[Path], *, limit: int | None = None) -> Iterator[tuple[str, str]]:
    """(doc_id, text) per article, with shanhai's doc ids (file stem, ``stem:line`` for jsonl).

    Args:
        paths: ``.txt`` files, folders of them, or ``.jsonl[.gz]`` files.
        limit: stop after this many jsonl lines per file (None = all).
    """
    from rag.text.encoding import decode_bytes

    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from iter_articles(sorted(p for p in path.iterdir() if p.suffix == ".txt"), limit=limit)
        elif path.name.endswith((".jsonl", ".jsonl.gz")):
            stem = path.name.rsplit(".jsonl", 1)[0]
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if limit is not None and n > limit:
                        break
                    if line.strip():
                        yield f"{stem}:{n}", json.loads(line)["text"]
        else:
            yield path.stem, decode_bytes(path.read_bytes())[0]


@dataclass
class PeerHit:
    """One retrieved chunk."""

    doc_id: str
    text: str
    score: float


@dataclass
class PeerReport:
    """What an ingest did."""

    docs: int = 0
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    doc_ids: list[str] = field(default_factory=list)


class PeerPipeline:
    """Split → embed → FAISS flat, in memory until :meth:`save`.

    Args:
        encoder: an ``embeddings.Encoder`` (``encode_passages``, ``encode_query``, ``dim``).
        splitter: ``chatchat`` or ``plain`` (see :func:`make_splitter`).
        group_docs: articles per embedding call (one "file" of LangChain's loader).
    """

    def __init__(self, encoder, *, splitter: str = "chatchat", group_docs: int = 500):
        import faiss

        self.encoder = encoder
        self.splitter_kind = splitter
        self.splitter = make_splitter(splitter)
        self.group_docs = group_docs
        self.index = faiss.IndexFlatIP(int(encoder.dim))
        self.docstore: list[tuple[str, str]] = []  # (doc_id, chunk text) per vector row

    def ingest(self, articles: Iterable[tuple[str, str]], *, stop: Callable[[], bool] | None = None) -> PeerReport:
        """Split, embed and index the articles (in groups of ``group_docs``)."""
        report = PeerReport()
        t0 = time.perf_counter()
        group: list[tuple[str, str]] = []
        for doc_id, text in articles:
            group.extend((doc_id, piece) for piece in self.splitter.split_text(text))
            report.docs += 1
            report.doc_ids.append(doc_id)
            if report.docs % self.group_docs == 0:
                self._add(group, report)
                group = []
            if stop is not None and stop():
                break
        self._add(group, report)
        report.seconds = time.perf_counter() - t0
        return report

    def _add(self, group: list[tuple[str, str]], report: PeerReport) -> None:
        if not group:
            return
        t = time.perf_counter()
        vectors = self.encoder.encode_passages([text for _d, text in group])
        report.embed_seconds += time.perf_counter() - t
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.docstore.extend(group)
        report.chunks += len(group)

    def save(self, folder: Path) -> int:
        """Write ``index.faiss`` and ``index.pkl`` (as ``FAISS.save_local``); returns bytes on disk."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        with open(folder / "index.pkl", "wb") as fh:
            pickle.dump({"docstore": self.docstore, "splitter": self.splitter_kind}, fh)
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())

    def load(self, folder: Path) -> None:
        """Read back what :meth:`save` wrote (a resumed run goes on from it)."""
        import faiss

        self.index = faiss.read_index(str(folder / "index.faiss"))
        with open(folder / "index.pkl", "rb") as fh:
            self.docstore = pickle.load(fh)["docstore"]
        if self.index.ntotal != len(self.docstore):
            raise ValueError(f"{folder}: {self.index.ntotal} vectors but {len(self.docstore)} chunks")

    def search(self, query: str, k: int = TOP_K) -> list[PeerHit]:
        """Top-``k`` chunks by cosine similarity to the query."""
        if self.index.ntotal == 0:
            return []
        q = np.asarray(self.encoder.encode_query(query), np.float32).reshape(1, -1)
        scores, rows = self.index.search(q, min(k, self.index.ntotal))
        return [PeerHit(self.docstore[r][0], self.docstore[r][1], float(s)) for s, r in zip(scores[0], rows[0]) if r >= 0]
