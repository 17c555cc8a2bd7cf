"""Chat tab: question box, streamed answer with clickable ``[n]``, cited passages alongside.

The tab holds no pipeline logic: one call to :meth:`rag.Pipeline.chat` checks the question,
rewrites a follow-up and streams the answer; the tab renders the events with :mod:`ui.render`.
"""

from __future__ import annotations

from typing import Any, Iterator

import gradio as gr

from rag import QuestionError
from ui import render
from ui.actions import friendly_error, parse_filters
from ui.context import BACKEND_CHOICES, UIContext
from ui.queue_notices import with_queue_notices

SCRIPT_CHOICES = [("简体（规范化）", "text"), ("原文字形", "original")]
_CURSOR = " ▌"


def stream_turn(events: Iterator[dict]) -> Iterator[dict[str, Any]]:
    """The events of one chat turn (:meth:`rag.Pipeline.chat`) as UI-level events (no Gradio types).

    Yields:
        ``{"kind": "rewrite", "question": str}`` when the follow-up was rewritten, then
        ``{"kind": "passages", "passages": [...]}``, ``{"kind": "text", "text": str}`` (the
        streamed text so far) and finally ``{"kind": "answer", "answer": Answer}``; or
        ``{"kind": "error", "message": str}`` when the turn fails.
    """
    text = ""
    try:
        for event in events:
            if event["type"] == "rewrite":
                yield {"kind": "rewrite", "question": event["question"]}
            elif event["type"] == "passages":
                yield {"kind": "passages", "passages": event["passages"]}
            elif event["type"] == "token":
                text += event["text"]
                yield {"kind": "text", "text": text}
            elif event["type"] == "answer":
                yield {"kind": "answer", "answer": event["answer"]}
    except Exception as exc:  # shown in the chat; the app keeps serving
        yield {"kind": "error", "message": friendly_error(exc)}


def _assistant(prefix: str, body: str) -> dict[str, str]:
    return {"role": "assistant", "content": prefix + body}


def _final_markdown(answer: Any) -> str:
    valid = [int(p["n"]) for p in answer.passages]
    if answer.refused:
        return "ℹ️ **资料中没有找到答案**\n\n" + render.md_escape(answer.answer) + "\n\n" + _footnote(answer)
    body = render.answer_markdown(answer.answer, panel="chat", valid=valid)
    warnings = render.check_warnings(answer.checks)
    if warnings:
        body += "\n\n⚠️ *核查提示：" + render.md_escape(" ".join(warnings)) + "*"
    return body + "\n\n" + _footnote(answer)


def _footnote(answer: Any) -> str:
    t = answer.timings or {}
    bits = [f"后端 {answer.backend}", f"检索 {t.get('retrieve', 0):.2f} 秒"]
    if t.get("llm_calls"):
        bits.append(f"首字 {t.get('first_token', 0):.1f} 秒")
    bits.append(f"共 {t.get('total', 0):.1f} 秒")
    return "<sub>" + render.md_escape(" · ".join(bits)) + "</sub>"


def respond(ctx: UIContext, question: str, messages: list, history: list, backend: str, k: float,
            sources: list[str] | None, date_from: str, date_to: str, script: str):
    """Gradio handler: yields (chatbot, passages panel, history, last answer state, question box)."""
    question = (question or "").strip()
    messages = list(messages or [])
    history = list(history or [])
    if not question:
        yield messages, gr.skip(), history, gr.skip(), ""
        return
    shown = question if len(question) <= 300 else question[:300] + f"…（共 {len(question)} 字）"
    messages.append({"role": "user", "content": render.md_escape(shown)})
    try:  # the input is checked here, once; the turn itself runs in with_queue_notices' thread
        filters = parse_filters(sources, date_from, date_to)
        events = ctx.pipeline.chat(question, [(h[0], h[1]) for h in history], backend=backend, k=int(k),
                                   filters=filters, llm_rewrite=True)
    except Exception as exc:  # the question stays in the box: nothing typed is lost
        title = "问题无法处理" if isinstance(exc, QuestionError) else "设置有误"
        messages.append(_assistant("", f"⚠️ **{title}**：" + render.md_escape(friendly_error(exc))))
        yield messages, gr.skip(), history, gr.skip(), question
        return
    prefix = ""
    messages.append(_assistant("", "正在检索相关段落…"))
    yield messages, gr.skip(), history, gr.skip(), ""
    passages: list[dict] = []
    turn = with_queue_notices(lambda: stream_turn(events))
    for ev in turn:
        kind = ev["kind"]
        if kind == "queue":  # waiting for the local model: show the place in line until the first token
            messages[-1] = _assistant(prefix, "⏳ " + render.md_escape(ev["message"]))
            yield messages, gr.skip(), history, gr.skip(), ""
        elif kind == "rewrite":
            prefix = f"*已理解为：{render.md_escape(ev['question'])}*\n\n"
            messages[-1] = _assistant(prefix, "正在检索相关段落…")
            yield messages, gr.skip(), history, gr.skip(), ""
        elif kind == "passages":
            passages = ev["passages"]
            messages[-1] = _assistant(prefix, "正在生成回答…")
            yield messages, render.passages_html(passages, script=script), history, gr.skip(), ""
        elif kind == "text":
            valid = [int(p["n"]) for p in passages]
            body = render.answer_markdown(ev["text"], panel="chat", valid=valid) + _CURSOR
            messages[-1] = _assistant(prefix, body)
            yield messages, gr.skip(), history, gr.skip(), ""
        elif kind == "answer":
            answer = ev["answer"]
            messages[-1] = _assistant(prefix, _final_markdown(answer))
            last = {"passages": answer.passages, "citations": [c.to_json() for c in answer.citations],
                    "checks": answer.checks, "notice": _refusal_notice(answer)}
            history.append([answer.rewritten_question or question, answer.answer])
            yield messages, _panel(last, script), history, last, ""
        else:
            title = "出错了"
            messages[-1] = _assistant(prefix, f"⚠️ **{title}**：" + render.md_escape(ev["message"]))
            panel = render.passages_html([], notice=render.notice_html("error", title, ev["message"]))
            yield messages, panel, history, None, ""


def _refusal_notice(answer: Any) -> str:
    if not answer.refused:
        return ""
    return render.notice_html("refusal", "资料中没有找到答案", answer.answer)


def _panel(last: dict | None, script: str) -> str:
    if not last:
        return render.passages_html([])
    return render.passages_html(last["passages"], citations=last["citations"], checks=last["checks"],
                                script=script, notice=last.get("notice", ""))


def build(ctx: UIContext) -> None:
    """Build the chat tab inside the current ``gr.Tab``."""
    history = gr.State([])
    last = gr.State(None)
    with gr.Sidebar(label="问答设置", open=False, position="right", elem_id="shanhai-settings"):
        gr.Markdown("### 问答设置")
        backend = gr.Dropdown(BACKEND_CHOICES, value=ctx.default_backend, label="回答后端", elem_id="shanhai-backend")
        k = gr.Slider(1, 10, value=ctx.top_k, step=1, label="最多引用段落数（top-k）")
        sources = gr.Dropdown(choices=ctx.sources(), value=[], multiselect=True, label="只看这些来源（留空＝全部）",
                              elem_id="shanhai-sources")
        with gr.Row():
            date_from = gr.Textbox(label="起始日期", placeholder="2020-01-01")
            date_to = gr.Textbox(label="截止日期", placeholder="2020-12-31")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="对话", elem_id="shanhai-chatbot", height=520, feedback_options=None,
                                 placeholder="请输入关于文档库中新闻的问题，回答会标注引用编号 [n]。")
            with gr.Row():
                question = gr.Textbox(placeholder="例如：张家港向沿河投入多少资金？", show_label=False, scale=6,
                                      elem_id="shanhai-question", autofocus=True, max_lines=4)
                send = gr.Button("提问", variant="primary", scale=1, elem_id="shanhai-send")
            with gr.Row():
                clear = gr.Button("新对话", size="sm", elem_id="shanhai-clear")
            examples = [[q] for q in (ctx.config.get("ui.examples") or [])]
            if examples:
                gr.Examples(examples, inputs=[question], label="示例问题")
        with gr.Column(scale=2):
            script = gr.Radio(SCRIPT_CHOICES, value="text", label="段落文字", elem_id="shanhai-script")
            panel = gr.HTML(render.passages_html([]), elem_id="shanhai-passages")
    ctx.share("passages", panel)
    ctx.share("question", question)

    def _respond(q, msgs, hist, be, kk, srcs, dfrom, dto, scr):
        yield from respond(ctx, q, msgs, hist, be, kk, srcs, dfrom, dto, scr)

    inputs = [question, chatbot, history, backend, k, sources, date_from, date_to, script]
    outputs = [chatbot, panel, history, last, question]
    opts = dict(api_visibility="private", concurrency_limit=ctx.concurrency, concurrency_id="answer")
    question.submit(_respond, inputs, outputs, **opts)
    send.click(_respond, inputs, outputs, **opts)
    script.change(_panel, [last, script], [panel], api_visibility="private", queue=False)
    clear.click(lambda: ([], [], None, render.passages_html([]), ""), None, [chatbot, history, last, panel, question],
                api_visibility="private", queue=False)
    if ctx.docs_changed is not None:
        ctx.docs_changed.change(lambda _v: gr.update(choices=ctx.sources()), [ctx.docs_changed], [sources],
                                api_visibility="private")
