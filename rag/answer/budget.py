"""Fit the prompt into the model's context window by trimming evidence, never by failing.

A local model has ``n_ctx`` tokens for prompt and answer together, so the prompt may use at
most ``n_ctx - max_tokens`` (less a small margin for the chat template). When the evidence
selected by :mod:`rag.answer.evidence` does not fit, :func:`fit_evidence` drops it from the
end — the last evidence span of the last passage first (passages are ordered best first),
then whole passages, then it shortens the one passage left — until it fits. Only if the
system prompt and the question alone leave no room (a context window configured too small)
does :func:`generation_room` report that, so the caller can shorten the answer instead.

Token counts come from the backend's tokenizer when it has one (``count_tokens``); otherwise
they are estimated from UTF-8 bytes (an overestimate for Chinese: ~3 bytes per character,
~0.7–1 token per character).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

from rag.answer.evidence import render_evidence
from rag.answer.passages import Passage
from rag.answer.prompt import build_messages

__all__ = ["PromptFit", "fit_evidence", "token_counter", "context_window", "prompt_budget", "MARGIN"]

CountFn = Callable[[list[dict]], int]
TEMPLATE_TOKENS = 8  # per message: role markers and separators of a chat template
MARGIN = 16
_MIN_EVIDENCE = 24  # characters below which a passage is not worth showing


class PromptFit:
    """Result of :func:`fit_evidence`: the passages to show and what it took."""

    def __init__(self, passages: list[Passage], tokens: int, budget: int, dropped: int, trimmed: bool):
        self.passages, self.tokens, self.budget, self.dropped, self.trimmed = passages, tokens, budget, dropped, trimmed

    def to_json(self) -> dict[str, Any]:
        return {"prompt_tokens": self.tokens, "budget": self.budget, "dropped_passages": self.dropped,
                "trimmed": self.trimmed}


def context_window(llm: Any) -> int | None:
    """The backend's context window in tokens (``n_ctx``), None when it has no known limit."""
    n = getattr(llm, "n_ctx", None)
    return int(n) if isinstance(n, int) and n > 0 else None


def token_counter(llm: Any) -> CountFn:
    """``count(messages) -> tokens`` with the backend's tokenizer, else a byte-based estimate."""
    exact = getattr(llm, "count_tokens", None)

    def count(messages: list[dict]) -> int:
        total = 0
        for m in messages:
            text = str(m.get("content") or "")
            total += (exact(text) if exact else len(text.encode("utf-8")) // 2) + TEMPLATE_TOKENS
        return total + TEMPLATE_TOKENS

    return count


def fit_evidence(question: str, passages: Sequence[Passage], count: CountFn, budget: int) -> PromptFit:
    """Trim evidence until ``build_messages(question, passages)`` fits ``budget`` tokens.

    Args:
        question: the (sub-)question as it goes into the prompt.
        passages: passages with evidence, best first (not modified: trimmed ones are copies).
        count: token counter for a message list (:func:`token_counter`).
        budget: tokens the prompt may use (``n_ctx - max_tokens - margin``).

    Returns:
        The passages to show (a prefix of ``passages``, the last one possibly shortened) and the
        final prompt size. When even no evidence fits, one shortened passage is kept and
        ``tokens`` exceeds ``budget``: the caller must shorten the answer (see module docstring).
    """
    shown = list(passages)
    tokens = count(build_messages(question, shown))
    dropped, trimmed = 0, False
    while tokens > budget and shown:
        last = shown[-1]
        spans = list(last.evidence_spans)
        if len(spans) > 1:
            shown[-1] = replace(last, evidence_spans=spans[:-1], evidence=render_evidence(last, spans[:-1]))
        elif len(shown) > 1:
            shown.pop()
            dropped += 1
        else:
            text = (last.evidence or last.text).rstrip("…")
            cut = len(text) * 2 // 3
            if cut < _MIN_EVIDENCE:
                break
            shown[-1] = replace(last, evidence=text[:cut].rstrip() + "…")
        trimmed = True
        tokens = count(build_messages(question, shown))
    return PromptFit(shown, tokens, budget, dropped, trimmed)


def prompt_budget(n_ctx: int, max_tokens: int) -> int:
    """Tokens a prompt may use so that ``max_tokens`` still fit in ``n_ctx``."""
    return n_ctx - max_tokens - MARGIN
