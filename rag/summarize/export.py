"""Export a region summary: Markdown, CSV, JSON or a standalone HTML page (`shanhai summarize --format`).

Every format carries the key-figures table with one citation per row: ``doc_id``, ``chunk_id`` and
``start``/``end``, the character span of the figure's sentence in the document text (so
``doc.text[start:end]`` contains ``value``). CSV is UTF-8 with a BOM (Excel reads Chinese then);
HTML escapes every piece of article text and model output with :func:`rag.text.escape.esc`.

Charts (:mod:`rag.summarize.charts`): the HTML page embeds the timeline of the key figures as inline
SVG whose points link to the passages (``#p<n>``); Markdown written to a file (``out``) gets the
same SVG next to it (``<name>.timeline.svg``, linked as an image: its links work only when the SVG
is opened on its own). Markdown on stdout and CSV/JSON carry no chart. Given ``peers`` (summaries
of other regions, e.g. those sharing a donor), HTML and Markdown files also get the comparison on
one measure (:mod:`rag.summarize.compare`): the bar chart (``<name>.compare.svg`` for Markdown)
and one cited line per bar (``#cmp<k>`` in HTML).

>>> from rag import export_summary
>>> export_summary(summary, "csv", out="沿河.csv")
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from rag.summarize.charts import Chart, timeline_chart
from rag.summarize.compare import compare_points, comparison_chart, label_core, shared_measures
from rag.summarize.figures import FigureRow
from rag.summarize.labels import group_rows
from rag.summarize.render import md_escape, render_markdown
from rag.summarize.summary import RegionSummary
from rag.text.citations import CITATION_MARKERS_RE, parse_markers
from rag.text.escape import esc

__all__ = ["FORMATS", "FIGURE_COLUMNS", "figure_records", "all_figures_csv", "sentence_records", "summary_csv", "summary_json",
           "summary_html", "export_text", "export_summary", "write_atomic", "timeline_file", "comparison_file",
           "comparison"]

FORMATS = ("md", "csv", "json", "html")
# The key-figures columns of CSV (and the keys of JSON's "figures"), in order.
FIGURE_COLUMNS = ("n", "label", "measure", "value", "unit", "kind", "period", "date", "source", "conflict_group",
                  "also_in", "doc_id", "chunk_id", "start", "end", "sentence")


def figure_records(s: RegionSummary) -> list[dict[str, Any]]:
    """The key-figures table as plain records (keys :data:`FIGURE_COLUMNS`), rows of one measure
    together (:func:`group_rows`); ``n`` is the passage number, ``label`` the whole-word label shown,
    ``measure`` the raw phrase conflicts are decided on."""
    return _records(s.figures)


def _records(rows: Sequence[FigureRow]) -> list[dict[str, Any]]:
    return [{"n": r.n, "label": r.label, "measure": r.measure, "value": r.value, "unit": r.unit, "kind": r.kind,
             "period": r.period, "date": r.date, "source": r.source, "conflict_group": r.conflict,
             "also_in": list(r.also_in), "doc_id": r.doc_id, "chunk_id": r.chunk_id, "start": r.start,
             "end": r.end, "sentence": r.sentence} for r in group_rows(rows)]


def all_figures_csv(summaries: Sequence[dict[str, Any]]) -> str:
    """One key-figures table for many regions (``summarize --all --format csv``): a ``region`` column
    and then :data:`FIGURE_COLUMNS`, each region's rows grouped by measure as in :func:`summary_csv`.

    Args:
        summaries: :meth:`RegionSummary.to_json` dicts (what ``summarize --all`` checkpoints).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(("region", *FIGURE_COLUMNS))
    for data in summaries:
        rows = [FigureRow(**f) for f in data.get("figures", [])]
        for rec in _records(rows):
            writer.writerow([data["region"], *(_csv_cell(rec[c]) for c in FIGURE_COLUMNS)])
    return buf.getvalue()


def sentence_records(s: RegionSummary) -> list[dict[str, Any]]:
    """The summary sentences, each with its citations resolved to passages (document span of the chunk)."""
    by_n = {p.n: p for p in s.passages}
    out = []
    for sent in s.sentences:
        cites = [{"n": n, "doc_id": p.doc_id, "chunk_id": p.chunk_id, "start": p.start, "end": p.end,
                  "title": p.title, "source": p.source, "date": p.date}
                 for n in sent.citations if (p := by_n.get(n)) is not None]
        out.append({"paragraph": sent.paragraph, "text": sent.text, "marked": sent.marked, "origin": sent.origin,
                    "citations": cites})
    return out


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return ";".join(value) if isinstance(value, list) else value


def summary_csv(s: RegionSummary) -> str:
    """The key-figures table as CSV text (header row of :data:`FIGURE_COLUMNS`; no BOM, see :func:`write_atomic`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(FIGURE_COLUMNS)
    for rec in figure_records(s):
        writer.writerow([_csv_cell(rec[c]) for c in FIGURE_COLUMNS])
    return buf.getvalue()


def summary_json(s: RegionSummary, *, generated_at: str | None = None) -> dict[str, Any]:
    """The summary as one JSON object: ``region``, ``generated_at``, ``dates`` (first/last article
    date cited), ``figures`` (:func:`figure_records`), ``sentences`` (:func:`sentence_records`), and
    the rest of :meth:`RegionSummary.to_json` (aliases, pairs, conflicts, passages, checks …)."""
    dates = sorted(p.date for p in s.passages if p.date)
    data = s.to_json()
    head = {"region": s.region,
            "generated_at": generated_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dates": {"first": dates[0], "last": dates[-1]} if dates else None}
    data.update(figures=figure_records(s), sentences=sentence_records(s))
    return {**head, **{k: v for k, v in data.items() if k not in head}}


_STYLE = """body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;line-height:1.7;color:#222}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}
tr.conflict td{background:#fff4e0}code{font-size:.85em;color:#555}a.cite{text-decoration:none}
.meta{color:#555}blockquote{margin:.3rem 0 1rem;padding-left:.8rem;border-left:3px solid #ddd;color:#333}
figure.shp-chart{margin:0}.shp-chart-note{color:#555;font-size:.85rem}:target{background:#fff4c2}"""


def _cite(n: int, doc_ids: dict[int, str]) -> str:
    """One citation: ``[n]`` linking to its passage, titled with the doc_id."""
    doc = doc_ids.get(n, "")
    return f'<a class="cite" href="#p{n}" title="{esc(doc)}">[{n}]</a>'


def _marked_html(marked: str, doc_ids: dict[int, str]) -> str:
    """A sentence with ``[n]`` markers: text escaped, markers as links to the passages."""
    out, pos = [], 0
    for m in CITATION_MARKERS_RE.finditer(marked or ""):
        out.append(esc(marked[pos:m.start()]))
        out.append("".join(_cite(n, doc_ids) for n in parse_markers(m.group())))
        pos = m.end()
    out.append(esc((marked or "")[pos:]))
    return "".join(out)


def _figures_html(s: RegionSummary, doc_ids: dict[int, str]) -> list[str]:
    heads = ["数字", "指标", "单位", "时间", "报道日期", "来源", "不一致组", "引用"]
    lines = ["<table>", "<tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>"]
    for r in group_rows(s.figures):
        cells = [esc(r.value), esc(r.label or r.measure), esc(r.unit), esc(r.period or "—"), esc(r.date or "—"),
                 esc(r.source or "—"), esc(r.conflict if r.conflict is not None else "—"),
                 f"{_cite(r.n, doc_ids)} <code>{esc(r.doc_id)}</code> <code>{r.start}–{r.end}</code>"]
        cls = ' class="conflict"' if r.conflict is not None else ""
        lines.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not s.figures:
        lines.append(f'<tr><td colspan="{len(heads)}">（没有关键数字）</td></tr>')
    return lines + ["</table>"]


def comparison(s: RegionSummary, peers: Sequence[RegionSummary], measure: str | None = None
               ) -> tuple[str | None, list[Any], Chart]:
    """``(term, points, chart)``: ``s`` and ``peers`` compared on ``measure`` (default: the measure
    most of them share, :func:`rag.summarize.compare.shared_measures`); bars link to ``#cmp<k>``."""
    summaries = [s, *[p for p in peers if p.region != s.region]]
    measures = shared_measures(summaries)
    term = measure or (measures[0][0] if measures else None)
    if term is None:
        names = "、".join(x.region for x in summaries)
        return None, [], Chart("", f"对比：{names} 的关键数字里没有共同的指标。")
    points, note = compare_points(summaries, term)
    return term, points, comparison_chart(points, term, highlight=s.region, note=note)


def _bar_line(k: int, p: Any, term: str) -> tuple[str, str]:
    """(HTML, Markdown) of bar ``k``: region, value, label, source, date, citation."""
    r = p.row
    what = label_core(r.label)
    bits = [r.source or "来源不详", r.date or "日期不详"]
    doc = re.sub(r"[`|\s]", "", str(r.doc_id))  # a code span of its own
    html = (f'<li id="cmp{k}">{esc(p.region)}：<b>{esc(r.value)}</b>'
            + (f"（{esc(what)}）" if what and what != term else "") + " · " + " · ".join(esc(b) for b in bits)
            + f" · <code>{esc(r.doc_id)}</code> <code>{r.start}–{r.end}</code></li>")
    md = (f"{k}. {md_escape(p.region)}：**{md_escape(r.value)}**" + (f"（{md_escape(what)}）" if what and what != term else "")
          + " · " + " · ".join(md_escape(b) for b in bits) + f" · `{doc}` {r.start}–{r.end}")
    return html, md


def _comparison_html(s: RegionSummary, peers: Sequence[RegionSummary], measure: str | None) -> list[str]:
    term, points, chart = comparison(s, peers, measure)
    lines = [f"<h2>对比：{esc(term or '')}</h2>" if term else "<h2>对比</h2>", chart.html()]
    if chart.svg:
        lines.append("<ol>" + "".join(_bar_line(k, p, term)[0] for k, p in enumerate(points, start=1)) + "</ol>")
    return lines


def comparison_file(s: RegionSummary, peers: Sequence[RegionSummary], measure: str | None, out: Path) -> str:
    """Write the comparison chart next to the Markdown file ``out`` (``<stem>.compare.svg``) and
    return its Markdown section (chart, one cited line per bar, the note)."""
    term, points, chart = comparison(s, peers, measure)
    lines = [f"## 对比：{md_escape(term)}" if term else "## 对比", ""]
    if chart.svg:
        svg = out.with_name(f"{out.stem}.compare.svg")
        write_atomic(svg, '<?xml version="1.0" encoding="utf-8"?>\n' + chart.standalone_svg())
        lines += [f"![{md_escape(term)} 地区对比](<{svg.name}>)", ""]
        lines += [_bar_line(k, p, term)[1] for k, p in enumerate(points, start=1)] + [""]
    if chart.note:
        lines += [md_escape(chart.note), ""]
    return "\n".join(lines)


def summary_html(s: RegionSummary, *, peers: Sequence[RegionSummary] = (), measure: str | None = None) -> str:
    """A standalone HTML page: names, cited summary paragraphs, timeline, key-figures table, the
    comparison with ``peers`` (when given, on ``measure``), cited passages."""
    doc_ids = {p.n: p.doc_id for p in s.passages}
    lines = ["<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
             f"<title>{esc(s.region)} · 地区摘要</title><style>{_STYLE}</style></head><body>",
             f"<h1>{esc(s.region)} · 地区摘要</h1>"]
    meta = []
    if s.aliases:
        meta.append("别名：" + "、".join(esc(a) for a in s.aliases))
    if s.parent:
        meta.append(f"上级地区：{esc(s.parent)}")
    if s.pairs:
        meta.append("帮扶关系：" + "；".join(esc(p.arrow()) for p in s.pairs[:6]))
    if meta:
        lines.append('<p class="meta">' + "<br>".join(meta) + "</p>")
    lines.append("<h2>摘要</h2>")
    paragraphs: dict[int, list[str]] = {}
    for sent in s.sentences:
        paragraphs.setdefault(sent.paragraph, []).append(_marked_html(sent.marked, doc_ids))
    lines += [f"<p>{''.join(items)}</p>" for _p, items in sorted(paragraphs.items())]
    if not s.sentences:
        lines.append("<p>（没有通过核查的句子）</p>")
    lines += ["<h2>时间线</h2>", timeline_chart(s).html()]
    lines += ["<h2>关键数字</h2>", *_figures_html(s, doc_ids)]
    if peers:
        lines += _comparison_html(s, peers, measure)
    if s.passages:
        lines.append("<h2>引用段落</h2>")
        for p in s.passages:
            head = " · ".join([esc(p.source or "来源不详"), esc(p.date or "日期不详"), f"<code>{esc(p.doc_id)}</code>",
                               f"<code>{esc(p.chunk_id)}</code>"])
            lines += [f'<p id="p{p.n}"><b>[{p.n}]</b> {head} · 《{esc(p.title)}》</p>',
                      f"<blockquote>{esc(p.original)}</blockquote>"]
    lines.append(f'<p class="meta">后端：{esc(s.backend)}</p></body></html>')
    return "\n".join(lines) + "\n"


def export_text(s: RegionSummary, fmt: str = "md") -> str:
    """The summary in ``fmt`` (one of :data:`FORMATS`) as text."""
    if fmt == "md":
        return render_markdown(s)
    if fmt == "csv":
        return summary_csv(s)
    if fmt == "json":
        return json.dumps(summary_json(s), ensure_ascii=False, indent=2) + "\n"
    if fmt == "html":
        return summary_html(s)
    raise ValueError(f"未知的导出格式：{fmt}（可选：{'、'.join(FORMATS)}）")


def write_atomic(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename (never a half-written file)."""
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding=encoding, newline="")
    tmp.replace(out)
    return out


def timeline_file(s: RegionSummary, out: Path) -> str:
    """Write the timeline of ``s`` next to the Markdown file ``out`` (``<stem>.timeline.svg``) and
    return the Markdown section that shows it (just the note when there is nothing to draw)."""
    chart = timeline_chart(s)
    lines = ["## 时间线", ""]
    if chart.svg:
        svg = out.with_name(f"{out.stem}.timeline.svg")
        write_atomic(svg, '<?xml version="1.0" encoding="utf-8"?>\n' + chart.standalone_svg())
        lines += [f"![{md_escape(s.region)} 关键数字时间线](<{svg.name}>)", ""]
    if chart.note:
        lines += [md_escape(chart.note), ""]
    return "\n".join(lines)


def export_summary(s: RegionSummary, fmt: str = "md", *, out: str | Path | None = None,
                   peers: Sequence[RegionSummary] = (), measure: str | None = None) -> str:
    """Render a region summary as ``fmt`` and, when ``out`` is given, write it there atomically.

    Args:
        s: the summary (:func:`rag.summarize.summarize_region`).
        fmt: ``md`` (the Markdown page), ``csv`` (key figures, one row each, columns
            :data:`FIGURE_COLUMNS`), ``json`` (:func:`summary_json`) or ``html`` (a standalone page).
        out: file to write; CSV files get a UTF-8 BOM (``utf-8-sig``) so Excel shows Chinese;
            Markdown gets its timeline chart written next to it (:func:`timeline_file`).
        peers: other regions' summaries to compare with (HTML, and Markdown written to ``out``).
        measure: the measure compared (default: the one most of them share).

    Returns:
        The rendered text (without BOM).

    Raises:
        ValueError: unknown ``fmt``.
    """
    if fmt == "md" and out is not None:
        path = Path(out).expanduser()
        extra = comparison_file(s, peers, measure, path) if peers else ""
        text = render_markdown(s, timeline=timeline_file(s, path) + ("\n" + extra if extra else ""))
    elif fmt == "html":
        text = summary_html(s, peers=peers, measure=measure)
    else:
        text = export_text(s, fmt)
    if out is not None:
        write_atomic(out, text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
    return text
