"""The seed dev questions answered over the seed articles mixed into the whole archive (issue 15.4).

Usage::

    python benchmarks/scale.py --work W                 # ingests the 19,720-article archive into W/index
    python benchmarks/archive_qa.py --index W/index     # adds the seed articles, then measures

Adds ``../shared/corpus/seeds`` to the index (unchanged articles are skipped, so re-running is
cheap), then for the seed dev questions: answer-bearing recall@5 (every ``must_include`` figure
in the top 5), gold document hit@1/@5, search p50/p95 through ``Pipeline.search`` (query
embedding included, model loaded once), the same with ``rerank=True`` (``search --rerank``), and
answers with the configured default backend (and ``--backend`` others): figures, refusals, and
whether any citation points at an archive article instead of a seed article (the passages shown
are checked: a cited passage whose document is not a seed article is an off-topic citation).
Answers are stored as digests, not text.

Writes ``benchmarks/results/archive_qa.json`` (``--out NAME`` for another name).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, load_jsonl, machine, peak_rss_mb, write_result  # noqa: E402

SEEDS = SHARED / "corpus" / "seeds"


def retrieval(pipe, items: list[dict], k: int, *, rerank: bool = False) -> dict:
    """Recall@k of the answer-bearing passages and gold documents, with search latency
    (``rerank``: ``search --rerank``, the evidence judge over ``judge.candidates`` chunks)."""
    from rag.eval.metrics import answer_bearing_hit, hit_at_k, latency_summary, unique_in_order

    pipe.search("预热", k, rerank=rerank)
    rows, lat = [], []
    for it in items:
        t = time.perf_counter()
        hits = pipe.search(it["question"], k, rerank=rerank)
        lat.append(time.perf_counter() - t)
        docs = unique_in_order([h.chunk.doc_id for h in hits])
        figs = it.get("must_include") or []
        rows.append({"id": it["id"], "hit@1": hit_at_k(docs, it["gold_docs"], 1), "hit@5": hit_at_k(docs, it["gold_docs"], 5),
                     "figures@5": answer_bearing_hit([h.chunk.text for h in hits], figs, k, require_all=True) if figs else None,
                     "archive_docs_in_top5": sum(d not in it["_seed_ids"] for d in docs)})
    scored = [r for r in rows if r["figures@5"] is not None]
    return {"questions": len(rows), "recall@5_all_figures": sum(bool(r["figures@5"]) for r in scored) / len(scored),
            "questions_with_figures": len(scored),
            "hit@1": sum(r["hit@1"] for r in rows) / len(rows), "hit@5": sum(r["hit@5"] for r in rows) / len(rows),
            "search_s": latency_summary(lat), "misses": [r["id"] for r in rows if not r["figures@5"] and r["figures@5"] is not None],
            "items": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True, help="the archive index (seed articles are added to it)")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--backend", action="append", help="answer backend(s) (default: the configured one)")
    ap.add_argument("--no-answers", action="store_true", help="retrieval only")
    ap.add_argument("--out", default="archive_qa", help="result name under benchmarks/results/")
    args = ap.parse_args()

    from rag.config import load_config
    from rag.pipeline import Pipeline

    config = load_config(overrides={"index_dir": str(Path(args.index).expanduser())})
    pipe = Pipeline(config)
    t = time.perf_counter()
    report = pipe.ingest([SEEDS])
    added_s = time.perf_counter() - t
    seeds_dir = SEEDS.resolve()
    seed_ids = {d.doc_id for d in pipe.documents() if d.path and Path(d.path).resolve().parent == seeds_dir}
    items = list(load_jsonl(SHARED / "eval" / "seed_qa_dev.jsonl"))
    for it in items:
        it["_seed_ids"] = seed_ids
    counts = pipe.index.counts
    result = {"machine": machine(), "index": {"docs": counts["docs"], "chunks": counts.get("chunks"),
                                              "seed_docs": len(seed_ids), "seed_ingest_s": round(added_s, 1),
                                              "seed_ingest": report.summary()}}
    gold = [it for it in items if it.get("gold_docs")]
    result["retrieval"] = retrieval(pipe, gold, args.k)
    result["retrieval_reranked"] = retrieval(pipe, gold, args.k, rerank=True)
    for name in ("retrieval", "retrieval_reranked"):
        s = result[name]
        print(f"{name}: recall@5 (all figures) {s['recall@5_all_figures']:.3f} of {s['questions_with_figures']}; "
              f"hit@1 {s['hit@1']:.3f}; search p50/p95 {s['search_s']['p50'] * 1000:.0f}/{s['search_s']['p95'] * 1000:.0f} ms",
              flush=True)
    if not args.no_answers:
        from benchmarks.answers import run_backend

        result["answers"] = []
        for backend in args.backend or [str(config.get("answer.backend"))]:
            run = run_backend(pipe, backend, [{k: v for k, v in it.items() if k != "_seed_ids"} for it in items])
            for rec in run["records"]:
                rec["cited_archive_docs"] = sorted(d for d in rec.get("cited_docs", []) if d not in seed_ids)
                text = rec.pop("answer", "") or ""
                rec["answer_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
                rec["answer_chars"] = len(text)
            for o in run["off_topic"]:
                o["answer"] = hashlib.sha256((o.get("answer") or "").encode("utf-8")).hexdigest()[:16]
            cited_archive = sum(len(r["cited_archive_docs"]) for r in run["records"] if "error" not in r)
            run["summary"]["citations_of_archive_articles"] = cited_archive
            result["answers"].append({"backend": backend, "summary": run["summary"], "records": run["records"]})
            a = run["summary"]
            print(f"{backend}: figures {a['must_include_accuracy']:.3f} of {a['answerable']}; unanswerable refused "
                  f"{a['unanswerable_refused']}/{a['unanswerable']}; archive citations {cited_archive}", flush=True)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out = write_result(args.out, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
