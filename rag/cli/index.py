"""`shanhai index check|repair`: verify an index folder and repair what can be derived again."""

from __future__ import annotations

import argparse

from rag.cli.common import command, print_json
from rag.config import Config


def add_parsers(sub, common) -> None:
    """Register ``shanhai index``."""
    p = sub.add_parser("index", help="检查或修复索引目录（校验和、可重建的文件）")
    common(p)
    p.add_argument("action", choices=["check", "repair"], help="check：全面校验；repair：修复可修复的损坏")
    p.add_argument("--rollback", action="store_true", help="存储文件损坏时回退到上一代索引（丢失最近一次提交的更改）")
    p.add_argument("--quick", action="store_true", help="check 时只比对文件大小，不计算校验和")
    p.add_argument("--json", action="store_true", help="以 JSON 输出检查结果")


@command("index")
def cmd_index(args: argparse.Namespace, config: Config) -> int:
    from rag import diagnose, repair

    path = config.index_dir
    if args.action == "check":
        diag = diagnose(path, digests=not args.quick)
        if args.json:
            print_json({
                "index": str(path),
                "found": diag.found,
                "healthy": diag.healthy,
                "generation": (diag.manifest or {}).get("generation"),
                "counts": (diag.manifest or {}).get("counts"),
                "problems": [{"file": p.file, "detail": p.detail, "derived": p.derived} for p in diag.problems],
                "leftovers": [{"name": n, "bytes": b} for n, b in diag.leftovers],
                "writing": diag.writing,
                "resume_journal_bytes": diag.journal_bytes,
            })
            return 0 if diag.healthy else 1
        print(diag.describe())
        if not diag.found:
            return 1
        for note in diag.notes():
            print(f"⚠ {note}")
        if diag.healthy:
            files = len((diag.manifest or {}).get("files", {}))
            how = "文件大小" if args.quick else "SHA-256 校验和"
            print(f"✓ 索引完好（已核对 {files} 个文件的{how}，并完整打开了一次）。")
            return 0
        print(f"✗ 发现 {len(diag.problems)} 个问题：")
        for p in diag.problems:
            print(f"  - {p.message()}")
        if all(p.derived for p in diag.problems):
            print(f"处理办法：运行 `shanhai index repair --index {path}`，由存储和向量重建这些文件。")
        else:
            print(f"处理办法：运行 `shanhai index repair --index {path}` 查看可行的修复方式。")
        return 1
    report = repair(path, rollback=args.rollback)
    for line in report.actions:
        print(f"✓ {line}")
    for line in report.remaining:
        print(f"✗ {line}")
    if report.ok:
        print(diagnose(path, digests=False).describe())
    return 0 if report.ok else 1
