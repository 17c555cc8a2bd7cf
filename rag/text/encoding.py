"""Decode article bytes: UTF-8 (with/without BOM), UTF-16 with BOM, GB18030/GBK, Big5.

Binary data (NUL bytes, known file signatures, many control bytes) and data no candidate
codec can decode are rejected with a ``DecodeError`` whose message says why, in Chinese.
When several legacy codecs decode the bytes, the one whose characters look most like
Chinese news text (character model, ``rag.text.charmodel``) wins.

Text that decodes except for a few stray bytes (a damaged download, a truncated character) is
accepted when the undecodable bytes are at most ``max_bad_ratio`` of the data (config
``ingest.max_bad_bytes_ratio``, default 0.5%): each invalid run becomes one U+FFFD (the
cleaner drops those) and :class:`Decoded` reports how many bytes were lost. Each candidate
codec is tried and must also read like Chinese, so a GBK or Big5 file with a few bad bytes is
still read as GBK/Big5 (as UTF-8 nearly all of its bytes are invalid).
"""

from __future__ import annotations

import codecs
import threading
from typing import NamedTuple

from rag.text import charmodel as cm


class DecodeError(ValueError):
    """The bytes are not decodable text; ``str(err)`` is a Chinese explanation."""


_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG 图片",
    b"\xff\xd8\xff": "JPEG 图片",
    b"GIF87a": "GIF 图片",
    b"GIF89a": "GIF 图片",
    b"%PDF-": "PDF 文档",
    b"PK\x03\x04": "ZIP 压缩包（或 docx/xlsx 等 Office 文档）",
    b"\x1f\x8b": "gzip 压缩文件",
    b"\xd0\xcf\x11\xe0": "旧版 Office 文档（doc/xls）",
    b"\x7fELF": "可执行程序",
    b"Rar!": "RAR 压缩包",
    b"7z\xbc\xaf": "7z 压缩包",
    b"SQLite format 3": "SQLite 数据库",
}
_LEGACY = ("gb18030", "big5")
_CONTROL_LIMIT = 0.01
DEFAULT_MAX_BAD_RATIO = 0.005
# Mean character log-probability below which a legacy decoding is taken for garbage
# (real news text scores about -8; random GBK characters about -13 or lower).
_MIN_SCORE = -12.0


def _plausible(text: str) -> bool:
    """Most characters are CJK, printable ASCII, punctuation or whitespace."""
    sample = text[:5000]
    ok = sum(1 for c in sample if c.isspace() or " " <= c <= "~" or "\u3000" <= c <= "\u9fff"
             or "\uff00" <= c <= "\uffef" or "\u2000" <= c <= "\u206f")
    return ok >= 0.9 * max(1, len(sample))


def _binary_reason(data: bytes) -> str | None:
    for sig, what in _SIGNATURES.items():
        if data.startswith(sig):
            return f"这是二进制文件（{what}），不是文本文章"
    sample = data[:65536]
    if b"\x00" in sample:
        return "文件含有 NUL 字节，是二进制文件而不是文本文章"
    controls = sum(1 for b in sample if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B))
    if controls / max(1, len(sample)) > _CONTROL_LIMIT:
        return f"文件中控制字符占 {controls / len(sample):.1%}，是二进制文件而不是文本文章"
    return None


def _score(text: str) -> float:
    """Mean log-probability of the Han characters (higher = more like real Chinese)."""
    han = [c for c in text[:20000] if "\u4e00" <= c <= "\u9fff" or 0x3400 <= ord(c) <= 0x4DBF
           or 0xE000 <= ord(c) <= 0xF8FF]
    if not han:
        return 0.0  # nothing to judge (e.g. Latin text)
    return sum(cm.char_logp(c) if c < "\ue000" else cm.UNKNOWN_LOGP for c in han) / len(han)


class Decoded(NamedTuple):
    """Decoded text: ``encoding`` ends in ``+lossy`` when ``bad_bytes`` could not be decoded."""

    text: str
    encoding: str
    bad_bytes: int = 0


_COUNT = threading.local()


def _count_and_replace(err: UnicodeDecodeError) -> tuple[str, int]:
    _COUNT.bad = getattr(_COUNT, "bad", 0) + (err.end - err.start)
    return "\ufffd", err.end


codecs.register_error("shanhai-count", _count_and_replace)


def _lossy(data: bytes, enc: str) -> tuple[str, int]:
    """``data`` decoded with each invalid run replaced by one U+FFFD, and the invalid byte count."""
    _COUNT.bad = 0
    text = data.decode(enc, errors="shanhai-count")
    return text, _COUNT.bad


def decode_bytes(data: bytes, *, max_bad_ratio: float = DEFAULT_MAX_BAD_RATIO) -> tuple[str, str]:
    """Decode the bytes of one text file or jsonl line: ``(text, encoding)`` of :func:`decode_text`."""
    out = decode_text(data, max_bad_ratio=max_bad_ratio)
    return out.text, out.encoding


def decode_text(data: bytes, *, max_bad_ratio: float = DEFAULT_MAX_BAD_RATIO) -> Decoded:
    """Decode the bytes of one text file or jsonl line.

    Args:
        data: raw bytes.
        max_bad_ratio: undecodable bytes tolerated, as a share of ``len(data)``.

    Returns:
        :class:`Decoded`: the text, its encoding (``utf-8``, ``utf-8-sig``, ``utf-16``,
        ``gb18030``, ``big5``, or ``<codec>+lossy`` when some bytes were replaced by U+FFFD)
        and the number of undecodable bytes.

    Raises:
        DecodeError: empty input, binary data, or bytes no supported codec decodes well enough.
    """
    if not data:
        raise DecodeError("文件为空（0 字节）")
    if data.startswith(codecs.BOM_UTF8):
        try:
            return Decoded(data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig")
        except UnicodeDecodeError:
            pass
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
            if _plausible(text):
                return Decoded(text, "utf-16")
        except UnicodeDecodeError:
            pass
    reason = _binary_reason(data)
    if reason:
        raise DecodeError(reason)
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    candidates: list[tuple[float, str, str]] = []
    for enc in _LEGACY:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        candidates.append((_score(text), enc, text))
    if candidates:
        candidates.sort(key=lambda c: c[0], reverse=True)
        score, enc, text = candidates[0]
        if score >= _MIN_SCORE:
            return Decoded(text, enc)
    return _decode_lossy(data, max_bad_ratio, strict_garbage=candidates[0][1] if candidates else None)


def _decode_lossy(data: bytes, max_bad_ratio: float, strict_garbage: str | None) -> Decoded:
    """The codec that decodes ``data`` with few enough bad bytes into the most Chinese-looking text."""
    best: tuple[float, Decoded] | None = None
    fewest: tuple[int, str] | None = None
    body = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    for enc in ("utf-8",) + _LEGACY:
        text, bad = _lossy(body, enc)
        if fewest is None or bad < fewest[0]:
            fewest = (bad, enc)
        if bad > max_bad_ratio * len(data):
            continue
        score = _score(text.replace("\ufffd", ""))
        if score >= _MIN_SCORE and (best is None or score > best[0]):
            best = (score, Decoded(text, f"{enc}+lossy" if bad else enc, bad))
    if best is not None:
        return best[1]
    if strict_garbage is not None and fewest is not None and fewest[0] == 0:
        raise DecodeError(
            f"无法识别文件编码：按 {strict_garbage} 解码得到的是乱码（不像中文文本）。请先把文件转换为 UTF-8 再导入"
        )
    bad, enc = fewest if fewest is not None else (len(data), "utf-8")
    name = {"utf-8": "UTF-8", "gb18030": "GB18030/GBK", "big5": "Big5"}[enc]
    raise DecodeError(
        "无法识别文件编码：既不是 UTF-8，也不是 GB18030/GBK 或 Big5"
        f"（最接近的 {name} 也有 {bad} 个字节、占 {bad / len(data):.1%} 无法解码，"
        f"超过上限 {max_bad_ratio:.1%}，配置项 ingest.max_bad_bytes_ratio）。请先把文件转换为 UTF-8 再导入"
    )
