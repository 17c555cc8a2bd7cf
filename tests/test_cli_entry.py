"""The command runs the same way as `shanhai`, `python -m rag` and `python -m rag.cli`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", ["rag", "rag.cli"])
def test_python_dash_m_dispatches_subcommands(module):
    out = subprocess.run([sys.executable, "-m", module, "config"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "retrieval" in out.stdout and "answer" in out.stdout
