"""Screenshots of the Regions tab's charts (issue 17 item 3) for the docs.

Usage::

    python benchmarks/region_charts.py                  # seed index built in a temporary folder
    python benchmarks/region_charts.py --index DIR      # an existing index (a copy is used)

Starts the real app (extractive summaries, no LLM) on the seed corpus, drives Debian's Chromium
with Playwright through the Regions tab and writes two small PNGs:

* ``docs/img/region-timeline.png``: 沿河's key figures over time (a point was clicked: its
  passage card flashed);
* ``docs/img/region-compare.png``: the comparison of the regions summarised in the session
  (靖远县, 富坪村, 沿河县 and the recipients sharing 沿河's donors) on their most shared measure.

Also writes ``benchmarks/results/region_charts.json`` (points, bars, links, UI timings, and the
time to draw the timeline of every seed region with enough material).
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import SHARED, machine, write_result  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-extensions", "--disable-background-networking"]
IMG = ROOT / "docs" / "img"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _index(args: argparse.Namespace, tmp: Path) -> Path:
    from rag.config import load_config
    from rag.pipeline import Pipeline

    if args.index:
        shutil.copytree(Path(args.index).expanduser(), tmp / "index")
    else:
        Pipeline(load_config(overrides={"index_dir": str(tmp / "index")})).ingest([SHARED / "corpus" / "seeds"])
    return tmp / "index"


def summarize_in_tab(page, query: str) -> None:
    """Search ``query`` in the Regions tab, pick the extractive backend and summarise."""
    box = page.locator("#shanhai-region-query textarea, #shanhai-region-query input").first
    box.fill(query)
    box.press("Enter")
    page.wait_for_function(f"() => (document.querySelector('#shanhai-region-select input') || {{}}).value"
                           f"?.includes('{query}')", timeout=60_000)
    page.locator("#shanhai-region-backend input").click()
    page.locator("#shanhai-region-backend").get_by_role("option", name=re.compile("抽取式")).click()
    page.locator("#shanhai-region-run").click()
    page.wait_for_function(f"() => document.querySelector('#shanhai-region-summary h3')?.innerText.includes('{query}')",
                           timeout=180_000)
    page.wait_for_function("() => document.querySelector('#shanhai-region-timeline').innerText.length > 0 || "
                           "document.querySelector('#shanhai-region-timeline svg')", timeout=60_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", help="existing index folder (copied); default: the seed corpus, indexed now")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from rag.config import load_config
    from rag.pipeline import Pipeline
    from ui.app import create_app
    from ui.server import start_in_thread

    IMG.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="shanhai-charts-") as tmp:
        config = load_config(overrides={"index_dir": str(_index(args, Path(tmp)))})
        port = _free_port()
        server, thread = start_in_thread(create_app(Pipeline(config), config), "127.0.0.1", port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/")
                page.get_by_role("tab", name="地区摘要").click()
                t0 = time.perf_counter()
                for name in ("靖远", "富坪村", "沿河"):
                    summarize_in_tab(page, name)
                result["summaries_s"] = round(time.perf_counter() - t0, 2)
                timeline = page.locator("#shanhai-region-timeline")
                links = timeline.locator('a[href^="#shanhai-regions-p-"]')
                result["timeline_points"] = links.count()
                links.first.click()
                page.wait_for_function("() => window.__shanhaiLastCitation")
                result["clicked"] = page.evaluate("window.__shanhaiLastCitation")
                timeline.scroll_into_view_if_needed()
                timeline.screenshot(path=str(IMG / "region-timeline.png"))
                page.get_by_text("本次已生成摘要的地区").click()
                t1 = time.perf_counter()
                page.locator("#shanhai-region-compare-run").click()
                compare = page.locator("#shanhai-region-compare")
                bars = compare.locator('svg a[href^="#shanhai-regions-cmp-p-"]')
                bars.first.wait_for(timeout=120_000)
                page.wait_for_function("() => !document.querySelector('#shanhai-region-compare .pending')")
                result["compare_s"] = round(time.perf_counter() - t1, 2)
                result["compare_bars"] = bars.count()
                result["compare_measure"] = page.locator("#shanhai-region-measure input").input_value()
                bars.first.click()
                page.wait_for_function("() => (window.__shanhaiLastCitation || '').includes('cmp')")
                compare.scroll_into_view_if_needed()
                head = compare.locator(".shp-subhead").first.bounding_box()
                chart = compare.locator("figure.shp-chart").bounding_box()  # the chart only, not the cards
                page.screenshot(path=str(IMG / "region-compare.png"),
                                clip={"x": chart["x"], "y": head["y"], "width": chart["width"],
                                      "height": chart["y"] + chart["height"] - head["y"]})
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=15)
        result["render"] = _render_times(config)
    _shrink(IMG / "region-timeline.png", IMG / "region-compare.png")
    print(write_result("region_charts", result))
    print(result)
    return 0


def _render_times(config) -> dict:
    """CPU time to draw the timeline of every seed region with enough material (extractive summaries);
    CPU, not wall time: the 2 cores are shared and the wall clock measures the other jobs."""
    from rag.pipeline import Pipeline
    from rag.summarize import summarize_region
    from rag.summarize.charts import timeline_chart

    pipe = Pipeline(config)
    store = pipe.regions()
    times, regions = [], 0
    for region in store.summarizable():
        s = summarize_region(store, region.name, pipe.index.get_doc, config=config)
        regions += 1
        t0 = time.process_time()
        if timeline_chart(s).svg:
            times.append(time.process_time() - t0)
    times.sort()
    return {"regions": regions, "with_timeline": len(times),
            "cpu_median_ms": round(1000 * times[len(times) // 2]) if times else None,
            "cpu_max_ms": round(1000 * times[-1]) if times else None}


def _shrink(*paths: Path, width: int = 1100) -> None:
    """Palette PNGs no wider than ``width`` (small files for the repository)."""
    from PIL import Image

    for path in paths:
        img = Image.open(path).convert("RGB")
        if img.width > width:
            img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
        img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


if __name__ == "__main__":
    raise SystemExit(main())
