"""The Eval tab in headless Chromium: run a small set with progress, open a run's report, filter
failures, open an item, compare two runs; model/dataset markup never executes."""

from __future__ import annotations

import json
import socket

import pytest

from test_eval_report import EVIL, _row, make_run

pytestmark = pytest.mark.ui

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
         "--disable-sync", "--no-first-run", "--disable-extensions"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def eval_app(tmp_path_factory):
    """Only the Eval tab, with a hand-made RGB-format set (no index, extractive) and two old runs."""
    import gradio as gr
    from fastapi import FastAPI

    from rag.config import load_config
    from rag.pipeline import Pipeline
    from ui.app import build_blocks
    from ui.context import UIContext
    from ui.server import start_in_thread

    root = tmp_path_factory.mktemp("eval-ui")
    data = root / "sets"
    data.mkdir()
    record = {"id": "toy-1", "question": "星河县新修的水渠有多长？", "answers": ["12公里"],
              "answer_groups": [["12公里"]],
              "positive": [f"星河县今年新修水渠12公里，第{i}段已经通水。{EVIL}" for i in range(1, 6)],
              "negative": [f"邻县的道路工程进展顺利，第{i}期已完工。" for i in range(1, 6)]}
    (data / "toy_rgb.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    runs = root / "runs"
    make_run(runs / "run-a", [_row("q1", True, "修了3座桥[1]。"), _row("q2", False, "不清楚")])
    make_run(runs / "run-b", [_row("q1", False, "修了5座桥" + EVIL), _row("q2", True, "修了3座桥[1]。")])
    config = load_config(overrides={"index_dir": str(root / "index"), "eval.datasets_dirs": [str(data)],
                                    "eval.runs_dir": str(runs), "answer.backend": "extractive"})
    ctx = UIContext(pipeline=Pipeline(config), config=config)
    app = gr.mount_gradio_app(FastAPI(), build_blocks(ctx, tabs=[("评测", "ui.eval_tab")]), path="/",
                              ssr_mode=False)
    server, thread = start_in_thread(app, "127.0.0.1", port := _free_port())
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def page(eval_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(eval_app)
        pg.locator("#shanhai-eval-run").wait_for()
        yield pg
        browser.close()


def _choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.locator(f"#{elem_id}").get_by_role("option", name=option).click()


def _wait_rows(page, n: int) -> None:
    """The results table shows ``n`` items (the grid is virtualised: count via aria-rowcount)."""
    page.wait_for_function(
        f"() => document.querySelector('#shanhai-eval-items [role=grid]')?.getAttribute('aria-rowcount') == {n + 1}")


def test_run_a_set_and_browse_its_results(page):
    _choose(page, "shanhai-eval-dataset", "toy_rgb.jsonl（rgb）")
    page.locator("#shanhai-eval-run").click()
    page.get_by_text("运行目录").first.wait_for(timeout=180_000)
    report = page.locator("#shanhai-eval-report")
    report.get_by_text("RGB 噪声鲁棒性：不同噪声比例下的准确率").wait_for()
    assert "95.67%" in report.inner_text()  # published numbers next to ours
    assert report.locator("img").count() == 3  # accuracy by group, noise curve, latency
    page.get_by_label("只看未通过的题目").uncheck()  # all six items: 5 noise ratios + rejection
    _wait_rows(page, 6)
    page.locator("#shanhai-eval-items").get_by_text("toy-1@rejection").first.wait_for()
    assert page.evaluate("() => window.__xss") is None


def test_open_a_run_filter_failures_open_item_and_compare(page):
    _choose(page, "shanhai-eval-runs", "run-b")
    page.locator("#shanhai-eval-report").get_by_text("评测报告：toy · extractive").wait_for()
    _wait_rows(page, 2)
    page.get_by_label("只看未通过的题目").check()
    _wait_rows(page, 1)
    page.locator("#shanhai-eval-items").get_by_text("q1", exact=True).filter(visible=True).first.click()
    page.locator("#shanhai-eval-detail").get_by_text("修了5座桥").wait_for()
    page.locator("#shanhai-eval-passages").get_by_text("青山县今年修了3座桥").wait_for()
    page.get_by_text("对比两次运行").click()
    _choose(page, "shanhai-eval-compare-a", "run-a")
    _choose(page, "shanhai-eval-compare-b", "run-b")
    page.get_by_role("button", name="对比", exact=True).click()
    page.locator("#shanhai-eval-compare").get_by_text("改对 1，改错 1", exact=False).wait_for()
    assert page.evaluate("() => window.__xss") is None
