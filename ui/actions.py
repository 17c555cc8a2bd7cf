"""What the UI, its API endpoints and the OpenAI route do, as plain functions over the pipeline.

No Gradio here: handlers in the tab modules and ``ui.api`` call these and only format the
result. Errors are raised as :class:`UserError` with a Chinese message that says what went
wrong and what to do; :func:`friendly_error` turns any other exception into such a message.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from rag import Filters, InputError, check_filters

log = logging.getLogger("shanhai.ui")

UPLOAD_TYPES = (".txt", ".md", ".html", ".htm", ".jsonl")
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"PK\x03\x04", b"\x1f\x8b", b"GIF8", b"\xff\xd8\xff", b"\x7fELF", b"MZ")


class UserError(InputError):
    """A problem the user can fix (bad input, missing index, failing backend); message in Chinese."""


def friendly_error(exc: BaseException) -> str:
    """A one-paragraph Chinese message for any exception raised while serving a request."""
    from rag import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexNotFoundError, LLMError

    if isinstance(exc, (InputError, IndexCorruptError, IndexLockedError)):
        return str(exc)
    if isinstance(exc, IndexNotFoundError):
        return f"{exc} 也可以在「文档库」页上传文章。"
    if isinstance(exc, IndexMismatchError):
        return f"{exc}（请用 `shanhai ingest --rebuild <路径>` 重建索引）"
    if isinstance(exc, LLMError):
        return f"回答后端出错：{exc} 可在「设置」中改用「抽取式」后端后重试。"
    log.exception("unexpected error while serving a request")
    return f"内部错误（{type(exc).__name__}）：{exc}。请查看服务端日志；服务仍在运行，可以重试。"


def parse_filters(sources: Sequence[str] | None = None, date_from: str | None = None,
                  date_to: str | None = None) -> Filters | None:
    """Build retrieval filters from UI/API inputs (None when nothing is set); see
    :func:`rag.validate.check_filters`.

    Raises:
        UserError: a date that is not a real ``YYYY[-MM[-DD]]`` day, or ``date_from`` after
            ``date_to`` (``param`` names the field).
    """
    try:
        return check_filters(sources, date_from, date_to)
    except UserError:
        raise
    except InputError as exc:
        raise UserError(str(exc), exc.param) from None


# -- uploads ------------------------------------------------------------------------------------
def check_upload(path: Path, name: str, max_mb: float) -> str | None:
    """Why an uploaded file is refused (Chinese), or None when it may be ingested.

    Args:
        path: where the upload is stored now.
        name: the file name the user gave it.
        max_mb: size limit (``ui.max_upload_mb``).
    """
    lower = name.lower()
    if not lower.endswith(UPLOAD_TYPES):
        ext = Path(name).suffix or "（无扩展名）"
        return f"不支持的文件类型 {ext}：只能上传 {' '.join(UPLOAD_TYPES)} 文件。"
    size = path.stat().st_size
    if size > max_mb * 1024 * 1024:
        return (f"文件 {size / 1024 / 1024:.1f} MB，超过上传上限 {max_mb:g} MB（配置项 ui.max_upload_mb）："
                "请拆分后再上传，或用命令行 `shanhai ingest` 导入。")
    if size == 0:
        return "文件是空的，没有可导入的文字。"
    with path.open("rb") as fh:
        head = fh.read(8192)
    if head.startswith(_BINARY_MAGIC) or (b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff"))):
        return "这是二进制文件（如图片、PDF、压缩包），不是文本：请先转换成 .txt/.md/.html/.jsonl 再上传。"
    return None


def _safe_name(name: str) -> str:
    base = Path(name).name.lstrip(".")
    base = re.sub(r"[\x00-\x1f/\\:*?\"<>|]", "_", base)
    return base or "upload.txt"


def ingest_uploads(pipeline: Any, files: Iterable[tuple[str | Path, str]], *, upload_dir: Path, max_mb: float,
                   progress: Callable[[int, int | None, str], None] | None = None) -> dict[str, Any]:
    """Check, store and ingest uploaded files.

    Args:
        pipeline: the pipeline to ingest into.
        files: ``(stored_path, original_name)`` pairs.
        upload_dir: folder the accepted files are copied to (their ``doc_id`` is the file stem).
        max_mb: per-file size limit.
        progress: ``(done, total, message)`` callback passed to the ingest.

    Returns:
        ``{"ok", "added", "updated", "unchanged", "doc_ids", "rejected": [{"file", "reason"}],
        "summary"}`` — ``ok`` is False when nothing could be ingested.
    """
    rejected: list[dict[str, str]] = []
    accepted: list[Path] = []
    for stored, name in files:
        name = _safe_name(name or Path(stored).name)
        reason = check_upload(Path(stored), name, max_mb)
        if reason:
            rejected.append({"file": name, "reason": reason})
            continue
        upload_dir.mkdir(parents=True, exist_ok=True)
        target = upload_dir / name
        shutil.copyfile(stored, target)
        accepted.append(target)
    out: dict[str, Any] = {"ok": False, "added": 0, "updated": 0, "unchanged": 0, "doc_ids": [],
                           "rejected": rejected, "summary": ""}
    if accepted:
        report = pipeline.ingest(accepted, progress=progress)
        out.update(added=report.docs_added, updated=report.docs_updated, unchanged=report.docs_unchanged,
                   doc_ids=list(report.doc_ids), summary=report.summary(), ok=report.ok)
        for s in report.skipped:
            out["rejected"].append({"file": Path(s.path).name, "reason": s.reason})
        for path in accepted:  # keep only what became a document
            if not any(d == path.stem or d.startswith(path.stem + ":") for d in report.doc_ids):
                path.unlink(missing_ok=True)
    if not accepted and not rejected:
        out["summary"] = "没有收到文件：请先选择要上传的文章。"
    return out


def remove_document(pipeline: Any, doc_id: str, *, upload_dir: Path) -> bool:
    """Remove a document from the index, and its stored upload if it came from one.

    Returns:
        False when the document was not in the index.
    """
    meta = next((m for m in pipeline.documents() if m.doc_id == doc_id), None)
    removed = bool(pipeline.remove(doc_id))
    if removed and meta is not None and meta.path:
        path = Path(meta.path)
        if path.parent.resolve() == upload_dir.resolve() and path.suffix.lower() != ".jsonl":
            path.unlink(missing_ok=True)  # a .jsonl upload may still hold other documents
    return removed


def upload_message(result: dict[str, Any]) -> str:
    """Chinese plain-text summary of :func:`ingest_uploads` for the UI (one line per problem)."""
    lines = []
    if result["ok"]:
        lines.append(f"导入完成：新增 {result['added']} 篇，更新 {result['updated']} 篇，未变化 {result['unchanged']} 篇。"
                     "现在就可以在「问答」页提问。")
    elif not result["rejected"]:
        lines.append(result.get("summary") or "没有导入任何文档。")
    else:
        lines.append("没有导入任何文档。")
    for r in result["rejected"]:
        lines.append(f"未导入 {r['file']}：{r['reason']}")
    return "\n".join(lines)


# -- JSON views ---------------------------------------------------------------------------------
def _no_path_key(data: dict[str, Any]) -> dict[str, Any]:
    # gradio_client downloads any dict with a string "path" as a file: name it source_file.
    data["source_file"] = data.pop("path", "")
    return data


def doc_meta_json(meta: Any) -> dict[str, Any]:
    """A ``DocMeta`` as a JSON-ready dict (``path`` is given as ``source_file``)."""
    return _no_path_key(asdict(meta))


def document_json(doc: Any, n_chunks: int | None = None) -> dict[str, Any]:
    """A ``Document`` as JSON (without the per-character offset map; ``path`` as ``source_file``)."""
    data = _no_path_key(asdict(doc))
    data.pop("raw_offsets", None)
    if n_chunks is not None:
        data["n_chunks"] = n_chunks
    return data
