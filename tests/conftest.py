"""Shared fixtures. Real data lives in ../shared (read, never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHANHAI_SHARED", ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    assert SHARED.is_dir(), f"../shared not found at {SHARED} (set SHANHAI_SHARED)"
    return SHARED


@pytest.fixture(scope="session")
def seeds_dir(shared_dir: Path) -> Path:
    return shared_dir / "corpus" / "seeds"


@pytest.fixture(scope="session")
def eval_dir(shared_dir: Path) -> Path:
    return shared_dir / "eval"


@pytest.fixture(scope="session")
def seed_config(tmp_path_factory):
    """Default config (models in the default home) with a session index of the seed articles."""
    from rag.config import load_config

    return load_config(overrides={"index_dir": str(tmp_path_factory.mktemp("seed-index") / "index")})


@pytest.fixture(scope="session")
def seed_pipeline(seed_config, seeds_dir):
    """A Pipeline over the five real seed articles (real e5 model, real FAISS/BM25). Read-only."""
    from rag.pipeline import Pipeline

    pipe = Pipeline(seed_config)
    report = pipe.ingest([seeds_dir])
    assert report.docs_added == 5, report.summary()
    return pipe


INJECTION_DATA = Path(__file__).resolve().parent / "data" / "injection"


@pytest.fixture(scope="session")
def injected_pipeline(tmp_path_factory, seeds_dir):
    """A Pipeline over the five seed articles plus our own hostile articles (tests/data/injection)
    that address the model and push a fake figure. Read-only; copy the index to change it."""
    from rag.config import load_config
    from rag.pipeline import Pipeline

    config = load_config(overrides={"index_dir": str(tmp_path_factory.mktemp("injected-index") / "index")})
    pipe = Pipeline(config)
    report = pipe.ingest([seeds_dir, INJECTION_DATA])
    assert report.docs_added == 5 + 9, report.summary()
    return pipe
