"""Region summaries on the seed dev set (issue 6 "Must show").

Usage::

    python benchmarks/summaries.py                          # llama_cpp and extractive, seed index built once
    python benchmarks/summaries.py --backend extractive
    python benchmarks/summaries.py --backend llama_cpp --skip-all --index ~/.shanhai/index

For each backend and each region of ``seed_regions_dev.jsonl``: whether the region and its
aliases resolve to one gazetteer entry, the share of ``key_facts`` found (with
:func:`rag.text.numbers.figure_in_text`) in the summary text or the key-figures table, the share of
summary sentences carrying a valid citation, numbers left ungrounded by the final
verification, sentences removed by verification, and the time per region. The 沿河 check: both
donation totals (2385万元, 1704万元) are conflicting rows (same conflict id, with dates) and a
summary sentence gives both and says they differ. ``--all``: every region with enough
material, total and per-region time.

Writes ``benchmarks/results/summaries.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import RESULTS, SHARED, config_overrides, load_jsonl, machine, peak_rss_mb, write_result  # noqa: E402

from rag.config import load_config  # noqa: E402
from rag.llm.factory import create_llm  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.regions import update_regions  # noqa: E402
from rag.summarize import summarize  # noqa: E402
from rag.text.numbers import figure_in_text  # noqa: E402

CONFLICT_CHECK = {"region": "沿河", "values": ["2385万元", "1704万元"]}


def ensure_index(index: str | None) -> Path:
    """``--index`` or a seed index built once under benchmarks/results/seed-index."""
    if index:
        return Path(index).expanduser()
    path = RESULTS / "seed-index"
    if not (path / "manifest.json").is_file():
        pipe = Pipeline(load_config(overrides={"index_dir": str(path)}))
        print(pipe.ingest([SHARED / "corpus" / "seeds"], rebuild=True).summary(), file=sys.stderr)
    return path


def table_text(s) -> str:
    """The key-figures table as plain text (every column), for fact look-ups."""
    return "\n".join(" ".join(str(x or "") for x in (r.value, r.measure, r.period, r.date, r.source, r.doc_id))
                     for r in s.figures)


def conflict_ok(s, values: list[str]) -> dict:
    rows = [r for r in s.figures if any(figure_in_text(v, r.value) for v in values)]
    ids = {r.conflict for r in rows}
    rows_ok = len(rows) >= len(values) and len(ids) == 1 and None not in ids and all(r.date for r in rows)
    said = any(all(figure_in_text(v, x.text) for v in values) and ("不一致" in x.text or "不同" in x.text)
               for x in s.sentences)
    return {"rows": [{"value": r.value, "date": r.date, "period": r.period, "conflict": r.conflict} for r in rows],
            "conflicting_rows": rows_ok, "summary_says_differ": said}


def run_region(pipe, store, item: dict, backend: str, llm) -> dict:
    region = store.find(item["region"])
    aliases_ok = region is not None and all(store.find(a) is region for a in item.get("aliases", []))
    started = time.perf_counter()
    s = summarize(pipe, item["region"], backend=backend, llm=llm, store=store)
    seconds = time.perf_counter() - started
    text = "".join(x.text for x in s.sentences)
    table = table_text(s)
    found = {f: figure_in_text(f, text) or figure_in_text(f, table) for f in item["key_facts"]}
    n = len(s.sentences)
    out = {
        "region": item["region"], "resolved": s.region, "aliases_ok": aliases_ok,
        "gold_docs_found": sorted(set(item.get("gold_docs", [])) & set(region.docs if region else [])),
        "docs": len(region.docs) if region else 0,
        "key_facts": found, "key_fact_coverage": sum(found.values()) / len(found) if found else None,
        "sentences": n, "cited_share": s.checks["cited_sentences"] / n if n else None,
        "citations_valid": s.checks["citations_valid"], "ungrounded_numbers": s.checks["ungrounded_numbers"],
        "removed": len(s.checks["removed_sentences"]), "removed_detail": s.checks["removed_sentences"],
        "coverage_added": s.checks["coverage_added"], "figures": len(s.figures),
        "conflicts": len(s.conflicts), "seconds": round(seconds, 2), "timings": s.timings,
        "summary": [x.marked for x in s.sentences],
    }
    if store.find(CONFLICT_CHECK["region"]) is region:
        out["conflict_check"] = conflict_ok(s, CONFLICT_CHECK["values"])
    return out


def run_all(pipe, store, backend: str, llm, min_mentions: int) -> dict:
    regions = store.summarizable(min_mentions)
    per, started = [], time.perf_counter()
    for r in regions:
        t = time.perf_counter()
        s = summarize(pipe, r.name, backend=backend, llm=llm, store=store)
        per.append({"region": r.name, "docs": len(r.docs), "seconds": round(time.perf_counter() - t, 2),
                    "sentences": len(s.sentences), "ungrounded": len(s.checks["ungrounded_numbers"]),
                    "uncited": s.checks["sentences"] - s.checks["cited_sentences"]})
        print(f"  --all {r.name}: {per[-1]['seconds']} s", file=sys.stderr)
    return {"regions": len(regions), "min_mentions": min_mentions,
            "total_seconds": round(time.perf_counter() - started, 2), "per_region": per}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index")
    ap.add_argument("--backend", default="llama_cpp,extractive", help="comma-separated backends")
    ap.add_argument("--skip-all", action="store_true", help="skip the --all timing")
    ap.add_argument("--min-mentions", type=int, default=3)
    ap.add_argument("--regions", default=str(SHARED / "eval" / "seed_regions_dev.jsonl"),
                    help="region expectations (JSONL: region, aliases, key_facts, gold_docs); e.g. "
                         "benchmarks/data/archive_regions.jsonl with --index over the archive")
    ap.add_argument("--out", default="summaries", help="result name under benchmarks/results/")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = ap.parse_args()
    overrides = {**config_overrides(args.set), "index_dir": str(ensure_index(args.index))}
    pipe = Pipeline(load_config(overrides=overrides))
    t = time.perf_counter()
    store = update_regions(pipe.index)
    gazetteer_s = time.perf_counter() - t
    items = load_jsonl(Path(args.regions))
    result = {"machine": machine(), "gazetteer": {"regions": len(store.regions), "pairs": len(store.pairs),
                                                  "seconds": round(gazetteer_s, 2)}, "backends": {}}
    for backend in [b.strip() for b in args.backend.split(",") if b.strip()]:
        llm = create_llm(backend, pipe.config)
        rows = []
        for item in items:
            rows.append(run_region(pipe, store, item, backend, llm))
            print(f"{backend} {item['region']}: {rows[-1]['seconds']} s", file=sys.stderr)
        entry = {"regions": rows}
        if not args.skip_all:
            entry["all"] = run_all(pipe, store, backend, llm, args.min_mentions)
        result["backends"][backend] = entry
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["regions_file"] = Path(args.regions).name
    out = write_result(args.out, result)
    print(markdown(result))
    print(f"\n写入 {out}", file=sys.stderr)
    return 0


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def markdown(result: dict) -> str:
    lines = ["| backend | region | docs | key facts | cited sentences | ungrounded | removed "
             "| conflict rows / stated | s |", "|---|---|---|---|---|---|---|---|---|"]
    for backend, entry in result["backends"].items():
        for r in entry["regions"]:
            cc = r.get("conflict_check")
            conflict = "—" if cc is None else f"{'yes' if cc['conflicting_rows'] else 'NO'} / " \
                                              f"{'yes' if cc['summary_says_differ'] else 'NO'}"
            lines.append(f"| {backend} | {r['region']} → {r['resolved']} | {r['docs']} | "
                         f"{_pct(r['key_fact_coverage'])} | "
                         f"{_pct(r['cited_share'])} ({r['sentences']}) | {len(r['ungrounded_numbers'])} | "
                         f"{r['removed']} | "
                         f"{conflict} | {r['seconds']} |")
        covs = [r["key_fact_coverage"] for r in entry["regions"] if r["key_fact_coverage"] is not None]
        if covs:
            found = sum(sum(r["key_facts"].values()) for r in entry["regions"])
            total = sum(len(r["key_facts"]) for r in entry["regions"])
            missed = "; ".join(f"{r['region']}: {'、'.join(k for k, v in r['key_facts'].items() if not v)}"
                               for r in entry["regions"] if not all(r["key_facts"].values()))
            lines.append(f"| {backend} | all regions: {found}/{total} key facts "
                         f"(mean per region {_pct(sum(covs) / len(covs))}) | | | | | | | |")
            if missed:
                lines.append(f"| {backend} | missed: {missed} | | | | | | | |")
        if "all" in entry:
            a = entry["all"]
            lines.append(f"| {backend} | --all ({a['regions']} regions) | | | | | | | {a['total_seconds']} |")
    g = result["gazetteer"]
    lines.append(f"\nGazetteer: {g['regions']} regions, {g['pairs']} pairs, built in {g['seconds']} s; "
                 f"load average at start {result['machine']['loadavg_at_start']}.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
