"""`shanhai models prepare|status`: build the offline models and report whether they are ready."""

from __future__ import annotations

import argparse

from rag.cli.common import command, eprint
from rag.config import Config


def add_parsers(sub, common) -> None:
    """Register ``models``."""
    p = sub.add_parser("models", help="准备/查看离线模型")
    common(p, index=False)
    p.add_argument("action", choices=["prepare", "status"])
    p.add_argument("--only", choices=["embedding", "llm", "judge"], help="只处理其中一个模型")
    p.add_argument("--force", action="store_true", help="重新构建，即使缓存可用")
    p.add_argument("--deep", action="store_true", help="status 时重新计算校验和")
    p.add_argument("--no-smoke", action="store_true", help="prepare 后不在子进程中试运行本地模型")


@command("models")
def cmd_models(args: argparse.Namespace, config: Config) -> int:
    from rag import llm_runtime_status, model_status, prepare_models, smoke_test_llm

    if args.action == "prepare":
        for path in prepare_models(config, only=args.only, force=args.force):
            eprint(f"已就绪：{path}")
        if args.only == "embedding" or args.no_smoke:
            return 0
        result = smoke_test_llm(config)  # in a child process: a crash is reported, not suffered
        for line in result.report():
            (print if result.ok else eprint)(line)
        return 0 if result.ok else 1
    rows = model_status(config, deep=args.deep)
    for row in rows:
        mark = "✓ 就绪" if row["ready"] else "✗ 未就绪"
        size = f"{row['size_mb']:.0f} MB" if row.get("size_mb") else "-"
        print(f"{mark}  {row['name']:<44} {size:>8}  {row['path']}")
        if row.get("detail"):
            print(f"        {row['detail']}")
    runtime = llm_runtime_status(config)
    print(f"{'✓' if runtime['ready'] else '✗'} {runtime['summary']}")
    return 0 if all(r["ready"] for r in rows) and runtime["ready"] else 1
