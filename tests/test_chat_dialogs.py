"""Multi-turn dialogues on the real seed corpus (real e5, FAISS/BM25 index, region gazetteer built
from the five seed articles): a follow-up becomes the complete question that keeps the previous
question's predicate, and that question is answered exactly as when it is asked directly."""

from __future__ import annotations

import re
import shutil

import pytest

FUNDS = "张家港向沿河投入多少资金？"
PARTNER = "靖远县的东西部扶贫协作单位是哪里？"
FIGURE_RE = re.compile(r"\d+(?:\.\d+)?(?:万|亿)?元")


@pytest.fixture(scope="module")
def pipe(seed_pipeline, tmp_path_factory):
    """A pipeline on a private copy of the seed index (the gazetteer writes its sidecar there)."""
    from rag.pipeline import Pipeline

    root = tmp_path_factory.mktemp("dialogs")
    shutil.copytree(seed_pipeline.index_dir, root / "index")
    return Pipeline(seed_pipeline.config.with_overrides({"index_dir": str(root / "index")}))


def run(pipe, turns: list[str], backend: str = "extractive"):
    """Ask ``turns`` in order as the chat does: each follow-up is rewritten against the earlier
    (standalone question, answer) turns; returns the last (standalone question, answer)."""
    history: list[tuple[str, str]] = []
    out = None
    for q in turns:
        standalone = pipe.standalone_question(q, history)
        answer = pipe.ask(standalone, backend=backend)
        history.append((standalone, answer.answer))
        out = (standalone, answer)
    return out


def cited(answer) -> list[str]:
    return [c.chunk_id for c in answer.citations]


@pytest.mark.parametrize("turns,expected", [
    ([FUNDS, "那天津市和平区对靖远县呢？"], "天津市和平区向靖远县投入多少资金？"),   # both places swapped
    ([FUNDS, "那苏州呢？"], "苏州向沿河投入多少资金？"),      # the gazetteer pairs 苏州市 → 沿河县: the donor slot
    ([FUNDS, "那天津市和平区呢？"], "天津市和平区投入多少资金？"),  # a donor not paired with 沿河: 向沿河 goes
    ([FUNDS, "那对靖远县呢？"], "张家港向靖远县投入多少资金？"),    # only the recipient, marked by 对
    ([FUNDS, "那2019年呢？"], "2019年张家港向沿河投入多少资金？"),
    ([FUNDS, "这个县的贫困发生率下降到了多少？"], "沿河的贫困发生率下降到了多少？"),  # 沿河 is a 县 in the gazetteer
    ([PARTNER, "它向靖远县投入了多少资金？"], "天津市和平区向靖远县投入了多少资金？"),  # 它 = the place answered
    ([PARTNER, "该县已累计建立了多少对结对帮扶关系？"], "靖远县已累计建立了多少对结对帮扶关系？"),
])
def test_follow_up_becomes_the_complete_question_and_is_answered_like_it(pipe, turns, expected):
    standalone, answer = run(pipe, turns)
    assert standalone == expected
    direct = pipe.ask(expected, backend="extractive")
    assert answer.answer == direct.answer
    assert cited(answer) == cited(direct)
    assert answer.refused == direct.refused


def test_the_pair_swap_is_answered_with_that_pairs_funds(pipe):
    standalone, answer = run(pipe, [FUNDS, "那天津市和平区对靖远县呢？"])
    assert not answer.refused
    assert FIGURE_RE.findall(answer.answer)[0] == "5200万元"  # the pair's funds come first
    assert "30万元" not in answer.answer  # not the unrelated donation the old rewrite found
    first = answer.citations[0]
    assert "5200" in first.text and first.doc_id.startswith("001_")


def test_pronoun_follow_ups_answer_about_the_place_they_stand_for(pipe):
    _q, answer = run(pipe, [PARTNER, "该县已累计建立了多少对结对帮扶关系？"])
    assert "174" in answer.answer
    _q, answer = run(pipe, [PARTNER, "它向靖远县投入了多少资金？"])
    assert "5200万元" in answer.answer


def test_a_chain_of_follow_ups_resolves_turn_by_turn(pipe):
    standalone, answer = run(pipe, [PARTNER, "它向靖远县投入了多少资金？", "那对沿河呢？"])
    assert standalone == "天津市和平区向沿河投入了多少资金？"
    assert answer.refused  # the articles state no such funds: refused, not a figure of another pair


def test_cli_ask_with_previous_questions_shows_the_rewrite(pipe, capsys):
    import json

    from rag.cli import main

    code = main(["ask", "那天津市和平区对靖远县呢？", "--previous", FUNDS, "--index", str(pipe.index_dir),
                 "--backend", "extractive", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["rewritten_question"] == "天津市和平区向靖远县投入多少资金？"
    assert "5200万元" in out["answer"]
    assert main(["ask", "那天津市和平区对靖远县呢？", "--previous", FUNDS, "--index", str(pipe.index_dir),
                 "--backend", "extractive"]) == 0
    assert "已理解为：天津市和平区向靖远县投入多少资金？" in capsys.readouterr().out


@pytest.mark.slow
def test_llama_cpp_answers_the_rewritten_follow_up_like_the_direct_question(pipe):
    first = pipe.ask(FUNDS, backend="extractive")
    standalone = pipe.standalone_question("那天津市和平区对靖远县呢？", [(FUNDS, first.answer)])
    assert standalone == "天津市和平区向靖远县投入多少资金？"
    via_chat = pipe.ask(standalone, backend="llama_cpp")
    direct = pipe.ask("天津市和平区向靖远县投入多少资金？", backend="llama_cpp")
    assert via_chat.timings["llm_calls"] >= 1
    assert "5200万元" in via_chat.answer and "5200万元" in direct.answer
    assert set(FIGURE_RE.findall(via_chat.answer)) == set(FIGURE_RE.findall(direct.answer))
    assert cited(via_chat) == cited(direct)


def test_a_large_index_rewrites_at_once_while_its_gazetteer_is_built_in_the_background(seed_pipeline, tmp_path,
                                                                                       monkeypatch):
    import time

    import rag.pipeline as pipeline_module
    from rag.pipeline import Pipeline

    shutil.copytree(seed_pipeline.index_dir, tmp_path / "index")
    (tmp_path / "index" / "regions.json").unlink(missing_ok=True)
    fresh = Pipeline(seed_pipeline.config.with_overrides({"index_dir": str(tmp_path / "index")}))
    monkeypatch.setattr(pipeline_module, "SYNC_REGIONS_DOCS", 0)  # as if the index were large
    assert fresh.regions(wait=False) is None  # no gazetteer yet: the rules go on without it
    assert fresh.standalone_question("那天津市和平区对靖远县呢？", [(FUNDS, "")]) == "天津市和平区向靖远县投入多少资金？"
    deadline = time.monotonic() + 60
    while fresh.regions(wait=False) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    store = fresh.regions(wait=False)
    assert store is not None and store.find("沿河县") is not None
    assert (tmp_path / "index" / "regions.json").is_file()
    assert fresh.standalone_question("那苏州呢？", [(FUNDS, "")]) == "苏州向沿河投入多少资金？"
