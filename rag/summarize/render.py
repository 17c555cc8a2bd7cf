"""Markdown and JSON output of a region summary, and the text listing of `shanhai regions`.

Article text and model output are untrusted: in Markdown every piece of it goes through
:func:`md_escape` (one line of :func:`rag.text.escape.md_escape`: Markdown punctuation
backslash-escaped, then HTML-escaped); only our own ``[n]`` markers and table structure are
emitted raw.
"""

from __future__ import annotations

import re
from typing import Any

from rag.regions.corpus import RegionStore
from rag.summarize.labels import group_rows
from rag.summarize.summary import RegionSummary
from rag.text.citations import CITATION_MARKERS_RE
from rag.text.escape import md_escape as _md_escape

__all__ = ["md_escape", "render_markdown", "render_json", "regions_text", "marked_markdown"]


def md_escape(text: Any) -> str:
    """Untrusted text as one line of inert Markdown (:func:`rag.text.escape.md_escape`)."""
    return _md_escape(text, one_line=True)


def marked_markdown(marked: str) -> str:
    """A sentence with ``[n]`` markers: text escaped, markers kept as plain ``[n]``."""
    out, pos = [], 0
    for m in CITATION_MARKERS_RE.finditer(marked or ""):
        out.append(md_escape(marked[pos:m.start()]))
        out.append(m.group().strip())
        pos = m.end()
    out.append(md_escape((marked or "")[pos:]))
    return "".join(out)


def _cell(text: Any) -> str:
    return md_escape(text if text not in (None, "") else "—")


def _code(text: Any) -> str:
    """An identifier (doc_id) as a code span; backticks and pipes in it are dropped."""
    return "`" + re.sub(r"[`|\s]", "", str(text or "")) + "`"


def render_markdown(s: RegionSummary, *, passages: bool = True, timeline: str = "") -> str:
    """The summary page: names, pairs, cited paragraphs, key figures, cited passages, checks.

    ``timeline``: a Markdown section (already safe) placed before the key figures, e.g. the
    chart written by :func:`rag.summarize.export.timeline_file`."""
    lines = [f"# {md_escape(s.region)} · 地区摘要", ""]
    if s.aliases:
        lines.append("**别名**：" + "、".join(md_escape(a) for a in s.aliases) + "  ")
    if s.parent:
        lines.append(f"**上级地区**：{md_escape(s.parent)}  ")
    if s.pairs:
        items = [f"{md_escape(p.arrow())}（{md_escape('、'.join(p.relations))}；证据 {len(p.evidence)} 处）"
                 for p in s.pairs[:6]]
        lines.append("**帮扶关系**：" + "；".join(items) + "  ")
    lines += ["", "## 摘要", ""]
    paragraphs: dict[int, list[str]] = {}
    for sent in s.sentences:
        paragraphs.setdefault(sent.paragraph, []).append(marked_markdown(sent.marked))
    for _p, items in sorted(paragraphs.items()):
        lines += ["".join(items), ""]
    if not s.sentences:
        lines += ["（没有通过核查的句子）", ""]
    if timeline:
        lines += [timeline.rstrip("\n"), ""]
    lines += ["## 关键数字", "", "| 数字 | 指标 | 时间 | 报道日期 | 来源 | 文档 | 引用 | 备注 |",
              "|---|---|---|---|---|---|---|---|"]
    for r in group_rows(s.figures):
        note = f"⚠ 数字不一致（第 {r.conflict} 组）" if r.conflict is not None else (
            "另见 " + "、".join(_code(d) for d in r.also_in) if r.also_in else "—")
        cells = [_cell(r.value), _cell(r.label), _cell(r.period), _cell(r.date), _cell(r.source), _code(r.doc_id),
                 f"[{r.n}]", note if r.also_in and r.conflict is None else _cell(note)]
        lines.append("| " + " | ".join(cells) + " |")
    if not s.figures:
        lines.append("| — | — | — | — | — | — | — | — |")
    lines.append("")
    if passages and s.passages:
        lines += ["## 引用段落", ""]
        for p in s.passages:
            head = " · ".join([md_escape(p.source or "来源不详"), md_escape(p.date or "日期不详"), _code(p.chunk_id)])
            lines += [f"**[{p.n}]** {head} · 《{md_escape(p.title)}》  ", f"> {md_escape(p.original)}", ""]
    ch = s.checks
    lines += ["## 核查", "",
              f"- 摘要 {ch['sentences']} 句，其中 {ch['cited_sentences']} 句带有效引用；"
              f"所引段落中找不到的数字：{len(ch['ungrounded_numbers'])} 个",
              f"- 未通过核查而删除的句子：{len(ch['removed_sentences'])} 句；自动修正的引用：{ch['repaired_citations']} 处；"
              f"补充的要点：{ch['coverage_added']} 句；说明数字不一致的句子：{ch['conflicts_stated']} 句",
              f"- 后端：{md_escape(s.backend)}；用时 {s.timings.get('total', 0):.1f} 秒", ""]
    return "\n".join(lines)


def render_json(s: RegionSummary) -> dict[str, Any]:
    """The JSON object (``region``, ``aliases``, ``pairs``, ``sentences``, ``figures``, ``checks`` …)."""
    return s.to_json()


def regions_text(store: RegionStore, *, limit: int = 0) -> str:
    """Plain-text listing for `shanhai regions`: one line per region, then the pairs."""
    regions = store.search("", limit=limit or len(store.regions))
    lines = [f"地区 {len(store.regions)} 个（文档 {len(store.docs)} 篇）："]
    for r in regions:
        aliases = "、".join(a for a in r.aliases[:4])
        lines.append(f"  {r.name}（{r.level}）  提及 {r.mentions} 次 · 文档 {len(r.docs)} 篇 · 段落 {len(r.chunks)} 个"
                     + (f" · 别名：{aliases}" if aliases else "") + (f" · 上级：{r.parent}" if r.parent else ""))
    lines.append(f"\n帮扶关系 {len(store.pairs)} 对（→ 表示帮扶方向，↔ 表示文中未说明方向）：")
    for p in store.pairs:
        ev = p.evidence[0]
        lines.append(f"  {p.arrow()}  [{'、'.join(p.relations)}] 证据 {len(p.evidence)} 处，例：{ev.doc_id} {ev.chunk_id}")
    return "\n".join(lines)
