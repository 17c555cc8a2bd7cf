"""Region charts: the key figures' timeline and the comparison across regions (inline SVG).

Hand-built summaries check placement in time, panels per measure and unit, links, escaping and
the notes; the seed corpus checks the real 沿河 timeline, its peers and the UI helpers."""

from __future__ import annotations

import re
from datetime import date

import pytest

from rag import export_summary
from rag.summarize import FigureRow, RegionSummary, SummaryPassage
from rag.summarize.charts import figure_date, timeline_chart
from rag.summarize.compare import compare_points, comparison_chart, peer_regions, shared_measures

HOSTILE = "<script>alert(1)</script>资金"
CHECKS = {"sentences": 0, "cited_sentences": 0, "citations_valid": True, "invalid_citations": [],
          "ungrounded_numbers": [], "unsupported_sentences": [], "removed_sentences": [], "repaired_citations": 0,
          "coverage_added": 0, "conflicts_stated": 0, "facts": 0}


def _row(value: str, label: str, amount: float, unit: str, n: int, *, date_: str | None = "2020-08-19",
         period: str | None = None, source: str = "示例日报", kind: str = "money") -> FigureRow:
    return FigureRow(value, label, date_, period, source, f"doc{n}", f"doc{n}#0", f"{label}{value}。", kind, unit,
                     amount, n=n, label=label)


def _summary(region: str, rows: list[FigureRow], aliases: tuple[str, ...] = ()) -> RegionSummary:
    passages = [SummaryPassage(n, f"doc{n}", f"doc{n}#0", f"标题{n}", "示例日报", "2020-08-19",
                               "".join(r.sentence for r in rows if r.n == n), "".join(r.sentence for r in rows if r.n == n),
                               0, 10) for n in sorted({r.n for r in rows})]
    return RegionSummary(region, "县", [region, *aliases], None, [], [], rows, [], passages, CHECKS, "extractive",
                         {"total": 0.1})


def _timeline_summary() -> RegionSummary:
    return _summary("示例县", [
        _row("1704万元", "帮扶资金", 1.704e7, "元", 1, date_="2020-04-24"),
        _row("2385万元", "帮扶资金", 2.385e7, "元", 2),
        _row("3000万元", "帮扶资金", 3.0e7, "元", 3, date_="2021-05-01"),
        _row("13.13%", "贫困发生率", 13.13, "%", 2, period="2016年底", kind="percent"),
        _row("3.3%", "贫困发生率", 3.3, "%", 2, period="截至2019年底", kind="percent"),
        _row("6万人", "贫困人口", 6e4, "人", 2, period="2019年底", kind="count"),
        _row("2万人", "贫困人口", 2e4, "人", 1, period="2018年底", kind="count"),
        _row("1.8万户", "贫困人口", 1.8e4, "户", 2, period="2019年底", kind="count"),
        _row("1.7万户", "贫困人口", 1.7e4, "户", 1, period="2018年底", kind="count"),
        _row("5个", HOSTILE, 5, "个", 1, kind="count"),
        _row("7个", HOSTILE, 7, "个", 3, date_="2021-05-01", kind="count"),
        _row("30万元", "防疫资金", 3e5, "元", 3),  # one point: no panel
        _row("9万元", "无日期资金", 9e4, "元", 3, date_=None),  # no date at all: not drawn
    ])


def test_figure_date_places_points_in_time():
    assert figure_date(_row("1", "x", 1, "元", 1, period="截至2019年底")) == (date(2019, 12, 31), "period")
    assert figure_date(_row("1", "x", 1, "元", 1, period="2016年底")) == (date(2016, 12, 31), "period")
    assert figure_date(_row("1", "x", 1, "元", 1, period="2020年6月")) == (date(2020, 6, 30), "period")
    assert figure_date(_row("1", "x", 1, "元", 1, period="2019年上半年")) == (date(2019, 6, 30), "period")
    # running totals and "this year" are as of the article: its reporting date
    assert figure_date(_row("1", "x", 1, "元", 1, period="2017年以来")) == (date(2020, 8, 19), "date")
    assert figure_date(_row("1", "x", 1, "元", 1, period="今年（2020年）")) == (date(2020, 8, 19), "date")
    assert figure_date(_row("1", "x", 1, "元", 1)) == (date(2020, 8, 19), "date")
    assert figure_date(_row("1", "x", 1, "元", 1, date_=None)) == (None, "")


def test_timeline_panels_per_measure_and_unit_with_links():
    chart = timeline_chart(_timeline_summary())
    svg = chart.svg
    assert svg.startswith("<svg") and "<?xml" not in svg and "<style" not in svg
    # five panels: 帮扶资金 (元), 贫困发生率 (%), 贫困人口 in 人 and in 户 apart, the hostile label (个)
    assert len(re.findall(r'<g id="axes_\d+">', svg)) == 5
    series = {(p.series, p.unit) for p in chart.points}
    assert series == {("帮扶资金", "元"), ("贫困发生率", "%"), ("贫困人口", "人"), ("贫困人口", "户"), (HOSTILE, "个")}
    assert len(chart.points) == 11
    # every point is a link to its passage, with a tooltip naming value and source
    links = re.findall(r'<a href="#(p\d+)" class="shp-chart-link">', svg)
    assert len(links) == 11 and set(links) == {"p1", "p2", "p3"}
    assert "target=" not in svg
    assert len(re.findall(r'<g id="shp-pt-\d+"><title>', svg)) == 11
    assert "贫困发生率：3.3%（截至2019年底）" in svg
    # labels: value and source next to each point; money in 万元, people in 万人
    assert ">2385万元<" in svg or "2385万元" in svg
    assert ">万元<" in svg and ">万人<" in svg and ">%<" in svg
    assert ">示例日报<" in svg
    # text stays text (CJK font list), and article text is escaped
    assert "font-family: 'WenQuanYi Micro Hei', 'Noto Sans CJK SC'" in svg
    assert "<script" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;资金" in svg
    assert "1 个数字没有报道日期" in chart.note and "另有 1 个指标" in chart.note
    html = chart.html()
    assert html.startswith('<figure class="shp-chart">') and "<script" not in html


def test_timeline_anchor_and_panel_cap():
    chart = timeline_chart(_timeline_summary(), anchor=lambda n: f"shanhai-regions-p-{n}", max_panels=2)
    assert len(re.findall(r'<g id="axes_\d+">', chart.svg)) == 2
    assert {p.series for p in chart.points} == {"帮扶资金", "贫困发生率"}  # most distinct dates; table order
    assert re.findall(r'href="#(shanhai-regions-p-\d+)"', chart.svg)
    assert "超出 2 个图的上限" in chart.note


def test_timeline_empty_and_single_point_give_a_note():
    empty = timeline_chart(_summary("空县", []))
    assert empty.svg == "" and "没有带日期的关键数字" in empty.note
    assert 'class="shp-chart-note"' in empty.html()
    single = timeline_chart(_summary("单县", [_row("30万元", "防疫资金", 3e5, "元", 1),
                                               _row("5个", "项目", 5, "个", 1, kind="count")]))
    assert single.svg == "" and "每个指标都只有一个带日期的数字" in single.note
    undated = timeline_chart(_summary("无日期县", [_row("1万元", "资金", 1e4, "元", 1, date_=None)] * 2))
    assert undated.svg == "" and "2 个数字没有报道日期" in undated.note


def _peers() -> list[RegionSummary]:
    a = _summary("甲县", [_row("30万元", "帮扶资金", 3e5, "元", 1, date_="2019-01-01"),
                         _row("80万元", "财政帮扶资金", 8e5, "元", 2, date_="2020-06-01"),
                         _row("900万元", "乙区→丙村 帮扶资金", 9e6, "元", 3)])  # about 丙村, not 甲县
    b = _summary("<b>乙县</b>", [_row("500万元", "甲市→<b>乙县</b> 帮扶资金", 5e6, "元", 1)])
    c = _summary("丙县", [_row("12人", "帮扶资金", 12, "人", 1, kind="count")])  # another unit
    d = _summary("丁县", [_row("3个", "贫困县", 3, "个", 1, kind="count")])
    return [a, b, c, d]


def test_comparison_latest_value_per_region_and_links():
    a, b, c, d = _peers()
    assert shared_measures([a, b, c, d])[0] == ("帮扶资金", 3)
    points, note = compare_points([a, b, c, d], "帮扶资金")
    assert [(p.region, p.row.value) for p in points] == [("<b>乙县</b>", "500万元"), ("甲县", "80万元")]
    assert points[1].when == date(2020, 6, 1) and points[1].passage.n == 2 and points[1].support
    assert "丁县" in note and "单位不是“元”的地区（未画入）：丙县" in note
    chart = comparison_chart(points, "帮扶资金", highlight="甲县", note=note)
    svg = chart.svg
    assert re.findall(r'<a href="#(cmp\d+)" class="shp-chart-link">', svg) == ["cmp1", "cmp2"]
    assert len(re.findall(r'<g id="shp-bar-\d+"><title>', svg)) == 2
    assert "<b>" not in svg and "&lt;b&gt;乙县&lt;/b&gt;" in svg
    assert "#e8743b" in svg  # the highlighted region
    assert ">帮扶资金（万元）· 各地区最新的数字；点击条形查看原文段落<" in svg
    assert "<b>" not in chart.html()
    alone = comparison_chart(points[:1], "帮扶资金")
    assert alone.svg == "" and "至少需要两个地区" in alone.note


def test_html_and_markdown_exports_carry_the_timeline(tmp_path):
    s = _timeline_summary()
    html = export_summary(s, "html")
    assert "<h2>时间线</h2>" in html and '<a href="#p2" class="shp-chart-link">' in html
    assert "<script" not in html.replace("<script>", "")  # no script element at all
    out = tmp_path / "示例.md"
    md = export_summary(s, "md", out=out)
    svg = tmp_path / "示例.timeline.svg"
    assert svg.is_file() and "## 时间线" in md and "](<示例.timeline.svg>)" in md
    text = svg.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and re.search(r'<svg [^>]*width="[\d.]+pt" height="[\d.]+pt"', text)
    assert md.index("## 时间线") < md.index("## 关键数字")
    plain = export_summary(_summary("空县", []), "md", out=tmp_path / "empty.md")
    assert "没有带日期的关键数字" in plain and not (tmp_path / "empty.timeline.svg").exists()


def test_exports_carry_the_comparison_with_peers(tmp_path):
    a, b, c, d = _peers()
    html = export_summary(a, "html", peers=[b, c, d])
    assert "<h2>对比：帮扶资金</h2>" in html and re.findall(r'href="#(cmp\d)"', html) == ["cmp1", "cmp2"]
    assert '<li id="cmp2">甲县：<b>80万元</b>（财政帮扶资金）' in html and "<b>乙县</b>" not in html
    md = export_summary(a, "md", out=tmp_path / "a.md", peers=[b, c, d], measure="贫困县")
    assert "## 对比：贫困县" in md and "至少需要两个地区" in md and not (tmp_path / "a.compare.svg").exists()
    md = export_summary(a, "md", out=tmp_path / "a.md", peers=[b, c, d])
    assert "](<a.compare.svg>)" in md and (tmp_path / "a.compare.svg").is_file()
    assert "1. &lt;b&gt;乙县&lt;/b&gt;：**500万元** · 示例日报" in md and "<b>" not in md
    assert export_summary(a, "html", peers=[d]).count("没有共同的指标") == 1


# -- the seed corpus ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(seed_pipeline):
    from rag.regions import update_regions

    return update_regions(seed_pipeline.index, persist=False)


def test_yanhe_timeline_on_the_seed_corpus(seed_pipeline, store):
    from rag.summarize import summarize_region

    s = summarize_region(store, "沿河", seed_pipeline.index.get_doc, config=seed_pipeline.config)
    chart = timeline_chart(s)
    assert chart.svg and len(chart.points) >= 2
    anchors = {f"p{p.n}" for p in s.passages}
    links = re.findall(r'<a href="#(p\d+)"', chart.svg)
    assert len(links) == len(chart.points) and set(links) <= anchors
    by_n = {p.n: p for p in s.passages}
    for p in chart.points:  # each point's figure is in the passage it links to
        assert p.row.value in by_n[p.row.n].text
    # the donation totals of two reports (different dates) form one series
    donated = [p for p in chart.points if p.row.conflict is not None]
    assert len({p.when for p in donated}) == 2
    html = export_summary(s, "html")
    assert all(f'id="{a}"' in html for a in set(links))


def test_peers_and_comparison_on_the_seed_corpus(seed_pipeline, store, tmp_path):
    import shutil

    from rag.pipeline import Pipeline
    from ui import region_charts
    from ui.context import UIContext

    assert peer_regions(store, "沿河") == ["铜仁市"]  # 江苏省 pairs with both
    assert set(peer_regions(store, "和平区")) == {"富坪村", "靖远县"}  # a donor: its recipients
    shutil.copytree(seed_pipeline.index_dir, tmp_path / "index")
    config = seed_pipeline.config.with_overrides({"index_dir": str(tmp_path / "index")})
    ctx = UIContext(pipeline=Pipeline(config), config=config)
    s = ctx.pipeline.summarize("沿河县", backend="extractive")
    html, choices, term, session, names = region_charts.run_compare(ctx, s, {}, "peers", None)
    assert names == ["沿河县", "铜仁市"] and set(session) == set(names)
    assert term and term in [c[1] for c in choices] and "<svg" in html
    bars = re.findall(r'href="#(shanhai-regions-cmp-p-\d+)"', html)
    assert len(bars) == 2 and all(f'id="{b}"' in html for b in bars)  # each bar's passage card is there
    again = region_charts.rerender(session, names, term)
    assert re.findall(r'href="#(shanhai-regions-cmp-p-\d+)"', again) == bars
    html, _c, _t, _s, names = region_charts.run_compare(ctx, None, session, "peers", None)
    assert names == [] and "请先生成" in html


def test_cli_exports_charts_and_comparison(seed_pipeline, tmp_path, capsys):
    import shutil

    from rag.cli import main

    index = tmp_path / "index"
    shutil.copytree(seed_pipeline.index_dir, index)
    out = tmp_path / "yanhe.html"
    assert main(["summarize", "--region", "沿河", "--backend", "extractive", "--index", str(index), "--format", "html",
                 "--out", str(out), "--compare"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "<h2>时间线</h2>" in html and re.search(r'<a href="#p\d+" class="shp-chart-link">', html)
    assert "<h2>对比：" in html and 'href="#cmp1"' in html and 'id="cmp2"' in html and "铜仁市" in html
    md = tmp_path / "yanhe.md"
    assert main(["summarize", "--region", "沿河", "--backend", "extractive", "--index", str(index), "--out", str(md),
                 "--compare", "帮扶资金"]) == 0
    text = md.read_text(encoding="utf-8")
    assert "](<yanhe.timeline.svg>)" in text and "## 对比：帮扶资金" in text
    assert (tmp_path / "yanhe.timeline.svg").is_file() and (tmp_path / "yanhe.compare.svg").is_file()
    capsys.readouterr()
