"""Region summary export (`shanhai summarize --format csv|json|md|html`): columns, citations, escaping."""

from __future__ import annotations

import csv
import io
import json

import pytest

from rag import export_summary
from rag.regions import update_regions
from rag.summarize import FigureRow, RegionSummary, SummaryPassage, SummarySentence, summarize_region
from rag.summarize.export import FIGURE_COLUMNS, summary_json

# A hand-built document: the figure sentence, then a hostile sentence with markup.
DOC_TEXT = "示例县位于山区。截至2019年底，示例县累计投入帮扶资金2385万元。<script>alert(1)</script>请忽略。"
CHECKS = {"sentences": 2, "cited_sentences": 2, "citations_valid": True, "invalid_citations": [],
          "ungrounded_numbers": [], "unsupported_sentences": [], "removed_sentences": [], "repaired_citations": 0,
          "coverage_added": 0, "conflicts_stated": 0, "facts": 2}
SENT = "截至2019年底，示例县累计投入帮扶资金2385万元。"
S0 = DOC_TEXT.index(SENT)
E0 = S0 + len(SENT)


def _summary() -> RegionSummary:
    rows = [FigureRow("2385万元", "示例县累计投入帮扶资金", "2020-08-19", "截至2019年底", "示例日报", "doc_a", "doc_a#0",
                      SENT, "money", "元", 23850000.0, n=1, conflict=1, also_in=["doc_b", "doc_c"], start=S0, end=E0),
            FigureRow("75%", "覆盖率<b>", None, None, "", "doc_a", "doc_a#0", "覆盖率<b>75%", "percent", "%", 75.0,
                      n=1)]
    passage = SummaryPassage(1, "doc_a", "doc_a#0", "标题<script>x</script>", "示例日报", "2020-08-19", DOC_TEXT,
                             DOC_TEXT, 0, len(DOC_TEXT))
    sents = [SummarySentence("示例县投入2385万元。", "示例县投入2385万元[1]。", [1], 0, "extractive"),
             SummarySentence("<script>alert(1)</script>", "<script>alert(1)</script>[1]", [1], 1, "extractive")]
    return RegionSummary("示例县", "县", ["示例县", "示例"], None, [], sents, rows, [], [passage], CHECKS, "extractive",
                         {"total": 0.1})


def test_csv_columns_citations_and_bom(tmp_path):
    s = _summary()
    out = tmp_path / "sub" / "x.csv"
    text = export_summary(s, "csv", out=out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and not text.startswith("\ufeff")
    assert not list(out.parent.glob(".*.tmp"))  # atomic: no temporary file left
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    assert tuple(rows[0]) == FIGURE_COLUMNS
    a, b = rows
    assert a["value"] == "2385万元" and a["measure"] == "示例县累计投入帮扶资金" and a["unit"] == "元"
    assert a["period"] == "截至2019年底" and a["date"] == "2020-08-19" and a["source"] == "示例日报"
    assert a["conflict_group"] == "1" and a["also_in"] == "doc_b;doc_c"
    assert (a["doc_id"], a["chunk_id"]) == ("doc_a", "doc_a#0")
    span = DOC_TEXT[int(a["start"]):int(a["end"])]
    assert span == a["sentence"] == SENT and a["value"] in span
    assert b["period"] == "" and b["date"] == "" and b["conflict_group"] == "" and b["measure"] == "覆盖率<b>"


def test_json_figures_and_sentence_citations():
    s = _summary()
    data = json.loads(export_summary(s, "json"))
    assert data["region"] == "示例县" and data["generated_at"] and data["dates"] == {"first": "2020-08-19",
                                                                                      "last": "2020-08-19"}
    assert list(data)[:3] == ["region", "generated_at", "dates"]
    assert [list(f) for f in data["figures"]] == [list(FIGURE_COLUMNS)] * 2
    f = data["figures"][0]
    assert DOC_TEXT[f["start"]:f["end"]] == SENT and f["also_in"] == ["doc_b", "doc_c"] and f["conflict_group"] == 1
    cite = data["sentences"][0]["citations"][0]
    assert cite["n"] == 1 and cite["doc_id"] == "doc_a" and cite["chunk_id"] == "doc_a#0"
    assert DOC_TEXT[cite["start"]:cite["end"]] == DOC_TEXT
    assert data["passages"] and data["checks"] == CHECKS and data["backend"] == "extractive"
    assert summary_json(s, generated_at="2024-01-01T00:00:00+00:00")["generated_at"].startswith("2024")


def test_html_escapes_article_text_and_shows_citations(tmp_path):
    s = _summary()
    out = tmp_path / "x.html"
    page = export_summary(s, "html", out=out)
    assert out.read_text(encoding="utf-8") == page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "覆盖率<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "覆盖率&lt;b&gt;" in page
    assert '<a class="cite" href="#p1" title="doc_a">[1]</a>' in page and '<code>doc_a</code>' in page
    assert 'id="p1"' in page and "2385万元" in page and '<tr class="conflict">' in page


def test_md_is_the_markdown_page_and_unknown_format_fails():
    s = _summary()
    from rag.summarize import render_markdown

    assert export_summary(s) == export_summary(s, "md") == render_markdown(s)
    with pytest.raises(ValueError):
        export_summary(s, "xlsx")


# -- real seed corpus, extractive backend ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def yanhe(seed_pipeline):
    store = update_regions(seed_pipeline.index, persist=False)
    return summarize_region(store, "沿河", seed_pipeline.index.get_doc, config=seed_pipeline.config)


def test_yanhe_figure_spans_contain_their_values(seed_pipeline, yanhe):
    rows = list(csv.DictReader(io.StringIO(export_summary(yanhe, "csv"))))
    assert len(rows) == len(yanhe.figures) >= 10
    for row in rows:
        doc = seed_pipeline.index.get_doc(row["doc_id"])
        span = doc.text[int(row["start"]):int(row["end"])]
        assert span == row["sentence"] and row["value"] in span, row
        assert seed_pipeline.index.get_chunk(row["chunk_id"]) is not None
    assert any(r["conflict_group"] for r in rows)


def test_cli_format_csv_and_html(seed_pipeline, tmp_path, capsys):
    import shutil

    from rag.cli import main

    index = tmp_path / "index"
    shutil.copytree(seed_pipeline.index_dir, index)  # the CLI writes the sidecar: use a copy
    out = tmp_path / "yanhe.csv"
    assert main(["summarize", "--region", "沿河", "--backend", "extractive", "--index", str(index),
                 "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    assert rows and tuple(rows[0]) == FIGURE_COLUMNS
    capsys.readouterr()
    assert main(["summarize", "--region", "沿河", "--backend", "extractive", "--index", str(index),
                 "--format", "html"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
    assert main(["summarize", "--all", "--format", "html", "--index", str(index)]) == 2
    assert "--all 不支持 html" in capsys.readouterr().err
    every = tmp_path / "all.csv"
    assert main(["summarize", "--all", "--backend", "extractive", "--format", "csv", "--index", str(index),
                 "--out", str(every)]) == 0
    table = list(csv.DictReader(io.StringIO(every.read_text(encoding="utf-8-sig"), newline="")))
    assert tuple(table[0]) == ("region", *FIGURE_COLUMNS)
    regions = {r["region"] for r in table}
    assert {"沿河县", "靖远县"} <= regions  # one table for every region, each row naming its region
    own = [r for r in table if r["region"] == "沿河县"]
    assert [r["value"] for r in own] == [r["value"] for r in rows]  # the same rows, in the same order, as --region
    assert all(r["doc_id"] and r["end"] for r in table)
