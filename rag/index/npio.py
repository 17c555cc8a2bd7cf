"""Thread-safe ``np.load``: numpy parses ``.npy`` headers with ``ast.literal_eval``, and CPython
3.11 before 3.11.8 can raise ``SystemError: AST constructor recursion depth mismatch`` when two
threads do that at once (seen with readers opening an index while a writer commits)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["LOAD_LOCK", "load"]

LOAD_LOCK = threading.RLock()


def load(path: Any, **kwargs: Any) -> Any:
    """``np.load(path, **kwargs)`` under :data:`LOAD_LOCK`."""
    with LOAD_LOCK:
        return np.load(path, **kwargs)
