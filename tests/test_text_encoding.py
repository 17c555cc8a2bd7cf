"""Encoding detection on the real seeds (re-encoded) and on bad input."""

from __future__ import annotations

import codecs
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
