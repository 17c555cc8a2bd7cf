"""`summarize --all` over the seed articles mixed into the 19,720-article archive (issue 17 item 5).

Usage::

    python benchmarks/scale.py --work W                                   # the archive index W/index
    python benchmarks/archive_qa.py --index W/index --no-answers          # adds the seed articles
    cp -a W/index I                                                       # the gazetteer sidecar is written here
    python benchmarks/summarize_archive.py --index I --backend extractive                  # every region
    python benchmarks/summarize_archive.py --index I --backend llama_cpp --seed-regions --sample 5

Runs the code path of ``shanhai summarize --all`` (:func:`rag.summarize_many` over
``RegionStore.summarizable``, one pipeline/gazetteer/LLM for the whole run) on every region with
enough material, or on a sample (``--sample N --seed S``: a fixed random sample; ``--seed-regions``:
the regions a seed article names in its title, plus the seed dev regions; ``--regions a,b``;
``--limit N``: the first N in ``--all`` order). Records the regions the gazetteer found, wall
time per region (p50/p95/total; the first region, which also loads the pipeline, gazetteer and
model, is reported apart) and the leak rate: the share of passages (those cited by a summary
sentence, and every passage shown, key-figures rows included) whose text and document title
mention neither the region's name nor one of its aliases (the gazetteer's own aliases). Leaks
that name a place under the region (沿河县 → 思渠镇) are counted apart. Also: how many regions
cite an archive (non-seed) article, and for the seed regions which archive articles they cite;
and the cited documents that name the region only by an unsupported bare word (``沿河`` in
``沿河城站``), which the alias test cannot see (``--rescore FILE`` adds this to an older result).

Writes ``benchmarks/results/<--out>.json`` (ids and counts, no article text).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, load_jsonl, machine, peak_rss_mb, write_result  # noqa: E402

SEEDS = SHARED / "corpus" / "seeds"
SMALL_LEVELS = ("省",)  # a seed article's province in its title is context, not its subject


def region_terms(store, key: str) -> tuple[set[str], set[str]]:
    """(the region's name and aliases, the names and aliases of the places under it), normalised."""
    from rag.summarize.facts import family_of
    from rag.text.normalize import normalize

    def names(k: str) -> set[str]:
        r = store.regions[k]
        return {normalize(a) for a in [r.name, *r.aliases] if len(a) >= 2}

    own = names(key)
    below = set().union(*(names(k) for k in family_of(store, key) if k != key)) - own
    return own, below


def passage_leak(p, own: set[str], below: set[str], *, title: bool = True) -> str | None:
    """None when passage ``p`` (or, with ``title``, its title) names the region; else ``"below"``
    (it names a place under the region only) or ``"none"``."""
    from rag.text.normalize import normalize

    text = p.text + ("\n" + normalize(p.title or "") if title else "")
    if any(t in text for t in own):
        return None
    return "below" if any(t in text for t in below) else "none"


def measure(s, store, seed_ids: set[str]) -> dict:
    """Leaks and archive citations of one :class:`rag.summarize.RegionSummary`."""
    own, below = region_terms(store, s.region)
    cited = {n for sent in s.sentences for n in sent.citations}
    rows = []
    for p in s.passages:
        leak = passage_leak(p, own, below)
        rows.append({"n": p.n, "doc_id": p.doc_id, "chunk_id": p.chunk_id, "cited": p.n in cited, "leak": leak,
                     "archive": p.doc_id not in seed_ids})
    leaks = [{k: r[k] for k in ("doc_id", "chunk_id", "cited", "leak", "archive")} for r in rows if r["leak"]]
    # passages cited because their article's headline names the region, the text itself does not
    by_headline = [r["chunk_id"] for r, p in zip(rows, s.passages)
                   if r["cited"] and not r["leak"] and passage_leak(p, own, below, title=False)]
    return {
        "passages_shown": len(rows), "passages_cited": sum(r["cited"] for r in rows),
        "leaks_shown": sum(bool(r["leak"]) for r in rows), "leaks_cited": sum(bool(r["leak"]) and r["cited"] for r in rows),
        "leaks_cited_none": sum(r["leak"] == "none" and r["cited"] for r in rows),
        "leaks_shown_none": sum(r["leak"] == "none" for r in rows),
        "archive_docs_cited": sorted({r["doc_id"] for r in rows if r["cited"] and r["archive"]}),
        "archive_docs_shown": sorted({r["doc_id"] for r in rows if r["archive"]}),
        "leak_passages": leaks,
        "cited_by_headline_only": by_headline,
        "unconfirmed_docs_cited": unconfirmed(store, s.region, {r["doc_id"] for r in rows if r["cited"]}),
    }


def unconfirmed(store, region: str, doc_ids) -> list[str]:
    """Cited documents that name ``region`` only by a bare dictionary word with no support in the
    document (``沿河`` in ``沿河城站``): :func:`rag.summarize.facts.confirmed` is False."""
    from rag.summarize.facts import confirmed

    return sorted(d for d in doc_ids if not confirmed(store, store.mentions(d), region))


def rescore(path: Path, index: str) -> None:
    """Add ``unconfirmed_docs_cited`` (archive documents only) to the records of an older result file."""
    import json

    from rag.regions import load_regions

    store = load_regions(Path(index).expanduser())
    data = json.loads(path.read_text(encoding="utf-8"))
    for r in data["records"]:
        if "skipped" not in r:
            r["unconfirmed_docs_cited"] = unconfirmed(store, r["region"], r["archive_docs_cited"])
    data["summary"]["unconfirmed_docs_cited"] = sum(len(r.get("unconfirmed_docs_cited", [])) for r in data["records"])
    data["summary"]["regions_citing_unconfirmed"] = sum(bool(r.get("unconfirmed_docs_cited")) for r in data["records"])
    print(write_result(path.stem, data), data["summary"]["unconfirmed_docs_cited"],
          data["summary"]["regions_citing_unconfirmed"])


def seed_regions(store, seed_ids: set[str]) -> list[str]:
    """Regions a seed article names in its title (provinces aside), then the seed dev regions."""
    names = [k for d in sorted(seed_ids) for k in sorted(store.title_keys(d))
             if store.regions[k].level not in SMALL_LEVELS]
    for item in load_jsonl(SHARED / "eval" / "seed_regions_dev.jsonl"):
        r = store.find(item["region"])
        if r is not None:
            names.append(r.name)
    return list(dict.fromkeys(names))


def choose(args, store, all_names: list[str], seed_ids: set[str]) -> list[str]:
    """The regions to summarise (``--all`` order kept)."""
    picked: list[str] = []
    if args.regions:
        for q in args.regions.split(","):
            r = store.find(q.strip())
            if r is None:
                raise SystemExit(f"unknown region {q!r}")
            picked.append(r.name)
    if args.seed_regions:
        picked += seed_regions(store, seed_ids)
    if args.sample:
        rest = [n for n in all_names if n not in picked]
        picked += random.Random(args.seed).sample(rest, min(args.sample, len(rest)))
    if args.limit:
        picked += [n for n in all_names if n not in picked][:args.limit]
    if not (args.regions or args.seed_regions or args.sample or args.limit):
        picked = list(all_names)
    order = {n: i for i, n in enumerate(all_names)}
    return sorted(dict.fromkeys(picked), key=lambda n: order.get(n, -1))


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def summary_of(records: list[dict], seeds: list[str]) -> dict:
    """Totals over the per-region records."""
    from rag.eval.metrics import latency_summary

    done = [r for r in records if "skipped" not in r]
    tot = {k: sum(r[k] for r in done) for k in ("passages_shown", "passages_cited", "leaks_shown", "leaks_cited",
                                                "leaks_cited_none", "leaks_shown_none")}
    walls = [r["wall_s"] for r in records]
    return {
        "regions": len(records), "summarised": len(done), "skipped": len(records) - len(done),
        "wall_s": {"total": round(sum(walls), 1), "first_region_incl_loading": round(walls[0], 2) if walls else None,
                   **{k: (round(v, 3) if isinstance(v, float) else v)
                      for k, v in latency_summary(walls[1:]).items()}},
        "compute_s": latency_summary([r["compute_s"] for r in done]),
        "cpu_s": {"total": round(sum(r["cpu_s"] for r in records), 1), **latency_summary([r["cpu_s"] for r in records[1:]])},
        **tot,
        "leak_rate_cited": _rate(tot["leaks_cited"], tot["passages_cited"]),
        "leak_rate_shown": _rate(tot["leaks_shown"], tot["passages_shown"]),
        "leak_rate_cited_no_place_below": _rate(tot["leaks_cited_none"], tot["passages_cited"]),
        "regions_with_cited_leak": sum(1 for r in done if r["leaks_cited"]),
        "cited_by_headline_only": sum(len(r.get("cited_by_headline_only", [])) for r in done),
        "regions_citing_archive": sum(1 for r in done if r["archive_docs_cited"]),
        "unconfirmed_docs_cited": sum(len(r["unconfirmed_docs_cited"]) for r in done),
        "regions_citing_unconfirmed": sum(bool(r["unconfirmed_docs_cited"]) for r in done),
        "ungrounded_numbers": sum(r["ungrounded_numbers"] for r in done),
        "uncited_sentences": sum(r["sentences"] - r["cited_sentences"] for r in done),
        "seed_regions": {r["region"]: {"archive_docs_cited": r.get("archive_docs_cited", []),
                                       "leaks_cited": r.get("leaks_cited", 0)}
                         for r in records if r["region"] in seeds},
    }


def run(args) -> dict:
    """Open the index, pick the regions, summarise them through ``summarize_many``, measure."""
    from tqdm import tqdm

    from rag import Pipeline, summarize_many, summary_backend
    from rag.config import load_config
    from rag.regions import update_regions

    config = load_config(overrides={"index_dir": str(Path(args.index).expanduser())})
    pipe = Pipeline(config)
    t = time.perf_counter()
    store = update_regions(pipe.index)
    store_s = time.perf_counter() - t
    seeds_dir = SEEDS.resolve()
    seed_ids = {d.doc_id for d in pipe.documents() if d.path and Path(d.path).resolve().parent == seeds_dir}
    all_names = [r.name for r in store.summarizable(args.min_mentions)]
    names = choose(args, store, all_names, seed_ids)
    seeds = seed_regions(store, seed_ids)
    backend = summary_backend(config, args.backend)
    levels: dict[str, int] = {}
    for n in all_names:
        levels[store.regions[n].level] = levels.get(store.regions[n].level, 0) + 1
    print(f"{len(store.regions)} regions in the gazetteer, {len(all_names)} with >= {args.min_mentions} mentions; "
          f"summarising {len(names)} with {backend}", flush=True)

    records: list[dict] = []
    last = [time.perf_counter(), time.process_time()]

    def on_result(name: str, value) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        rec = {"region": name, "level": store.regions[name].level, "mentions": store.regions[name].mentions,
               "docs": len(store.regions[name].docs), "wall_s": round(now - last[0], 3),
               "cpu_s": round(cpu - last[1], 3), "seed_region": name in seeds}
        last[:] = [now, cpu]
        if isinstance(value, dict):
            rec["skipped"] = value["reason"]
        else:
            rec.update(compute_s=value.timings.get("total", 0.0), generate_s=value.timings.get("generate", 0.0),
                       sentences=len(value.sentences), cited_sentences=value.checks["cited_sentences"],
                       ungrounded_numbers=len(value.checks["ungrounded_numbers"]), **measure(value, store, seed_ids))
        records.append(rec)

    started = time.perf_counter()
    with tqdm(total=len(names), desc="地区摘要", unit="个", file=sys.stderr, dynamic_ncols=True) as bar:
        summarize_many(config, names, make_pipeline=Pipeline, backend=backend, on_result=on_result,
                       progress=lambda done, _total: bar.update(done - bar.n))
    wall = time.perf_counter() - started
    summary = summary_of(records, seeds)
    per_region = summary["wall_s"]["mean"] or 0.0
    return {
        "machine": machine(), "backend": backend,
        "index": {"docs": pipe.index.counts["docs"], "chunks": pipe.index.counts.get("chunks"), "seed_docs": len(seed_ids)},
        "gazetteer": {"regions": len(store.regions), "summarizable": len(all_names), "min_mentions": args.min_mentions,
                      "levels": dict(sorted(levels.items(), key=lambda kv: -kv[1])), "load_s": round(store_s, 2),
                      "pairs": len(store.pairs)},
        "selection": {"how": {k: getattr(args, k) for k in ("regions", "seed_regions", "sample", "seed", "limit")},
                      "regions": len(names), "seed_regions": seeds},
        "wall_s": round(wall, 1),
        "extrapolated_all_s": round(per_region * len(all_names), 0) if len(names) < len(all_names) else None,
        "summary": summary, "records": records, "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True, help="seeds + archive index (its folder gets regions.json)")
    ap.add_argument("--backend", help="summary backend (default: the configured one, as `summarize --all`)")
    ap.add_argument("--min-mentions", type=int, default=3, help="as `summarize --all --min-mentions` (default 3)")
    ap.add_argument("--regions", help="comma-separated regions to summarise")
    ap.add_argument("--seed-regions", action="store_true", help="add the seed articles' regions")
    ap.add_argument("--sample", type=int, default=0, help="add N regions picked at random (fixed --seed)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--limit", type=int, default=0, help="add the first N regions in `--all` order")
    ap.add_argument("--out", help="result name under benchmarks/results (default summarize_archive-<backend>)")
    ap.add_argument("--rescore", help="a result JSON of an older run: add the unconfirmed-document counts and exit")
    args = ap.parse_args()
    if args.rescore:
        rescore(Path(args.rescore), args.index)
        return 0
    result = run(args)
    s = result["summary"]
    out = write_result(args.out or f"summarize_archive-{result['backend']}", result)
    print(f"{s['summarised']} summarised, {s['skipped']} skipped; wall total {s['wall_s']['total']} s, "
          f"p50/p95 {s['wall_s']['p50']}/{s['wall_s']['p95']} s; leak rate cited {s['leak_rate_cited']} "
          f"({s['leaks_cited']}/{s['passages_cited']}), shown {s['leak_rate_shown']} "
          f"({s['leaks_shown']}/{s['passages_shown']}); regions citing archive {s['regions_citing_archive']}; "
          f"seed regions {s['seed_regions']}\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
