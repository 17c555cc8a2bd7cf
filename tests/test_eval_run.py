"""End-to-end evaluation runs on real data: the seed corpus (extractive), DRCD from its own
paragraphs and from an index over all of them, and a small RGB run with the real local LLM."""

from __future__ import annotations

import json

import pytest
import yaml

from rag.eval.datasets import read_records
from rag.eval.metrics import answer_accuracy, rgb_accuracy, rgb_rejected, strip_citations
from rag import Pipeline
from rag.eval.runner import PARTIAL, run_eval

pytestmark = pytest.mark.slow  # real embedding model (and one test with the real LLM)

RUN_FILES = {"results.jsonl", "metrics.json", "config.yaml", "report.md", "report.html", "plots"}
SEED_METRICS = {"hit@1", "hit@5", "recall@5", "mrr", "ab_hit@5", "ab_mrr", "accuracy", "char_f1", "rouge_l",
                "refusal_correct", "false_refusal", "citation_precision", "citation_recall", "number_grounding"}


def _rows(run_dir):
    return [json.loads(x) for x in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_seed_run_extractive_writes_every_file(seed_pipeline, seed_config, eval_dir, tmp_path):
    dataset = eval_dir / "seed_qa_dev.jsonl"
    out = tmp_path / "run"
    summary = run_eval(dataset, seed_config, make_pipeline=Pipeline, out=out, backend="extractive",
                       index=str(seed_pipeline.index_dir), workers=2)
    assert RUN_FILES <= {p.name for p in out.iterdir()} and not (out / PARTIAL).exists()
    assert {p.name for p in (out / "plots").iterdir()} == {"accuracy_by_group.png", "latency.png"}
    records = read_records(dataset)
    rows = _rows(out)
    assert [r["id"] for r in rows] == [r["id"] for r in records]  # item order kept under threads
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m == json.loads(json.dumps(summary.metrics))
    assert m["n_items"] == len(records) and m["n_errors"] == 0
    assert SEED_METRICS <= set(m["overall"]) and all(m["overall"][k] is not None for k in SEED_METRICS)
    assert {"retrieve", "first_token", "total"} == set(m["latency"]) and m["latency"]["total"]["p50"] > 0
    assert m["overall"]["hit@5"] >= 0.9  # the gold article is retrievable for (nearly) every question
    cfg = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["answer"]["backend"] == "extractive" and cfg["eval"]["run"]["format"] == "seed"
    assert cfg["index_dir"] == str(seed_pipeline.index_dir)
    for rec, row in zip(records, rows):
        assert row["question"] == rec["question"] and row["error"] is None
        if row["expected"]["unanswerable"]:
            assert row["correct"] == bool(row["refused"])
            continue
        acc = answer_accuracy(row["answer"], rec["must_include"], rec.get("any_of"))
        assert row["scores"]["accuracy"] == acc and row["correct"] == (acc == 1.0)
        top5 = [h["doc_id"] for h in row["retrieved"][:5]]
        assert row["scores"]["hit@5"] == float(bool(set(top5) & set(rec["gold_docs"])))
        assert all(c["n"] in {p["n"] for p in row["passages"]} for c in row["citations"])
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "文档命中@5" in md and "引用精确率" in md and "延迟（秒）" in md


def test_cli_corpus_option_refuses_overwrite_and_resumes(seeds_dir, eval_dir, tmp_path, capsys):
    from rag.cli import main

    out = tmp_path / "cli-run"
    args = ["eval", str(eval_dir / "seed_qa_dev.jsonl"), "--backend", "extractive", "--limit", "3", "--out", str(out)]
    assert main(args + ["--corpus", str(seeds_dir)]) == 0
    assert (out / "index").is_dir() and len(_rows(out)) == 3
    assert "运行目录" in capsys.readouterr().out
    assert main(args + ["--index", str(out / "index")]) == 2  # folder not empty: no silent overwrite
    assert "--resume" in capsys.readouterr().err
    # Simulate an interruption after two items: those two are kept, only the third is rerun.
    rows = _rows(out)
    for r in rows[:2]:
        r["answer"] += "（续跑标记）"
    (out / PARTIAL).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:2]), encoding="utf-8")
    (out / "results.jsonl").unlink()
    assert main(args + ["--index", str(out / "index"), "--resume"]) == 0
    again = _rows(out)
    assert [r["answer"].endswith("（续跑标记）") for r in again] == [True, True, False]
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["run"]["resumed_items"] == 2
    # A seed set without --index/--corpus is refused with a clear message.
    assert main(["eval", str(eval_dir / "seed_qa_dev.jsonl"), "--out", str(tmp_path / "x")]) == 2
    assert "--index" in capsys.readouterr().err


def test_drcd_from_own_paragraphs_and_from_index(seed_config, eval_dir, tmp_path):
    path = eval_dir / "external" / "drcd_dev.jsonl"
    own = run_eval(path, seed_config, make_pipeline=Pipeline, out=tmp_path / "own", backend="extractive", limit=4)
    assert own.metrics["n_errors"] == 0 and own.metrics["run"]["index"] is None
    assert {"exact_match", "char_f1", "rouge_l", "contains", "contains_raw"} <= set(own.metrics["overall"])
    idx = run_eval(path, seed_config, make_pipeline=Pipeline, out=tmp_path / "idx", backend="extractive", limit=4, retrieval="index")
    n_paragraphs = len({r["paragraph_id"] for r in read_records(path)})
    assert len(list((tmp_path / "idx" / "corpus").glob("*.txt"))) == n_paragraphs
    assert idx.metrics["n_errors"] == 0 and "hit@5" in idx.metrics["overall"]
    for row in idx.rows:
        assert row["input_passages"] is None and row["retrieved"]
        assert row["scores"]["hit@5"] == float(row["expected"]["gold_docs"][0] in
                                               [h["doc_id"] for h in row["retrieved"][:5]])
    assert idx.metrics["overall"]["hit@5"] >= 0.5  # paragraphs are findable by their own questions


def test_rgb_limit_2_with_the_local_llm(eval_dir, tmp_path):
    """4 real LLM calls: 2 records × (noise 0.4 + negative rejection)."""
    from rag.cli import main

    path = eval_dir / "external" / "rgb_zh_dev.jsonl"
    out = tmp_path / "rgb"
    assert main(["eval", str(path), "--limit", "2", "--noise", "0.4", "--out", str(out)]) == 0
    records = {r["id"]: r for r in read_records(path)[:2]}
    rows = _rows(out)
    assert sorted(r["task"] for r in rows) == ["noise", "noise", "rejection", "rejection"]
    for row in rows:
        rec = records[row["base_id"]]
        assert row["error"] is None and row["answer"].strip()
        assert len(row["input_passages"]) == 5
        assert row["timings"]["prompt_tokens"] > 0 or row["refused"]
        plain = strip_citations(row["answer"])
        if row["task"] == "rejection":
            assert set(row["input_passages"]) <= set(rec["negative"])
            assert row["correct"] == rgb_rejected(plain)
        else:
            assert sum(p in rec["negative"] for p in row["input_passages"]) == 2
            assert row["correct"] == rgb_accuracy(plain, rec["answer_groups"])
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m["run"]["backend"] == "llama_cpp" and set(m["rgb"]) == {"noise", "rejection"}
    assert set(m["rgb"]["noise"]) == {"0.4"}
    assert {p.name for p in (out / "plots").iterdir()} >= {"rgb_noise.png", "latency.png"}
