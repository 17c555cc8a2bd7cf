"""The model worker process: crashes, hangs and errors fail one request and the next one is served;
requests queue with their position. Fast tests run light backends (tests/worker_fakes.py) inside
the real worker process; the slow ones run the real GGUF in it."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from worker_fakes import pid_alive

from rag.config import load_config
from rag.llm import LLMError, create_backend
from rag.llm.exits import describe_exit, fix_hint, lower_variant
from rag.llm.turns import QueueStatus, TurnQueue, queue_listener
from rag.llm.worker import WorkerError
from rag.llm.worker_backend import ProcessLlamaBackend, worker_mode

@pytest.fixture(scope="module", autouse=True)
def fakes_importable():
    """The worker child imports tests/worker_fakes.py."""
    from worker_fakes import importable_in_workers

    with importable_in_workers():
        yield


def _msgs(text: str) -> list[dict]:
    return [{"role": "system", "content": "固定的系统提示。"}, {"role": "user", "content": text}]


def _fake(target: str = "worker_fakes:Echo", **over) -> ProcessLlamaBackend:
    cfg = load_config(environ={}).with_overrides({"llm.fake.delay": 0.01, **over})
    return ProcessLlamaBackend(cfg, target=target, shared=False)


@pytest.fixture
def echo():
    backend = _fake()
    yield backend
    backend.close()


# -- exit descriptions -----------------------------------------------------------------------------
def test_exit_codes_are_named():
    assert describe_exit(-4).signal_name == "SIGILL" and describe_exit(-4).signum == 4
    assert describe_exit(132).short == "SIGILL"  # a shell's 128 + 4
    assert "非法指令" in describe_exit(-4).text
    assert describe_exit(-9).short == "SIGKILL" and "内存不足" in describe_exit(-9).meaning
    assert describe_exit(1).short == "退出码 1" and describe_exit(1).signum is None
    assert describe_exit(None).short == "未知"


def test_fix_hint_names_the_rebuild_and_a_lower_variant():
    runnable = ["zen4", "icelake", "skylakex", "haswell", "x64"]
    hint = fix_hint(describe_exit(-4), variant="zen4", runnable=runnable)
    assert "make reinstall-llama" in hint and "cpu_variant=haswell" in hint and "icelake" in hint
    assert lower_variant("haswell", runnable) == "x64"
    assert lower_variant("x64", runnable) is None
    assert "n_ctx" in fix_hint(describe_exit(-9), variant="zen4", runnable=runnable)


# -- worker mode / factory -------------------------------------------------------------------------
def test_worker_mode_and_factory():
    cfg = load_config(environ={})
    assert worker_mode(cfg) == "inline"  # auto outside `shanhai serve`
    assert isinstance(create_backend("llama_cpp", cfg.with_overrides({"llm.llama_cpp.worker": "process"})),
                      ProcessLlamaBackend)
    assert not isinstance(create_backend("llama_cpp", cfg), ProcessLlamaBackend)
    with pytest.raises(LLMError, match="llm.llama_cpp.worker"):
        worker_mode(cfg.with_overrides({"llm.llama_cpp.worker": "thread"}))


def test_serve_turns_auto_into_a_worker_process():
    from ui.server import with_model_worker

    cfg = load_config(environ={})
    assert with_model_worker(cfg).get("llm.llama_cpp.worker") == "process"
    inline = cfg.with_overrides({"llm.llama_cpp.worker": "inline"})
    assert with_model_worker(inline).get("llm.llama_cpp.worker") == "inline"


# -- the worker with light backends ----------------------------------------------------------------
def test_streams_stats_stop_max_tokens_and_count(echo):
    deltas = list(echo.stream(_msgs("东湾区组织了八场招聘会"), max_tokens=50))
    assert "".join(deltas) == "东湾区组织了八场招聘会" and len(deltas) > 3
    first = echo.last_stats
    assert first.completion_tokens == len(deltas) and first.cached_prompt_tokens == 0
    assert first.first_token_s is not None and first.first_token_s <= first.total_s
    assert echo.complete(_msgs("东湾区组织了九场招聘会"), max_tokens=4) == "东湾区组"
    # the backend inside the worker kept its state between calls (the fake's "KV cache" prefix)
    assert echo.last_stats.cached_prompt_tokens == len("固定的系统提示。东湾区组织了")
    assert echo.complete(_msgs("南岭县修通了山路。还有别的"), stop=["。"]) == "南岭县修通了山路"
    assert echo.count_tokens("十二公里") == 4
    assert echo.runtime_info()["variant"] == "zen4"


def test_a_crash_fails_the_request_and_the_next_one_is_served(echo):
    echo.complete(_msgs("先来一个"))
    before = echo.pid
    got: list[str] = []
    with pytest.raises(WorkerError) as info:
        for delta in echo.stream(_msgs("回答到一半崩溃:SIGILL 后面的字")):
            got.append(delta)
    assert got == ["回", "答"]  # it died mid-answer
    message = str(info.value)
    assert "本地模型进程意外退出（SIGILL）" in message and "已自动重启" in message
    assert "make reinstall-llama" in message and "cpu_variant=haswell" in message
    assert info.value.exit_info.signum == signal.SIGILL and info.value.restarted
    assert not pid_alive(before)
    assert echo.complete(_msgs("下一个问题")) == "下一个问题"
    assert echo.pid != before


def test_a_worker_killed_from_outside_mid_answer(echo):
    stream = echo.stream(_msgs("这是一段会被外部强制结束的较长回答" * 3))
    assert next(stream)
    os.kill(echo.pid, signal.SIGKILL)
    with pytest.raises(WorkerError, match=r"本地模型进程意外退出（SIGKILL），已自动重启，请重试"):
        list(stream)
    assert echo.complete(_msgs("恢复了吗")) == "恢复了吗"


def test_a_hang_times_out_and_the_worker_restarts(echo):
    echo.generation_timeout = 1.5
    echo.complete(_msgs("热身"))
    before = echo.pid
    started = time.monotonic()
    with pytest.raises(WorkerError) as info:
        echo.complete(_msgs("这里会卡住不动"))
    assert "本地模型生成超时" in str(info.value) and "generation_timeout" in str(info.value)
    assert info.value.timeout_s == 1.5 and time.monotonic() - started < 30
    assert not pid_alive(before)
    assert echo.complete(_msgs("卡完之后")) == "卡完之后"


def test_a_python_error_in_the_backend_keeps_the_worker(echo):
    echo.complete(_msgs("热身"))
    before = echo.pid
    with pytest.raises(LLMError, match="测试用的生成错误") as info:
        echo.complete(_msgs("这次会报错哦"))
    assert not isinstance(info.value, WorkerError)
    assert echo.pid == before and echo.complete(_msgs("照常")) == "照常"


def test_a_reader_that_stops_early_frees_the_worker(echo):
    stream = echo.stream(_msgs("很长的回答" * 20), max_tokens=100)
    next(stream)
    pid = echo.pid
    stream.close()  # cancels the generation in the worker
    assert not echo.worker.turns.busy
    assert echo.complete(_msgs("接着问")) == "接着问" and echo.pid == pid


def test_a_worker_that_died_while_idle_is_replaced_silently(echo):
    echo.complete(_msgs("热身"))
    before = echo.pid
    os.kill(before, signal.SIGKILL)
    time.sleep(0.3)
    assert echo.complete(_msgs("没人发现")) == "没人发现" and echo.pid != before


def test_start_failures_are_clear():
    crash = _fake("worker_fakes:CrashOnLoad")
    with pytest.raises(WorkerError) as info:
        crash.load()
    assert "本地模型进程启动失败（SIGILL）" in str(info.value) and "zen4" in str(info.value)
    assert info.value.phase == "start" and "loading model weights" in "\n".join(info.value.stderr_tail)
    fail = _fake("worker_fakes:FailOnLoad")
    with pytest.raises(LLMError, match="测试用的加载错误"):
        fail.complete(_msgs("你好"))


# -- queue -----------------------------------------------------------------------------------------
def test_requests_queue_in_order_and_hear_their_position():
    backend = _fake(**{"llm.fake.delay": 0.03})
    backend.complete(_msgs("热身"))  # started, and one turn measured for the estimate
    seen: dict[int, list[QueueStatus]] = {0: [], 1: [], 2: []}
    order: list[int] = []
    texts: dict[int, str] = {}

    def ask(i: int) -> None:
        with queue_listener(seen[i].append):
            text = backend.complete(_msgs(f"第{i}个请求" + "慢" * 20))
        order.append(i)
        texts[i] = text

    threads = []
    for i in range(3):
        threads.append(threading.Thread(target=ask, args=(i,)))
        threads[-1].start()
        time.sleep(0.15)
    for t in threads:
        t.join(30)
    backend.close()
    assert order == [0, 1, 2]
    assert all(texts[i].startswith(f"第{i}个请求") for i in range(3))
    assert seen[0] == []
    assert [s.ahead for s in seen[1]][0] == 1
    aheads = [s.ahead for s in seen[2]]
    assert aheads[0] == 2 and 1 in aheads and aheads == sorted(aheads, reverse=True)
    assert all(s.eta_s is not None for s in seen[2])
    assert seen[2][0].message().startswith("排队中：前面还有 2 个请求（约 ")


def test_a_listener_that_raises_leaves_the_queue():
    turns = TurnQueue(poll_s=0.05)
    holder = threading.Event()
    release = threading.Event()

    def hold():
        with turns.turn():
            holder.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    holder.wait(5)

    def give_up(status):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with turns.turn(give_up):
            pass
    assert turns.waiting == 0
    release.set()
    t.join()
    with turns.turn():  # the queue still works
        assert turns.busy


# -- the real GGUF in the worker -------------------------------------------------------------------
SYSTEM = ("你是新闻资料问答助手。请只依据用户提供的编号资料作答，不要引入资料之外的知识。"
          "每句陈述之后用方括号写出所依据资料的编号，例如[1]。请用简体中文简短回答。")


@pytest.mark.slow
def test_real_model_in_the_worker_streams_and_reuses_the_prompt_cache():
    from rag.llm.gguf import prepare_gguf

    cfg = load_config(environ={})
    gguf = prepare_gguf(cfg.models_dir, progress=False)
    backend = ProcessLlamaBackend(cfg.with_overrides({"llm.llama_cpp.n_ctx": 1024}), shared=False)
    try:
        first = [{"role": "system", "content": SYSTEM},
                 {"role": "user", "content": "[1] 青禾镇今年新建了三座蔬菜大棚。\n\n问题：青禾镇新建了几座大棚？"}]
        deltas = list(backend.stream(first, max_tokens=30))
        assert len(deltas) >= 2 and any("\u4e00" <= ch <= "\u9fff" for ch in "".join(deltas))
        assert backend.last_stats.prompt_tokens > 40 and 0 < backend.last_stats.completion_tokens <= 30
        info = backend.runtime_info()
        assert info["variant"] and info["variant"] != "sapphirerapids" and info["load_s"] is not None
        maps = Path(f"/proc/{backend.pid}/maps").read_text()
        assert str(gguf.resolve()) in maps  # the worker holds the model
        second = [{"role": "system", "content": SYSTEM},
                  {"role": "user", "content": "[1] 石桥村合作社去年卖出土豆两百吨。\n\n问题：合作社卖了多少土豆？"}]
        answer = backend.complete(second, max_tokens=30)
        assert "两百" in answer or "200" in answer, answer
        warm = backend.last_stats
        assert warm.cached_prompt_tokens >= backend.count_tokens(SYSTEM)  # KV prefix reused in the worker
        assert warm.cached_prompt_tokens < warm.prompt_tokens
    finally:
        pid = backend.pid
        backend.close()
    time.sleep(0.5)
    assert pid is not None and not pid_alive(pid)


def test_closing_the_worker_mid_answer_does_not_restart_it(echo):
    stream = echo.stream(_msgs("服务关闭时还在回答的问题" * 3))
    assert next(stream)
    worker = echo.worker
    pid = echo.pid
    closer = threading.Thread(target=worker.close)
    closer.start()
    with pytest.raises(WorkerError, match="已停止"):
        list(stream)
    closer.join(10)
    assert not pid_alive(pid) and worker.pid is None
    assert echo.complete(_msgs("之后再用")) == "之后再用"  # a later request starts a new worker
