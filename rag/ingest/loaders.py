"""Read article files into ``RawDocument``s and build cleaned ``Document``s.

Supported: ``.txt``, ``.md``, ``.html``/``.htm`` (one article per file) and ``.jsonl`` /
``.jsonl.gz`` (one JSON object per line with ``text`` or ``content`` and optional
``title``/``date``/``source``/``url``/``id``). Anything that cannot be read becomes a
``Skipped`` with a Chinese reason; a bad jsonl line skips only that line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from rag.text.clean import clean_text
from rag.text.encoding import DEFAULT_MAX_BAD_RATIO, DecodeError, decode_text
from rag.text.injection import INJECTION_FLAG, injected_spans
from rag.text.markup import html_to_text, markdown_to_text
from rag.text.meta import extract_meta
from rag.text.normalize import detect_script, normalize
from rag.types import Document, RawDocument

SUPPORTED = (".txt", ".md", ".html", ".htm", ".jsonl", ".jsonl.gz")
_HINT_FIELDS = ("title", "date", "source", "url")


@dataclass
class Skipped:
    """A file (or ``path:line`` of a jsonl file) that was not ingested, and why (Chinese)."""

    path: str
    reason: str


def _ext(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        return ".jsonl.gz"
    return path.suffix.lower()


def _stem(path: Path) -> str:
    name = path.name
    return name[: -len(".jsonl.gz")] if name.lower().endswith(".jsonl.gz") else path.stem


def _check(path: Path) -> Path | Skipped:
    ext = _ext(path)
    if ext not in SUPPORTED:
        shown = ext or "（无扩展名）"
        return Skipped(str(path), f"不支持的文件类型 {shown}：只能导入 {' '.join(SUPPORTED)} 文件")
    return path


def discover(paths: Sequence[str | Path]) -> Iterator[Path | Skipped]:
    """Expand files and folders (recursively, hidden entries ignored) into article files.

    Args:
        paths: files and/or folders.

    Yields:
        Each supported file once, in sorted order per folder, or a ``Skipped`` for a
        missing path or a file with an unsupported extension.
    """
    seen: set[Path] = set()
    for item in paths:
        p = Path(item).expanduser()
        if not p.exists():
            yield Skipped(str(p), "路径不存在：请检查路径拼写，或确认文件已放到这里")
            continue
        if p.is_dir():
            files: list[Path] = []
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
            candidates = sorted(files)
        else:
            candidates = [p]
        for f in candidates:
            key = f.resolve()
            if key in seen:
                continue
            seen.add(key)
            yield _check(f)


def read_raw(path: Path, *, max_file_mb: float,
             max_bad_ratio: float = DEFAULT_MAX_BAD_RATIO) -> Iterator[RawDocument | Skipped]:
    """Read one file into raw documents.

    Args:
        path: a file from ``discover``.
        max_file_mb: size limit; for txt/md/html it applies to the file, for jsonl to
            each line (a jsonl file is a container of many articles).
        max_bad_ratio: undecodable bytes tolerated per file (jsonl: per line), as a share of
            its bytes (``ingest.max_bad_bytes_ratio``); they are replaced and counted in
            ``RawDocument.bad_bytes``.

    Yields:
        ``RawDocument``s (``doc_id`` = file stem, or ``f"{stem}:{line_no}"`` for jsonl
        lines) and ``Skipped`` entries with a Chinese reason.
    """
    path = Path(path)
    checked = _check(path)
    if isinstance(checked, Skipped):
        yield checked
        return
    if not path.is_file():
        yield Skipped(str(path), "路径不存在或不是普通文件")
        return
    limit = int(max_file_mb * 1024 * 1024)
    ext = _ext(path)
    if ext in (".jsonl", ".jsonl.gz"):
        yield from _read_jsonl(path, limit, ext == ".jsonl.gz", max_bad_ratio)
    else:
        yield _read_article(path, ext, max_file_mb, max_bad_ratio)


_NO_TEXT = {".html": "HTML 页面中没有找到正文文字", ".htm": "HTML 页面中没有找到正文文字",
            ".md": "Markdown 文件中没有正文文字"}


def _read_article(path: Path, ext: str, max_file_mb: float, max_bad_ratio: float) -> RawDocument | Skipped:
    """One txt/md/html file (one article) as a ``RawDocument``, or why it was skipped."""
    size = path.stat().st_size
    if size > int(max_file_mb * 1024 * 1024):
        return Skipped(
            str(path),
            f"文件大小 {size / 1024 / 1024:.1f} MB 超过上限 {max_file_mb:g} MB"
            "（配置项 ingest.max_file_mb）：请拆分文件或调高上限",
        )
    try:
        data = path.read_bytes()
    except OSError as err:
        return Skipped(str(path), f"无法读取文件：{err.strerror or err}")
    try:
        text, encoding, bad = decode_text(data, max_bad_ratio=max_bad_ratio)
    except DecodeError as err:
        return Skipped(str(path), str(err))
    if not text.strip():
        return Skipped(str(path), "文件只有空白字符，没有正文")
    hints: dict[str, Any] = {}
    if ext in (".html", ".htm"):
        text, hints = html_to_text(text)
    elif ext == ".md":
        text, hints = markdown_to_text(text)
    if ext in _NO_TEXT and not text.strip():
        return Skipped(str(path), _NO_TEXT[ext])
    return RawDocument(doc_id=_stem(path), path=str(path), raw=text, encoding=encoding, meta=hints, bad_bytes=bad)


def _lines(fh: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line_no, bytes) per line; bytes is None for a line longer than ``limit`` (skipped whole)."""
    n = 0
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        n += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while True:  # discard the rest of the over-long line
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield n, None
            continue
        yield n, line


def _read_jsonl(path: Path, limit: int, gz: bool, max_bad_ratio: float) -> Iterator[RawDocument | Skipped]:
    stem = _stem(path)
    kept = 0
    try:
        fh: IO[bytes] = gzip.open(path, "rb") if gz else open(path, "rb")
    except OSError as err:
        yield Skipped(str(path), f"无法读取文件：{err.strerror or err}")
        return
    try:
        with fh:
            for n, line in _lines(fh, limit):
                where = f"{path}:{n}"
                if line is None:
                    yield Skipped(where, f"第 {n} 行超过大小上限 {limit / 1024 / 1024:g} MB（ingest.max_file_mb），已跳过")
                    continue
                if not line.strip():
                    continue
                item = _parse_line(line, n, max_bad_ratio)
                if isinstance(item, str):
                    yield Skipped(where, item)
                    continue
                text, obj, encoding, bad = item
                hints = {k: obj[k] for k in _HINT_FIELDS if isinstance(obj.get(k), (str, int, float)) and str(obj[k]).strip()}
                if obj.get("id") is not None:
                    hints["id"] = str(obj["id"])
                kept += 1
                yield RawDocument(doc_id=f"{stem}:{n}", path=str(path), raw=text, encoding=encoding, meta=hints,
                                  bad_bytes=bad)
    except (OSError, EOFError, zlib.error) as err:
        yield Skipped(str(path), f"gzip 文件已损坏或不完整（{err}），其后的行没有读取")
        return
    if kept == 0:
        yield Skipped(str(path), "文件中没有可用的文章（空文件，或每一行都无效）")


def _parse_line(line: bytes, n: int, max_bad_ratio: float) -> tuple[str, dict[str, Any], str, int] | str:
    try:
        decoded, encoding, bad = decode_text(line, max_bad_ratio=max_bad_ratio)
    except DecodeError as err:
        return f"第 {n} 行无法解码：{err}"
    try:
        obj = json.loads(decoded)
    except json.JSONDecodeError as err:
        return f"第 {n} 行不是有效的 JSON（{err.msg}，第 {err.colno} 列）"
    if not isinstance(obj, dict):
        return f"第 {n} 行不是 JSON 对象（应为 {{\"text\": ...}} 形式）"
    text = obj.get("text")
    if not (isinstance(text, str) and text.strip()):
        text = obj.get("content")
    if not (isinstance(text, str) and text.strip()):
        return f"第 {n} 行没有 text 或 content 字段，或内容为空"
    return text, obj, encoding, bad


def build_document(raw: RawDocument) -> Document:
    """Clean, extract metadata and normalise one raw document.

    Args:
        raw: from ``read_raw``.

    Returns:
        A ``Document`` whose ``original`` is the cleaned text, ``text`` its normalised
        form (same length), ``raw_offsets`` the map into ``raw``, ``content_hash`` the
        sha256 of the raw text, and flags such as ``pinyin_removed``,
        ``mojibake_removed``, ``mojibake_repaired``, ``traditional``, ``mixed_script``,
        ``lossy_decoding``, ``empty_after_cleaning``, ``injection`` (text addressing the
        answering model, spans in ``injected``: see ``rag.text.injection``).
    """
    cleaned = clean_text(raw.raw)
    meta = extract_meta(raw.raw, cleaned.text, raw.meta)
    text = normalize(cleaned.text)
    script = detect_script(cleaned.text)
    flags = list(cleaned.flags)
    if script == "traditional":
        flags.append("traditional")
    elif script == "mixed":
        flags.append("mixed_script")
    if raw.encoding.endswith("+lossy"):
        flags.append("lossy_decoding")
    if not text.strip():
        flags.append("empty_after_cleaning")
    injected = injected_spans(text)
    if injected:
        flags.append(INJECTION_FLAG)
    return Document(
        doc_id=raw.doc_id,
        title=meta["title"] or raw.doc_id,
        source=meta["source"],
        date=meta["date"],
        url=meta["url"],
        path=raw.path,
        original=cleaned.text,
        text=text,
        raw=raw.raw,
        raw_offsets=cleaned.offsets,
        content_hash=hashlib.sha256(raw.raw.encode("utf-8", "surrogatepass")).hexdigest(),
        encoding=raw.encoding,
        script=script,
        flags=flags,
        injected=injected,
    )


def decoding_warning(raw: RawDocument) -> str:
    """The Chinese warning for a document read with undecodable bytes ("" when there were none)."""
    if not raw.bad_bytes:
        return ""
    where = raw.path
    stem, _, line = raw.doc_id.rpartition(":")
    if stem and line.isdigit() and ".jsonl" in raw.path.lower():
        where = f"{raw.path}:{line}"
    codec = raw.encoding.replace("+lossy", "")
    return f"{where}：有 {raw.bad_bytes} 个字节无法按 {codec} 解码，已替换为 �（其余内容照常导入）"
