"""Subcommands on the corpus and its index: ingest, remove, search, docs and config."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from rag.cli.common import command, eprint, print_json
from rag.config import Config


def add_parsers(sub, common) -> None:
    """Register ``ingest``, ``remove``, ``search``, ``docs`` and ``config``."""
    p = sub.add_parser("ingest", help="导入文件或文件夹（txt/md/html/jsonl[.gz]）")
    common(p)
    p.add_argument("paths", nargs="+")
    p.add_argument("--rebuild", action="store_true", help="丢弃现有索引，从头构建")
    p.add_argument("--index-type", choices=["auto", "flat", "ivf", "hnsw"], help="向量索引类型")
    p.add_argument("--json", action="store_true", help="以 JSON 输出导入摘要")

    p = sub.add_parser("remove", help="从索引中删除文档")
    common(p)
    p.add_argument("doc_ids", nargs="+")

    p = sub.add_parser("search", help="混合检索（向量 + BM25）")
    common(p)
    p.add_argument("question")
    p.add_argument("-k", type=int, help="返回条数（默认 retrieval.top_k）")
    p.add_argument("--json", action="store_true")
    p.add_argument("--source", action="append", help="只看某来源（可重复）")
    p.add_argument("--date-from", help="起始日期 YYYY-MM-DD")
    p.add_argument("--date-to", help="截止日期 YYYY-MM-DD")
    p.add_argument("--rerank", action="store_true",
                   help="用证据判别模型对 judge.candidates 条候选重新排序（更准，每次约多 0.5 秒）")

    p = sub.add_parser("docs", help="列出索引中的文档")
    common(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("config", help="打印合并后的配置")
    common(p)


def _progress_bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit="篇", file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int | None, message: str) -> None:
        from rag import NOTE

        if message.startswith(NOTE):  # an event (where a resumed run continues): its own line
            bar.write(message[len(NOTE):], file=sys.stderr)
            return
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix_str(message[-40:], refresh=False)
        bar.refresh()

    return bar, update


class _GracefulStop:
    """First Ctrl-C (or SIGTERM) during an ingest: stop after the current document and commit
    what is done; a second Ctrl-C interrupts at once (the resume journal keeps the vectors)."""

    def __init__(self, bar):
        self.bar = bar
        self.asked = False
        self._old: dict = {}

    def __call__(self) -> bool:
        return self.asked

    def _handle(self, signum, frame) -> None:
        if self.asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.asked = True
        self.bar.write("正在停止：提交已完成的文档后退出（再按一次 Ctrl-C 立即退出）…", file=sys.stderr)

    def __enter__(self) -> "_GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@command("ingest")
def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    from rag import Pipeline

    if args.index_type:
        config = config.with_overrides({"index.type": args.index_type})
    pipe = Pipeline(config)
    pipe.encoder.load()  # load (and prepare) the model before the bar starts; fixes the backend recorded
    bar, update = _progress_bar("导入")
    stop = _GracefulStop(bar)
    try:
        with stop:
            report = pipe.ingest(args.paths, rebuild=args.rebuild, progress=update, stop=stop)
    finally:
        bar.close()
    if args.json:
        print_json(
            {
                "files": report.files,
                "docs_added": report.docs_added,
                "docs_updated": report.docs_updated,
                "docs_unchanged": report.docs_unchanged,
                "chunks_added": report.chunks_added,
                "chunks_embedded": report.chunks_embedded,
                "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
                "warnings": report.warnings,
                "checkpoints": report.checkpoints,
                "resumed_after": report.resumed_after,
                "chunks_from_journal": report.chunks_from_journal,
                "cleaned": [{"name": n, "bytes": b} for n, b in report.cleaned],
                "near_duplicates": report.near_duplicates,
                "seconds": round(report.seconds, 3),
                "embed_seconds": round(report.embed_seconds, 3),
                "embedding": _embedding_stats(pipe.encoder),
            }
        )
    else:
        print(report.summary())
        stats = _embedding_stats(pipe.encoder)
        if stats["tokens"]:
            print(f"向量后端 {stats['backend']}：{stats['texts']} 段、{stats['tokens']} 个 token，"
                  f"{stats['tokens_per_second']:.0f} token/秒（{stats['texts_per_second']:.1f} 段/秒，不含模型加载）。")
        print(f"索引：{pipe.index_dir}")
    return 0 if report.ok else 1


def _embedding_stats(encoder) -> dict:
    """Backend and throughput of the encoder's work in this process (tokens/s, texts/s)."""
    stats = getattr(encoder, "stats", None) or {"texts": 0, "tokens": 0, "seconds": 0.0}
    seconds = float(stats.get("seconds") or 0.0)
    return {
        "backend": getattr(encoder, "active_backend", None) or getattr(encoder, "backend", None),
        "texts": int(stats.get("texts", 0)),
        "tokens": int(stats.get("tokens", 0)),
        "seconds": round(seconds, 3),
        "tokens_per_second": round(stats.get("tokens", 0) / seconds, 1) if seconds else 0.0,
        "texts_per_second": round(stats.get("texts", 0) / seconds, 2) if seconds else 0.0,
    }


@command("remove")
def cmd_remove(args: argparse.Namespace, config: Config) -> int:
    from rag import Pipeline

    pipe = Pipeline(config)
    missing = 0
    for doc_id in args.doc_ids:
        if pipe.remove(doc_id):
            print(f"已删除：{doc_id}")
        else:
            eprint(f"索引中没有文档：{doc_id}")
            missing += 1
    return 1 if missing == len(args.doc_ids) else 0


@command("search")
def cmd_search(args: argparse.Namespace, config: Config) -> int:
    from rag import Pipeline, check_filters, check_question, start_warmup
    from rag.text.injection import INJECTION_LABEL

    check_question(args.question)  # bad input fails before any model starts loading
    filters = check_filters(args.source, args.date_from, args.date_to)
    pipe = Pipeline(config)
    start_warmup(pipe)  # encoder + jieba load while the index opens
    hits = pipe.search(args.question, args.k, filters=filters, rerank=args.rerank)
    if args.json:
        print_json([h.to_json() for h in hits])
        return 0
    if not hits:
        print("没有检索到相关段落。")
    for rank, hit in enumerate(hits, 1):
        snippet = hit.chunk.text.replace("\n", " ")
        snippet = snippet if len(snippet) <= 120 else snippet[:120] + "…"
        flag = f"  {INJECTION_LABEL}" if hit.chunk.flagged else ""
        print(f"{rank}. [{hit.chunk.doc_id}] {hit.doc.date or '日期不详'}  得分 {hit.score:.4f}  {hit.doc.title}{flag}")
        print(f"   {snippet}")
    return 0


@command("docs")
def cmd_docs(args: argparse.Namespace, config: Config) -> int:
    from rag import Pipeline

    docs = Pipeline(config).documents()
    if args.json:
        from dataclasses import asdict

        print_json([asdict(d) for d in docs])
        return 0
    for d in docs:
        flags = ("  [" + ", ".join(d.flags) + "]") if d.flags else ""
        print(f"{d.doc_id}  {d.date or '-'}  {d.source or '-'}  {d.title}  ({d.n_chunks} 段){flags}")
    print(f"共 {len(docs)} 篇文档")
    return 0


@command("config")
def cmd_config(args: argparse.Namespace, config: Config) -> int:
    sys.stdout.write(config.dump())
    return 0

