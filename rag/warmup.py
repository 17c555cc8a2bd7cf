"""Overlap the cold-start loads of a search: query encoder and jieba dictionary in threads.

A cold ``shanhai search`` spends most of its time loading things that do not depend on each
other: the ONNX session and the 250k-piece tokenizer (the tokenizer's Rust loader releases
the GIL for most of its ~0.7 s), jieba's dictionary, and the index (SQLite, FAISS, BM25).
:func:`start_warmup` begins the first two in daemon threads so the caller can open the index
meanwhile; whoever needs a component first simply waits for its lock.
"""

from __future__ import annotations

import threading
from typing import Callable


def _quietly(fn: Callable[[], object]) -> Callable[[], None]:
    """Run ``fn`` and drop its exception: the caller repeats the call and reports the error."""

    def run() -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - reported by the foreground call that repeats it
            pass

    return run


def start_warmup(pipeline) -> list[threading.Thread]:
    """Start loading ``pipeline``'s encoder and the BM25 tokenizer dictionary in the background.

    Args:
        pipeline: a :class:`rag.pipeline.Pipeline` (its encoder is created, not yet loaded).

    Returns:
        The started daemon threads (callers need not join them).
    """
    from rag.text.tokenize import load_dictionary

    encoder = pipeline.encoder
    jobs = [getattr(encoder, "load", None), load_dictionary]
    threads = [threading.Thread(target=_quietly(job), name="shanhai-warmup", daemon=True) for job in jobs if job]
    for thread in threads:
        thread.start()
    return threads
