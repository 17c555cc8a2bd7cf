"""RGB (Chinese, dev split) under its own protocol: rejection and noise robustness.

Usage::

    python benchmarks/rgb_answers.py --limit 20            # both settings, llama_cpp
    python benchmarks/rgb_answers.py --setting reject      # only negative-only contexts
    python benchmarks/rgb_answers.py --backend extractive

Protocol (``../shared/eval/external/README.md``, RGB ``evalue.py``): 5 passages per item;
noise ratio r takes ``ceil(5r)`` passages from the front of ``negative`` and the rest from
the front of ``positive`` (the other pool fills in when one runs short), shuffled with a
fixed seed. ``reject`` = r 1.0 (5 negatives): an item counts as rejected when the output
contains 信息不足 (:func:`rag.eval.metrics.rgb_rejected`). ``noise`` = r 0.8 (4 negatives + 1
positive): accuracy with :func:`rag.eval.metrics.rgb_accuracy`. The passages go straight to
:meth:`rag.pipeline.Pipeline.answer_from_passages` (no index). Deviation from upstream:
OpenCC t2s before matching (as the metric does by default) and our own system prompt.

Writes ``benchmarks/results/rgb-<backend>-<time>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import load_config  # noqa: E402
from rag.eval.metrics import latency_summary, rgb_accuracy, rgb_rejected  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402

SHARED = Path(os.environ.get("SHANHAI_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
SETTINGS = {"reject": 1.0, "noise": 0.8}


def rgb_passages(item: dict, ratio: float, n: int = 5, seed: int = 0) -> list[str]:
    """The RGB context for ``item`` at noise ``ratio`` (see the module docstring)."""
    neg_n = math.ceil(n * ratio)
    neg, pos = list(item["negative"]), list(item["positive"])
    take_neg = min(neg_n, len(neg))
    take_pos = min(n - take_neg, len(pos))
    take_neg = min(len(neg), n - take_pos)  # the other pool fills in
    docs = neg[:take_neg] + pos[:take_pos]
    rng = random.Random(f"{seed}:{item['id']}:{ratio}")
    rng.shuffle(docs)
    return docs


def run(pipe: Pipeline, items: list[dict], setting: str, backend: str, seed: int) -> dict:
    """Answer every item in one setting; per-item records and the summary."""
    ratio = SETTINGS[setting]
    records = []
    for item in items:
        docs = rgb_passages(item, ratio, seed=seed)
        started = time.perf_counter()
        try:
            ans = pipe.answer_from_passages(item["question"], docs, backend=backend)
        except Exception as exc:
            records.append({"id": item["id"], "error": f"{type(exc).__name__}: {exc}"})
            continue
        out = ans.answer
        rec = {"id": item["id"], "question": item["question"], "answer": out, "refused": ans.refused,
               "answers": item["answer_groups"], "timings": ans.timings,
               "wall": round(time.perf_counter() - started, 3),
               "support": ans.checks.get("support"), "discarded": ans.checks.get("discarded_answers")}
        if setting == "reject":
            rec["rejected"] = rgb_rejected(out)
        else:
            rec["correct"] = rgb_accuracy(out, item["answer_groups"])
        records.append(rec)
        flag = rec.get("rejected", rec.get("correct"))
        print(f"  {setting} {item['id']} {'✓' if flag else '✗'} llm={ans.timings.get('llm_calls')} "
              f"ttft={ans.timings.get('first_token')} | {item['question']} → {out[:70]!r}",
              file=sys.stderr, flush=True)
    ok = [r for r in records if "error" not in r]
    key = "rejected" if setting == "reject" else "correct"
    return {
        "setting": setting, "noise_ratio": ratio, "items": len(records), "errors": len(records) - len(ok),
        "rate": (sum(r[key] for r in ok) / len(ok)) if ok else None,
        "hits": sum(r[key] for r in ok),
        "llm_calls": sum(r["timings"].get("llm_calls", 0) for r in ok),
        "refused_without_llm": sum(1 for r in ok if r["refused"] and not r["timings"].get("llm_calls")),
        "first_token_s": latency_summary(r["timings"].get("first_token") for r in ok),
        "total_s": latency_summary(r["timings"].get("total") for r in ok),
        "prompt_tokens": latency_summary(r["timings"].get("prompt_tokens") for r in ok if r["timings"].get("llm_calls")),
        "records": records,
    }


def markdown(backend: str, results: list[dict]) -> str:
    """One row per setting."""
    lines = [f"| RGB zh dev ({backend}) | items | result | refused w/o LLM | total p50 (s) |", "|---|---|---|---|---|"]
    names = {"reject": "rejection rate (5 negatives)", "noise": "accuracy (4 negatives + 1 positive)"}
    for r in results:
        rate = "–" if r["rate"] is None else f"{100 * r['rate']:.1f}% ({r['hits']}/{r['items'] - r['errors']})"
        p50 = r["total_s"]["p50"]
        lines.append(f"| {names[r['setting']]} | {r['items']} | {rate} | {r['refused_without_llm']} | "
                     f"{'–' if p50 is None else f'{p50:.2f}'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="llama_cpp")
    ap.add_argument("--setting", choices=[*SETTINGS, "both"], default="both")
    ap.add_argument("--data", default=str(SHARED / "eval" / "external" / "rgb_zh_dev.jsonl"))
    ap.add_argument("--limit", type=int, help="only the first N items")
    ap.add_argument("--offset", type=int, default=0, help="skip the first N items")
    args = ap.parse_args(argv)
    config = load_config()
    seed = int(config.get("eval.seed") or 0)
    pipe = Pipeline(config)
    items = [json.loads(line) for line in open(args.data, encoding="utf-8") if line.strip()]
    items = items[args.offset:]
    items = items[: args.limit] if args.limit else items
    settings = list(SETTINGS) if args.setting == "both" else [args.setting]
    results = [run(pipe, items, s, args.backend, seed) for s in settings]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"rgb-{args.backend}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"backend": args.backend, "data": args.data, "offset": args.offset,
                               "limit": args.limit, "results": results, "config": config.data,
                               "note": "measured on a shared 2-core CPU; timings are pessimistic"},
                              ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"→ {out}", file=sys.stderr)
    print(markdown(args.backend, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
