"""Discovering and reading files, building documents; bad input gives one clear reason each."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from rag.ingest.loaders import Skipped, build_document, discover, read_raw
from rag.text.normalize import normalize
from rag.types import RawDocument

ARTICLE = "青山县茶叶合作社扩建加工厂\n2021年，合作社新建了一座加工厂，年加工能力达到500吨。社员人均增收3000元。"


def _read(path: Path, max_file_mb: float = 20) -> list:
    return list(read_raw(path, max_file_mb=max_file_mb))


def _only_skip(items: list) -> Skipped:
    assert len(items) == 1 and isinstance(items[0], Skipped), items
    return items[0]


def test_discover_seeds_folder(seeds_dir: Path):
    found = list(discover([seeds_dir]))
    assert [p.name[:3] for p in found] == ["000", "001", "002", "003", "004"]
    assert all(isinstance(p, Path) for p in found)


def test_discover_missing_unknown_hidden_and_duplicates(tmp_path: Path):
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "b.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "noext").write_text("x", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text(ARTICLE, encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.jsonl.gz").write_bytes(gzip.compress(b'{"text": "x"}\n'))
    items = list(discover([tmp_path, tmp_path / "a.txt", tmp_path / "missing.txt"]))
    paths = [i for i in items if isinstance(i, Path)]
    skips = {Path(i.path).name: i.reason for i in items if isinstance(i, Skipped)}
    assert [p.name for p in paths] == ["a.txt", "c.jsonl.gz"]
    assert "不支持的文件类型 .pdf" in skips["b.pdf"]
    assert "无扩展名" in skips["noext"]
    assert "不存在" in skips["missing.txt"]


def test_read_txt_and_build(tmp_path: Path):
    p = tmp_path / "青山-01.txt"
    p.write_bytes(ARTICLE.encode("gbk"))
    (raw,) = _read(p)
    assert isinstance(raw, RawDocument)
    assert raw.doc_id == "青山-01" and raw.encoding == "gb18030" and raw.raw == ARTICLE
    doc = build_document(raw)
    assert doc.title == "青山县茶叶合作社扩建加工厂"
    assert doc.content_hash == hashlib.sha256(ARTICLE.encode("utf-8")).hexdigest()
    assert doc.text == doc.original == ARTICLE and doc.script == "simplified" and doc.flags == []


@pytest.mark.parametrize(
    "name,data,needle",
    [
        ("empty.txt", b"", "空"),
        ("blank.txt", b"  \n\t\r\n \xe3\x80\x80 ", "空白"),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "二进制"),
        ("nul.md", "正文".encode() + b"\x00\x00" + "正文".encode(), "NUL"),
        ("bad.txt", b"\x80\xff" * 300, "编码"),
        ("empty.html", b"<html><head><script>var a=1;</script></head><body>  </body></html>", "正文"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, data: bytes, needle: str):
    p = tmp_path / name
    p.write_bytes(data)
    skip = _only_skip(_read(p))
    assert needle in skip.reason and skip.path == str(p)


def test_oversize_file(tmp_path: Path):
    p = tmp_path / "big.txt"
    p.write_text(ARTICLE * 100, encoding="utf-8")
    skip = _only_skip(_read(p, max_file_mb=0.01))
    assert "超过上限" in skip.reason and "ingest.max_file_mb" in skip.reason


def test_jsonl_lines(tmp_path: Path):
    lines = [
        json.dumps({"text": ARTICLE, "title": "自带标题", "date": "2021-05-06", "source": "甲报", "url": "https://x.test/1", "id": 7}, ensure_ascii=False),
        "{not json",
        json.dumps({"title": "没有正文"}, ensure_ascii=False),
        "",
        json.dumps(["a", "list"]),
        json.dumps({"content": "另一篇文章的正文，讲述了茶园的管护。"}, ensure_ascii=False),
        json.dumps({"text": "   "}),
    ]
    p = tmp_path / "batch.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = _read(p)
    docs = [i for i in items if isinstance(i, RawDocument)]
    skips = [i for i in items if isinstance(i, Skipped)]
    assert [d.doc_id for d in docs] == ["batch:1", "batch:6"]
    assert docs[0].meta == {"title": "自带标题", "date": "2021-05-06", "source": "甲报", "url": "https://x.test/1", "id": "7"}
    reasons = {s.path.rsplit(":", 1)[1]: s.reason for s in skips}
    assert set(reasons) == {"2", "3", "5", "7"}
    assert "第 2 行不是有效的 JSON" in reasons["2"]
    assert "第 3 行没有 text 或 content" in reasons["3"]
    assert "JSON 对象" in reasons["5"]
    doc = build_document(docs[0])
    assert (doc.title, doc.date, doc.source, doc.url) == ("自带标题", "2021-05-06", "甲报", "https://x.test/1")


def test_jsonl_gz_and_line_limit(tmp_path: Path):
    big = json.dumps({"text": "长" * 20000}, ensure_ascii=False)
    small = json.dumps({"text": ARTICLE}, ensure_ascii=False)
    p = tmp_path / "pack.jsonl.gz"
    p.write_bytes(gzip.compress((small + "\n" + big + "\n" + small + "\n").encode("utf-8")))
    items = _read(p, max_file_mb=0.01)
    assert [i.doc_id for i in items if isinstance(i, RawDocument)] == ["pack:1", "pack:3"]
    (skip,) = [i for i in items if isinstance(i, Skipped)]
    assert "第 2 行超过大小上限" in skip.reason


def test_jsonl_nothing_usable(tmp_path: Path):
    p = tmp_path / "junk.jsonl"
    p.write_text("{bad\n\n", encoding="utf-8")
    items = _read(p)
    assert any("第 1 行" in s.reason for s in items)
    assert any("没有可用的文章" in s.reason for s in items)


def test_corrupt_gzip(tmp_path: Path):
    p = tmp_path / "broken.jsonl.gz"
    p.write_bytes(gzip.compress(b'{"text": "abc"}\n' * 50)[:40])
    items = _read(p)
    assert any(isinstance(i, Skipped) and "gzip" in i.reason for i in items)


def test_html_extraction(tmp_path: Path):
    html = """<html><head><title>茶叶新闻_示例网</title>
    <meta property="article:published_time" content="2021-04-02T08:00:00+08:00">
    <meta property="og:site_name" content="示例网"><style>p{color:red}</style>
    <script>document.write('广告')</script></head>
    <body><nav><a href="/">首页</a> | <a>新闻</a></nav>
    <div class="breadcrumb">首页 &gt; 新闻</div>
    <article><h1>青山县茶叶丰收</h1><p>今年春茶产量比去年增长了两成，
    茶农收入明显提高。</p><p>合作社计划&nbsp;再建一座冷库。<br>预计年底完工。</p></article>
    <div class="share-box">分享到微信</div><footer>版权所有</footer></body></html>"""
    p = tmp_path / "news.html"
    p.write_text(html, encoding="utf-8")
    (raw,) = _read(p)
    assert raw.meta["title"] == "青山县茶叶丰收" and raw.meta["source"] == "示例网"
    for gone in ("广告", "color", "首页", "分享到", "版权所有", "breadcrumb"):
        assert gone not in raw.raw
    assert "今年春茶产量比去年增长了两成，茶农收入明显提高。" in raw.raw
    doc = build_document(raw)
    assert doc.date == "2021-04-02" and doc.title == "青山县茶叶丰收"
    assert "预计年底完工。" in doc.text


def test_markdown_front_matter(tmp_path: Path):
    md = "---\ntitle: 茶园见闻\ndate: 2021-06-01\nsource: 乙报\n---\n# 茶园见闻\n\n**合作社**今年新建了[冷库](https://x.test)。\n"
    p = tmp_path / "note.md"
    p.write_text(md, encoding="utf-8")
    (raw,) = _read(p)
    doc = build_document(raw)
    assert (doc.title, doc.date, doc.source) == ("茶园见闻", "2021-06-01", "乙报")
    assert doc.text == "茶园见闻\n合作社今年新建了冷库。"


def test_seed_documents(seeds_dir: Path):
    docs = [build_document(r) for p in discover([seeds_dir]) for r in read_raw(p, max_file_mb=20)]
    assert [d.doc_id for d in docs] == [p.stem for p in sorted(seeds_dir.glob("*.txt"))]
    for d in docs:
        assert len(d.text) == len(d.original) == len(d.raw_offsets)
        assert d.content_hash == hashlib.sha256(d.raw.encode("utf-8")).hexdigest()
        assert d.raw_offsets == sorted(set(d.raw_offsets))
        assert normalize(d.original) == d.text  # normalised <-> original, same positions
    by = {d.doc_id[:3]: d for d in docs}
    assert by["000"].script == "simplified" and "traditional" not in by["000"].flags
    for sid in ("001", "002", "003", "004"):
        assert by[sid].script == "traditional" and "traditional" in by[sid].flags
    assert "pinyin_removed" in by["001"].flags and "mojibake_repaired" in by["002"].flags
    assert by["001"].date == "2020-07-13" and by["002"].source == "新华网"
    assert "靖远县" in by["001"].text and "靖遠縣" in by["001"].original
