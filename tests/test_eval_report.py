"""Reports (escaping, plots, excerpts), run comparison and the Eval tab's functions, on hand-made runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.eval.compare import compare_runs, flatten_metrics, format_comparison
from rag.eval.report import export_run, write_report
from rag.eval.scoring import aggregate

EVIL = '<img src=x onerror="window.__xss=1">'


def _row(rid: str, correct: bool, answer: str, *, group: str = "number", task: str = "qa", noise=None,
         scores: dict | None = None, error: str | None = None) -> dict:
    return {"id": rid, "base_id": rid, "question": f"问题{rid}：青山县修了几座桥？", "task": task, "group": group,
            "noise": noise, "expected": {"must_include": ["3座"], "any_of": [], "gold_docs": ["d1"],
                                         "answer_groups": [], "unanswerable": False},
            "answer": answer, "refused": False, "citations": [],
            "passages": [{"n": 1, "text": "青山县今年修了3座桥。" + EVIL, "title": EVIL, "doc_id": "d1"}],
            "scores": scores if scores is not None else {"accuracy": 1.0 if correct else 0.0},
            "correct": correct, "timings": {"retrieve": 0.1, "first_token": 0.4 + len(rid) / 10, "total": 1.5},
            "checks": {}, "error": error}


def make_run(folder: Path, rows: list[dict], *, backend: str = "extractive", dataset: str = "toy") -> Path:
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                          encoding="utf-8")
    metrics = {"run": {"dataset": dataset, "format": "seed", "backend": backend, "settings": {"limit": None},
                       "workers": 1, "parallel": "local", "wall_seconds": 3.0, "items_per_second": 1.0},
               **aggregate(rows)}
    (folder / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False), encoding="utf-8")
    (folder / "config.yaml").write_text("answer:\n  backend: extractive\n", encoding="utf-8")
    return folder


@pytest.fixture()
def runs(tmp_path):
    a = make_run(tmp_path / "a", [_row("q1", True, "修了3座桥[1]。"), _row("q2", False, "不清楚"),
                                  _row("q3", True, "3座[1]"), _row("q4", False, "", error="LLMError: 超时")])
    b = make_run(tmp_path / "b", [_row("q1", False, "修了5座桥" + EVIL), _row("q2", True, "修了3座桥[1]。"),
                                  _row("q3", True, "共3座[1]"), _row("q5", True, "3座")], backend="llama_cpp")
    return a, b


def test_report_files_escaping_and_plots(runs):
    a, b = runs
    paths = write_report(b)
    assert paths["md"].is_file() and paths["html"].is_file()
    assert {p.name for p in paths["plots"]} == {"accuracy_by_group.png", "latency.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths["plots"])
    html = paths["html"].read_text(encoding="utf-8")
    md = paths["md"].read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
    assert "<img src=x" not in md and "&lt;img" in md
    assert html.count("data:image/png;base64,") == 2  # self-contained
    assert "答案准确率" in md and "未通过的题目（1）" in md and "q1" in md
    assert "![accuracy_by_group](plots/accuracy_by_group.png)" in md


def test_rgb_report_has_published_numbers_and_noise_plot(tmp_path):
    rows = [_row(f"r{i}@noise={n:g}", i % 2 == 0, "12人", group=f"noise={n:g}", task="noise", noise=n,
                 scores={"accuracy": float(i % 2 == 0)}) for i, n in enumerate([0, 0.2, 0.4, 0.6, 0.8] * 2)]
    run = make_run(tmp_path / "rgb", rows, backend="llama_cpp", dataset="rgb_zh_dev")
    paths = write_report(run)
    assert "rgb_noise.png" in {p.name for p in paths["plots"]}
    md = paths["md"].read_text(encoding="utf-8")
    assert "RGB 噪声鲁棒性" in md and "95.67%" in md and "Qwen-7B-Chat（论文）" in md


def test_export_keeps_no_full_texts(runs, tmp_path):
    _, b = runs
    dest = export_run(b, tmp_path / "docs" / "toy", excerpt_chars=6)
    assert {p.name for p in dest.iterdir()} == {"metrics.json", "config.yaml", "report.md", "report.html", "plots"}
    md = (dest / "report.md").read_text(encoding="utf-8")
    assert "问题q1：青…" in md and "问题q1：青山县修了几座桥？" not in md


def test_compare_deltas_and_changed_items(runs):
    a, b = runs
    cmp = compare_runs(a, b)
    kinds = {c["id"]: c["kind"] for c in cmp["changed"]}
    assert kinds == {"q1": "regressed", "q2": "fixed"}
    assert cmp["answer_changed"] == ["q3"]
    assert cmp["only_a"] == ["q4"] and cmp["only_b"] == ["q5"]
    acc = next(m for m in cmp["metrics"] if m["name"] == "accuracy")
    assert acc["a"] == pytest.approx(2 / 3) and acc["b"] == pytest.approx(0.75)
    assert acc["delta"] == pytest.approx(0.75 - 2 / 3)
    text = format_comparison(cmp)
    assert "改对 1，改错 1" in text and "题目不完全相同" in text and "+8.3 点" in text
    assert "latency.total.p50" in flatten_metrics(json.loads((a / "metrics.json").read_text(encoding="utf-8")))


def test_compare_cli(runs, capsys):
    from rag.cli import main

    a, b = runs
    assert main(["eval", "compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "# 评测对比" in out and "q2" in out
    assert main(["eval", "compare", str(a)]) == 2
    assert main(["eval", "compare", str(a), str(a.parent / "nope")]) == 2  # clear error, no traceback
    assert "不是评测运行目录" in capsys.readouterr().err


def test_eval_tab_functions(runs, monkeypatch):
    from ui import eval_tab

    a, b = runs
    status, html = eval_tab.run_view(b)
    assert "通过率 75.0%" in status and "<img src=x" not in html and html.startswith('<div class="shanhai-eval-report">')
    assert [r[0] for r in eval_tab.item_rows(b, failures_only=True)] == ["q1"]
    assert len(eval_tab.item_rows(b)) == 4 and eval_tab.item_rows(None) == []
    md, passages = eval_tab.item_detail(b, "q1")
    assert "<img" not in md and "<img src=x" not in passages and "3座" in passages
    assert "找不到题目" in eval_tab.item_detail(b, "zzz")[0]
    cmp = eval_tab.compare_view(str(a), str(b))
    assert "改对 1，改错 1" in cmp and "<img" not in cmp
    assert eval_tab.compare_view(None, str(b)).startswith("请选择")


def test_eval_tab_lists_datasets_and_runs(eval_dir, runs):
    from rag.config import load_config
    from ui import eval_tab

    a, _ = runs
    cfg = load_config(overrides={"eval.datasets_dirs": [str(eval_dir), str(eval_dir / "external")],
                                 "eval.runs_dir": str(a.parent)})
    names = {label for label, _ in eval_tab.dataset_choices(cfg)}
    assert "seed_qa_dev.jsonl（seed）" in names and "rgb_zh_fact_dev.jsonl（rgb_fact）" in names
    assert not any("regions" in n for n in names)  # not a QA set
    assert {label for label, _ in eval_tab.run_choices(cfg)} == {"a", "b"}
