"""Errors of the OpenAI-compatible ``/v1`` route, always in OpenAI's shape.

``{"error": {"message", "type", "param", "code"}}`` for every failure under ``/v1``: our own
checks (:class:`APIFailure`, :class:`rag.validate.InputError`), malformed JSON and FastAPI's
validation errors (400 instead of FastAPI's 422 body), unknown routes and methods (404/405), an
oversized body (413) and anything unexpected (500). Paths outside ``/v1`` (the Gradio app)
keep FastAPI's own handling.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag import InputError

__all__ = ["APIFailure", "error_response", "install_error_handlers", "PREFIX"]

PREFIX = "/v1"
log = logging.getLogger("shanhai.ui")


class APIFailure(Exception):
    """An error answered in OpenAI's error format."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    @classmethod
    def bad_input(cls, exc: InputError) -> "APIFailure":
        """A 400 for a value our checks rejected (``param`` names the field)."""
        return cls(400, str(exc), param=exc.param, code="invalid_value")


def error_response(exc: APIFailure) -> JSONResponse:
    """The JSON response for ``exc``."""
    body = {"error": {"message": exc.message, "type": exc.kind, "param": exc.param, "code": exc.code}}
    return JSONResponse(body, status_code=exc.status)


def _ours(request: Request) -> bool:
    path = request.url.path
    return path == PREFIX or path.startswith(PREFIX + "/")


def _loc(loc: Any) -> str | None:
    parts = [str(x) for x in (loc or ()) if x != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else ("." + p if out else p)
    return out or None


def validation_failure(exc: RequestValidationError) -> APIFailure:
    """A clear 400 for FastAPI's request validation errors (malformed JSON, wrong body type)."""
    errors = exc.errors() or [{}]
    first = errors[0]
    kind, param = str(first.get("type", "")), _loc(first.get("loc"))
    if kind == "json_invalid":
        where = first.get("ctx", {}).get("error", "")
        return APIFailure(400, f"请求体不是合法的 JSON（{where}）：请检查括号、引号和逗号。", code="invalid_json")
    if kind in ("model_attributes_type", "dict_type", "model_type") and not param:
        return APIFailure(400, "请求体必须是一个 JSON 对象（含 model 与 messages）。", code="invalid_body")
    if kind == "missing" and not param:
        return APIFailure(400, "请求体为空：请发送一个 JSON 对象（含 model 与 messages）。", code="invalid_body")
    if kind == "missing":
        return APIFailure(400, f"缺少参数 {param}。", param=param, code="missing_parameter")
    msg = str(first.get("msg", "格式不对"))
    return APIFailure(400, f"参数 {param or '请求体'} 不合法：{msg}。", param=param, code="invalid_value")


def install_error_handlers(app: FastAPI, *, max_body_bytes: int) -> None:
    """Register the handlers and the body-size limit on ``app`` (the parent of the Gradio mount)."""

    @app.exception_handler(APIFailure)
    async def _on_failure(_request: Request, exc: APIFailure) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(InputError)
    async def _on_input(_request: Request, exc: InputError) -> JSONResponse:
        return error_response(APIFailure.bad_input(exc))

    @app.exception_handler(RequestValidationError)
    async def _on_validation(request: Request, exc: RequestValidationError):
        if not _ours(request):
            return await request_validation_exception_handler(request, exc)
        return error_response(validation_failure(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException):
        if not _ours(request):
            return await http_exception_handler(request, exc)
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return error_response(APIFailure(exc.status_code, str(exc.detail), kind=kind))

    @app.exception_handler(Exception)
    async def _on_crash(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        if not _ours(request):
            return PlainTextResponse("Internal Server Error", status_code=500)
        return error_response(APIFailure(500, f"内部错误（{type(exc).__name__}）：请查看服务端日志；服务仍在运行，可以重试。",
                                         kind="server_error"))

    app.add_middleware(_BodyLimit, max_bytes=max_body_bytes)


class _BodyLimit:
    """ASGI middleware: a ``/v1`` request whose Content-Length exceeds the limit gets a 413 before
    its body is read. Every other request passes through untouched (no buffering, no wrapping)."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        if path == PREFIX or path.startswith(PREFIX + "/"):
            size = dict(scope.get("headers") or []).get(b"content-length", b"").decode("latin-1")
            if size.isdigit() and int(size) > self.max_bytes:
                response = error_response(APIFailure(
                    413, f"请求体过大：{int(size)} 字节，上限 {self.max_bytes} 字节（配置项 ui.max_request_kb）。",
                    code="request_too_large"))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
