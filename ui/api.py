"""Stable ``gradio_client`` endpoints: /ask /search /documents /document /upload /remove.

Each returns JSON; ``/ask`` returns exactly what ``shanhai ask --json`` prints. Failures raise
``gr.Error`` with a Chinese message (the client raises it as an exception). See docs/api.md.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from rag import check_backend, check_k
from ui.actions import doc_meta_json, document_json, friendly_error, parse_filters, remove_document
from ui.context import UIContext


def _error(message: str) -> gr.Error:
    # Plain text for API clients. These endpoints are never triggered by the page (the tabs show
    # their errors in their own components), so the browser never renders this message as HTML.
    return gr.Error(message, title="出错了", print_exception=False)


def _fail(exc: BaseException) -> gr.Error:
    return _error(friendly_error(exc))


def build_api(ctx: UIContext) -> None:
    """Register the API endpoints in the current ``gr.Blocks`` (call once, outside the tabs)."""
    api = Endpoints(ctx)
    common = dict(concurrency_limit=ctx.concurrency, concurrency_id="answer")
    gr.api(api.ask, api_name="ask", **common)
    gr.api(api.search, api_name="search", concurrency_limit=ctx.concurrency)
    gr.api(api.documents, api_name="documents", concurrency_limit=None)
    gr.api(api.document, api_name="document", concurrency_limit=None)
    gr.api(api.remove, api_name="remove", concurrency_limit=1, concurrency_id="write")

    # /upload needs a real File component: Gradio then accepts only files uploaded to it.
    with gr.Column(visible=False):
        files = gr.File(file_count="multiple", label="files")
        result = gr.JSON(label="result")
        trigger = gr.Button("upload")
    trigger.click(api.upload, [files], [result], api_name="upload", concurrency_limit=1, concurrency_id="write",
                  api_description="上传并导入文章（.txt .md .html .htm .jsonl），返回导入结果。")


class Endpoints:
    """The endpoint functions over one UI context. Their signatures and docstrings are what
    ``gradio_client`` shows (``view_api``), so they stay exactly as documented in docs/api.md."""

    def __init__(self, ctx: UIContext):
        self.ctx = ctx

    def ask(self, question: str, backend: str = "", k: int = 0, sources: list[str] | None = None,
            date_from: str = "", date_to: str = "") -> dict[str, Any]:
        """Answer a question with cited passages (same JSON as `shanhai ask --json`).

        Args:
            question: the question (Simplified or Traditional Chinese).
            backend: llama_cpp | extractive | openai | transformers; empty = configured default.
            k: passages shown to the model at most; 0 = retrieval.top_k.
            sources: only use documents whose outlet contains one of these strings.
            date_from: earliest document date (YYYY[-MM[-DD]]), empty = no bound.
            date_to: latest document date, empty = no bound.
        """
        ctx = self.ctx
        try:
            filters = parse_filters(sources, date_from, date_to)
            name = check_backend(backend, default=ctx.default_backend)
            return ctx.pipeline.ask(question, backend=name, k=check_k(k, limit=ctx.max_k, zero_is_default=True),
                                    filters=filters).to_json()
        except Exception as exc:
            raise _fail(exc) from exc

    def search(self, question: str, k: int = 0, rerank: bool = False) -> list[dict[str, Any]]:
        """Hybrid search (dense + BM25); returns the hits, best first.

        Args:
            question: the query.
            k: number of hits; 0 = retrieval.top_k.
            rerank: let the evidence judge reorder ``judge.candidates`` chunks (slower, better top 5).
        """
        ctx = self.ctx
        try:
            k = check_k(k, limit=max(ctx.max_k, int(ctx.config.get("retrieval.candidates") or 50)),
                        zero_is_default=True, setting="retrieval.candidates")
            return [h.to_json() for h in ctx.pipeline.search(question, k, rerank=bool(rerank))]
        except Exception as exc:
            raise _fail(exc) from exc

    def documents(self) -> list[dict[str, Any]]:
        """Metadata of every indexed document (title, source, date, chunks, flags, near-duplicates)."""
        try:
            return [doc_meta_json(m) for m in self.ctx.pipeline.documents()]
        except Exception as exc:
            raise _fail(exc) from exc

    def document(self, doc_id: str) -> dict[str, Any]:
        """One document: cleaned text in its original script (original), normalised text (text), raw text.

        Args:
            doc_id: the document id (file stem, or stem:line for jsonl).
        """
        pipe = self.ctx.pipeline
        try:
            doc = pipe.document(doc_id)
            meta = next((m for m in pipe.documents() if m.doc_id == doc_id), None)
        except Exception as exc:
            raise _fail(exc) from exc
        if doc is None:
            raise _error(f"找不到文档 {doc_id}：请用 /documents 查看现有的文档 ID。")
        out = document_json(doc, meta.n_chunks if meta else None)
        out["near_duplicates"] = list(meta.near_duplicates) if meta else []
        return out

    def remove(self, doc_id: str) -> dict[str, Any]:
        """Remove one document from the index.

        Args:
            doc_id: the document id.
        """
        try:
            return {"doc_id": doc_id, "removed": remove_document(self.ctx.pipeline, doc_id,
                                                                 upload_dir=self.ctx.upload_dir)}
        except Exception as exc:
            raise _fail(exc) from exc

    def upload(self, file_list: Any) -> dict[str, Any]:
        # /upload: described where it is registered (build_api); no docstring, so no extra text in view_api
        from ui.library_tab import upload_files

        try:
            out = upload_files(self.ctx, file_list)
        except Exception as exc:
            raise _fail(exc) from exc
        if not out["ok"]:
            reasons = "；".join(f"{r['file']}：{r['reason']}" for r in out["rejected"]) or out["summary"]
            raise _error(f"没有导入任何文档。{reasons}")
        return out
