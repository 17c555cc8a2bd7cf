"""Run the app: optional first ingest of a corpus folder, warm-up, uvicorn on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from rag import Pipeline, default_backend
from rag.config import Config

log = logging.getLogger("shanhai.ui")


class ServeError(RuntimeError):
    """The server cannot start (port taken, bad address); message in Chinese."""


def check_port(host: str, port: int) -> None:
    """Fail early with a clear message when ``host:port`` cannot be bound."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise ServeError(f"无法在 {host}:{port} 上启动服务（{exc.strerror or exc}）："
                         "端口可能已被占用，请用 --port 换一个端口。") from exc


def ensure_corpus(pipeline: Pipeline, corpus: Path, *, echo: Callable[[str], None] = print) -> None:
    """Ingest the files of ``corpus`` the index lacks (files already indexed are not re-read)."""
    if not corpus.exists():
        raise ServeError(f"找不到语料文件夹 {corpus}：请检查 --corpus 路径（或 SHANHAI_CORPUS）。")
    todo = pipeline.unindexed_files(corpus)
    if not todo:
        echo(f"索引中已有 {corpus} 的全部文件，跳过导入（文件有改动时请运行 `shanhai ingest {corpus}`）。")
        return
    echo(f"正在导入 {corpus} 中的 {len(todo)} 个文件……")
    report = pipeline.ingest(todo)
    echo(report.summary())


def warm_up(pipeline: Pipeline, backend: str) -> None:
    """Load the embedding model, the index and the default LLM in the background (errors are logged).

    A local model in a worker process (``llm.llama_cpp.worker: process``) is started here, so the
    first question does not wait for the model to load; the server never loads it itself.
    """
    try:
        llm = pipeline.warm_up(backend)
        if llm is not None:
            log.info("local model worker %s ready: %s", llm.pid, llm.runtime_info())
    except Exception as exc:  # shown again, clearly, on the first question
        log.warning("warm-up: %s", exc)


def with_model_worker(config: Config) -> Config:
    """``llm.llama_cpp.worker: auto`` means a worker process in the server (a model crash, hang or
    OOM then fails one request instead of the whole server)."""
    if str(config.get("llm.llama_cpp.worker") or "auto").strip().lower() == "auto":
        return config.with_overrides({"llm.llama_cpp.worker": "process"})
    return config


def start_in_thread(app: Any, host: str, port: int) -> tuple[Any, threading.Thread]:
    """Run ``app`` with uvicorn in a daemon thread; returns ``(server, thread)`` once it listens.

    Stop with ``server.should_exit = True; thread.join()``.
    """
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True, name="shanhai-uvicorn")
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ServeError(f"服务没能在 {host}:{port} 上启动，请查看上面的日志。")
        time.sleep(0.05)
    return server, thread


def serve(config: Config, *, host: str | None = None, port: int | None = None, corpus: str | Path | None = None,
          echo: Callable[[str], None] = print) -> None:
    """Start the UI + API server and block until interrupted.

    Args:
        config: resolved config (``ui`` section: host, port, auth, max_upload_mb, examples).
        host: bind address (default ``ui.host``, 127.0.0.1).
        port: port (default ``ui.port``, 7860).
        corpus: optional folder ingested first when the index lacks its files.
        echo: where progress lines go.
    """
    import uvicorn

    from ui.app import create_app, parse_auth

    host = host or str(config.get("ui.host") or "127.0.0.1")
    port = int(port or config.get("ui.port") or 7860)
    auth = parse_auth(config.get("ui.auth"))
    check_port(host, port)
    config = with_model_worker(config)
    pipeline = Pipeline(config)
    if corpus:
        ensure_corpus(pipeline, Path(corpus).expanduser(), echo=echo)
    app = create_app(pipeline, config)
    threading.Thread(target=warm_up, args=(pipeline, default_backend(config)),
                     daemon=True, name="shanhai-warmup").start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    echo(f"山海已启动：{url}")
    echo(f"OpenAI 兼容接口：{url}v1/chat/completions（模型名 shanhai）")
    if auth:
        echo("已启用登录（ui.auth）；/v1 接口请用 Authorization: Bearer <密码>。")
    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(f"注意：服务绑定在 {host}，局域网内的其他机器也能访问。")
    echo("按 Ctrl+C 停止。")
    sys.stdout.flush()
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
