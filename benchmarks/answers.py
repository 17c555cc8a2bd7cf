"""Answer quality and latency on the seed dev set (issue 4 "Must show").

Usage::

    python benchmarks/answers.py                       # llama_cpp and extractive, seed index built once
    python benchmarks/answers.py --backend extractive --limit 5
    python benchmarks/answers.py --index ~/.shanhai/index --backend llama_cpp

For each backend: % answerable items with every ``must_include`` figure
(:func:`rag.eval.metrics.answer_accuracy`), unanswerable items refused, citation precision
(citations pointing at a passage that contains the cited figure/claim), number grounding,
the two specific checks of the issue (张家港→沿河 funds: 1.1亿元 and 2.5亿元 each cited to a
passage containing it; d28: both donation figures with their dates), time to first token and
total time p50/p95 (first call excluded as warm-up and reported separately), prompt tokens,
peak RSS. Off-topic questions (written for this benchmark, not from the corpus) calibrate
``answer.min_relevance``: their best dense similarity vs the answerable questions'.

Writes ``benchmarks/results/answers-<backend>-<time>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import config_overrides  # noqa: E402
from rag.config import load_config  # noqa: E402
from rag.eval.metrics import (answer_accuracy, citation_precision, claims_from_answer, is_refusal,  # noqa: E402
                              latency_summary, mean_defined, number_grounding_rate)
from rag.pipeline import Pipeline  # noqa: E402
from rag.text.numbers import figure_in_text  # noqa: E402

SHARED = Path(os.environ.get("SHANHAI_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
# Questions the seed corpus cannot be about (written for this benchmark).
OFF_TOPIC = [
    "今天北京的天气怎么样？", "如何用Python读取CSV文件？", "《红楼梦》的作者是谁？", "太阳系有几颗行星？",
    "怎样做一道好吃的红烧肉？", "量子计算机的工作原理是什么？", "马拉松全程有多少公里？",
    "比特币今天的价格是多少？", "世界上最高的山峰是哪座？", "如何申请美国大学的研究生？",
]


def rss_mb() -> float:
    """Peak resident set size of this process in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_index(index: str | None, config) -> Path:
    """The index to use: ``--index`` or a seed index built once under ``<home>/bench/seed-index``."""
    if index:
        return Path(index).expanduser()
    path = config.home / "bench" / "seed-index"
    if not (path / "manifest.json").is_file():
        pipe = Pipeline(load_config(overrides={"index_dir": str(path)}))
        report = pipe.ingest([SHARED / "corpus" / "seeds"], rebuild=True)
        print(report.summary(), file=sys.stderr)
    return path


def _dates_in(text: str) -> set[tuple[int, int]]:
    return {(int(y), int(m)) for y, m in re.findall(r"((?:19|20)\d{2})\s*[年\-/.]\s*(\d{1,2})", text)}


def figure_cited_ok(answer: str, passages: dict[int, str], figure: str) -> bool:
    """The figure is in the answer and some claim stating it cites a passage containing it."""
    for c in claims_from_answer(answer, passages):
        if figure_in_text(figure, c.text) and any(p is not None and figure_in_text(figure, p) for p in c.cited):
            return True
    return False


def figures_with_dates(answer: str, passages: list[dict], figures: list[str]) -> bool:
    """Every figure appears, and for each the date (year + month) of a passage holding it too."""
    said = _dates_in(answer)
    for f in figures:
        if not figure_in_text(f, answer):
            return False
        dates = {d for p in passages if figure_in_text(f, p["text"]) for d in _dates_in(p.get("date") or "")}
        if not dates & said:
            return False
    return True


def run_backend(pipe: Pipeline, backend: str, items: list[dict]) -> dict:
    """Answer every item with ``backend``; per-item records and the summary."""
    warm_q = "东部4市累计向甘肃投入了多少财政帮扶资金？"
    t0 = time.perf_counter()
    pipe.ask(warm_q, backend=backend)
    warmup = time.perf_counter() - t0
    records = []
    for item in items:
        started = time.perf_counter()
        try:
            ans = pipe.ask(item["question"], backend=backend)
        except Exception as exc:  # keep going; the record shows the error
            records.append({"id": item["id"], "question": item["question"], "error": f"{type(exc).__name__}: {exc}"})
            continue
        wall = time.perf_counter() - started
        pmap = {p["n"]: p["text"] for p in ans.passages}
        claims = claims_from_answer(ans.answer, pmap)
        unanswerable = item.get("answer_type") == "unanswerable"
        rec = {
            "id": item["id"], "question": item["question"], "answer": ans.answer, "refused": ans.refused,
            "unanswerable": unanswerable,
            "accuracy": None if unanswerable else answer_accuracy(ans.answer, item.get("must_include", []),
                                                                  item.get("any_of")),
            "citation_precision": citation_precision(claims),
            "n_citations": sum(len(c.cited) for c in claims),
            "number_grounding": number_grounding_rate(ans.answer, pmap),
            "timings": ans.timings, "wall": round(wall, 3), "checks": ans.checks,
            "cited": [c.n for c in ans.citations], "n_passages": len(ans.passages),
            "cited_docs": sorted({p.get("doc_id") for p in ans.passages
                                  if p.get("n") in {c.n for c in ans.citations} and p.get("doc_id")}),
        }
        if item.get("any_of") and len(item["any_of"]) > 1:
            rec["all_figures_with_dates"] = figures_with_dates(ans.answer, ans.passages, item["any_of"])
        if item["id"] == "d01":
            rec["each_figure_cited_ok"] = all(figure_cited_ok(ans.answer, pmap, f) for f in item["must_include"])
        records.append(rec)
        print(f"  {item['id']} {'拒答' if ans.refused else ''} acc={rec['accuracy']} prec={rec['citation_precision']} "
              f"ttft={ans.timings.get('first_token')} total={ans.timings.get('total')} "
              f"tok={ans.timings.get('prompt_tokens')} | {ans.answer[:80]!r}", file=sys.stderr, flush=True)
    off = []
    for q in OFF_TOPIC:
        hits = pipe.search(q, 1)
        ans = pipe.ask(q, backend=backend)
        off.append({"question": q, "best_dense": hits[0].dense_score if hits else None, "refused": ans.refused,
                    "llm_calls": ans.timings.get("llm_calls", 0), "answer": ans.answer})
    return {"backend": backend, "warmup_s": round(warmup, 3), "records": records, "off_topic": off,
            "summary": summarize(records, off)}


def summarize(records: list[dict], off: list[dict]) -> dict:
    """Aggregate metrics of one backend run."""
    ok = [r for r in records if "error" not in r]
    answerable = [r for r in ok if not r["unanswerable"]]
    unans = [r for r in ok if r["unanswerable"]]
    verdicts = []
    for r in ok:  # pool citations over items, not a mean of per-item precision
        if r["citation_precision"] is not None:
            verdicts.append((r["citation_precision"], r["n_citations"]))
    n_cit = sum(n for _p, n in verdicts)
    ttft = latency_summary(r["timings"].get("first_token") for r in ok)
    total = latency_summary(r["timings"].get("total") for r in ok)
    d28 = [r.get("all_figures_with_dates") for r in ok if "all_figures_with_dates" in r]
    d01 = [r.get("each_figure_cited_ok") for r in ok if "each_figure_cited_ok" in r]
    return {
        "n_items": len(records), "errors": len(records) - len(ok),
        "answerable": len(answerable),
        "must_include_accuracy": mean_defined(r["accuracy"] for r in answerable),
        "answerable_refused": sum(r["refused"] for r in answerable),
        "unanswerable": len(unans), "unanswerable_refused": sum(r["refused"] or is_refusal(r["answer"]) for r in unans),
        "citation_precision": (sum(p * n for p, n in verdicts) / n_cit) if n_cit else None,
        "citations": n_cit,
        "number_grounding": mean_defined(r["number_grounding"] for r in ok),
        "d28_both_figures_with_dates": d28[0] if d28 else None,
        "d01_each_figure_cited_ok": d01[0] if d01 else None,
        "first_token_s": ttft, "total_s": total,
        "prompt_tokens": latency_summary(r["timings"].get("prompt_tokens") for r in ok if r["timings"].get("llm_calls")),
        "off_topic_refused": sum(o["refused"] for o in off), "off_topic": len(off),
        "off_topic_max_dense": max((o["best_dense"] for o in off if o["best_dense"] is not None), default=None),
        "answerable_min_dense": min((s["best_dense"] for r in answerable for s in r["checks"].get("support", [])
                                     if s.get("best_dense") is not None), default=None),
        "peak_rss_mb": round(rss_mb(), 1),
    }


def _fmt(x, pct=False) -> str:
    if x is None:
        return "–"
    if pct:
        return f"{100 * x:.1f}%"
    return f"{x:.2f}" if isinstance(x, float) else str(x)


def markdown(runs: list[dict]) -> str:
    """The results table (one column per backend)."""
    rows = [
        ("answerable with every must_include figure", lambda s: f"{_fmt(s['must_include_accuracy'], True)} of {s['answerable']}"),
        ("unanswerable refused", lambda s: f"{s['unanswerable_refused']}/{s['unanswerable']}"),
        ("answerable wrongly refused", lambda s: f"{s['answerable_refused']}/{s['answerable']}"),
        ("citation precision", lambda s: f"{_fmt(s['citation_precision'], True)} of {s['citations']}"),
        ("number grounding", lambda s: _fmt(s["number_grounding"], True)),
        ("张家港→沿河: 1.1亿元 and 2.5亿元 each cited correctly", lambda s: _fmt(s["d01_each_figure_cited_ok"])),
        ("d28: both figures with their dates", lambda s: _fmt(s["d28_both_figures_with_dates"])),
        ("first token p50 / p95 (s)", lambda s: f"{_fmt(s['first_token_s']['p50'])} / {_fmt(s['first_token_s']['p95'])}"),
        ("total p50 / p95 (s)", lambda s: f"{_fmt(s['total_s']['p50'])} / {_fmt(s['total_s']['p95'])}"),
        ("prompt tokens p50 / p95", lambda s: f"{_fmt(s['prompt_tokens']['p50'])} / {_fmt(s['prompt_tokens']['p95'])}"),
        ("off-topic questions refused", lambda s: f"{s['off_topic_refused']}/{s['off_topic']}"),
        ("peak RSS (MB)", lambda s: _fmt(s["peak_rss_mb"])),
    ]
    head = "| metric | " + " | ".join(r["backend"] for r in runs) + " |"
    sep = "|---|" + "---|" * len(runs)
    lines = [head, sep] + [f"| {name} | " + " | ".join(f(r["summary"]) for r in runs) + " |" for name, f in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", help="index folder (default: a seed index built once under <home>/bench/)")
    ap.add_argument("--backend", action="append", help="backend(s) to run (default: llama_cpp and extractive)")
    ap.add_argument("--dataset", default=str(SHARED / "eval" / "seed_qa_dev.jsonl"))
    ap.add_argument("--limit", type=int, help="only the first N items")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = ap.parse_args(argv)
    overrides = config_overrides(args.set)
    overrides["index_dir"] = str(ensure_index(args.index, load_config(overrides=overrides)))
    config = load_config(overrides=overrides)
    pipe = Pipeline(config)
    items = [json.loads(line) for line in open(args.dataset, encoding="utf-8") if line.strip()]
    items = items[: args.limit] if args.limit else items
    runs = []
    RESULTS.mkdir(parents=True, exist_ok=True)
    for backend in args.backend or ["llama_cpp", "extractive"]:
        print(f"== {backend}: {len(items)} items", file=sys.stderr)
        run = run_backend(pipe, backend, items)
        run["config"] = config.data
        run["note"] = "measured on a shared 2-core CPU; timings are pessimistic"
        out = RESULTS / f"answers-{backend}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps(run, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"   → {out}", file=sys.stderr)
        runs.append(run)
    print(markdown(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
