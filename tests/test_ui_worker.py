"""The server survives its model: a worker killed mid-answer or hanging fails that request with a
clear message and the next request is answered; waiting chats show their place in the queue.

Fast tests run a light backend (tests/worker_fakes.py) in the real worker process behind the real
app; the slow ones run `shanhai serve` itself (a subprocess) and the app with the real GGUF."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from test_ui_server import FUNDS_Q, free_port, start_app

pytestmark = pytest.mark.ui
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def fakes_importable():
    from worker_fakes import importable_in_workers

    with importable_in_workers():
        yield


def _app(seed_pipeline, llm=None, **over):
    from rag.pipeline import Pipeline

    config = seed_pipeline.config.with_overrides({"llm.llama_cpp.worker": "process", **over})
    pipe = Pipeline(config)
    if llm is not None:
        pipe.answerer("llama_cpp")._llm = llm
    app, server, thread, url = start_app(pipe, config)
    return SimpleNamespace(url=url, ctx=app.state.shanhai_ctx, pipeline=pipe, server=server, thread=thread)


def _stop(app) -> None:
    app.server.should_exit = True
    app.thread.join(timeout=15)
    llm = app.pipeline.answerer("llama_cpp").llm
    llm.worker.close()  # a shared worker would otherwise live (with its model) until the session ends
    llm.close()


@pytest.fixture
def fake_app(seed_pipeline, tmp_path):
    from rag.llm.worker_backend import ProcessLlamaBackend

    cfg = seed_pipeline.config.with_overrides({"llm.fake.delay": 0.004, "llm.fake.flag": str(tmp_path / "hung"),
                                               "llm.llama_cpp.generation_timeout": 3})
    made = []

    def make(target: str = "worker_fakes:Echo", **over):
        app = _app(seed_pipeline, ProcessLlamaBackend(cfg, target=target, shared=False), **over)
        made.append(app)
        return app

    yield make
    for app in made:
        _stop(app)


def _ask(url: str, question: str = FUNDS_Q, **body) -> httpx.Response:
    payload = {"model": "shanhai", "messages": [{"role": "user", "content": question}], **body}
    return httpx.post(url + "v1/chat/completions", json=payload, timeout=300)


def _chat(ctx, question: str, states: list[str]) -> None:
    """Run the chat handler like the page does, keeping the assistant message of every update."""
    from ui.chat_tab import respond

    for messages, *_ in respond(ctx, question, [], [], "llama_cpp", 5, [], "", "", "text"):
        states.append(messages[-1]["content"])


def _concurrent_chats(ctx, n: int, gap_s: float) -> list[list[str]]:
    states: list[list[str]] = [[] for _ in range(n)]
    threads = []
    for i in range(n):
        threads.append(threading.Thread(target=_chat, args=(ctx, FUNDS_Q, states[i])))
        threads[-1].start()
        time.sleep(gap_s)
    for t in threads:
        t.join(300)
    return states


# -- fast: a light backend in the real worker ------------------------------------------------------
def test_waiting_chats_show_their_place_in_the_queue(fake_app):
    # without the evidence judge: its per-request work (serialised) before the model queue would
    # change the arrival order this test sets up with 0.3 s gaps
    app = fake_app(**{"judge.rerank": False})
    states = _concurrent_chats(app.ctx, 3, 0.3)
    first, _, third = states
    assert not any("排队中" in s for s in first)
    queued = [s for s in third if "排队中" in s]
    assert queued and "前面还有 2 个请求" in queued[0], third
    assert any("前面还有 1 个请求" in s for s in queued)
    # shown before the answer's first token, replaced by the answer at the end
    first_text = next(i for i, s in enumerate(third) if "▌" in s)
    assert third.index(queued[0]) < first_text
    for s in states:
        assert "排队中" not in s[-1] and "后端 llama" in s[-1]


def test_openai_requests_queue_without_errors(fake_app):
    app = fake_app()
    results: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: results.append(_ask(app.url))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [r.status_code for r in results] == [200, 200, 200]
    assert all(r.json()["shanhai"]["timings"]["llm_calls"] == 1 for r in results)


def test_a_killed_worker_fails_one_chat_then_the_next_is_answered(fake_app):
    app = fake_app()
    llm = app.pipeline.answerer("llama_cpp").llm
    llm.load()
    states: list[str] = []
    chat = threading.Thread(target=_chat, args=(app.ctx, FUNDS_Q, states))
    chat.start()
    deadline = time.monotonic() + 60
    while not any("▌" in s for s in states) and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = llm.pid
    os.kill(pid, signal.SIGKILL)
    chat.join(60)
    assert "出错了" in states[-1] and "本地模型进程意外退出（SIGKILL），已自动重启，请重试" in states[-1]
    after: list[str] = []
    _chat(app.ctx, FUNDS_Q, after)
    assert "出错了" not in after[-1] and "后端 llama" in after[-1] and llm.pid != pid


def test_a_hanging_worker_times_out_through_the_api_then_recovers(fake_app):
    app = fake_app("worker_fakes:HangOnce")
    started = time.monotonic()
    hung = _ask(app.url)
    assert time.monotonic() - started < 60
    assert hung.status_code >= 500
    assert "本地模型生成超时" in hung.text and "已自动重启" in hung.text
    ok = _ask(app.url)
    assert ok.status_code == 200 and ok.json()["shanhai"]["timings"]["llm_calls"] == 1


# -- slow: the real GGUF ---------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(pid).children(recursive=True)
            if "rag.llm.worker_main" in " ".join(c.cmdline())]


@pytest.fixture
def served(seed_pipeline, tmp_path):
    """`shanhai serve` as users run it, on the seed index (read only)."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--index", str(seed_pipeline.index_dir),
                             "--port", str(port), "--set", "answer.max_tokens=48"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
        try:
            if httpx.get(url + "v1/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield SimpleNamespace(proc=proc, url=url, log=tmp_path / "serve.log")
    workers = _children(proc.pid) if proc.poll() is None else []
    proc.terminate()
    proc.wait(30)
    log.close()
    time.sleep(1)
    import psutil

    assert not [w for w in workers if psutil.pid_exists(w) and psutil.Process(w).status() != "zombie"], \
        "the model worker outlived the server"


def _stream_until_first_token(url: str, on_first) -> str:
    body = {"model": "shanhai", "stream": True, "messages": [{"role": "user", "content": FUNDS_Q}]}
    content, fired = "", False
    with httpx.stream("POST", url + "v1/chat/completions", json=body, timeout=300) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            content += delta
            if delta and not fired:
                fired = True
                on_first()
    return content


@pytest.mark.slow
def test_serve_survives_a_worker_killed_mid_answer(served):
    from rag.llm.gguf import GGUF_NAME

    killed: list[int] = []

    def kill_worker():
        pids = _children(served.proc.pid)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    content = _stream_until_first_token(served.url, kill_worker)
    assert "本地模型进程意外退出（SIGKILL），已自动重启，请重试" in content, content
    assert httpx.get(served.url + "v1/models", timeout=10).status_code == 200  # the server lives
    answer = _ask(served.url)
    assert answer.status_code == 200, answer.text
    data = answer.json()["shanhai"]
    assert data["timings"]["llm_calls"] >= 1 and data["answer"]
    workers = _children(served.proc.pid)
    assert len(workers) == 1 and workers[0] not in killed
    # only the worker holds the model
    assert GGUF_NAME in Path(f"/proc/{workers[0]}/maps").read_text()
    assert GGUF_NAME not in Path(f"/proc/{served.proc.pid}/maps").read_text()


@pytest.mark.slow
def test_real_model_queue_position_in_the_chat(seed_pipeline):
    app = _app(seed_pipeline, **{"answer.max_tokens": 48})  # short answers: the CPU is shared
    try:
        app.pipeline.answerer("llama_cpp").llm.load()
        first, second = _two_chats(app.ctx)
        assert not any("排队中" in s for s in first)
        assert any("排队中：前面还有 1 个请求" in s for s in second), second
        assert "后端 llama" in first[-1] and "后端 llama" in second[-1]
    finally:
        _stop(app)


def _two_chats(ctx) -> tuple[list[str], list[str]]:
    """Start a second chat once the first one is generating."""
    first: list[str] = []
    second: list[str] = []
    a = threading.Thread(target=_chat, args=(ctx, FUNDS_Q, first))
    a.start()
    deadline = time.monotonic() + 240
    while not any("▌" in s for s in first) and a.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    b = threading.Thread(target=_chat, args=(ctx, FUNDS_Q, second))
    b.start()
    a.join(300)
    b.join(300)
    return first, second
