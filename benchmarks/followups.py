"""Follow-up questions on the seed corpus: rewrite, answer, and the same question asked directly.

Usage::

    python benchmarks/followups.py                          # extractive; seed index built once
    python benchmarks/followups.py --backend llama_cpp      # also the local model (slow)
    python benchmarks/followups.py --index /tmp/me/index    # an existing seed index

Each dialogue (written for this benchmark, not taken from the eval sets) is asked turn by turn
as the chat does: a follow-up is rewritten with :meth:`Pipeline.standalone_question` against the
earlier (question, answer) turns, then answered; the rewritten question is also asked directly
and the two answers compared (same text, same figures, same cited chunks). Also times the
rewrite and the rejection of an over-long question (``answer.max_question_chars``).

Writes ``benchmarks/results/followups-<backend>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, machine, write_result  # noqa: E402
from rag.config import load_config  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag import QuestionError  # noqa: E402

FUNDS = "张家港向沿河投入多少资金？"
PARTNER = "靖远县的东西部扶贫协作单位是哪里？"
DIALOGUES = [
    [FUNDS, "那天津市和平区对靖远县呢？"],
    [FUNDS, "那苏州呢？"],
    [FUNDS, "那天津市和平区呢？"],
    [FUNDS, "那对靖远县呢？"],
    [FUNDS, "那2019年呢？"],
    [FUNDS, "这个县的贫困发生率下降到了多少？"],
    [PARTNER, "它向靖远县投入了多少资金？"],
    [PARTNER, "该县已累计建立了多少对结对帮扶关系？"],
    [PARTNER, "它向靖远县投入了多少资金？", "那对沿河呢？"],
]
FIGURE_RE = re.compile(r"\d+(?:\.\d+)?(?:万|亿)?(?:元|人|户|对|个|%)")


def run_dialogue(pipe: Pipeline, turns: list[str], backend: str) -> dict:
    history: list[tuple[str, str]] = []
    row: dict = {}
    for q in turns:
        t0 = time.perf_counter()
        standalone = pipe.standalone_question(q, history)
        rewrite_ms = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        answer = pipe.ask(standalone, backend=backend)
        row = {"turns": turns, "follow_up": q, "standalone": standalone, "rewrite_ms": round(rewrite_ms, 1),
               "answer": answer.answer, "refused": answer.refused, "figures": FIGURE_RE.findall(answer.answer),
               "cited": [c.chunk_id for c in answer.citations], "answer_s": round(time.perf_counter() - t1, 2)}
        history.append((standalone, answer.answer))
    direct = pipe.ask(row["standalone"], backend=backend)
    row["direct_same_text"] = direct.answer == row["answer"]
    row["direct_same_figures"] = sorted(FIGURE_RE.findall(direct.answer)) == sorted(row["figures"])
    row["direct_same_citations"] = [c.chunk_id for c in direct.citations] == row["cited"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="extractive")
    ap.add_argument("--index", help="an existing index of the seed articles (default: built in a temp folder)")
    args = ap.parse_args()
    tmp = None
    if args.index:
        index = Path(args.index)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="shanhai-followups-")
        index = Path(tmp.name) / "index"
    pipe = Pipeline(load_config(overrides={"index_dir": str(index)}))
    try:
        pipe.documents()
    except Exception:
        pipe.ingest([SHARED / "corpus" / "seeds"])
    pipe.regions()  # build the gazetteer once, outside the timings
    rows = [run_dialogue(pipe, turns, args.backend) for turns in DIALOGUES]
    t0 = time.perf_counter()
    try:
        pipe.ask("问" * 5000, backend=args.backend)
        rejected = False
    except QuestionError:
        rejected = True
    reject_ms = (time.perf_counter() - t0) * 1000
    out = {"backend": args.backend, "machine": machine(), "dialogues": rows,
           "long_question": {"chars": 5000, "rejected": rejected, "ms": round(reject_ms, 2)}}
    path = write_result(f"followups-{args.backend}", out)
    print("| follow-up | rewritten | figures | same as direct |\n|---|---|---|---|")
    for r in rows:
        same = "yes" if r["direct_same_text"] and r["direct_same_citations"] else "no"
        print(f"| {r['follow_up']} | {r['standalone']} | {'、'.join(r['figures'][:3]) or ('拒答' if r['refused'] else '-')} "
              f"| {same} |")
    print(f"5000-character question rejected: {rejected} in {reject_ms:.2f} ms; wrote {path}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
