"""Injected instructions through the served app: the OpenAI-compatible route, gradio_client and
the chat in headless Chromium, on the seed articles mixed with our hostile articles
(tests/data/injection). The headline question is answered from the real reporting, the
withheld articles are named with a visible warning, and no fake figure appears anywhere."""

from __future__ import annotations

import json
import re
import shutil
from types import SimpleNamespace

import pytest

from test_injection import FAKE, FUNDS_Q, _assert_real_answer
from test_ui_browser import CHROMIUM, FLAGS, _ask, _assert_only_local
from test_ui_server import start_app

pytestmark = pytest.mark.ui
WARNING = "含疑似指令文本，已按数据处理"
BACKENDS = ["extractive", pytest.param("llama_cpp", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def app(injected_pipeline, tmp_path_factory):
    from rag.pipeline import Pipeline

    root = tmp_path_factory.mktemp("ui-injection")
    shutil.copytree(injected_pipeline.index_dir, root / "index")
    config = injected_pipeline.config.with_overrides({"index_dir": str(root / "index")})
    pipe = Pipeline(config)
    _app, server, thread, url = start_app(pipe, config)
    yield SimpleNamespace(url=url, pipeline=pipe)
    server.should_exit = True
    thread.join(timeout=15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_openai_route_answers_from_the_real_article(app, backend):
    from openai import OpenAI

    oai = OpenAI(base_url=app.url + "v1", api_key="unused", max_retries=0, timeout=900)
    resp = oai.chat.completions.create(model=f"shanhai-{backend}", messages=[{"role": "user", "content": FUNDS_Q}])
    content = resp.choices[0].message.content
    _assert_real_answer(resp.model_extra["shanhai"])
    assert "1.1亿元" in content and not any(f in content for f in FAKE)
    chunks = list(oai.chat.completions.create(model=f"shanhai-{backend}", stream=True,
                                              messages=[{"role": "user", "content": FUNDS_Q}]))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "1.1亿元" in streamed and not any(f in streamed for f in FAKE)
    assert not any(f in json.dumps(c.model_dump(), ensure_ascii=False) for c in chunks for f in FAKE)


def test_gradio_client_ask_and_search_mark_flagged(app):
    from gradio_client import Client

    client = Client(app.url, verbose=False)
    _assert_real_answer(client.predict(FUNDS_Q, "extractive", 5, api_name="/ask"))
    hits = client.predict(FUNDS_Q, 8, api_name="/search")
    assert any(h["flagged"] for h in hits) and not any(h["flagged"] for h in hits if h["doc_id"].startswith("00"))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_chat_answers_from_the_real_article_and_warns(browser, app, backend):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.requests = []
    page.on("request", lambda r: page.requests.append(r.url))
    try:
        page.goto(app.url)
        page.locator("#shanhai-question textarea").wait_for()
        if backend != "llama_cpp":  # the app's configured default is llama_cpp
            page.locator("#shanhai-settings button.toggle-button").click()
            page.locator("#shanhai-backend input").click()
            page.get_by_role("option", name=re.compile("抽取式")).click()
            page.locator("#shanhai-settings button.toggle-button").click()
        _ask(page, FUNDS_Q, backend)
        chat = page.locator("#shanhai-chatbot")
        expect(chat).to_contain_text("1.1亿元")
        expect(chat).to_contain_text("2.5亿元")
        expect(chat).to_contain_text(WARNING)
        expect(page.locator("#shanhai-passages .shp-warnings")).to_contain_text(WARNING)
        assert page.locator("#shanhai-passages .shp-card").count() >= 1
        body = page.locator("body").inner_text()
        assert not any(f in body for f in FAKE), body
        _assert_only_local(page, app.url)
    finally:
        page.close()
