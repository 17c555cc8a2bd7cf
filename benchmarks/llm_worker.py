"""Cost of running the local model in a worker process (``llm.llama_cpp.worker: process``, the
``shanhai serve`` default) against in-process (``inline``, the CLI default).

Usage::

    python benchmarks/llm_worker.py                    # 6 seed questions x 2 rounds, both modes
    python benchmarks/llm_worker.py --questions 10 --rounds 3 --index /tmp/me/seed-index

For each mode: model start (inline: load in this process; process: spawn + imports + load in the
worker), then ``Pipeline.ask`` on the first ``--questions`` answerable seed questions (one warm-up
question first, not counted), ``--rounds`` times; rounds alternate which mode goes first, so a
change in machine load hits both. Recorded per question: time to first token and total (as the
chat sees them), prompt tokens and prompt tokens reused from the KV cache, whether both modes gave
the same answer (greedy decoding: they should). Also the resident memory of this process and of
the worker. Writes ``benchmarks/results/llm_worker.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, load_jsonl, machine, write_result  # noqa: E402
from rag.config import load_config  # noqa: E402
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


def make_pipeline(index: Path, mode: str) -> tuple[Pipeline, float]:
    """A pipeline whose llama_cpp backend runs ``mode``; returns it and the model start time."""
    pipe = Pipeline(load_config(overrides={"index_dir": str(index), "llm.llama_cpp.worker": mode}))
    pipe.index  # noqa: B018 - encoder and index first, so the timing below is the model's alone
    started = time.perf_counter()
    pipe.answerer("llama_cpp").llm.load()
    return pipe, time.perf_counter() - started


def ask_all(pipe: Pipeline, questions: list[dict]) -> list[dict]:
    """One round: the warm-up question, then every question (timings as the chat sees them)."""
    pipe.ask(WARM_UP, backend="llama_cpp")
    rows = []
    for q in questions:
        a = pipe.ask(q["question"], backend="llama_cpp")
        t = a.timings
        rows.append({"id": q["id"], "first_token_s": t.get("first_token"), "total_s": t.get("total"),
                     "llm_calls": t.get("llm_calls", 0), "prompt_tokens": t.get("prompt_tokens", 0),
                     "cached_prompt_tokens": t.get("cached_prompt_tokens", 0), "answer": a.answer})
    return rows


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
    args = ap.parse_args(argv)

    index = seed_index(Path(args.index))
    questions = [q for q in load_jsonl(SHARED / "eval" / "seed_qa_dev.jsonl") if q.get("must_include")]
    questions = questions[: args.questions]
    info = machine()
    base_rss = rss_mb()
    pipes = {}
    for mode in ("inline", "process"):
        pipe, start_s = make_pipeline(index, mode)
        llm = pipe.answerer("llama_cpp").llm
        pipes[mode] = {"pipe": pipe, "start_s": round(start_s, 2), "rows": [],
                       "worker_rss_mb": round(rss_mb(llm.pid)) if mode == "process" else None}
        if mode == "inline":
            pipes[mode]["rss_after_load_mb"] = round(rss_mb())
    for rnd in range(args.rounds):
        for mode in (("inline", "process") if rnd % 2 == 0 else ("process", "inline")):
            pipes[mode]["rows"] += ask_all(pipes[mode]["pipe"], questions)
            print(f"round {rnd + 1} {mode}: done", file=sys.stderr)
    worker = pipes["process"]["pipe"].answerer("llama_cpp").llm
    same = sum(a["answer"] == b["answer"] for a, b in zip(pipes["inline"]["rows"], pipes["process"]["rows"]))
    data = {
        "questions": [q["id"] for q in questions], "rounds": args.rounds,
        "modes": {m: {"start_s": p["start_s"], **summary(p["rows"]), "rows": p["rows"]} for m, p in pipes.items()},
        "same_answer": f"{same}/{len(pipes['inline']['rows'])}",
        "memory_mb": {"benchmark_process_before_models": round(base_rss),
                      "benchmark_process_after_inline_load": pipes["inline"]["rss_after_load_mb"],
                      "worker_after_load": pipes["process"]["worker_rss_mb"],
                      "worker_at_end": round(rss_mb(worker.pid))},
        "cpu_variant": worker.runtime_info().get("variant"),
        "machine": info, "loadavg_at_end": list(__import__("os").getloadavg()),
    }
    for p in pipes.values():
        p["pipe"].answerer("llama_cpp").llm.close()
    out = write_result("llm_worker", data)
    for mode, m in data["modes"].items():
        print(f"| {mode} | {m['start_s']:.2f} s | {m['first_token_s']['median']:.2f} / {m['first_token_s']['mean']:.2f} s "
              f"| {m['total_s']['median']:.2f} / {m['total_s']['mean']:.2f} s | {m['cached_prompt_tokens']} / "
              f"{m['prompt_tokens']} ({m['cached_share']:.0%}) |")
    print(f"same answers: {data['same_answer']}; memory: {data['memory_mb']} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
