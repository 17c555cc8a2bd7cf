"""Cost of running the local model in a worker process (``llm.llama_cpp.worker: process``, the
``shanhai serve`` default) against in-process (``inline``, the CLI default).

Usage::

    python benchmarks/llm_worker.py                    # 5 seed questions x 2 rounds, both modes
    python benchmarks/llm_worker.py --questions 10 --rounds 3 --index /tmp/me/seed-index
    python benchmarks/llm_worker.py --decode-only 6      # decode time only -> llm_worker_decode.json

1. Transport: a backend that costs nothing (:class:`Instant`) inline and in the worker: round
   trip of one small request, and time per streamed delta. This is the worker's own overhead,
   independent of the model and of the machine's load.
2. The real model: start (inline: load in this process; process: spawn + imports + load in the
   worker), then ``Pipeline.ask`` on the first ``--questions`` answerable seed questions after one
   warm-up question, ``--rounds`` times. Each question is asked in both modes back to back (the
   order alternates), so a change in machine load hits both; each mode keeps its own KV cache and
   sees the same sequence of prompts. Recorded: time to first token and total (as the chat sees
   them), prompt tokens and prompt tokens reused from the KV cache, whether both modes gave the
   same answer (greedy decoding: they should), resident memory of this process and the worker.

Writes ``benchmarks/results/llm_worker.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, load_jsonl, machine, write_result  # noqa: E402
from rag.config import load_config  # noqa: E402
from rag.llm import LLMBackend  # noqa: E402
from rag.llm.worker_backend import ProcessLlamaBackend  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402

WARM_UP = "东西部扶贫协作的资金主要用在哪些方面？"


def rss_mb(pid: int | str = "self") -> float:
    """Current resident set size of a process in MB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def seed_index(path: Path) -> Path:
    """The seed articles' index at ``path`` (built once)."""
    if not (path / "manifest.json").is_file():
        report = Pipeline(load_config(overrides={"index_dir": str(path)})).ingest([SHARED / "corpus" / "seeds"])
        print(report.summary(), file=sys.stderr)
    return path


def make_pipeline(index: Path, mode: str) -> tuple[Pipeline, float, float]:
    """A pipeline whose llama_cpp backend runs ``mode``: (pipeline, model start s, RSS growth MB)."""
    pipe = Pipeline(load_config(overrides={"index_dir": str(index), "llm.llama_cpp.worker": mode}))
    pipe.index  # noqa: B018 - encoder and index first, so the figures below are the model's alone
    before = rss_mb()
    started = time.perf_counter()
    pipe.answerer("llama_cpp").llm.load()
    return pipe, time.perf_counter() - started, rss_mb() - before


class Instant(LLMBackend):
    """A backend that costs nothing: ``max_tokens`` one-character deltas, no model."""

    name = "instant"

    def __init__(self, config: Any = None) -> None:
        super().__init__()

    def count_tokens(self, text: str) -> int:
        return len(text)

    def _stream(self, messages, *, max_tokens, temperature, stop, stats):
        stats.completion_tokens = max_tokens
        for _ in range(max_tokens):
            yield "字"


def transport(n_calls: int = 200, n_deltas: int = 2000) -> dict:
    """Round trip of a tiny request and cost per streamed delta, inline vs in the worker."""
    out = {}
    cfg = load_config()
    for mode, backend in (("inline", Instant()),
                          ("process", ProcessLlamaBackend(cfg, target="benchmarks.llm_worker:Instant", shared=False))):
        backend.count_tokens("热身")
        t0 = time.perf_counter()
        for _ in range(n_calls):
            backend.count_tokens("一次很小的请求")
        t1 = time.perf_counter()
        text = backend.complete([{"role": "user", "content": "流式"}], max_tokens=n_deltas)
        t2 = time.perf_counter()
        assert len(text) == n_deltas
        out[mode] = {"round_trip_ms": round((t1 - t0) / n_calls * 1000, 3),
                     "per_delta_us": round((t2 - t1) / n_deltas * 1e6, 1)}
        backend.close()
    return out


def ask_one(pipe: Pipeline, question: dict) -> dict:
    """One answer, with its timings as the chat sees them."""
    a = pipe.ask(question["question"], backend="llama_cpp")
    t = a.timings
    return {"id": question["id"], "first_token_s": t.get("first_token"), "total_s": t.get("total"),
            "llm_calls": t.get("llm_calls", 0), "prompt_tokens": t.get("prompt_tokens", 0),
            "cached_prompt_tokens": t.get("cached_prompt_tokens", 0), "answer_chars": len(a.answer),
            # a digest, not the text: answers quote the seed articles, which stay out of the repo
            "answer_sha256": hashlib.sha256(a.answer.encode("utf-8")).hexdigest()[:16]}


def decode_only(index: Path, reps: int) -> dict:
    """Generation time with the whole prompt cached, both modes interleaved, ``reps`` times each.

    The same fixed prompt every time (so prefill is one token) and 40 greedy tokens: what is left
    is decoding plus the delta transport, the part the worker could slow down.
    """
    from rag.llm.llama_cpp_backend import LlamaCppBackend
    from rag.llm.smoke import SMOKE_MESSAGES

    pipe = Pipeline(load_config(overrides={"index_dir": str(index)}))
    pipe.search(WARM_UP)  # the server's torch + faiss loaded and used, as when serving
    cfg = load_config()
    backends = {"inline": LlamaCppBackend(cfg).load(), "process": ProcessLlamaBackend(cfg, shared=False).load()}
    gen: dict[str, list[float]] = {m: [] for m in backends}
    for rep in range(reps + 1):
        for mode in (("inline", "process") if rep % 2 == 0 else ("process", "inline")):
            pipe.search(WARM_UP)
            backends[mode].complete(SMOKE_MESSAGES, max_tokens=40)
            st = backends[mode].last_stats
            if rep:  # the first round fills the KV cache
                gen[mode].append(round(st.total_s - st.first_token_s, 3))
    backends["process"].close()
    return {m: {"median_s": statistics.median(v), "runs_s": v, "tokens": st.completion_tokens}
            for m, v in gen.items()}


def summary(rows: list[dict]) -> dict:
    llm = [r for r in rows if r["llm_calls"]]
    prompt = sum(r["prompt_tokens"] for r in llm)
    return {
        "answers": len(rows), "with_llm": len(llm),
        "first_token_s": {"median": statistics.median(r["first_token_s"] for r in llm),
                          "mean": statistics.fmean(r["first_token_s"] for r in llm)},
        "total_s": {"median": statistics.median(r["total_s"] for r in llm),
                    "mean": statistics.fmean(r["total_s"] for r in llm)},
        "prompt_tokens": prompt,
        "cached_prompt_tokens": sum(r["cached_prompt_tokens"] for r in llm),
        "cached_share": round(sum(r["cached_prompt_tokens"] for r in llm) / prompt, 3) if prompt else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--index", default="/tmp/shanhai-bench-llm-worker/index")
    ap.add_argument("--decode-only", type=int, metavar="REPS", default=0,
                    help="only the decode comparison, REPS runs per mode -> llm_worker_decode.json")
    args = ap.parse_args(argv)

    index = seed_index(Path(args.index))
    if args.decode_only:
        data = {"decode": decode_only(index, args.decode_only), "machine": machine(),
                "loadavg_at_end": list(os.getloadavg())}
        out = write_result("llm_worker_decode", data)
        print(f"decode, 40 tokens, prompt cached: {data['decode']} -> {out}")
        return 0
    questions = [q for q in load_jsonl(SHARED / "eval" / "seed_qa_dev.jsonl") if q.get("must_include")]
    questions = questions[: args.questions]
    info = machine()
    transport_cost = transport()
    print(f"transport: {transport_cost}", file=sys.stderr)
    pipes = {}
    for mode in ("process", "inline"):  # process first: this process has not loaded the model yet
        pipe, start_s, grew = make_pipeline(index, mode)
        llm = pipe.answerer("llama_cpp").llm
        pipes[mode] = {"pipe": pipe, "start_s": round(start_s, 2), "rows": [], "rss_growth_mb": round(grew),
                       "worker_rss_mb": round(rss_mb(llm.pid)) if mode == "process" else None}
    pipes = {m: pipes[m] for m in ("inline", "process")}
    for rnd in range(args.rounds):
        for mode in pipes:
            pipes[mode]["pipe"].ask(WARM_UP, backend="llama_cpp")
        for i, q in enumerate(questions):
            for mode in (("inline", "process") if (rnd + i) % 2 == 0 else ("process", "inline")):
                pipes[mode]["rows"].append(ask_one(pipes[mode]["pipe"], q))
        print(f"round {rnd + 1}: done", file=sys.stderr)
    worker = pipes["process"]["pipe"].answerer("llama_cpp").llm
    same = sum(a["answer_sha256"] == b["answer_sha256"] for a, b in zip(pipes["inline"]["rows"], pipes["process"]["rows"]))
    pairs = [(a, b) for a, b in zip(pipes["inline"]["rows"], pipes["process"]["rows"]) if a["llm_calls"]]
    data = {
        "questions": [q["id"] for q in questions], "rounds": args.rounds, "transport": transport_cost,
        "paired_process_minus_inline_s": {
            "first_token_median": round(statistics.median(b["first_token_s"] - a["first_token_s"] for a, b in pairs), 3),
            "total_median": round(statistics.median(b["total_s"] - a["total_s"] for a, b in pairs), 3)},
        "modes": {m: {"start_s": p["start_s"], **summary(p["rows"]), "rows": p["rows"]} for m, p in pipes.items()},
        "same_answer": f"{same}/{len(pipes['inline']['rows'])}",
        "memory_mb": {"this_process_growth_inline_load": pipes["inline"]["rss_growth_mb"],
                      "this_process_growth_worker_start": pipes["process"]["rss_growth_mb"],
                      "worker_after_load": pipes["process"]["worker_rss_mb"],
                      "worker_at_end": round(rss_mb(worker.pid))},
        "cpu_variant": worker.runtime_info().get("variant"),
        "machine": info, "loadavg_at_end": list(os.getloadavg()),
    }
    for p in pipes.values():
        p["pipe"].answerer("llama_cpp").llm.close()
    out = write_result("llm_worker", data)
    for mode, m in data["modes"].items():
        print(f"| {mode} | {m['start_s']:.2f} s | {m['first_token_s']['median']:.2f} / {m['first_token_s']['mean']:.2f} s "
              f"| {m['total_s']['median']:.2f} / {m['total_s']['mean']:.2f} s | {m['cached_prompt_tokens']} / "
              f"{m['prompt_tokens']} ({m['cached_share']:.0%}) |")
    print(f"paired process - inline: {data['paired_process_minus_inline_s']}; transport: {transport_cost}")
    print(f"same answers: {data['same_answer']}; memory: {data['memory_mb']} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
