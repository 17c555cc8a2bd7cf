"""The ingest wing (rag/ingest/): its layer rule and the one factory that picks the runner."""

from __future__ import annotations

from rag.ingest import Ingestor, make_runner
from test_scale import FakeEncoder, config_for
from tests.test_import_layers import import_graph

# Higher layers the ingest wing must never import (it sits below them).
ABOVE_INGEST = ("rag.pipeline", "rag.answer", "rag.eval", "rag.summarize", "rag.cli", "ui")


def test_ingest_wing_imports_only_lower_layers():
    graph = import_graph()
    wing = {mod for mod in graph if mod == "rag.ingest" or mod.startswith("rag.ingest.")}
    assert {"rag.ingest", "rag.ingest.local", "rag.ingest.ray_runner", "rag.ingest.chunk"} <= wing
    upward = {(mod, dep) for mod in wing for dep in graph[mod]
              if dep in ABOVE_INGEST or dep.startswith(tuple(p + "." for p in ABOVE_INGEST))}
    assert not upward, sorted(upward)
    # the modules of the wing never import the package module (only callers outside do)
    assert not {mod for mod in wing if "rag.ingest" in graph[mod]}


def test_only_the_factory_imports_the_ray_runner():
    graph = import_graph()
    assert {mod for mod, deps in graph.items() if "rag.ingest.ray_runner" in deps} == {"rag.ingest"}


def test_make_runner_runs_locally_without_a_ray_address(tmp_path):
    config = config_for(tmp_path / "idx")
    assert not config.get("ray.address")
    assert type(make_runner(config, FakeEncoder())) is Ingestor
