"""`shanhai eval`: batch evaluation runs, reports and run comparison (argument handling only).

    shanhai eval DATASET.jsonl [--index DIR | --corpus DIR] [--backend NAME] [--out RUN_DIR]
                 [--limit N] [--workers N] [--parallel local|threads|ray] [--noise 0,0.2,…]
                 [--mode noise,rejection] [--retrieval passages|index] [--resume] [--json]
    shanhai eval compare RUN_A RUN_B [--json] [--width N] [--all]
    shanhai eval report RUN_DIR [--out DIR] [--excerpt N]
"""

from __future__ import annotations

import argparse
import sys

from rag.cli.common import command, eprint, print_json
from rag.config import Config
from rag import describe_backends

USAGE = "DATASET.jsonl | compare RUN_A RUN_B | report RUN_DIR"


def add_parsers(sub, common) -> None:
    """Register ``eval``'s arguments."""
    p = sub.add_parser(
        "eval", help="批量评测：检索/回答/引用指标、报告与图表、两次运行对比",
        description="评测一个问答集（自动识别格式：种子格式、RGB、DRCD），结果写入运行目录；"
                    "或 `shanhai eval compare A B` 对比两次运行；或 `shanhai eval report DIR` 重新生成报告。"
                    "种子格式需要从索引检索作答：用 --index 指定已有索引，或用 --corpus 指定文章目录（在运行目录中临时建索引）。")
    common(p)
    p.add_argument("target", nargs="+", metavar="TARGET", help=USAGE)
    p.add_argument("--corpus", action="append",
                   help="文章目录或文件：导入到运行目录下的临时索引后再评测（代替 --index；可重复，如再加干扰语料）")
    p.add_argument("--backend", help=f"回答后端：{describe_backends()}（默认：配置 answer.backend）")
    p.add_argument("--out", help="运行目录（默认 runs/eval-<数据集>-<后端>-<时间>）；report 子命令：报告输出目录")
    p.add_argument("--limit", type=int, help="只评测前 N 条记录（RGB 每条记录按设置展开为多题）")
    p.add_argument("--workers", type=int, help="同时评测的题数（默认 eval.workers）")
    p.add_argument("--parallel", choices=["local", "threads", "ray"],
                   help="并行方式：local 顺序执行；threads 本机线程；ray 使用 Ray（地址见配置 ray.address）")
    p.add_argument("--noise", help="RGB 噪声比例，逗号分隔，如 0,0.2,0.4,0.6,0.8")
    p.add_argument("--mode", help="评测模式，逗号分隔：RGB 为 noise、rejection（默认两者）；其他格式只有一种")
    p.add_argument("--retrieval", choices=["passages", "index"], default="passages",
                   help="自带段落的数据集（DRCD）：passages 用各题自带段落；index 对全部段落建索引后检索作答")
    p.add_argument("--resume", action="store_true", help="在 --out 目录中继续上次中断的运行")
    p.add_argument("--json", action="store_true", help="以 JSON 输出指标（compare：对比结果）")
    p.add_argument("--width", type=int, default=60, help="compare：每格显示的字符数")
    p.add_argument("--all", action="store_true", help="compare：也列出回答文字变化但结果未变的题目")
    p.add_argument("--excerpt", type=int, help="report：问题与回答截断到 N 个字符")


def _floats(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(x) for x in text.replace("，", ",").split(",") if x.strip()]
    except ValueError as err:
        raise ValueError(f"--noise 需要逗号分隔的小数，如 0,0.2,0.4（收到：{text}）") from err


def _names(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.replace("，", ",").split(",") if x.strip()] if text else None


class _Bar:
    """A tqdm bar (items/s and ETA) created at the first progress call, when the total is known."""

    def __init__(self, desc: str):
        self.desc, self.bar = desc, None

    def update(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="题", file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1)
        self.bar.update(done - self.bar.n)

    def log(self, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _summary_lines(metrics: dict) -> list[str]:
    from rag import metric_label

    o = metrics.get("overall") or {}
    lines = [f"题数 {metrics['n_items']}（出错 {metrics['n_errors']}）"]
    lines += [f"  {metric_label(k)}：{100 * v:.1f}%" for k, v in o.items() if k != "n" and v is not None]
    rgb = metrics.get("rgb") or {}
    for task, label in (("noise", "RGB 噪声鲁棒性"), ("integration", "RGB 信息整合")):
        if rgb.get(task):
            lines.append(f"  {label}：" + "，".join(f"噪声 {r} → {100 * v:.1f}%" for r, v in rgb[task].items()
                                                   if v is not None))
    if rgb.get("rejection") is not None:
        lines.append(f"  RGB 拒答率：{100 * rgb['rejection']:.1f}%")
    lat = (metrics.get("latency") or {}).get("total") or {}
    if lat.get("p50") is not None:
        lines.append(f"  每题耗时 p50 {lat['p50']:.2f} 秒，p95 {lat['p95']:.2f} 秒")
    return lines


def _compare(args: argparse.Namespace) -> int:
    from rag import compare_runs, format_comparison

    if len(args.target) != 3:
        eprint("用法：shanhai eval compare RUN_A RUN_B（两个运行目录）")
        return 2
    cmp = compare_runs(args.target[1], args.target[2])
    if args.json:
        print_json(cmp)
    else:
        sys.stdout.write(format_comparison(cmp, width=args.width, show_unchanged_answers=args.all))
    return 0


def _report(args: argparse.Namespace) -> int:
    from rag import write_report

    if len(args.target) != 2:
        eprint("用法：shanhai eval report RUN_DIR [--out DIR] [--excerpt N]")
        return 2
    paths = write_report(args.target[1], out_dir=args.out, excerpt_chars=args.excerpt)
    print(f"报告：{paths['md']}\n      {paths['html']}")
    return 0


@command("eval")
def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    if args.target[0] == "compare":
        return _compare(args)
    if args.target[0] == "report":
        return _report(args)
    if len(args.target) != 1:
        eprint(f"用法：shanhai eval {USAGE}")
        return 2
    from rag import Pipeline, run_eval

    bar = _Bar("评测")
    try:
        summary = run_eval(args.target[0], config, make_pipeline=Pipeline, out=args.out, backend=args.backend, index=args.index,
                           corpus=args.corpus, limit=args.limit, workers=args.workers, parallel=args.parallel,
                           noises=_floats(args.noise), modes=_names(args.mode), retrieval=args.retrieval,
                           resume=args.resume, progress=bar.update, log=bar.log)
    finally:
        bar.close()
    if args.json:
        print_json({"run_dir": str(summary.run_dir), **summary.metrics})
        return 0
    print("\n".join(_summary_lines(summary.metrics)))
    print(f"运行目录：{summary.run_dir}（report.md / report.html / results.jsonl）")
    return 0 if summary.metrics["n_errors"] < summary.metrics["n_items"] else 1
