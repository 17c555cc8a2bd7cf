"""`shanhai` command line: argument parsing and output formatting only; work happens in rag.*.

Each command group is one module (:mod:`rag.cli.models`, :mod:`rag.cli.corpus`, :mod:`rag.cli.answer`,
:mod:`rag.cli.serve`, :mod:`rag.cli.eval`, :mod:`rag.cli.index`, :mod:`rag.cli.regions`) that registers
its handlers in :data:`rag.cli.common.COMMANDS` and reaches the project through the :mod:`rag` facade.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from rag.cli import answer, corpus, index, models, regions, serve
from rag.cli import eval as evaluate
from rag.cli.common import COMMANDS, common_args, eprint
from rag.config import ConfigError, load_config

__all__ = ["COMMANDS", "build_parser", "main"]

# Command groups in the order `shanhai --help` lists their subcommands.
GROUPS = (models, corpus, answer, serve, evaluate, index, regions)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (each module of :data:`GROUPS` adds its subcommands)."""
    parser = argparse.ArgumentParser(prog="shanhai", description="山海：离线中文新闻问答、引用溯源、地区摘要与批量评测")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(sub, common_args)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in getattr(args, "set", []) or []:
        if "=" not in item:
            raise ConfigError(f"--set 需要 KEY=VALUE 形式，收到：{item}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    if getattr(args, "index", None):
        out["index_dir"] = args.index
    for flag, dotted in (("backend", "answer.backend"), ("k", "retrieval.top_k")):
        if getattr(args, flag, None) is not None:
            out[dotted] = getattr(args, flag)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``shanhai`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(getattr(args, "config", None), overrides=_overrides(args))
        return COMMANDS[args.cmd](args, config)
    except KeyboardInterrupt:
        eprint("已中断。")
        return 130
    except BrokenPipeError:  # e.g. `shanhai search … | head`
        sys.stderr.close()
        return 0
    except Exception as exc:  # one clear line for expected failures; traceback only with SHANHAI_DEBUG
        if os.environ.get("SHANHAI_DEBUG"):
            raise
        eprint(f"错误：{exc}")
        return 2
