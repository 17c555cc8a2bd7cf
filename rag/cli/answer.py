"""`shanhai ask`: stream a cited answer to the terminal, then list the cited passages."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from rag import Answer, Citation, describe_backends
from rag.cli.common import command, print_json
from rag.config import Config

OPEN_MARK, CLOSE_MARK = "【", "】"


def add_parsers(sub, common) -> None:
    """Register ``ask``'s arguments."""
    p = sub.add_parser("ask", help="提问：根据索引中的文章回答，并标注引用的段落")
    common(p)
    p.add_argument("question", help="问题（简体或繁体）")
    p.add_argument("--backend", help=f"回答后端：{describe_backends()}（默认：配置 answer.backend）")
    p.add_argument("-k", type=int, help="最多提供给模型的段落数（默认 retrieval.top_k）")
    p.add_argument("--json", action="store_true", help="输出一个 JSON 对象（不流式显示）")
    p.add_argument("--source", action="append", help="只用某来源的文章（可重复）")
    p.add_argument("--date-from", help="起始日期 YYYY-MM-DD")
    p.add_argument("--date-to", help="截止日期 YYYY-MM-DD")
    p.add_argument("--previous", action="append", default=[], metavar="QUESTION",
                   help="同一对话中之前问过的问题（可重复，按先后顺序）：追问会先改写成完整的问题")


def mark_spans(text: str, spans: Sequence[Sequence[int]], *, open_mark: str = OPEN_MARK,
               close_mark: str = CLOSE_MARK) -> str:
    """Wrap each span of ``text`` in marks (spans may overlap or be unsorted).

    Args:
        text: the passage (original script; same offsets as its normalised form).
        spans: ``(start, end)`` pairs.
        open_mark: text inserted before a span.
        close_mark: text inserted after a span.

    Returns:
        The text with the supporting spans marked.
    """
    from rag.text.spans import merge_spans  # lazily: the rag.text package pulls in the cleaning stack

    merged = merge_spans(spans, len(text))
    out, pos = [], 0
    for a, b in merged:
        out += [text[pos:a], open_mark, text[a:b], close_mark]
        pos = b
    out.append(text[pos:])
    return "".join(out)


def format_citation(c: Citation) -> str:
    """Terminal block for one cited passage: header line and the marked original text."""
    head = f"[{c.n}] {c.doc_id}  {c.date or '日期不详'}  {c.source or '来源不详'}"
    if c.title:
        head += f"  《{c.title}》"
    body = mark_spans(c.original, c.support).replace("\n", " ").strip()
    if c.injection_spans:
        from rag.text.injection import INJECTION_LABEL

        head += f"  {INJECTION_LABEL}"
    return f"{head}\n    {body}"


def format_checks(answer: Answer) -> list[str]:
    """Warnings from verification, one line each (empty when everything checked out)."""
    ch = answer.checks or {}
    lines = []
    if ch.get("invalid_citations"):
        lines.append("注意：回答引用了不存在的段落编号 " + "、".join(f"[{n}]" for n in ch["invalid_citations"]) + "，已删除")
    if ch.get("repaired_citations"):
        lines.append(f"注意：{len(ch['repaired_citations'])} 处引用指向了不含该内容的段落，已改为正确的段落")
    if ch.get("no_citation"):
        lines.append("注意：模型没有给出任何引用，以上引用是按数字和原文自动补上的")
    if ch.get("ungrounded_numbers"):
        lines.append("警告：以下数字在所给段落中找不到：" + "、".join(ch["ungrounded_numbers"]))
    if ch.get("unsupported_sentences"):
        lines.append(f"警告：{len(ch['unsupported_sentences'])} 句内容未能在段落中核实（已标注〔未核实〕）")
    if ch.get("injection_withheld"):
        from rag.text.injection import withheld_notice

        lines.append(withheld_notice([str(w.get("title") or "") for w in ch["injection_withheld"]]))
    return lines


def format_timings(answer: Answer) -> str:
    """One line: retrieval, first token, total seconds and prompt tokens."""
    t = answer.timings or {}
    parts = [f"检索 {t.get('retrieve', 0):.2f} 秒", f"首字 {t.get('first_token', 0):.2f} 秒",
             f"总计 {t.get('total', 0):.2f} 秒"]
    if t.get("prompt_tokens"):
        parts.append(f"提示 {t['prompt_tokens']} token（复用缓存 {t.get('cached_prompt_tokens', 0)}）")
    return "（" + " · ".join(parts) + f" · 后端 {answer.backend}）"


@command("ask")
def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    from rag import Pipeline, check_filters, start_warmup

    pipe = Pipeline(config)
    question = pipe.check_question(args.question)  # bad input fails before any model loads
    filters = check_filters(args.source, args.date_from, args.date_to)
    start_warmup(pipe)  # encoder + jieba load while the index opens
    if args.previous:
        question = pipe.standalone_question(question, [(q, "") for q in args.previous])
    rewritten = question if question != args.question.strip() else None
    if args.json:
        answer = pipe.ask(question, backend=args.backend, k=args.k, filters=filters)
        answer.rewritten_question = rewritten
        print_json(answer.to_json())
        return 0
    if rewritten:
        print(f"（已理解为：{rewritten}）")
    streamed: list[str] = []
    answer: Answer | None = None
    for event in pipe.ask_stream(question, backend=args.backend, k=args.k, filters=filters):
        if event["type"] == "token":
            streamed.append(event["text"])
            sys.stdout.write(event["text"])
            sys.stdout.flush()
        elif event["type"] == "answer":
            answer = event["answer"]
    assert answer is not None
    print()
    if answer.answer.strip() != "".join(streamed).strip():
        print("\n—— 校验后的回答 ——")
        print(answer.answer)
    for line in format_checks(answer):
        print(line)
    if answer.citations:
        print("\n引用的段落（【】内为支持回答的原文）：")
        for c in answer.citations:
            print(format_citation(c))
    elif not answer.refused:
        print("\n（回答没有可核实的引用）")
    print(format_timings(answer))
    return 0
