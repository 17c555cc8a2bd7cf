"""Prefill and decode speed of the local GGUF with the installed llama-cpp-python build.

Usage::

    python benchmarks/llm_speed.py --label portable          # the project's build (CPU variant chosen at run time)
    PYTHONPATH=/tmp/native-lcp python benchmarks/llm_speed.py --label native   # a build installed elsewhere

Prefill: a fixed ~600-token prompt (the shipped sample corpus) evaluated from an empty KV cache.
Decode: 64 greedy tokens after it. Each figure is the median of ``--runs`` runs after one
warm-up. Writes ``benchmarks/results/llm_speed-<label>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine, peak_rss_mb, write_result  # noqa: E402
from rag.config import load_config  # noqa: E402
from rag.llm.cpu_backend import ensure_cpu_backend  # noqa: E402
from rag.llm.gguf import ensure_gguf  # noqa: E402


def _prompt_text(chars: int) -> str:
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted((ROOT / "sample_corpus").glob("*.txt"))]
    return "请阅读以下材料并回答问题。\n" + "\n".join(texts)[:chars] + "\n问题：材料中提到的资金总额是多少？"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--chars", type=int, default=900, help="prompt characters (~0.66 tokens each)")
    ap.add_argument("--decode", type=int, default=64)
    args = ap.parse_args(argv)

    import llama_cpp

    cfg = load_config()
    backend = ensure_cpu_backend(str(cfg.get("llm.llama_cpp.cpu_variant") or "auto"))
    llm = llama_cpp.Llama(model_path=str(ensure_gguf(cfg)), n_ctx=4096, n_threads=2, n_threads_batch=2,
                          n_batch=512, verbose=False)
    tokens = llm.tokenize(_prompt_text(args.chars).encode("utf-8"), add_bos=True, special=False)
    prefill, decode = [], []
    for run in range(args.runs + 1):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        t1 = time.perf_counter()
        for _ in range(args.decode):
            tok = llm.sample(temp=0.0)
            llm.eval([tok])
        t2 = time.perf_counter()
        if run:  # the first run is a warm-up
            prefill.append(len(tokens) / (t1 - t0))
            decode.append(args.decode / (t2 - t1))
    data = {
        "label": args.label,
        "cpu_backend": backend.variant,
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace"),
        "prompt_tokens": len(tokens),
        "decode_tokens": args.decode,
        "prefill_tok_s": {"median": statistics.median(prefill), "min": min(prefill), "max": max(prefill)},
        "decode_tok_s": {"median": statistics.median(decode), "min": min(decode), "max": max(decode)},
        "peak_rss_mb": round(peak_rss_mb()),
        "machine": machine(),
    }
    out = write_result(f"llm_speed-{args.label}", data)
    print(f"{args.label} ({backend.variant}): prefill {data['prefill_tok_s']['median']:.1f} tok/s, "
          f"decode {data['decode_tok_s']['median']:.1f} tok/s -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
