"""The content hash of a chunk's text: the embedding-cache key shared by ingest and the index."""

from __future__ import annotations

import hashlib

__all__ = ["text_hash"]


def text_hash(text: str) -> str:
    """sha256 (hex) of a chunk's normalised text: the embedding-cache key.

    Args:
        text: The chunk text.

    Returns:
        64 hex characters.
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
