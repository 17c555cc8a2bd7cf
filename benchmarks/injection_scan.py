"""Precision and recall of the instruction detector (``rag/text/injection.py``) on real text.

Usage:
    python benchmarks/injection_scan.py

Real text (should flag nothing): the five seed articles, sample_corpus/, the 19,720-article
CRUD news archive (each article cleaned and normalised as ingest does), and every distinct
passage/context of at least 30 characters in the RGB, DRCD and CMRC files under
../shared/eval and ../shared/train. Hostile text (should flag every article): our own articles
in tests/data/injection. Every flagged sentence of the real text is listed for inspection.
Writes benchmarks/results/injection_scan.json.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, machine, write_result  # noqa: E402
from rag.ingest.loaders import Skipped, build_document, discover, read_raw  # noqa: E402
from rag.text.injection import injected_spans  # noqa: E402
from rag.text.normalize import normalize  # noqa: E402


def scan_articles(paths: list[Path]) -> dict:
    docs = sentences = 0
    flagged: list[dict] = []
    seconds = 0.0
    for f in discover(paths):
        if isinstance(f, Skipped):
            continue
        for raw in read_raw(f, max_file_mb=20):
            if isinstance(raw, Skipped):
                continue
            doc = build_document(raw)
            t = time.perf_counter()
            spans = injected_spans(doc.text)
            seconds += time.perf_counter() - t
            docs += 1
            sentences += doc.text.count("。") + doc.text.count("\n") + 1
            flagged += [{"doc_id": doc.doc_id, "sentence": doc.text[a:b][:200]} for a, b in spans]
    return {"articles": docs, "sentences_approx": sentences, "flagged_articles": len({x["doc_id"] for x in flagged}),
            "flagged_sentences": flagged, "detect_seconds": round(seconds, 2)}


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, list):
        for x in obj:
            yield from _strings(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _strings(x)


def scan_passages(files: list[Path]) -> dict:
    seen: set[str] = set()
    flagged = []
    for path in files:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                for s in _strings(json.loads(line)):
                    if len(s) < 30 or s in seen:
                        continue
                    seen.add(s)
                    text = normalize(s)
                    flagged += [{"file": path.name, "sentence": text[a:b][:200]} for a, b in injected_spans(text)]
    return {"texts": len(seen), "flagged_sentences": flagged}


def main() -> None:
    hostile = scan_articles([ROOT / "tests" / "data" / "injection"])
    result = {
        "machine": machine(),
        "seeds_and_sample": scan_articles([SHARED / "corpus" / "seeds", ROOT / "sample_corpus"]),
        "crud_archive": scan_articles([SHARED / "corpus" / "external" / "crud_news_sample.jsonl.gz"]),
        "eval_and_train_passages": scan_passages(sorted((SHARED / "eval" / "external").glob("*.jsonl"))
                                                 + [SHARED / "train" / "zh_reading_train.jsonl.gz"]),
        "hostile": {"articles": hostile["articles"], "flagged_articles": hostile["flagged_articles"]},
    }
    out = write_result("injection_scan", result)
    for key in ("seeds_and_sample", "crud_archive"):
        r = result[key]
        print(f"{key}: {r['articles']} articles, {r['flagged_articles']} flagged, detection {r['detect_seconds']} s")
    p = result["eval_and_train_passages"]
    print(f"eval/train passages: {p['texts']} texts, {len(p['flagged_sentences'])} flagged sentences")
    print(f"hostile: {hostile['flagged_articles']} / {hostile['articles']} articles flagged")
    print(f"written {out}")


if __name__ == "__main__":
    main()
