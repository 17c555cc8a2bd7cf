"""llama.cpp CPU backend variant choice (portable build; never the AMX variant)."""

from __future__ import annotations

import pytest

from rag.llm.cpu_backend import CpuBackendError, choose_variant, ensure_cpu_backend, variant_files

SCORES_AMX_HOST = {"x64": 1, "haswell": 64, "skylakex": 192, "icelake": 1472, "zen4": 1984, "sapphirerapids": 4000}


def test_amx_variant_never_chosen_automatically():
    assert choose_variant(SCORES_AMX_HOST) == "zen4"


def test_best_runnable_variant_on_an_avx2_host():
    assert choose_variant({"x64": 1, "sse42": 5, "haswell": 64, "skylakex": 0, "zen4": 0}) == "haswell"


def test_named_variant_must_run_here():
    assert choose_variant(SCORES_AMX_HOST, prefer="haswell") == "haswell"
    with pytest.raises(CpuBackendError, match="cpu_variant='zen5'"):
        choose_variant({"x64": 1, "zen4": 0}, prefer="zen5")


def test_no_runnable_variant_names_the_rebuild():
    with pytest.raises(CpuBackendError, match="make reinstall-llama"):
        choose_variant({"x64": 0, "sapphirerapids": 9})


def test_installed_build_is_portable_and_loads_a_runnable_variant():
    files = variant_files()
    assert "x64" in files and "haswell" in files, "llama-cpp-python was not built with all CPU variants"
    loaded = ensure_cpu_backend()
    assert loaded.variant in files and loaded.variant != "sapphirerapids"
    assert loaded.scores[loaded.variant] == max(s for n, s in loaded.scores.items() if n != "sapphirerapids")
