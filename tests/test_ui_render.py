"""UI building blocks without a server: escaping, citation links, passage cards, upload checks,
filters and the OpenAI-route helpers."""

from __future__ import annotations

import re

import pytest

from ui import render
from ui.actions import UserError, check_upload, parse_filters
from ui.openai_api import APIFailure, backend_for, conversation

EVIL = '<img src=x onerror="window.__x=1"><script>window.__y=1</script>![t](http://example.invalid/p.png)'


def test_md_escape_leaves_no_markup():
    out = render.md_escape(EVIL)
    assert "<" not in out and ">" not in out
    assert "\\!\\[t\\]\\(http" in out  # no image/link can form
    assert render.esc('"<a>&') == "&quot;&lt;a&gt;&amp;"


def test_answer_markdown_links_valid_markers_only():
    md = render.answer_markdown("投入1.1亿元[1]，另有[2,3]和[9]。" + EVIL, valid=[1, 2, 3])
    assert "[\\[1\\]](#shanhai-chat-p-1)" in md
    assert "(#shanhai-chat-p-2)" in md and "(#shanhai-chat-p-3)" in md
    assert "#shanhai-chat-p-9" not in md and "\\[9\\]" in md
    assert "<img" not in md and "<script" not in md
    assert render.answer_markdown("见[1]", panel="regions").endswith("(#shanhai-regions-p-1)")


def _passage(n, text, **kw):
    return {"n": n, "title": kw.get("title", f"标题{n}"), "source": "某报", "date": "2021-03-04", "doc_id": f"d{n}",
            "text": text, "original": kw.get("original", text), "evidence_spans": kw.get("evidence_spans", [])}


def test_passages_html_escapes_marks_orders_and_warns():
    passages = [_passage(1, "无关的一段。"), _passage(2, "甲县投入3000万元。" + EVIL, title=EVIL,
                                                 original="甲縣投入3000萬元。" + EVIL)]
    cites = [{"n": 2, "support": [[0, 11]]}]
    checks = {"ungrounded_numbers": ["5000万元"], "invalid_citations": [7]}
    out = render.passages_html(passages, citations=cites, checks=checks)
    assert "<img" not in out and "<script" not in out and "onerror=\"" not in out
    assert '<mark class="shp-support">甲县投入3000万元。</mark>' in out
    assert out.index('id="shanhai-chat-p-2"') < out.index('id="shanhai-chat-p-1"')  # cited first
    assert "其他检索到的段落" in out and "已引用" in out
    assert "5000万元" in out and "[7]" in out and 'class="shp-warnings"' in out
    original = render.passages_html(passages, citations=cites, script="original")
    assert "甲縣投入3000萬元。" in original and 'data-script="original"' in original


def test_mark_spans_merges_and_clamps():
    assert render.mark_spans_html("abcdef", [[4, 99], [0, 2], [1, 3]]) == \
        '<mark class="shp-support">abc</mark>d<mark class="shp-support">ef</mark>'


def test_notice_kinds():
    calm = render.notice_html("refusal", "资料中没有找到答案", "文档信息不足<b>")
    assert 'data-kind="refusal"' in calm and "&lt;b&gt;" in calm and "role=\"alert\"" not in calm
    assert 'role="alert"' in render.notice_html("error", "出错了")


def test_flag_labels_and_rows():
    class Meta:
        doc_id, title, source, date, n_chunks = "a", "<t>", "", None, 3
        flags = ["mojibake_repaired", "pinyin_removed", "something_new"]
        near_duplicates = ["b"]

    row = render.doc_rows([Meta()])[0]
    assert row[:5] == ["a", "<t>", "", "", 3]
    assert row[5] == "近似重复：b、乱码已修复、拼音已去除、something_new"


def test_check_upload_reasons(tmp_path):
    ok = tmp_path / "a.txt"
    ok.write_text("一段正常的文字。", encoding="utf-8")
    assert check_upload(ok, "a.txt", 1) is None
    assert "不支持的文件类型 .pdf" in check_upload(ok, "a.pdf", 1)
    big = tmp_path / "big.txt"
    big.write_bytes("字".encode() * 400_000)
    assert "超过上传上限 1 MB" in check_upload(big, "big.txt", 1)
    png = tmp_path / "img.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert "二进制" in check_upload(png, "img.txt", 1)
    nul = tmp_path / "nul.md"
    nul.write_bytes(b"abc\x00def")
    assert "二进制" in check_upload(nul, "nul.md", 1)
    empty = tmp_path / "e.txt"
    empty.write_bytes(b"")
    assert "空的" in check_upload(empty, "e.txt", 1)


def test_parse_filters():
    assert parse_filters([], "", "") is None
    f = parse_filters(["新华网", " "], "2020-01", "")
    assert f.sources == ["新华网"] and f.date_from == "2020-01" and f.date_to is None
    with pytest.raises(UserError, match="起始日期"):
        parse_filters(None, "上个月", None)


def test_openai_conversation_and_model_names():
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "问一"},
            {"role": "assistant", "content": "答一"},
            {"role": "user", "content": [{"type": "text", "text": "问二"}]}]
    assert conversation(msgs) == ("问二", [("问一", "答一")])
    with pytest.raises(APIFailure):
        conversation([{"role": "assistant", "content": "x"}])
    assert backend_for("shanhai", None, "llama_cpp") == "llama_cpp"
    assert backend_for("shanhai-extractive", None, "llama_cpp") == "extractive"
    assert backend_for("gpt-4", "extractive", "llama_cpp") == "extractive"
    with pytest.raises(APIFailure) as err:
        backend_for("gpt-4", None, "llama_cpp")
    assert err.value.status == 404
    assert re.search("shanhai-extractive", err.value.message)


def test_serve_command_is_registered():
    from rag.cli import COMMANDS, build_parser

    args = build_parser().parse_args(["serve", "--port", "7999", "--corpus", "somewhere", "--index", "/tmp/x"])
    assert (args.cmd, args.port, args.corpus, args.host) == ("serve", 7999, "somewhere", None)
    assert "serve" in COMMANDS


def test_check_port_reports_a_taken_port():
    import socket

    from ui.server import ServeError, check_port

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ServeError, match="--port"):
            check_port("127.0.0.1", s.getsockname()[1])


def test_parse_auth():
    from rag.config import ConfigError
    from ui.app import parse_auth

    assert parse_auth(None) is None
    assert parse_auth("admin:a:b") == ("admin", "a:b")
    with pytest.raises(ConfigError, match="用户名:密码"):
        parse_auth("justapassword")
