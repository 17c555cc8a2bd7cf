"""Compose the Gradio Blocks from the tab modules and mount it with the OpenAI route on FastAPI."""

from __future__ import annotations

import importlib
from typing import Any

import gradio as gr
from fastapi import FastAPI

from rag import Pipeline
from rag.config import Config, ConfigError
from ui import render
from ui.api import build_api
from ui.context import UIContext
from ui.openai_api import add_openai_routes

# (tab label, module exposing build(ctx)). Adding a tab is one line here.
TABS: list[tuple[str, str]] = [
    ("问答", "ui.chat_tab"),
    ("文档库", "ui.library_tab"),
    ("地区摘要", "ui.regions_tab"),
    ("评测", "ui.eval_tab"),
]

TITLE = "山海 · 新闻问答"
# System fonts only: a GoogleFont theme would fetch fonts.googleapis.com.
THEME = gr.themes.Default(font=["system-ui", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "sans-serif"],
                          font_mono=["monospace"])


def parse_auth(value: Any) -> tuple[str, str] | None:
    """``ui.auth`` (``"user:password"``) as a tuple, None when unset.

    Raises:
        ConfigError: a value without ``:``.
    """
    if not value:
        return None
    text = str(value)
    if ":" not in text or not text.split(":", 1)[1]:
        raise ConfigError("ui.auth 需要写成 用户名:密码（例如 SHANHAI_UI__AUTH=admin:secret）")
    user, password = text.split(":", 1)
    return user, password


def build_blocks(ctx: UIContext, tabs: list[tuple[str, str]] | None = None) -> gr.Blocks:
    """The Blocks app: header, one ``gr.Tab`` per entry of ``tabs`` (default :data:`TABS`), API endpoints."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        ctx.docs_changed = gr.State(0)
        gr.Markdown(f"## {TITLE}\n根据文档库中的文章回答问题，每句话后标注引用的段落 [n]；点击 [n] 查看原文段落。"
                    "回答后端、段落数、来源和日期筛选在右上角的 ‹ 问答设置 中。")
        with gr.Tabs():
            for label, module in tabs or TABS:
                with gr.Tab(label):
                    importlib.import_module(module).build(ctx)
        build_api(ctx)
    demo.queue(default_concurrency_limit=ctx.concurrency)
    return demo


def create_app(pipeline: Pipeline, config: Config | None = None) -> FastAPI:
    """The whole server: ``/v1`` OpenAI-compatible routes plus the Gradio UI and API at ``/``.

    Args:
        pipeline: the pipeline every tab and endpoint uses.
        config: resolved config (defaults to ``pipeline.config``); section ``ui`` is read.

    Returns:
        A FastAPI app to run with uvicorn.
    """
    config = config or pipeline.config
    ctx = UIContext(pipeline=pipeline, config=config)
    auth = parse_auth(config.get("ui.auth"))
    app = FastAPI(title=TITLE, docs_url=None, redoc_url=None, openapi_url=None)
    add_openai_routes(app, ctx, token=auth[1] if auth else None)  # before the "/" mount
    demo = build_blocks(ctx)
    max_bytes = int(ctx.max_upload_mb * 1024 * 1024 * 4) + 1024 * 1024  # hard cap; the clear message comes earlier
    app = gr.mount_gradio_app(app, demo, path="/", auth=auth, auth_message="请输入山海的用户名和密码（配置项 ui.auth）",
                              max_file_size=max_bytes, theme=THEME, css=render.CSS, head=render.HEAD_JS,
                              footer_links=["api"], ssr_mode=False, mcp_server=False)
    app.state.shanhai_ctx = ctx
    return app
