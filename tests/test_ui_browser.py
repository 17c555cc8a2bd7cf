"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): the real
app on the seed corpus, the real local model answering, an uploaded article with markup that
must not run. Screenshots go to docs/."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.ui

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
         "--disable-sync", "--no-first-run", "--disable-extensions"]
FUNDS_Q = "张家港向沿河投入多少资金？"
# Our own fictional article; its title and body carry markup that must stay text.
XSS_ARTICLE = """<img src=x onerror="window.__xss3=1">星河县水渠简报
山城测试日报 2023年5月6日

<script>window.__xss=1</script>虚构的星河县今年开展了水渠修缮工程<img src=x onerror="window.__xss2=1">，县里一共投入修缮资金3721万元，惠及农户4408户。
这篇短文是为界面测试编写的，内容纯属虚构。![pixel](http://example.invalid/pixel.png)
"""
XSS_Q = "星河县水渠修缮工程投入了多少资金？"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(seed_pipeline, tmp_path_factory):
    """The app (configured default backend: llama_cpp) on a private copy of the seed index."""
    from rag.pipeline import Pipeline
    from ui.app import create_app
    from ui.server import start_in_thread

    root = tmp_path_factory.mktemp("ui-browser")
    shutil.copytree(seed_pipeline.index_dir, root / "index")
    config = seed_pipeline.config.with_overrides({"index_dir": str(root / "index")})
    server, thread = start_in_thread(create_app(Pipeline(config), config), "127.0.0.1", port := _free_port())
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", backend=str(config.get("answer.backend")))
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app, request):
    """A fresh page on the app; ``page.requests`` logs every URL it asked for."""
    height = getattr(request, "param", 900)
    pg = browser.new_page(viewport={"width": 1400, "height": height})
    pg.requests = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.goto(app.url)
    pg.locator("#shanhai-question textarea").wait_for()
    yield pg
    pg.close()


def _assert_only_local(page, app_url: str) -> None:
    hosts = {re.match(r"^[a-z]+://([^/]+)", u).group(1) for u in page.requests if re.match(r"^[a-z]+://", u)}
    assert hosts == {app_url.split("/")[2]}, hosts


def _ask(page, question: str, backend_label: str) -> None:
    page.evaluate("""() => {
        window.__sawCursor = false;
        const root = document.querySelector('#shanhai-chatbot');
        new MutationObserver(() => { if (root.innerText.includes('▌')) window.__sawCursor = true; })
            .observe(root, {subtree: true, childList: true, characterData: true});
    }""")
    box = page.locator("#shanhai-question textarea")
    box.fill(question)
    box.press("Enter")
    # the footnote "后端 <name> · …" is written with the final, verified answer
    page.wait_for_function(f"() => document.querySelector('#shanhai-chatbot').innerText.includes('后端 {backend_label}')",
                           timeout=300_000)


@pytest.mark.slow
@pytest.mark.parametrize("page", [650], indirect=True)  # short window: the passage panel scrolls
def test_chat_streams_a_cited_answer_and_links_to_passages(page, app):
    from playwright.sync_api import expect

    _ask(page, FUNDS_Q, app.backend)
    assert page.evaluate("window.__sawCursor"), "the answer was not streamed"
    links = page.locator('#shanhai-chatbot a[href^="#shanhai-chat-p-"]')
    assert links.count() >= 1, "no [n] link in the answer: " + page.locator("#shanhai-chatbot").inner_text()
    assert re.search(r"\[\d+\]", links.first.inner_text())
    assert page.locator("#shanhai-passages .shp-card").count() >= 1
    assert page.locator("#shanhai-passages .shp-card.shp-cited").count() >= 1
    target = page.locator(links.first.get_attribute("href"))
    page.evaluate("() => { document.querySelector('#shanhai-passages').scrollTop = 1e6; }")
    expect(target).not_to_be_in_viewport()
    links.first.click()
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile("shp-flash"))
    page.set_viewport_size({"width": 1400, "height": 960})
    page.evaluate("() => window.scrollTo(0, 0)")
    links.first.click()
    expect(target).to_have_class(re.compile("shp-flash"))
    page.screenshot(path=str(ROOT / "docs" / "screenshot-chat.png"))
    page.get_by_text("原文字形").click()
    expect(page.locator("#shanhai-passages .shp-passages")).to_have_attribute("data-script", "original")
    _assert_only_local(page, app.url)


def test_uploaded_markup_never_executes(page, app, tmp_path):
    from playwright.sync_api import expect

    article = tmp_path / "xss_probe.txt"
    article.write_text(XSS_ARTICLE, encoding="utf-8")
    page.get_by_role("tab", name="文档库").click()
    page.locator("#shanhai-upload input[type=file]").set_input_files(str(article))
    expect(page.locator("#shanhai-upload-status textarea")).to_have_value(re.compile("导入完成"), timeout=120_000)
    page.locator("#shanhai-doc-table").get_by_text("xss_probe").first.click()
    expect(page.locator("#shanhai-doc-cleaned textarea")).to_have_value(re.compile("<script>window.__xss=1</script>"))
    expect(page.locator("#shanhai-doc-raw textarea")).to_have_value(re.compile("onerror"))
    expect(page.locator("#shanhai-doc-meta")).to_contain_text("<img src=x")
    page.screenshot(path=str(ROOT / "docs" / "screenshot-library.png"), full_page=True)

    page.get_by_role("tab", name="问答").click()
    page.locator("#shanhai-settings button.toggle-button").click()
    page.locator("#shanhai-backend input").click()
    page.get_by_role("option", name=re.compile("抽取式")).click()
    page.locator("#shanhai-settings button.toggle-button").click()
    _ask(page, XSS_Q, "extractive")
    panel = page.locator("#shanhai-passages")
    expect(panel).to_contain_text("<script>window.__xss=1</script>")
    expect(panel).to_contain_text("3721万元")
    expect(page.locator("#shanhai-chatbot")).to_contain_text("3721万元")
    assert page.evaluate("[window.__xss, window.__xss2, window.__xss3]") == [None, None, None]
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert page.evaluate("[...document.scripts].some(s => s.textContent.includes('__xss'))") is False
    _assert_only_local(page, app.url)


def _summarize_in_regions_tab(page, query: str) -> None:
    """Open the Regions tab, pick the region matching ``query``, summarise it with the extractive backend."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="地区摘要").click()
    page.locator("#shanhai-region-query textarea, #shanhai-region-query input").first.fill(query)
    page.locator("#shanhai-region-query textarea, #shanhai-region-query input").first.press("Enter")
    expect(page.locator("#shanhai-region-select input")).to_have_value(re.compile(query), timeout=60_000)
    page.locator("#shanhai-region-backend input").click()
    page.locator("#shanhai-region-backend").get_by_role("option", name=re.compile("抽取式")).click()
    page.locator("#shanhai-region-run").click()
    expect(page.locator("#shanhai-region-summary h3")).to_contain_text(query, timeout=180_000)


def test_region_summary_tab_shows_cited_summary_and_conflicting_figures(page, app):
    """Pick 沿河 by its Traditional alias, summarise (extractive), see [n] links and both totals."""
    from playwright.sync_api import expect

    _summarize_in_regions_tab(page, "沿河")
    figures = page.locator("#shanhai-region-figures")
    expect(figures).to_contain_text("2385万元", timeout=180_000)
    expect(figures).to_contain_text("1704万元")
    summary = page.locator("#shanhai-region-summary")
    assert re.search(r"\[\d+\]", summary.inner_text()), summary.inner_text()
    assert page.locator("#shanhai-region-passages .shp-card").count() >= 1
    page.screenshot(path=str(ROOT / "docs" / "screenshot-regions.png"))
    _assert_only_local(page, app.url)


def test_region_charts_link_points_and_bars_to_their_passages(page, app):
    """沿河's timeline is an inline SVG whose points are links: clicking one scrolls its passage card
    into view and flashes it; the comparison with the region sharing 沿河's donor does the same for bars."""
    from playwright.sync_api import expect

    _summarize_in_regions_tab(page, "沿河")
    points = page.locator('#shanhai-region-timeline svg a[href^="#shanhai-regions-p-"]')
    expect(points.first).to_be_attached(timeout=60_000)
    assert points.count() >= 2
    assert page.locator("#shanhai-region-timeline svg g[id^=shp-pt-] > title").count() == points.count()
    hrefs = [points.nth(i).get_attribute("href") for i in range(points.count())]
    far = max(range(len(hrefs)), key=lambda i: int(hrefs[i].rsplit("-", 1)[1]))  # the card lowest in the panel
    target = page.locator(hrefs[far])
    expect(target).to_have_count(1)  # every point links to a passage card of the panel
    page.locator("#shanhai-region-timeline svg").scroll_into_view_if_needed()
    expect(target).not_to_be_in_viewport()
    points.nth(far).click()
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile("shp-flash"))
    assert page.evaluate("window.__shanhaiLastCitation") == hrefs[far][1:]

    page.locator("#shanhai-region-compare-run").click()  # default scope: other recipients of 沿河's donors
    bars = page.locator('#shanhai-region-compare svg a[href^="#shanhai-regions-cmp-p-"]')
    expect(bars.first).to_be_attached(timeout=120_000)
    expect(page.locator("#shanhai-region-compare")).to_contain_text("铜仁市")
    assert bars.count() == 2
    expect(page.locator("#shanhai-region-measure input")).to_have_value(re.compile("个地区"))
    card = page.locator(bars.last.get_attribute("href"))
    bars.last.click()
    expect(card).to_be_in_viewport()
    expect(card).to_have_class(re.compile("shp-flash"))
    _assert_only_local(page, app.url)
