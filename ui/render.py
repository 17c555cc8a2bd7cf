"""Escaping and HTML/Markdown rendering for the UI. Pure functions, no Gradio imports.

Every piece of article text and model output goes through :func:`esc` (HTML) or
:func:`md_escape` (Chatbot/Markdown) before it is composed into markup: ``gr.HTML``
inserts its value as raw HTML (``onerror`` handlers would run), and Markdown could turn
``![](http://…)`` in an article into an outside request.

Citation links: ``[n]`` in an answer becomes a link to ``#shanhai-<panel>-p-<n>``; the
passage card of number ``n`` carries that id, and the page script (:data:`HEAD_JS`)
scrolls it into view and flashes it. Any tab can reuse the scheme with its own ``panel``.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Sequence

from rag.text.citations import MARKER_BODY, parse_markers
from rag.text.escape import esc, md_escape
from rag.text.injection import INJECTION_LABEL, withheld_notice
from rag.text.spans import merge_spans, subtract_spans

__all__ = [
    "esc", "md_escape", "answer_markdown", "passages_html", "notice_html", "check_warnings",
    "mark_spans_html", "flag_labels", "doc_rows", "CSS", "HEAD_JS", "anchor_id",
]

MARKER_RE = re.compile(MARKER_BODY)  # one marker of the shared citation grammar

FLAG_LABELS = {
    "near_duplicate": "近似重复",
    "mojibake_repaired": "乱码已修复",
    "mojibake_removed": "乱码已删除",
    "pinyin_removed": "拼音已去除",
    "navigation_removed": "导航已去除",
    "boilerplate_removed": "声明/模板已去除",
    "traditional": "繁体原文",
    "mixed_script": "繁简混排",
    "lossy_decoding": "编码有损",
    "empty_after_cleaning": "清洗后为空",
    "injection": "含疑似指令文本",
}


def anchor_id(n: int, panel: str = "chat") -> str:
    """The element id of passage ``n`` in ``panel`` (the target of a ``[n]`` link)."""
    return f"shanhai-{panel}-p-{int(n)}"


def answer_markdown(text: str, *, panel: str = "chat", valid: Iterable[int] | None = None) -> str:
    """Answer text as safe Markdown with each ``[n]`` turned into a link to its passage card.

    Args:
        text: answer text with ``[n]`` markers (model output: untrusted); any marker of
            :mod:`rag.text.citations` (``[1,2]``, ``[1-3]``, ``【2】``) links each number it cites.
        panel: the passage panel the links point into.
        valid: passage numbers that exist; other markers stay plain text. None = all.

    Returns:
        Markdown for ``gr.Chatbot`` / ``gr.Markdown``.
    """
    allowed = None if valid is None else {int(n) for n in valid}
    out: list[str] = []
    pos = 0
    for m in MARKER_RE.finditer(text or ""):
        out.append(md_escape(text[pos:m.start()]))
        nums = parse_markers(m.group())
        if allowed is not None and not all(n in allowed for n in nums):
            out.append(md_escape(m.group()))
        else:
            out.append("".join(f"[\\[{n}\\]](#{anchor_id(n, panel)})" for n in nums))
        pos = m.end()
    out.append(md_escape((text or "")[pos:]))
    return "".join(out)


def mark_spans_html(text: str, spans: Sequence[Sequence[int]], *, cls: str = "shp-support",
                    injected: Sequence[Sequence[int]] = ()) -> str:
    """Escape ``text`` and wrap each span in ``<mark class=cls>`` (spans may overlap/unsorted).

    ``injected`` spans (suspected instructions to the model, never evidence) are wrapped in
    ``<span class="shp-injection">`` instead and win where they overlap ``spans``.
    """
    bad = merge_spans(injected, len(text))
    marks = [(a, b, "mark", cls) for a, b in subtract_spans(merge_spans(spans, len(text)), bad)]
    marks += [(a, b, "span", "shp-injection") for a, b in bad]
    out, pos = [], 0
    for a, b, tag, klass in sorted(marks):
        title = f' title="{esc(INJECTION_LABEL)}"' if tag == "span" else ""
        out += [esc(text[pos:a]), f'<{tag} class="{klass}"{title}>', esc(text[a:b]), f"</{tag}>"]
        pos = b
    out.append(esc(text[pos:]))
    return "".join(out)


def check_warnings(checks: Mapping[str, Any] | None) -> list[str]:
    """Plain-text warnings (Chinese) from an answer's verification ``checks``."""
    ch = checks or {}
    lines = []
    if ch.get("invalid_citations"):
        nums = "、".join(f"[{n}]" for n in ch["invalid_citations"])
        lines.append(f"回答引用了不存在的段落编号 {nums}，已删除。")
    if ch.get("repaired_citations"):
        lines.append(f"有 {len(ch['repaired_citations'])} 处引用指向了不含该内容的段落，已改为正确的段落。")
    if ch.get("no_citation"):
        lines.append("模型没有给出引用，现有引用是按数字和原文自动补上的。")
    if ch.get("ungrounded_numbers"):
        lines.append("以下数字在所引段落中找不到，请核对：" + "、".join(map(str, ch["ungrounded_numbers"])))
    if ch.get("unsupported_sentences"):
        lines.append(f"有 {len(ch['unsupported_sentences'])} 句内容未能在段落中核实。")
    withheld = ch.get("injection_withheld") or []
    if withheld:
        lines.append(withheld_notice([str(w.get("title") or "") for w in withheld]))
    return lines


def notice_html(kind: str, title: str, body: str = "") -> str:
    """A notice box: ``kind`` is ``refusal`` (calm), ``error`` or ``info``; text is escaped."""
    icon = {"refusal": "ℹ️", "error": "⚠️"}.get(kind, "💬")
    inner = f'<div class="shp-notice-title">{icon} {esc(title)}</div>'
    if body:
        inner += f'<div class="shp-notice-body">{esc(body)}</div>'
    role = ' role="alert"' if kind == "error" else ""
    return f'<div class="shp-notice shp-{esc(kind)}" data-kind="{esc(kind)}"{role}>{inner}</div>'


def passages_html(passages: Sequence[Mapping[str, Any]], *, citations: Sequence[Mapping[str, Any]] = (),
                  checks: Mapping[str, Any] | None = None, script: str = "text", panel: str = "chat",
                  notice: str = "") -> str:
    """The passages panel: verification warnings, then one card per numbered passage.

    Args:
        passages: ``Answer.passages`` entries (``n``, ``title``, ``source``, ``date``, ``text``,
            ``original``, ``evidence_spans``…).
        citations: ``Answer.citations`` entries; cited cards are marked and their ``support``
            spans highlighted (uncited cards highlight the evidence sent to the model).
        checks: ``Answer.checks`` (warnings for ungrounded numbers / invalid citations).
        script: ``"text"`` (normalised Simplified) or ``"original"`` (original script); both
            have the same length, so spans apply to either.
        panel: id namespace, see :func:`anchor_id`.
        notice: extra HTML (already safe, e.g. from :func:`notice_html`) shown on top.

    Returns:
        Safe HTML for ``gr.HTML``.
    """
    cited = {int(c["n"]): c for c in citations}
    parts = [notice]
    warnings = check_warnings(checks)
    if warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
        parts.append(f'<div class="shp-warnings" role="alert"><b>⚠️ 核查提示</b><ul>{items}</ul></div>')
    if not passages and not notice:
        parts.append('<div class="shp-empty">提问后，回答所依据的段落会显示在这里。</div>')
    ordered = sorted(passages, key=lambda p: (int(p.get("n", 0)) not in cited, int(p.get("n", 0))))
    subhead = False
    for p in ordered:
        n = int(p.get("n", 0))
        if cited and n not in cited and not subhead:
            parts.append('<div class="shp-subhead">其他检索到的段落（回答未引用）</div>')
            subhead = True
        body = str(p.get(script) or p.get("text") or "")
        c = cited.get(n)
        if c is not None:
            spans, cls, badge = c.get("support") or [], "shp-support", '<span class="shp-badge">已引用</span>'
        else:
            spans, cls, badge = p.get("evidence_spans") or [], "shp-evidence", ""
        meta = " · ".join(esc(x) for x in (p.get("source") or "来源不详", p.get("date") or "日期不详", p.get("doc_id")) if x)
        injected = p.get("injection_spans") or []
        flagged = ""
        if injected:
            badge += '<span class="shp-badge shp-badge-injection">含疑似指令</span>'
            flagged = f'<div class="shp-injection-note" role="note">{esc(INJECTION_LABEL)}（灰色删除线部分未用作证据）</div>'
        parts.append(
            f'<article class="shp-card{" shp-cited" if c is not None else ""}{" shp-flagged" if injected else ""}" '
            f'id="{anchor_id(n, panel)}" data-n="{n}" data-flagged="{"true" if injected else "false"}">'
            f'<header><span class="shp-n">[{n}]</span> <span class="shp-title">{esc(p.get("title") or "（无标题）")}</span>{badge}</header>'
            f'<div class="shp-meta">{meta}</div>{flagged}'
            f'<div class="shp-text">{mark_spans_html(body, spans, cls=cls, injected=injected)}</div></article>')
    return f'<div class="shp-passages" data-script="{esc(script)}">{"".join(parts)}</div>'


def flag_labels(flags: Iterable[str], near_duplicates: Iterable[str] = ()) -> str:
    """Chinese labels of document flags, joined with "、" (unknown flags shown as is)."""
    labels = [FLAG_LABELS.get(f, f) for f in flags]
    dups = list(near_duplicates)
    if dups:
        labels.insert(0, "近似重复：" + "、".join(dups))
    return "、".join(labels)


def doc_rows(metas: Iterable[Any]) -> list[list[Any]]:
    """Rows of the library table (plain strings; the table renders them as text)."""
    return [[m.doc_id, m.title, m.source or "", m.date or "", int(m.n_chunks or 0),
             flag_labels(m.flags, m.near_duplicates)] for m in metas]


CSS = """
.shp-passages { display: flex; flex-direction: column; gap: 10px; }
.shp-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
  background: var(--block-background-fill); scroll-margin: 80px; transition: box-shadow .3s, border-color .3s; }
.shp-card.shp-cited { border-left: 4px solid #2f7de1; }
.shp-card.shp-flash { border-color: #e8a317; box-shadow: 0 0 0 3px rgba(232,163,23,.45); }
.shp-card header { font-weight: 600; }
.shp-n { color: #2f7de1; }
.shp-badge { font-size: 11px; font-weight: 500; margin-left: 6px; padding: 1px 6px; border-radius: 8px;
  background: #e3efff; color: #1d4f91; }
.shp-meta { font-size: 12px; color: var(--body-text-color-subdued); margin: 2px 0 6px; }
.shp-text { white-space: pre-wrap; line-height: 1.6; font-size: 14px; }
mark.shp-support { background: #ffe58a; padding: 0 1px; }
mark.shp-evidence { background: #eef3e2; padding: 0 1px; }
.shp-warnings { border: 1px solid #e8a317; background: #fff8e6; color: #6b4a00; border-radius: 8px; padding: 6px 10px; }
.shp-warnings ul { margin: 4px 0 0 18px; }
.shp-notice { border-radius: 8px; padding: 8px 12px; }
.shp-notice-title { font-weight: 600; }
.shp-refusal { background: #eef4fb; border: 1px solid #b9cfe8; color: #1f3b5c; }
.shp-error { background: #fdecec; border: 1px solid #e6a3a3; color: #7a1f1f; }
.shp-info { background: #f3f3f3; border: 1px solid #ddd; }
.shp-subhead { font-size: 13px; color: var(--body-text-color-subdued); margin-top: 6px; }
.shp-empty { color: var(--body-text-color-subdued); font-size: 14px; }
.shp-badge-injection { background: #fdecec; color: #7a1f1f; }
.shp-injection-note { font-size: 12px; color: #7a1f1f; margin: 0 0 4px; }
.shp-injection { color: #888; text-decoration: line-through; }
#shanhai-passages { max-height: 72vh; overflow-y: auto !important; }
.shp-chart { margin: 4px 0 8px; }
.shp-chart svg { display: block; max-width: 100%; height: auto; }
.shp-chart a.shp-chart-link { cursor: pointer; }
.shp-chart-note { font-size: 12px; color: var(--body-text-color-subdued); margin: 2px 0; }
"""

# Our own script (no untrusted text): [n] links scroll their passage card into view.
HEAD_JS = """
<script>
document.addEventListener("click", function (ev) {
  var a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#shanhai-"]') : null;
  if (!a) return;
  ev.preventDefault();
  ev.stopPropagation();
  var el = document.getElementById(a.getAttribute("href").slice(1));
  if (!el) return;
  el.scrollIntoView({behavior: "smooth", block: "center"});
  el.classList.remove("shp-flash");
  void el.offsetWidth;
  el.classList.add("shp-flash");
  window.__shanhaiLastCitation = el.id;
  setTimeout(function () { el.classList.remove("shp-flash"); }, 2500);
}, true);
</script>
"""
