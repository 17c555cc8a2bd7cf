"""Ablation of the evidence judge in the answer path: rules only / judge only / judge + rules.

Runs ``shanhai eval`` once per (configuration, dataset) with the settings given as ``SHANHAI_*``
environment overrides, then writes one table (``benchmarks/results/judge_ablation.json``):

* ``rules``: today's path without the judge (``judge.rerank`` off);
* ``judge``: the judge reranks and refuses below ``judge.refuse_below``; the hand-written gates
  (dense ``answer.min_relevance``, the coverage support check ``answer.min_coverage``) off;
* ``judge+rules``: the judge on top of the rules, judge-trusted sentences off;
* ``trusted``: the default configuration — as ``judge+rules``, and a sentence the judge scores at
  least ``judge.trust_above`` (names/year/period not contradicting) supports without the keyword
  rules and leads the evidence.

RGB items are taken from the half of the dev split the judge was **not** trained on
(``rag.judge.data.rgb_half``), written to a temporary file at run time. Usage::

    python benchmarks/judge_ablation.py --limit 30            # ~2 h on 2 cores with llama_cpp
    python benchmarks/judge_ablation.py --limit 5 --configs rules,judge --sets seed
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED  # noqa: E402

OFF = "2"  # judge.trust_above above any probability: judge-trusted sentences off
CONFIGS = {
    "rules": {"SHANHAI_JUDGE__RERANK": "false"},
    "judge": {"SHANHAI_JUDGE__RERANK": "true", "SHANHAI_ANSWER__MIN_RELEVANCE": "0",
              "SHANHAI_ANSWER__MIN_COVERAGE": "0", "SHANHAI_JUDGE__TRUST_ABOVE": OFF},
    "judge+rules": {"SHANHAI_JUDGE__RERANK": "true", "SHANHAI_JUDGE__TRUST_ABOVE": OFF},
    # the default: judge-trusted sentences support without the keyword rules and lead the evidence
    "trusted": {"SHANHAI_JUDGE__RERANK": "true"},
}


def rgb_eval_half(src: Path, out: Path) -> Path:
    """Copy the RGB dev items of the judge's untrained half to ``out`` (a temporary file)."""
    from rag.judge.data import rgb_half

    with open(src, encoding="utf-8") as fh, open(out, "w", encoding="utf-8") as dst:
        for line in fh:
            if line.strip() and rgb_half(json.loads(line)["id"]) == "eval":
                dst.write(line)
    return out


def datasets(shared: Path, tmp: Path) -> dict[str, list[str]]:
    """``shanhai eval`` arguments per dataset name."""
    ev = shared / "eval"
    rgb = rgb_eval_half(ev / "external/rgb_zh_dev.jsonl", tmp / "rgb_zh_dev_eval_half.jsonl")
    return {
        "seed": [str(ev / "seed_qa_dev.jsonl"), "--corpus", str(shared / "corpus/seeds")],
        "rgb": [str(rgb), "--noise", "0,0.8", "--mode", "noise,rejection"],
        "drcd": [str(ev / "external/drcd_dev.jsonl"), "--retrieval", "passages"],
    }


def summary(metrics: dict, name: str) -> dict:
    """The numbers of the ablation table from a run's metrics.json."""
    o = metrics["overall"]
    if name == "rgb":
        r = metrics["rgb"]
        return {"noise0": r["noise"].get("0"), "noise0.8": r["noise"].get("0.8"), "rejection": r["rejection"],
                "n": metrics["n_items"]}
    if name == "drcd":
        return {"contains": o.get("contains"), "refused": o.get("refused"), "n": o["n"]}
    return {k: o.get(k) for k in ("correct", "accuracy", "refusal_correct", "false_refusal", "citation_precision",
                                  "number_grounding", "hit@1", "n")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--backend", default="llama_cpp")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--sets", default="seed,rgb,drcd")
    p.add_argument("--refuse-below", type=float, default=None, help="judge.refuse_below for judge runs")
    p.add_argument("--out", default=str(ROOT / "runs/judge-ablation"))
    p.add_argument("--json", default=str(ROOT / "benchmarks/results/judge_ablation.json"))
    args = p.parse_args(argv)
    out_root = Path(args.out)
    result_path = Path(args.json)
    results = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        sets = datasets(SHARED, Path(tmp))
        for cfg in args.configs.split(","):
            for name in args.sets.split(","):
                env = {**os.environ, **CONFIGS[cfg]}
                if args.refuse_below is not None and cfg != "rules":
                    env["SHANHAI_JUDGE__REFUSE_BELOW"] = str(args.refuse_below)
                run_dir = out_root / f"{name}-{cfg}-{args.backend}-l{args.limit}"
                cmd = [sys.executable, "-m", "rag.cli", "eval", *sets[name], "--backend", args.backend,
                       "--limit", str(args.limit), "--out", str(run_dir)]
                started = time.time()
                print(f"== {cfg} / {name}: {' '.join(cmd[3:])}", flush=True)
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
                metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
                row = summary(metrics, name)
                row["seconds"] = round(time.time() - started, 1)
                row["refuse_below"] = None if cfg == "rules" else env.get("SHANHAI_JUDGE__REFUSE_BELOW", "config")
                results.setdefault(name, {})[cfg] = row
                print(json.dumps(row, ensure_ascii=False), flush=True)
                result_path.parent.mkdir(parents=True, exist_ok=True)
                result_path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
