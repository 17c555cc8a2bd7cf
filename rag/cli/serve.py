"""`shanhai serve`: the chat UI, its gradio_client API and the OpenAI-compatible route."""

from __future__ import annotations

import argparse

from rag.cli.common import command
from rag.config import Config


def add_parsers(sub, common) -> None:
    """Register ``serve``'s arguments."""
    p = sub.add_parser("serve", help="启动网页界面（问答、文档库、地区摘要、评测）和 API（gradio_client 与 OpenAI 兼容接口）")
    common(p)
    p.add_argument("--host", help="绑定地址（默认 ui.host = 127.0.0.1，只允许本机访问）")
    p.add_argument("--port", type=int, help="端口（默认 ui.port = 7860）")
    p.add_argument("--corpus", help="启动前先导入这个文件夹中索引里还没有的文件（如 sample_corpus）")


@command("serve")
def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from ui.server import serve

    serve(config, host=args.host, port=args.port, corpus=args.corpus)
    return 0
