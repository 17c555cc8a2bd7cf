"""`summarize --all` on the seed corpus: progress bar with ETA, interrupted and resumed (done regions skipped)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

import rag.summarize.batch as batch
from rag.cli import main
from rag.summarize.checkpoint import SummaryCheckpoint, summary_checkpoint_path

_SUMMARIZE = batch.summarize


@pytest.fixture()
def index(seed_pipeline, tmp_path):
    path = tmp_path / "index"
    shutil.copytree(seed_pipeline.index_dir, path)  # the CLI writes the sidecar and the checkpoint
    return path


def _run(index, out, *extra) -> int:
    return main(["summarize", "--all", "--backend", "extractive", "--index", str(index), "--out", str(out), *extra])


def _counting(monkeypatch, stop_after: int | None = None) -> list[str]:
    """Record the regions actually summarised; raise Ctrl-C on call ``stop_after + 1``."""
    calls: list[str] = []

    def fake(pipe, name, **kw):
        if stop_after is not None and len(calls) == stop_after:
            raise KeyboardInterrupt
        calls.append(name)
        return _SUMMARIZE(pipe, name, **kw)

    monkeypatch.setattr(batch, "summarize", fake)
    return calls


def _untimed(path) -> str:
    return re.sub(r"用时 [\d.]+ 秒", "用时 … 秒", path.read_text(encoding="utf-8"))


def test_interrupted_run_resumes_and_matches_a_straight_run(index, tmp_path, monkeypatch, capsys):
    straight = tmp_path / "straight.md"
    assert _run(index, straight) == 0
    err = capsys.readouterr().err
    assert re.search(r"地区摘要: 100%.*\d+/\d+ \[\d\d:\d\d<\d\d:\d\d", err), err  # bar with elapsed<ETA
    assert not summary_checkpoint_path(index, "extractive").exists()  # removed once written
    total = straight.read_text(encoding="utf-8").count(" · 地区摘要")

    out = tmp_path / "all.md"
    first = _counting(monkeypatch, stop_after=2)
    assert _run(index, out) == 130
    assert "已中断：2 个地区已保存" in capsys.readouterr().err and not out.exists()
    ckpt = summary_checkpoint_path(index, "extractive")
    with open(ckpt, "a", encoding="utf-8") as fh:
        fh.write('{"region": "cut short by a kil')  # a SIGKILL mid-write

    second = _counting(monkeypatch)
    assert _run(index, out) == 0
    err = capsys.readouterr().err
    assert "2 个地区已完成，跳过" in err and re.search(rf"\b{total}/{total} \[", err)
    assert not set(first) & set(second) and len(first) + len(second) == total
    assert _untimed(out) == _untimed(straight)
    assert not ckpt.exists()


def test_checkpoint_of_another_job_is_started_over(tmp_path):
    path = tmp_path / "c.jsonl"
    a = SummaryCheckpoint(path, {"backend": "extractive"}, ["甲", "乙"])
    a.add_summary("甲", "# 甲", {"region": "甲"})
    a.add_skipped("乙", "无")
    a.close()

    def done(key: dict, names: list[str]) -> set[str]:
        c = SummaryCheckpoint(path, key, names)
        c.close()
        return set(c.done)

    assert done({"backend": "extractive"}, ["甲", "乙"]) == {"甲", "乙"}
    assert done({"backend": "llama_cpp"}, ["甲", "乙"]) == set()  # another backend
    assert done({"backend": "llama_cpp"}, ["甲"]) == set()  # other regions
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 1 and lines[0]["key"] == {"backend": "llama_cpp"}
