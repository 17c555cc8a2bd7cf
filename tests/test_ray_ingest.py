"""Ray batch ingest gives the same index as the local path (real e5 model, real seed articles)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from rag.config import load_config
from rag.index import Index
from rag.ingest import embed_texts, make_runner
from rag.ingest.ray_runner import RayIngestor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    yield ray
    if ray.is_initialized():
        ray.shutdown()


def _tokens(index: Index) -> dict[str, str]:
    path = index.path / index.manifest["generation_dir"] / "store.sqlite"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT chunk_id, tokens FROM chunks").fetchall())
    finally:
        conn.close()


def test_ray_ingest_equals_local_ingest_on_the_seed_corpus(tmp_path, seeds_dir, seed_pipeline, ray_session):
    local = seed_pipeline.index
    cfg = load_config(overrides={
        "index_dir": str(tmp_path / "ray-index"), "ray.address": "local", "ray.num_cpus": 2,
        "ray.workers": 2, "ray.docs_per_task": 2,
    })
    ingestor = make_runner(cfg, seed_pipeline.encoder)  # ray.address is set: the Ray runner
    assert isinstance(ingestor, RayIngestor)
    report = ingestor.run([seeds_dir], tmp_path / "ray-index")
    assert report.docs_added == 5 and len(ingestor.worker_pids) == 2  # two worker processes did the work
    assert not ingestor.worker_pids & {__import__("os").getpid()}
    remote = Index.open(tmp_path / "ray-index", model_name=seed_pipeline.encoder.name, dim=seed_pipeline.encoder.dim)
    # same documents, chunk ids (in vector-row order), spans, tokens and near-duplicates
    assert [d.doc_id for d in remote.docs()] == [d.doc_id for d in local.docs()]
    assert remote.chunk_ids == local.chunk_ids
    for meta in local.docs():
        assert remote.chunks_of(meta.doc_id) == local.chunks_of(meta.doc_id)
        assert remote.near_duplicates(meta.doc_id) == local.near_duplicates(meta.doc_id)
        assert remote.get_doc(meta.doc_id) == local.get_doc(meta.doc_id)
    assert _tokens(remote) == _tokens(local)
    # vectors equal within 1e-5 (only the batch composition differs)
    diff = np.abs(np.asarray(remote._vectors) - np.asarray(local._vectors)).max()
    assert diff < 1e-5, diff
    assert json.dumps(remote.manifest["params"]) == json.dumps(local.manifest["params"])
    # a second run over the same files sends nothing to Ray
    again = make_runner(cfg, seed_pipeline.encoder).run([seeds_dir], tmp_path / "ray-index")
    assert again.docs_unchanged == 5 and again.chunks_embedded == 0


def test_length_sorted_batches_match_plain_encoding(seed_pipeline):
    texts = [c.text for meta in seed_pipeline.index.docs()[:2] for c in seed_pipeline.index.chunks_of(meta.doc_id)][:40]
    enc = seed_pipeline.encoder
    plain = np.vstack([enc.encode_passages(texts[i : i + 32]) for i in range(0, len(texts), 32)])
    sorted_, embedded = embed_texts(enc, texts, call_size=32)
    assert embedded == len(set(texts))
    assert np.abs(plain - sorted_).max() < 1e-5


def test_summarize_all_on_ray_equals_local(tmp_path, seed_pipeline, ray_session):
    """`summarize --all` through Ray (2 local workers) gives the same summaries as the local path."""
    import shutil

    from rag.regions import update_regions
    from rag.summarize.batch import summarize_many
    from rag.summarize.render import render_json

    index = tmp_path / "index"
    shutil.copytree(seed_pipeline.index_dir, index)
    cfg = seed_pipeline.config.with_overrides({"index_dir": str(index), "ray.num_cpus": 2})
    from rag import Pipeline

    names = [r.name for r in update_regions(Pipeline(cfg).index).summarizable(3)][:4]
    assert len(names) >= 2
    local, skipped_local = summarize_many(cfg, names, make_pipeline=Pipeline, backend="extractive")
    ray_out, skipped_ray = summarize_many(cfg, names, make_pipeline=Pipeline, backend="extractive", parallel="ray",
                                           workers=2)
    assert [s.region for s in local] == [s.region for s in ray_out] and skipped_local == skipped_ray

    def strip(s):  # timings differ; everything else must not
        data = render_json(s)
        data.pop("timings", None)
        return data

    assert [strip(s) for s in local] == [strip(s) for s in ray_out]
