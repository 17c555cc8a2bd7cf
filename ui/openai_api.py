"""OpenAI-compatible ``POST /v1/chat/completions`` and ``GET /v1/models`` on the UI's server.

Existing chat clients can use shanhai as a model. The last user message is the question;
earlier turns resolve follow-ups (:meth:`rag.Pipeline.chat`). Citations travel
with the response three ways: ``[n]`` in the text, a trailing ``参考：`` block in the content,
and a structured ``citations`` list (on the response object; on the last chunk when
streaming), next to ``shanhai`` = the full ``shanhai ask --json`` object.

Model names: ``shanhai`` (configured default backend) or ``shanhai-<backend>``. An optional
non-standard body field ``backend`` overrides it; ``k`` (or ``top_k``), ``sources``,
``date_from``, ``date_to``, ``temperature`` and ``max_tokens`` are honoured too. Every value is
checked once (:mod:`rag.validate`, :meth:`rag.Pipeline.chat`); every error is in OpenAI's shape (:mod:`ui.openai_errors`).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any, Callable, Iterator

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from rag import InputError, check_backend, check_filters, check_k
from ui.actions import friendly_error
from ui.context import BACKEND_CHOICES, UIContext
from ui.openai_errors import APIFailure, error_response, install_error_handlers

MODEL = "shanhai"
BACKENDS = [b for _, b in BACKEND_CHOICES]
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class ChatRequest(BaseModel):
    """The request body. Fields are checked by :func:`checked` (clear 400s naming the field),
    not by pydantic types, so every problem gets the same error shape and a Chinese message."""

    model_config = ConfigDict(extra="allow")
    model: Any = MODEL
    messages: Any = None
    stream: Any = False
    backend: Any = None
    k: Any = None
    top_k: Any = None
    sources: Any = None
    date_from: Any = None
    date_to: Any = None
    temperature: Any = None
    max_tokens: Any = None


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return "" if content is None else str(content)


def check_messages(messages: Any) -> list[tuple[str, Any]]:
    """``(role, content)`` of each message, or a 400 naming the bad field."""
    if messages is None:
        raise APIFailure(400, "缺少参数 messages：请给出对话消息列表，最后一条 user 消息是要回答的问题。",
                         param="messages", code="missing_parameter")
    if not isinstance(messages, list) or not messages:
        raise APIFailure(400, "messages 必须是非空的消息列表（[{\"role\": \"user\", \"content\": \"…\"}]）。",
                         param="messages", code="invalid_value")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise APIFailure(400, f"messages[{i}] 必须是含 role 和 content 的对象。", param=f"messages[{i}]",
                             code="invalid_value")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise APIFailure(400, f"messages[{i}].role 不支持 {role!r}：可用 {'、'.join(ROLES[:4])}。",
                             param=f"messages[{i}].role", code="invalid_value")
        if content is not None and not isinstance(content, (str, list)):
            raise APIFailure(400, f"messages[{i}].content 必须是文字或内容片段列表。", param=f"messages[{i}].content",
                             code="invalid_value")
        out.append((role, content))
    return out


def conversation(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """The last user message and the earlier ``(user, assistant)`` turns."""
    checked_messages = check_messages(messages)
    turns: list[tuple[str, str]] = []
    question: str | None = None
    for role, content in checked_messages:
        if role == "user":
            if question is not None:
                turns.append((question, ""))
            question = _text(content)
        elif role == "assistant" and question is not None:
            turns.append((question, _text(content)))
            question = None
    last = len(checked_messages) - 1
    if checked_messages[-1][0] != "user":
        raise APIFailure(400, "最后一条消息必须是 user 消息：它就是要回答的问题。", param=f"messages[{last}].role",
                         code="invalid_value")
    if question is None or not question.strip():
        raise APIFailure(400, "最后一条 user 消息是空的：请写出要回答的问题。", param=f"messages[{last}].content",
                         code="invalid_value")
    return question, turns


def backend_for(model: str, override: str | None, default: str) -> str:
    """The backend a model name (``shanhai`` / ``shanhai-<backend>``) or an override selects."""
    if override:
        return check_backend(override, default=default)  # InputError → 400 (param "backend")
    if not isinstance(model, str):
        raise APIFailure(400, f"model 必须是模型名（文字），收到 {model!r}。", param="model", code="invalid_value")
    if model == MODEL:
        return default
    name = model.removeprefix(MODEL + "-")
    if model.startswith(MODEL + "-") and name in BACKENDS:
        return name
    raise APIFailure(404, f"没有模型 {model}：可用 {MODEL} 或 {', '.join(f'{MODEL}-{b}' for b in BACKENDS)}。",
                     code="model_not_found", param="model")


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


def add_openai_routes(app: FastAPI, ctx: UIContext, *, token: str | None = None) -> None:
    """Add ``/v1/models`` and ``/v1/chat/completions`` to ``app`` (before Gradio is mounted).

    Args:
        app: the FastAPI app.
        ctx: the UI context (pipeline + config).
        token: when set, requests need ``Authorization: Bearer <token>``.
    """
    router = APIRouter(prefix="/v1", dependencies=[Depends(_auth_check(token))])
    router.get("/models")(models)

    @router.post("/chat/completions")
    def chat_completions(req: ChatRequest):
        return complete_chat(ctx, req)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    router.api_route("", methods=methods, include_in_schema=False)(unknown_route)
    router.api_route("/{path:path}", methods=methods, include_in_schema=False)(unknown_route)
    app.include_router(router)
    install_error_handlers(app, max_body_bytes=int(float(ctx.config.get("ui.max_request_kb") or 1024) * 1024))


def _auth_check(token: str | None) -> Callable[[Request], None]:
    """A dependency requiring ``Authorization: Bearer <token>`` (no check without a token)."""

    def check_auth(request: Request) -> None:
        if not token:
            return
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise APIFailure(401, "需要认证：请在 Authorization 头中提供 Bearer <密码>（ui.auth 中的密码）。",
                             kind="authentication_error", code="invalid_api_key")

    return check_auth


def models() -> dict[str, Any]:
    """``GET /v1/models``: ``shanhai`` and ``shanhai-<backend>`` for every backend."""
    names = [MODEL] + [f"{MODEL}-{b}" for b in BACKENDS]
    return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "shanhai"}
                                       for n in names]}


def complete_chat(ctx: UIContext, req: ChatRequest) -> Any:
    """``POST /v1/chat/completions``: the completion (or its event stream), or an error response."""
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    try:
        first, events, prefix = _start_chat(ctx, req)
    except APIFailure as exc:
        return error_response(exc)
    except InputError as exc:
        failure = APIFailure.bad_input(exc)
        if failure.param == "question":  # the question is the last message's content
            failure.param = f"messages[{len(req.messages) - 1}].content"
        return error_response(failure)
    except Exception as exc:  # no index, backend down: the server's side, not the request's
        return error_response(APIFailure(503, friendly_error(exc), kind="server_error"))
    model = str(req.model)
    if req.stream:
        return StreamingResponse(_stream(model, cid, prefix, first, events), media_type="text/event-stream")
    try:
        answer = next(e["answer"] for e in events if e["type"] == "answer")
    except Exception as exc:
        return error_response(APIFailure(503, friendly_error(exc), kind="server_error"))
    body = _envelope("chat.completion", model, cid)
    body["choices"] = [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": prefix + answer.answer + references(answer)}}]
    body["usage"] = {"prompt_tokens": int(answer.timings.get("prompt_tokens", 0)), "completion_tokens": 0,
                     "total_tokens": int(answer.timings.get("prompt_tokens", 0))}
    body["citations"] = citations_json(answer)
    body["shanhai"] = answer.to_json()
    return body


def _start_chat(ctx: UIContext, req: ChatRequest) -> tuple[dict, Iterator[dict], str]:
    """Check the request and start answering: the first answer event, the remaining events and
    the ``已理解为：`` prefix naming a rewritten follow-up (a missing index fails here, before any byte)."""
    backend = backend_for(req.model, req.backend, ctx.default_backend)
    if req.stream not in (None, True, False):
        raise APIFailure(400, f"stream 必须是 true 或 false，收到 {req.stream!r}。", param="stream",
                         code="invalid_value")
    question, turns = conversation(req.messages)
    filters = check_filters(req.sources, req.date_from, req.date_to)
    k = check_k(req.k if req.k is not None else req.top_k, limit=ctx.max_k,
                param="k" if req.k is not None else "top_k")
    events = ctx.pipeline.chat(question, turns, backend=backend, k=k, filters=filters,
                               max_tokens=req.max_tokens, temperature=req.temperature)
    first, standalone = next(events), question.strip()
    if first["type"] == "rewrite":
        first, standalone = next(events), first["question"]
    prefix = f"已理解为：{standalone}\n\n" if standalone != question.strip() else ""
    return first, events, prefix


def unknown_route(request: Request, path: str = ""):
    """Any other ``/v1`` path or method: OpenAI-shaped 404 / 405."""
    allowed = {"models": "GET", "chat/completions": "POST"}.get(path.strip("/"))
    if allowed:
        raise APIFailure(405, f"/v1/{path} 不支持 {request.method}：请用 {allowed}。", code="method_not_allowed")
    raise APIFailure(404, f"没有接口 /v1/{path}：可用 GET /v1/models 和 POST /v1/chat/completions。",
                     kind="not_found_error", code="unknown_url")


def _stream(model: str, cid: str, prefix: str, first: dict, events: Iterator[dict]) -> Iterator[str]:
    """The completion as server-sent chunks; the last one carries the citations and ``shanhai``."""
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


def _chain(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest
