"""The ONNX embedding backends: export/quantise/verify, parity with torch, index records, fast CLI.

Slow tests use the real e5 model (the prepared folder in the default home, or one built in a
temp folder) and the real seed corpus and dev questions from ../shared.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from embeddings import Encoder
from embeddings.onnx_export import (
    ONNX_MANIFEST,
    int8_file,
    onnx_model_status,
    prepare_onnx_model,
    quantization_preset,
    read_onnx_manifest,
)
from embeddings.onnx_runtime import length_batches
from rag.index.manifest import backend_mismatch, embedding_record

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "sentence_transformers", "onnxruntime", "llama_cpp", "gradio")
# Measured on the seed dev questions (benchmarks/embed_parity.py, docs/benchmarks.md): int8
# queries keep >= 0.95 of torch's hybrid top-5 on average and every query vector has cosine
# >= 0.99 with torch's. The asserts leave a little room below the measurement.
MIN_TOP5_OVERLAP = 0.9
MIN_QUERY_COSINE = 0.99


# --------------------------------------------------------------------------- fast

def test_length_batches_cover_every_text_once_longest_first():
    lengths = [5, 40, 3, 40, 17, 9, 30]
    batches = length_batches(lengths, 3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert all(len(b) <= 3 for b in batches)
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)


def test_unknown_backend_is_refused_in_chinese(tmp_path):
    with pytest.raises(ValueError, match="未知的向量后端"):
        Encoder(tmp_path / "m", backend="onnx-fp16")


def test_int8_file_names_follow_the_preset():
    assert int8_file("avx512_vnni") == "model_qint8_avx512_vnni.onnx"
    assert int8_file("avx2") == "model_quint8_avx2.onnx"
    assert quantization_preset() in ("avx512_vnni", "avx512", "avx2", "arm64")


def test_manifest_records_backend_and_mixing():
    first = embedding_record("e5", 384, {"backend": "onnx-int8", "quantization": "qint8_avx512_vnni"}, None)
    assert first == {"model": "e5", "dim": 384, "backend": "onnx-int8", "quantization": "qint8_avx512_vnni"}
    base = {"embedding": first}
    # remove/repair (no encoder info) keep the record
    assert embedding_record("e5", 384, None, base) == first
    mixed = embedding_record("e5", 384, {"backend": "torch", "quantization": "fp32"}, base)
    assert mixed["backend"] == "torch" and mixed["mixed_backends"] == ["onnx-int8", "torch"]
    # an old index without a record stays without one
    assert embedding_record("e5", 384, None, {"embedding": {"model": "e5", "dim": 384}}) == {"model": "e5", "dim": 384}


def test_backend_mismatch_message():
    manifest = {"embedding": {"model": "e5", "dim": 384, "backend": "torch", "quantization": "fp32"}}
    assert backend_mismatch(manifest, {"backend": "torch", "quantization": "fp32"}) is None
    assert backend_mismatch({"embedding": {"model": "e5", "dim": 384}}, {"backend": "onnx"}) is None
    msg = backend_mismatch(manifest, {"backend": "onnx-int8", "quantization": "qint8_avx512_vnni"})
    assert msg and "torch" in msg and "onnx-int8" in msg and "models.embedding.backend=torch" in msg


def _modules_after(argv: list[str], env_extra: dict | None = None) -> tuple[int, list[str], str]:
    """Run the CLI in a fresh interpreter; return exit code, heavy modules loaded, stdout."""
    code = (
        "import sys, json\n"
        "from rag.cli import main\n"
        "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code or 0\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print('\\nMODULES=' + json.dumps(heavy))\n"
        "sys.exit(rc)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=env)
    line = [x for x in out.stdout.splitlines() if x.startswith("MODULES=")][-1]
    return out.returncode, json.loads(line[len("MODULES="):]), out.stdout


@pytest.mark.parametrize("argv", [["--help"], ["search", "--help"], ["models", "status"], ["config"]])
def test_light_commands_import_no_model_library(argv):
    rc, heavy, stdout = _modules_after(argv)
    assert heavy == [], (argv, heavy)
    assert rc in (0, 1) and stdout.strip()


# --------------------------------------------------------------------------- slow: the prepared folder

@pytest.fixture(scope="module")
def onnx_tmp(tmp_path_factory) -> Path:
    """A fresh ONNX folder exported from the prepared e5 folder of the default home."""
    from rag.config import load_config
    from rag.models import embedding_dir

    target = tmp_path_factory.mktemp("onnx") / "e5-onnx"
    return prepare_onnx_model(embedding_dir(load_config()), target, progress=False)


@pytest.mark.slow
def test_prepared_onnx_folder_is_verified(onnx_tmp):
    status = onnx_model_status(onnx_tmp, deep=True)
    assert status["ready"], status["detail"]
    manifest = read_onnx_manifest(onnx_tmp)
    for backend in ("onnx", "onnx-int8"):
        v = manifest["variants"][backend]
        assert v["passed"] and v["min_cosine"] >= 0.99 and v["argmax_agreement"] == 1.0
        assert (onnx_tmp / v["file"]).is_file()
    assert manifest["variants"]["onnx"]["min_cosine"] >= 0.9999
    assert set(manifest["files"]) >= {"model.onnx", manifest["variants"]["onnx-int8"]["file"], "tokenizer.json"}


@pytest.mark.slow
def test_corrupted_int8_file_is_rebuilt(onnx_tmp):
    manifest = read_onnx_manifest(onnx_tmp)
    path = onnx_tmp / manifest["variants"]["onnx-int8"]["file"]
    with open(path, "r+b") as fh:  # same size, different bytes: only the sha256 can tell
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert onnx_model_status(onnx_tmp)["ready"]  # the quick check sees sizes only
    assert not onnx_model_status(onnx_tmp, deep=True)["ready"]
    prepare_onnx_model(Path(manifest["source"]), onnx_tmp, progress=False)
    assert onnx_model_status(onnx_tmp, deep=True)["ready"]


@pytest.mark.slow
def test_models_prepare_rebuilds_a_deleted_onnx_file(onnx_tmp, capsys):
    from rag.cli import main

    (onnx_tmp / "model.onnx").unlink()
    assert not onnx_model_status(onnx_tmp)["ready"]
    rc = main(["models", "prepare", "--only", "embedding", "--set", f"models.embedding.onnx_dir={onnx_tmp}"])
    assert rc == 0
    assert onnx_model_status(onnx_tmp, deep=True)["ready"]
    assert str(onnx_tmp) in capsys.readouterr().err


@pytest.mark.slow
def test_variant_that_failed_parity_falls_back(onnx_tmp, tmp_path, caplog):
    copy = tmp_path / "onnx-failed"
    copy.mkdir()
    for p in onnx_tmp.iterdir():
        if p.name != ONNX_MANIFEST:
            os.link(p, copy / p.name)  # hard links: no 600 MB copy
    manifest = read_onnx_manifest(onnx_tmp)
    manifest["variants"]["onnx-int8"]["passed"] = False
    (copy / ONNX_MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    enc = Encoder(Path(manifest["source"]), backend="onnx-int8", onnx_dir=copy, auto_prepare=False)
    with caplog.at_level(logging.WARNING):
        vec = enc.encode_query("对口帮扶的资金用在哪里？")
    assert enc.active_backend == "onnx" and enc.index_info == {"backend": "onnx", "quantization": "fp32"}
    assert "改用 onnx" in caplog.text and vec.shape == (384,)


# --------------------------------------------------------------------------- slow: parity on the seed corpus

@pytest.fixture(scope="module")
def torch_pipeline(seed_pipeline, seeds_dir, tmp_path_factory):
    """The seed articles indexed with the torch backend (seed_pipeline uses the default)."""
    from rag.config import load_config
    from rag.pipeline import Pipeline

    cfg = load_config(overrides={"index_dir": str(tmp_path_factory.mktemp("torch-index") / "index"),
                                 "models.embedding.backend": "torch"})
    pipe = Pipeline(cfg)
    assert pipe.ingest([seeds_dir]).docs_added == 5
    return pipe


@pytest.fixture(scope="module")
def dev_questions(eval_dir) -> list[str]:
    return [json.loads(line)["question"] for line in (eval_dir / "seed_qa_dev.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]


@pytest.mark.slow
def test_default_backend_is_onnx_int8_and_recorded(seed_pipeline):
    assert seed_pipeline.encoder.backend == "onnx-int8"
    emb = seed_pipeline.index.manifest["embedding"]
    assert emb["backend"] == "onnx-int8" and emb["quantization"].startswith("qint8_")


@pytest.mark.slow
def test_onnx_and_torch_agree_on_seed_dev_top5(seed_pipeline, torch_pipeline, dev_questions):
    overlaps, top1 = [], []
    for q in dev_questions:
        a = [h.chunk.chunk_id for h in seed_pipeline.search(q, 5)]
        b = [h.chunk.chunk_id for h in torch_pipeline.search(q, 5)]
        overlaps.append(len(set(a) & set(b)) / 5)
        top1.append(a[0] == b[0])
    qa = seed_pipeline.encoder.encode_queries(dev_questions)
    qb = torch_pipeline.encoder.encode_queries(dev_questions)
    cos = (qa * qb).sum(1)
    assert cos.min() >= MIN_QUERY_COSINE, cos.min()
    assert np.mean(overlaps) >= MIN_TOP5_OVERLAP, overlaps
    assert np.mean(top1) >= 0.8, top1


@pytest.mark.slow
def test_onnx_fp32_equals_torch_vectors(torch_pipeline, seed_pipeline, dev_questions):
    torch_enc = torch_pipeline.encoder
    fp32 = Encoder(torch_enc.model_dir, backend="onnx", onnx_dir=seed_pipeline.encoder.onnx_dir, auto_prepare=False)
    texts = [h.chunk.text for q in dev_questions[:6] for h in torch_pipeline.search(q, 3)]
    a, b = fp32.encode_passages(texts), torch_enc.encode_passages(texts)
    assert (a * b).sum(1).min() >= 0.9999
    # sorting by length inside the encoder does not change any text's vector
    shuffled = list(reversed(texts))
    np.testing.assert_allclose(fp32.encode_passages(shuffled)[::-1], a, atol=1e-5)
    assert fp32.stats["tokens"] > 0 and fp32.tokens_per_second() > 0


@pytest.mark.slow
def test_int8_vectors_do_not_depend_on_the_batch(seed_pipeline, torch_pipeline, dev_questions):
    """Dynamic int8 scales activations per batch: the encoder runs one text per pass instead."""
    enc = seed_pipeline.encoder
    texts = [h.chunk.text for q in dev_questions[:4] for h in torch_pipeline.search(q, 4)]
    together = enc.encode_passages(texts)
    alone = np.stack([enc.encode_passages([t])[0] for t in texts])
    np.testing.assert_array_equal(together, alone)
    other = Encoder(enc.model_dir, backend="onnx-int8", onnx_dir=enc.onnx_dir, batch_size=3, threads=1,
                    auto_prepare=False)
    np.testing.assert_allclose(other.encode_passages(list(reversed(texts)))[::-1], together, atol=1e-6)


@pytest.mark.slow
def test_int8_passes_side_by_side_give_the_same_vectors(seed_pipeline, torch_pipeline, dev_questions, monkeypatch):
    """Long int8 encodes run several passes at once on one single-thread session; every vector
    stays the same."""
    import embeddings.encoder as encoder_module

    enc = seed_pipeline.encoder
    texts = [h.chunk.text for q in dev_questions[:8] for h in torch_pipeline.search(q, 4)]
    assert len(texts) >= encoder_module.PARALLEL_MIN_PASSES
    kwargs = dict(backend="onnx-int8", onnx_dir=enc.onnx_dir, auto_prepare=False)
    alone = Encoder(enc.model_dir, parallel=1, **kwargs).encode_passages(texts)
    both = Encoder(enc.model_dir, parallel=2, **kwargs)
    threads_used: set[str] = set()
    embed_batch = encoder_module._OnnxRunner.embed_batch

    def spy(self, texts_, ids):
        threads_used.add(threading.current_thread().name)
        return embed_batch(self, texts_, ids)

    monkeypatch.setattr(encoder_module._OnnxRunner, "embed_batch", spy)
    np.testing.assert_array_equal(both.encode_passages(texts), alone)
    assert len(threads_used) == 2 and both.model.threads == 1
    with pytest.raises(ValueError, match="parallel"):
        Encoder(enc.model_dir, parallel=-1, **kwargs)


@pytest.mark.slow
def test_index_from_another_backend_warns(torch_pipeline, seed_config, caplog):
    from rag.config import load_config
    from rag.pipeline import Pipeline

    with caplog.at_level(logging.WARNING):
        Pipeline(load_config(overrides={"index_dir": str(torch_pipeline.index_dir)})).index
    assert "当前查询使用 onnx-int8" in caplog.text and "models.embedding.backend=torch" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        Pipeline(load_config(overrides={"index_dir": str(torch_pipeline.index_dir),
                                        "models.embedding.backend": "torch"})).index
    assert "当前查询使用" not in caplog.text


@pytest.mark.slow
def test_search_and_read_only_commands_never_import_torch(seed_pipeline):
    index = str(seed_pipeline.index_dir)
    for argv in (["docs", "--index", index], ["index", "check", "--index", index]):
        rc, heavy, _ = _modules_after(argv)
        assert rc == 0 and heavy == [], (argv, heavy)
    rc, heavy, stdout = _modules_after(["search", "沿河的贫困发生率下降了多少？", "--json", "--index", index])
    assert rc == 0 and "onnxruntime" in heavy
    assert not {"torch", "transformers", "sentence_transformers"} & set(heavy), heavy
    hits = json.loads(stdout.split("\nMODULES=")[0])
    assert len(hits) == 5 and all(h["chunk_id"] for h in hits)


@pytest.mark.slow
def test_onnx_token_ids_equal_transformers(seeds_dir, eval_dir):
    """The torch-free tokenisation must feed the model exactly what sentence-transformers feeds it."""
    from transformers import AutoTokenizer

    from embeddings.onnx_export import TOKENIZER_FILE
    from embeddings.onnx_runtime import OnnxEmbedder
    from rag.config import load_config
    from rag.models import embedding_dir, onnx_dir

    cfg = load_config()
    folder = onnx_dir(cfg)
    manifest = read_onnx_manifest(folder)
    embedder = OnnxEmbedder(folder / manifest["variants"]["onnx-int8"]["file"], folder / TOKENIZER_FILE)
    reference = AutoTokenizer.from_pretrained(str(embedding_dir(cfg)))
    texts = ["末尾有空格的问题？ ", " 开头有空格", "两个  空格", "换行结尾\n", "全角空格结尾\u3000", "替换字符结尾\ufffd",
             "", "   ", "▁", "passage: " + "很长的段落。" * 200]
    texts += ["passage: " + p.read_text(encoding="utf-8") for p in sorted(seeds_dir.glob("*.txt"))]
    rgb = [json.loads(x) for x in (eval_dir / "external" / "rgb_zh_dev.jsonl").read_text(encoding="utf-8").splitlines()[:20]]
    texts += ["query: " + it["question"] for it in rgb] + ["passage: " + p for it in rgb for p in it["positive"]]
    expected = reference(texts, truncation=True, max_length=512)["input_ids"]
    got = embedder.token_ids(texts)
    assert [i for i, (a, b) in enumerate(zip(expected, got)) if list(a) != list(b)] == []
