"""`shanhai regions` and `shanhai summarize`: the gazetteer listing and per-region summaries."""

from __future__ import annotations

import argparse
import json
import sys
import time

from rag.cli.common import command, eprint, print_json
from rag.config import Config
from rag import describe_backends


def add_parsers(sub, common) -> None:
    """Register ``regions`` and ``summarize``."""
    p = sub.add_parser("regions", help="列出文档中出现的地区（含别名、提及次数）和帮扶关系")
    common(p)
    p.add_argument("query", nargs="?", default="", help="只列出名称或别名包含该文字的地区")
    p.add_argument("--json", action="store_true", help="输出 JSON（地区、别名、文档、段落、帮扶关系及证据）")
    p.add_argument("--limit", type=int, default=0, help="最多列出多少个地区（默认全部）")

    p = sub.add_parser("summarize", help="地区摘要：带引用的摘要段落 + 关键数字表")
    common(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--region", help="地区名（任一别名，简繁体均可，如 沿河、靖遠縣、天津和平区）")
    target.add_argument("--all", action="store_true", help="为资料足够的每个地区生成摘要（显示进度条）")
    p.add_argument("--backend", help=f"生成后端：{describe_backends()}（默认：配置 summarize.backend，否则 answer.backend）")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.add_argument("--format", choices=["md", "csv", "json", "html"], default="md",
                   help="输出格式：md（默认）、csv（关键数字表，带引用位置，Excel 可直接打开；--all 时所有地区一张表，"
                        "首列为地区）、json（摘要句与关键数字，带引用）、html（独立网页，仅 --region）")
    p.add_argument("--compare", nargs="?", const="", metavar="指标",
                   help="--region 的 html / md（--out）中加上与共享帮扶方的其他地区的对比图（其他地区用抽取式后端摘要）；"
                        "可指定指标，如 帮扶资金（默认：这些地区共有最多的指标）")
    p.add_argument("--out", help="把结果（格式见 --format）写入该文件（--all 时所有地区写入同一文件）")
    p.add_argument("--parallel", choices=["local", "threads", "ray"],
                   help="--all 时的并行方式（默认：配置了 ray.address 则用 ray，否则本机逐个）")
    p.add_argument("--workers", type=int, default=1, help="--all 时同时处理的地区数（threads / ray）")
    p.add_argument("--min-mentions", type=int, help="--all 时，地区至少被提及多少次才生成摘要（默认 summarize.min_mentions）")


def _store(pipe):
    from rag import regions_stale, update_regions

    index = pipe.index
    if not regions_stale(index):
        return update_regions(index)
    from tqdm import tqdm

    eprint("正在更新地区索引（只分析新增或改动的文档）…")
    with tqdm(desc="分析地区", unit="篇", file=sys.stderr, dynamic_ncols=True, leave=False) as bar:
        def progress(done: int, total: int, _doc_id: str) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return update_regions(index, progress=progress)


@command("regions")
def cmd_regions(args: argparse.Namespace, config: Config) -> int:
    from rag import Pipeline, regions_text

    store = _store(Pipeline(config))
    if args.json:
        data = store.to_json()
        if args.query:
            keep = {r.name for r in store.search(args.query, limit=len(store.regions))}
            data["regions"] = [r for r in data["regions"] if r["name"] in keep]
            data["pairs"] = [p for p in data["pairs"] if p["donor"] in keep or p["recipient"] in keep]
        if args.limit:
            data["regions"] = data["regions"][:args.limit]
        print_json(data)
        return 0
    if args.query:
        found = store.search(args.query, limit=args.limit or 50)
        if not found:
            eprint(f"没有名称或别名包含“{args.query}”的地区。不带参数运行 `shanhai regions` 可查看全部地区。")
            return 1
        for r in found:
            print(f"{r.name}（{r.level}）提及 {r.mentions} 次 · 文档 {len(r.docs)} 篇 · 别名：{'、'.join(r.aliases) or '无'}")
            for p in store.pairs_of(r.name):
                print(f"    {p.arrow()}  [{'、'.join(p.relations)}]  例：{p.evidence[0].text[:60]}")
        return 0
    print(regions_text(store, limit=args.limit))
    return 0


def _peers(store, s, pipe) -> list:
    """Extractive summaries of the regions sharing a donor with ``s`` (those without material skipped)."""
    from rag import RegionNotFoundError, SummaryError, peer_regions, summarize_region

    names = peer_regions(store, s.region)
    if not names:
        eprint(f"没有与“{s.region}”共享帮扶方的地区，不生成对比。")
    out = []
    for name in names:
        try:
            out.append(summarize_region(store, name, pipe.index.get_doc, config=pipe.config, backend="extractive"))
        except (RegionNotFoundError, SummaryError) as exc:
            eprint(f"对比跳过 {name}：{exc}")
    return out


@command("summarize")
def cmd_summarize(args: argparse.Namespace, config: Config) -> int:
    from rag import Pipeline, create_llm, export_summary, summarize_region, summary_backend

    if args.all and args.format == "html":
        eprint("--all 不支持 html（每个地区一页）：请用 md、csv（所有地区的关键数字一张表）或 json，或逐个地区用 --region 导出。")
        return 2
    pipe = Pipeline(config)
    store = _store(pipe)
    backend = summary_backend(config, args.backend)
    if args.region:
        s = summarize_region(store, args.region, pipe.index.get_doc, config=pipe.config, backend=backend,
                             llm=create_llm(backend, config))
        charts = args.format == "html" or (args.format == "md" and args.out)
        if args.compare is not None and not charts:
            eprint("--compare 只用于 --format html，或 --format md 且给出 --out（对比图写在文件旁边）。")
        peers = _peers(store, s, pipe) if args.compare is not None and charts else []
        text = export_summary(s, args.format, out=args.out, peers=peers, measure=args.compare or None)
        if args.out:
            eprint(f"已写入 {args.out}：{s.region} 摘要 {len(s.sentences)} 句，关键数字 {len(s.figures)} 行，"
                   f"用时 {s.timings.get('total', 0):.1f} 秒")
        if args.json:
            print_json(s.to_json())
        elif not args.out:
            if args.format == "md":
                print(text)
            else:
                sys.stdout.write(text)
        return 0
    return _summarize_all(args, config, pipe, store, backend)


def _summarize_all(args: argparse.Namespace, config: Config, pipe, store, backend: str) -> int:
    """``summarize --all``: a progress bar with ETA; finished regions are checkpointed so a rerun
    after Ctrl-C or a kill summarises only the rest (:mod:`rag.summarize.checkpoint`)."""
    from rag import DEFAULTS, Pipeline, SummaryCheckpoint, render_markdown, summarize_many, summary_checkpoint_path

    min_mentions = args.min_mentions or int(config.get("summarize.min_mentions") or DEFAULTS["min_mentions"])
    names = [r.name for r in store.summarizable(min_mentions)]
    if not names:
        eprint(f"没有被提及至少 {min_mentions} 次的地区，可用 --min-mentions 调低门槛。")
        return 1
    key = {"generation": pipe.index.generation, "backend": backend, "min_mentions": min_mentions,
           "summarize": config.get("summarize") or {}, "llm": config.get("llm") or {}}
    ckpt = SummaryCheckpoint(summary_checkpoint_path(pipe.index.path, backend), key, names)
    todo = [n for n in names if n not in ckpt.done]
    if ckpt.done:
        eprint(f"继续上次未完成的任务：{len(ckpt.done)} 个地区已完成，跳过；剩余 {len(todo)} 个。")

    def save(name: str, value) -> None:
        if isinstance(value, dict):
            ckpt.add_skipped(name, value["reason"])
        else:
            ckpt.add_summary(name, render_markdown(value), value.to_json())

    from tqdm import tqdm

    started = time.perf_counter()
    parallel = args.parallel or ("ray" if config.get("ray.address") else "local")
    try:
        with tqdm(total=len(names), initial=len(ckpt.done), desc="地区摘要", unit="个", file=sys.stderr,
                  dynamic_ncols=True) as bar:
            summarize_many(config, todo, make_pipeline=Pipeline, backend=backend, parallel=parallel,
                           workers=args.workers, on_result=save,
                           progress=lambda done, _total: bar.update(len(names) - len(todo) + done - bar.n))
    except KeyboardInterrupt:
        eprint(f"已中断：{len(ckpt.done)} 个地区已保存，重新运行同一命令即可继续。" if ckpt.resumable else "已中断。")
        return 130
    finally:
        ckpt.close()  # kept on failure too: a rerun resumes
    total = time.perf_counter() - started
    _write_all(args, [ckpt.done[n] for n in names], total)
    ckpt.close(remove=True)
    return 0


def _write_all(args: argparse.Namespace, entries: list[dict], total: float) -> None:
    """Write the finished job (entries of :class:`rag.summarize.checkpoint.SummaryCheckpoint`, in order)."""
    from rag import all_figures_csv, write_atomic

    done = [e for e in entries if "markdown" in e]

    def as_json() -> str:
        return json.dumps({"regions": [e["json"] for e in done],
                           "skipped": [{"region": e["region"], "reason": e["skipped"]} for e in entries if "skipped" in e],
                           "timings": {"total": round(total, 3)}}, ensure_ascii=False, indent=2) + "\n"

    if args.format == "csv":
        text = all_figures_csv([e["json"] for e in done])
    elif args.format == "json":
        text = as_json()
    else:
        text = "\n\n---\n\n".join(e["markdown"] for e in done) + "\n"
    if args.out:
        write_atomic(args.out, text, encoding="utf-8-sig" if args.format == "csv" else "utf-8")
        eprint(f"已写入 {args.out}：{len(done)} 个地区，用时 {total:.1f} 秒")
    if args.json:
        sys.stdout.write(text if args.format == "json" else as_json())
    elif not args.out:
        sys.stdout.write(text)
    for e in entries:
        if "skipped" in e:
            eprint(f"跳过 {e['region']}：{e['skipped']}")
