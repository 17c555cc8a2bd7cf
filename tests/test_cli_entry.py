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


def test_cli_modules_reach_the_project_through_the_facade():
    from tests.test_import_layers import import_graph

    graph = import_graph()
    cli = {mod: deps for mod, deps in graph.items() if mod == "rag.cli" or mod.startswith("rag.cli.")}
    assert {"rag.cli.common", "rag.cli.answer", "rag.cli.regions"} <= set(cli)
    allowed = ("rag", "rag.config", "rag.cli", "rag.text")
    stray = {(mod, dep) for mod, deps in cli.items() for dep in deps
             if not (dep in allowed or dep.startswith(("rag.cli.", "rag.text.")))
             and (mod, dep) != ("rag.cli.serve", "ui.server")}
    assert not stray, sorted(stray)
    assert graph["rag.cli.common"] == {"rag.config"}  # no other rag.cli module


def test_facade_names_resolve_and_shadow_no_submodule():
    import importlib

    import rag

    assert rag.__all__ == sorted(rag._EXPORTS)
    for name, module in rag._EXPORTS.items():
        # a submodule of that name would replace the facade attribute once it is imported
        assert not (ROOT / "rag" / name).is_dir() and not (ROOT / "rag" / f"{name}.py").exists(), name
        assert getattr(rag, name) is getattr(importlib.import_module(module), name)
    assert rag.check_question("  沿河县修了几座桥？ ") == "沿河县修了几座桥？"
    with pytest.raises(AttributeError):
        rag.no_such_name  # noqa: B018
