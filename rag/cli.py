"""`shanhai` command line: argument parsing and output formatting only; work happens in rag.*."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from rag.config import Config, ConfigError, load_config

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
    print(*parts, file=sys.stderr, flush=True)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def _common(p: argparse.ArgumentParser, *, index: bool = True) -> None:
    p.add_argument("--config", help="额外的 YAML 配置文件（覆盖 configs/default.yaml）")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="覆盖任一配置项，如 retrieval.top_k=8")
    if index:
        p.add_argument("--index", help="索引目录（默认 <home>/index，或 SHANHAI_INDEX）")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands are defined in rag.cli_commands)."""
    from rag import cli_commands

    parser = argparse.ArgumentParser(prog="shanhai", description="山海：离线中文新闻问答、引用溯源、地区摘要与批量评测")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    cli_commands.add_parsers(sub, _common)
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


if __name__ == "__main__":
    # `python -m rag.cli`: run the imported module's main, whose COMMANDS the subcommand modules
    # fill (this __main__ copy's COMMANDS stays empty).
    from rag.cli import main as _main

    sys.exit(_main())
