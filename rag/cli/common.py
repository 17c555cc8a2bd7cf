"""What every `shanhai` subcommand module shares: the command registry, printing, common flags.

It imports no other ``rag.cli`` module, so the command modules and :mod:`rag.cli` both build on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

from rag.config import Config

# Offline by default, set before any subcommand imports a model library.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

COMMANDS: dict[str, Callable[[argparse.Namespace, Config], int]] = {}


def command(name: str):
    """Register a subcommand handler ``(args, config) -> exit code``."""

    def deco(fn):
        COMMANDS[name] = fn
        return fn

    return deco


def eprint(*parts: Any) -> None:
    """Print to stderr and flush."""
    print(*parts, file=sys.stderr, flush=True)


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON, keeping Chinese characters readable."""
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def common_args(p: argparse.ArgumentParser, *, index: bool = True) -> None:
    """Add the flags every subcommand takes (``--config``, ``--set`` and, if ``index``, ``--index``)."""
    p.add_argument("--config", help="额外的 YAML 配置文件（覆盖 configs/default.yaml）")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="覆盖任一配置项，如 retrieval.top_k=8")
    if index:
        p.add_argument("--index", help="索引目录（默认 <home>/index，或 SHANHAI_INDEX）")
