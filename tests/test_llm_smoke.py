"""`shanhai models prepare` smoke-tests the local model in a child process: stand-ins that die
(SIGILL) or hang give a clear diagnosis and a non-zero exit; the real model passes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from worker_fakes import pid_alive

from rag.cli import main
from rag.config import load_config
from rag.llm.cpu_backend import describe_build
from rag.llm.smoke import smoke_test

# Behaves like a worker whose llama.cpp variant dies on its first vector instruction: it reports
# its CPU variant, writes a line to stderr, then kills itself with SIGILL.
SIGILL_WORKER = (
    "import json, os, signal, sys\n"
    "sys.stdin.readline()\n"
    "print(json.dumps({'event': 'runtime', 'variant': 'zen4', 'build': 'portable',"
    " 'runnable': ['zen4', 'icelake', 'haswell', 'x64']}), flush=True)\n"
    "print('llama_model_load: loading tensors (stand-in)', file=sys.stderr, flush=True)\n"
    "os.kill(os.getpid(), signal.SIGILL)\n"
)


def hang_worker(pid_file: Path) -> str:
    return f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)\n"


@pytest.fixture(scope="module")
def config():
    return load_config(environ={})


def test_a_child_killed_by_sigill_is_diagnosed(config):
    result = smoke_test(config, command=[sys.executable, "-c", SIGILL_WORKER], timeout_s=60)
    assert not result.ok and result.variant == "zen4"
    text = "\n".join(result.report())
    assert "冒烟测试失败" in text and "SIGILL（4）" in text and "非法指令" in text
    assert "llama.cpp CPU 变体 zen4" in text
    assert "llama_model_load: loading tensors (stand-in)" in text  # the child's last stderr lines
    assert "make reinstall-llama" in text and "cpu_variant=haswell" in text
    assert "icelake、haswell、x64" in text  # the runnable variants are listed


def test_a_hanging_child_times_out_and_is_killed(config, tmp_path):
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    result = smoke_test(config, command=[sys.executable, "-c", hang_worker(pid_file)], timeout_s=2)
    assert time.monotonic() - started < 30
    assert not result.ok
    text = "\n".join(result.report())
    assert "超时" in text and "2 秒" in text and "start_timeout" in text
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)


def test_a_python_error_in_the_child_is_reported(config):
    # a variant name no CPU has: the real worker fails in Python before loading the model
    result = smoke_test(config.with_overrides({"llm.llama_cpp.cpu_variant": "zen9"}), timeout_s=120)
    assert not result.ok
    text = "\n".join(result.report())
    assert "cpu_variant='zen9' 无法在本机 CPU 上运行" in text and "cpu_variant=auto" in text
    assert "Traceback" not in text


def test_prepare_exits_non_zero_with_the_diagnosis(monkeypatch, capsys):
    import rag.llm.worker as worker

    monkeypatch.setattr(worker, "worker_command", lambda: [sys.executable, "-c", SIGILL_WORKER])
    code = main(["models", "prepare", "--only", "llm"])
    err = capsys.readouterr().err
    assert code == 1
    assert "SIGILL（4）" in err and "make reinstall-llama" in err and "Traceback" not in err


def test_status_lists_the_build_and_variant(capsys):
    code = main(["models", "status"])
    out = capsys.readouterr().out
    build = describe_build("auto")
    assert code == 0
    kind = "可移植构建" if build.portable else "本机编译"
    assert f"llama.cpp：{kind}" in out
    if build.portable:
        assert f"自动选择：{build.chosen}" in out and "sapphirerapids" in out


@pytest.mark.slow
def test_the_real_model_passes(config, capsys):
    result = smoke_test(config)
    assert result.ok, "\n".join(result.report())
    assert result.variant == describe_build("auto").chosen
    assert result.prefill_tok_s and result.prefill_tok_s > 0 and result.decode_tok_s and result.decode_tok_s > 0
    assert result.completion_tokens > 1 and any("\u4e00" <= ch <= "\u9fff" for ch in result.text)
    assert "冒烟测试通过" in result.report()[0] and result.variant in result.report()[0]
    assert json.dumps(result.runnable)
    code = main(["models", "prepare", "--only", "llm"])
    assert code == 0 and "冒烟测试通过" in capsys.readouterr().out
