"""OpenAI-compatible ``POST /v1/chat/completions`` and ``GET /v1/models`` on the UI's server.

Existing chat clients can use shanhai as a model. The last user message is the question;
earlier user turns resolve follow-ups (:func:`rag.chat.rewrite_followup`). Citations travel
with the response three ways: ``[n]`` in the text, a trailing ``参考：`` block in the content,
and a structured ``citations`` list (on the response object; on the last chunk when
streaming), next to ``shanhai`` = the full ``shanhai ask --json`` object.

Model names: ``shanhai`` (configured default backend) or ``shanhai-<backend>``. An optional
non-standard body field ``backend`` overrides it; ``k``, ``sources``, ``date_from`` and
``date_to`` are honoured too.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any, Iterator

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from rag.chat import rewrite_followup
from ui.actions import UserError, friendly_error, parse_filters
from ui.context import BACKEND_CHOICES, UIContext

MODEL = "shanhai"
BACKENDS = [b for _, b in BACKEND_CHOICES]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: Any = ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = MODEL
    messages: list[ChatMessage]
    stream: bool = False
    backend: str | None = None
    k: int | None = None
    sources: list[str] | None = None
    date_from: str | None = None
    date_to: str | None = None


class APIFailure(Exception):
    """An error answered in OpenAI's error format."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return "" if content is None else str(content)


def conversation(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The last user message and the earlier ``(user, assistant)`` turns."""
    turns: list[tuple[str, str]] = []
    question: str | None = None
    for m in messages:
        if m.role == "user":
            if question is not None:
                turns.append((question, ""))
            question = _text(m.content)
        elif m.role == "assistant" and question is not None:
            turns.append((question, _text(m.content)))
            question = None
    if question is None or not question.strip():
        raise APIFailure(400, "messages 中没有用户问题：最后一条 user 消息就是要回答的问题。")
    return question, turns


def backend_for(model: str, override: str | None, default: str) -> str:
    """The backend a model name (``shanhai`` / ``shanhai-<backend>``) or an override selects."""
    if override:
        if override not in BACKENDS:
            raise APIFailure(400, f"未知的回答后端 {override}：可选 {'、'.join(BACKENDS)}。")
        return override
    if model == MODEL:
        return default
    name = model.removeprefix(MODEL + "-")
    if model.startswith(MODEL + "-") and name in BACKENDS:
        return name
    raise APIFailure(404, f"没有模型 {model}：可用 {MODEL} 或 {', '.join(f'{MODEL}-{b}' for b in BACKENDS)}。",
                     code="model_not_found")


def references(answer: Any) -> str:
    """The trailing ``参考：`` block (empty for refusals / no citations)."""
    if answer.refused or not answer.citations:
        return ""
    lines = []
    for c in answer.citations:
        where = "，".join(x for x in (c.source, c.date) if x) or "来源不详"
        lines.append(f"[{c.n}] {c.title or c.doc_id}（{where}）")
    return "\n\n参考：\n" + "\n".join(lines)


def citations_json(answer: Any) -> list[dict[str, Any]]:
    """Structured citations: number, document, title, outlet, date, passage and supporting spans."""
    return [{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "title": c.title, "source": c.source,
             "date": c.date, "text": c.text, "support": [list(s) for s in c.support]} for c in answer.citations]


def _envelope(kind: str, model: str, cid: str) -> dict[str, Any]:
    return {"id": cid, "object": kind, "created": int(time.time()), "model": model}


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _error(exc: APIFailure) -> JSONResponse:
    return JSONResponse({"error": {"message": exc.message, "type": exc.kind, "code": exc.code}},
                        status_code=exc.status)


def add_openai_routes(app: FastAPI, ctx: UIContext, *, token: str | None = None) -> None:
    """Add ``/v1/models`` and ``/v1/chat/completions`` to ``app`` (before Gradio is mounted).

    Args:
        app: the FastAPI app.
        ctx: the UI context (pipeline + config).
        token: when set, requests need ``Authorization: Bearer <token>``.
    """

    def check_auth(request: Request) -> None:
        if not token:
            return
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise APIFailure(401, "需要认证：请在 Authorization 头中提供 Bearer <密码>（ui.auth 中的密码）。",
                             kind="authentication_error", code="invalid_api_key")

    router = APIRouter(prefix="/v1", dependencies=[Depends(check_auth)])

    @router.get("/models")
    def models() -> dict[str, Any]:
        names = [MODEL] + [f"{MODEL}-{b}" for b in BACKENDS]
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "shanhai"}
                                           for n in names]}

    @router.post("/chat/completions")
    def chat_completions(req: ChatRequest):
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        try:
            backend = backend_for(req.model, req.backend, ctx.default_backend)
            question, turns = conversation(req.messages)
            filters = parse_filters(req.sources, req.date_from, req.date_to)
            standalone = rewrite_followup(question, turns)
            events = ctx.pipeline.ask_stream(standalone, backend=backend, k=req.k, filters=filters)
            first = next(events)  # missing index / empty question fail here, before any byte is sent
        except APIFailure as exc:
            return _error(exc)
        except (UserError, ValueError) as exc:
            return _error(APIFailure(400, friendly_error(exc)))
        except Exception as exc:
            return _error(APIFailure(503, friendly_error(exc), kind="server_error"))
        prefix = f"已理解为：{standalone}\n\n" if standalone != question.strip() else ""
        if req.stream:
            return StreamingResponse(_stream(req.model, cid, prefix, standalone, question, first, events),
                                     media_type="text/event-stream")
        try:
            answer = next(e["answer"] for e in events if e["type"] == "answer")
        except Exception as exc:
            return _error(APIFailure(503, friendly_error(exc), kind="server_error"))
        if standalone != question.strip():
            answer.rewritten_question = standalone
        body = _envelope("chat.completion", req.model, cid)
        body["choices"] = [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": prefix + answer.answer + references(answer)}}]
        body["usage"] = {"prompt_tokens": int(answer.timings.get("prompt_tokens", 0)), "completion_tokens": 0,
                         "total_tokens": int(answer.timings.get("prompt_tokens", 0))}
        body["citations"] = citations_json(answer)
        body["shanhai"] = answer.to_json()
        return body

    def _stream(model: str, cid: str, prefix: str, standalone: str, question: str, first: dict,
                events: Iterator[dict]) -> Iterator[str]:
        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            obj = _envelope("chat.completion.chunk", model, cid)
            obj["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
            obj.update(extra)
            return _sse(obj)

        yield chunk({"role": "assistant", "content": prefix})
        streamed = ""
        try:
            for event in _chain(first, events):
                if event["type"] == "token":
                    streamed += event["text"]
                    yield chunk({"content": event["text"]})
                elif event["type"] == "answer":
                    answer = event["answer"]
                    if standalone != question.strip():
                        answer.rewritten_question = standalone
                    tail = ""
                    if answer.answer.strip() != streamed.strip():
                        tail = "\n\n【核查后的回答】" + answer.answer
                    tail += references(answer)
                    if tail:
                        yield chunk({"content": tail})
                    yield chunk({}, "stop", citations=citations_json(answer), shanhai=answer.to_json())
        except Exception as exc:  # the backend failed mid-answer: say so in the stream
            yield chunk({"content": "\n\n⚠️ 出错了：" + friendly_error(exc)})
            yield chunk({}, "stop", citations=[])
        yield "data: [DONE]\n\n"

    app.include_router(router)

    @app.exception_handler(APIFailure)
    async def _on_failure(_request: Request, exc: APIFailure) -> JSONResponse:
        return _error(exc)


def _chain(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest
