"""Encoding detection on the real seeds (re-encoded) and on bad input."""

from __future__ import annotations

import codecs
import re
import random
from pathlib import Path

import pytest

from rag.text.encoding import DecodeError, decode_bytes

OWN_SIMPLIFIED = "今年全县新建了三座茶叶加工厂，合作社社员的收入比去年提高了两成。" * 3
OWN_TRADITIONAL = "今年全縣新建了三座茶葉加工廠，合作社社員的收入比去年提高了兩成。" * 3


@pytest.mark.parametrize(
    "text,codec,expected",
    [
        (OWN_SIMPLIFIED, "utf-8", "utf-8"),
        (OWN_SIMPLIFIED, "gbk", "gb18030"),
        (OWN_SIMPLIFIED, "gb18030", "gb18030"),
        (OWN_TRADITIONAL, "big5", "big5"),
        (OWN_TRADITIONAL, "gbk", "gb18030"),
        (OWN_TRADITIONAL, "utf-16", "utf-16"),
    ],
)
def test_own_text_round_trips(text, codec, expected):
    out, enc = decode_bytes(text.encode(codec))
    assert out == text and enc == expected


def test_utf8_bom_is_stripped():
    out, enc = decode_bytes(codecs.BOM_UTF8 + OWN_SIMPLIFIED.encode("utf-8"))
    assert out == OWN_SIMPLIFIED and enc == "utf-8-sig"


def test_seeds_in_every_encoding(seeds_dir: Path):
    for path in sorted(seeds_dir.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        for codec in ("utf-8", "gb18030", "big5"):
            try:
                data = text.encode(codec)
            except UnicodeEncodeError:
                continue  # Big5 has no simplified characters
            out, _ = decode_bytes(data)
            assert out == text, (path.name, codec)


def test_big5_not_mistaken_for_gbk():
    data = OWN_TRADITIONAL.encode("big5")
    data.decode("gb18030")  # also decodes as GB18030 (to garbage)...
    assert decode_bytes(data) == (OWN_TRADITIONAL, "big5")  # ...but Big5 reads like Chinese


@pytest.mark.parametrize(
    "data,needle",
    [
        (b"", "空"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG"),
        (b"%PDF-1.7\n" + b"x" * 100, "PDF"),
        (b"PK\x03\x04" + b"\x00" * 50, "ZIP"),
        (bytes(random.Random(1).randrange(256) for _ in range(4000)) + b"\x00", "二进制"),
        (b"\x01\x02\x03\x04" * 200 + "正文".encode(), "控制字符"),
    ],
)
def test_binary_rejected(data, needle):
    with pytest.raises(DecodeError) as err:
        decode_bytes(data)
    assert needle in str(err.value)


def test_undecodable_rejected():
    with pytest.raises(DecodeError) as err:
        decode_bytes(b"\x80\xff" * 200)
    assert "编码" in str(err.value)


def test_random_high_bytes_are_not_chinese():
    rnd = random.Random(7)
    data = bytes(rnd.randrange(0x81, 0xFF) for _ in range(3000))
    with pytest.raises(DecodeError) as err:
        decode_bytes(data)
    assert "乱码" in str(err.value) or "编码" in str(err.value)


def test_other_language_legacy_encoding_rejected():
    text = "これは日本語の文章です。東京都の天気は晴れ。" * 10
    with pytest.raises(DecodeError):
        decode_bytes(text.encode("shift_jis"))


def test_a_few_bad_bytes_are_tolerated():
    data = (OWN_SIMPLIFIED * 20).encode("gbk")
    data = data[:500] + b"\xff" + data[500:]
    text, enc = decode_bytes(data)
    assert enc.endswith("+lossy") and text.count("\ufffd") == 1


# -- a few stray bytes: tolerated, counted, reported ----------------------------------------------
def _damage(data: bytes, positions) -> bytes:
    out = bytearray(data)
    for p in positions:
        out[p] = 0xFF
    return bytes(out)


def test_utf8_seed_with_four_stray_bytes_is_read_with_a_count(seeds_dir: Path):
    from rag.text.encoding import decode_text

    text = (seeds_dir / "000_1fb75d803cb4263f.txt").read_text(encoding="utf-8")
    data = _damage(text.encode("utf-8"), [100, 2000, 4000, 5000])
    out = decode_text(data)
    assert out.encoding == "utf-8+lossy" and 4 <= out.bad_bytes <= 12  # a damaged lead byte orphans its tail
    assert 4 <= out.text.count("\ufffd") <= out.bad_bytes
    # everything but the damaged characters survives
    assert len(out.text) >= len(text) - 8 and text[-200:] == out.text[-200:]


@pytest.mark.parametrize("codec,expected", [("gbk", "gb18030+lossy"), ("big5", "big5+lossy")])
def test_legacy_file_with_bad_bytes_stays_legacy(seeds_dir: Path, codec, expected):
    """A GBK/Big5 file with a few bad bytes is read as GBK/Big5, not as UTF-8 with replacements."""
    from rag.text.encoding import decode_text

    text = (seeds_dir / "001_c52947674760a02e.txt").read_text(encoding="utf-8")
    data = _damage(text.encode(codec, errors="ignore"), [300, 1500, 3000, 4500])
    out = decode_text(data)
    assert out.encoding == expected and 1 <= out.bad_bytes <= 8
    assert "靖远" in out.text or "靖遠" in out.text


def test_too_many_bad_bytes_are_refused_naming_the_share_and_the_setting(seeds_dir: Path):
    from rag.text.encoding import decode_text

    data = (seeds_dir / "000_1fb75d803cb4263f.txt").read_bytes()
    damaged = _damage(data, range(100, 6000, 150))  # 40 damaged characters, ~2% of the bytes
    with pytest.raises(DecodeError) as err:
        decode_text(damaged)
    assert "ingest.max_bad_bytes_ratio" in str(err.value) and "UTF-8" in str(err.value)
    assert decode_text(damaged, max_bad_ratio=0.05).encoding == "utf-8+lossy"  # the limit is a setting
    with pytest.raises(DecodeError):
        decode_text(_damage(data, [100]), max_bad_ratio=0.0)


def test_ingest_reads_the_damaged_file_and_warns_with_count_and_file(tmp_path, seeds_dir: Path):
    from rag.ingest import Ingestor
    from test_scale import FakeEncoder, config_for, open_index

    text = (seeds_dir / "000_1fb75d803cb4263f.txt").read_text(encoding="utf-8")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "damaged.txt").write_bytes(_damage(text.encode("utf-8"), [100, 2000, 4000, 5000]))
    (folder / "binary.txt").write_bytes(b"\x80\xff" * 200)
    report = Ingestor(config_for(tmp_path / "idx"), FakeEncoder()).run([folder], tmp_path / "idx")
    assert report.docs_added == 1 and [s.path for s in report.skipped] == [str(folder / "binary.txt")]
    assert len(report.warnings) == 1 and "damaged.txt" in report.warnings[0]
    assert re.search(r"有 \d+ 个字节无法按 utf-8 解码", report.warnings[0]) and report.warnings[0] in report.summary()
    doc = open_index(tmp_path / "idx").get_doc("damaged")
    assert "lossy_decoding" in doc.flags and "\ufffd" not in doc.text  # the cleaner drops the replacements
