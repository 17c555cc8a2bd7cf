"""Multi-turn chat: rewrite an elliptical follow-up into a standalone question.

Retrieval sees one question at a time, so "那靖远呢？" after "张家港向沿河投入多少资金？" must
become a complete question before it is searched. :func:`rewrite_followup` does this with
rules that cover the common Chinese follow-up shapes:

* ``(那)X呢？`` / ``X怎么样？`` / ``那X？`` — X replaces the matching slot of the previous
  question: a time expression when X is one (``那2019年呢？``), otherwise a named entity
  (a place, organisation or person found with jieba's part-of-speech tags, by an
  administrative suffix such as 县/市/区, or in the caller's ``entities``);
* a deictic word (``该县``, ``当地``, ``那里``, ``它``…) — replaced by the previous question's
  main entity;
* a bare continuation (``还有呢？``, ``具体呢？``) — the previous question again.

Anything else is returned unchanged. When the rules cannot resolve a question that looks
dependent, an optional ``llm`` callable rewrites it; its output is checked before use.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

__all__ = ["rewrite_followup", "standalone_questions", "looks_dependent"]

CompleteFn = Callable[[list[dict]], str]

_END = r"[？?。.!！\s]*"
_LEAD = r"(?:那么|那末|那|还有|另外|再问一下|请问)"
_TAIL = r"(?:的情况如何|情况如何|的情况呢|的情况|又如何|又怎样|怎么样|怎样|如何|的呢|呢)"
_ELLIPSIS_RE = re.compile(rf"^{_LEAD}?\s*(?P<x>[^，,。；;？?！!的]{{1,10}}?)\s*{_TAIL}{_END}$")
_LEAD_ONLY_RE = re.compile(rf"^(?:那么|那)\s*(?P<x>[^，,。；;？?！!]{{1,12}}?){_END}$")
_CONTINUE_RE = re.compile(rf"^(?:那)?(?:还有呢|还有吗|还有别的吗|然后呢|继续|具体呢|具体一点|详细一点|详细说说|展开说说|多说一点){_END}$")
_QUESTION_WORD_RE = re.compile(r"多少|几[个年月次人项亿万]|什么|哪|谁|吗|怎么|为何|为什么|是否|有没有")
_PRONOUN_RE = re.compile(r"该(?:县|市|区|省|州|地|镇|乡|村|旗)|当地|那里|那儿|这里|此地|这个(?:县|市|区|地方)|那个(?:县|市|区|地方)|它们|它")
_TIME_CORE = (r"(?:\d{4}|[〇零一二三四五六七八九]{4})年(?:\d{1,2}月(?:\d{1,2}日)?)?(?:上半年|下半年)?"
              r"|今年|去年|前年|明年|上半年|下半年")
_TIME_ANCHORED_RE = re.compile(rf"^(?:{_TIME_CORE})(?:以来|之前|以前|之后|以后|前|后|底|初)?$")
_TIME_RE = re.compile(rf"(?:{_TIME_CORE})(?:以来|之前|以前|之后|以后|底|初)?")
_ADMIN_SUFFIX = "省市县区州镇乡村旗盟"
_ENTITY_FLAGS = {"ns", "nr", "nt", "nz", "nrt", "nrfg"}
_TARGET_BEFORE = ("向", "对", "给", "到", "在", "为", "帮扶", "支援", "援助", "协作", "对口")
_REWRITE_SYSTEM = ("你负责把用户在多轮对话中的追问改写成一个完整、独立、可以单独检索的问题。"
                   "只输出改写后的问题本身，不要回答问题，不要解释。")


def rewrite_followup(question: str, history: Sequence[tuple[str, str]], *,
                     entities: Iterable[str] | None = None, llm: CompleteFn | None = None) -> str:
    """Rewrite a follow-up question into a standalone one, using the previous turns.

    Args:
        question: the new user question.
        history: earlier turns as ``(question, answer)`` pairs, oldest first. The questions may
            be as typed or already rewritten (earlier follow-ups are resolved in order).
        entities: optional known names (e.g. a region gazetteer) that help spot the slot to
            replace; jieba part-of-speech tags are used in any case.
        llm: optional ``complete(messages) -> str`` used only when the rules leave a question
            that looks dependent on context unchanged.

    Returns:
        The standalone question (``question`` stripped, unchanged when it needs no context).
    """
    q = (question or "").strip()
    previous = standalone_questions([h[0] for h in history], entities=entities)
    prev = next((p for p in reversed(previous) if p.strip()), "")
    if not q or not prev:
        return q
    out = _rewrite_rules(q, prev, list(entities or []))
    if out == q and llm is not None and looks_dependent(q):
        out = _rewrite_llm(q, prev, llm) or q
    return out


def standalone_questions(questions: Sequence[str], *, entities: Iterable[str] | None = None) -> list[str]:
    """Resolve a sequence of user questions turn by turn (each against the previous resolved one).

    Args:
        questions: user questions in order.
        entities: optional known names, as in :func:`rewrite_followup`.

    Returns:
        One standalone question per input.
    """
    names = list(entities or [])
    out: list[str] = []
    for q in questions:
        q = (q or "").strip()
        prev = next((p for p in reversed(out) if p), "")
        out.append(_rewrite_rules(q, prev, names) if q and prev else q)
    return out


def looks_dependent(question: str) -> bool:
    """Whether a question probably needs the conversation to be understood.

    True for very short questions, ones opening with 那/那么, and ones using a deictic word.
    """
    q = question.strip()
    content = re.sub(r"[\W_]", "", q)
    return len(content) <= 6 or q.startswith(("那", "还有", "另外")) or bool(_PRONOUN_RE.search(q))


# -- rules ------------------------------------------------------------------------------------
def _rewrite_rules(q: str, prev: str, entities: list[str]) -> str:
    if _CONTINUE_RE.match(q):
        return prev
    x = _elliptical_focus(q)
    if x is not None:
        return _substitute(prev, x, entities)
    pronoun = _PRONOUN_RE.search(q)
    if pronoun:
        slot = _main_entity(prev, entities, hint=pronoun.group())
        if slot:
            return q[: pronoun.start()] + slot + q[pronoun.end():]
    return q


def _elliptical_focus(q: str) -> str | None:
    """The X of ``那X呢？`` / ``X怎么样？`` / ``那X？``, or None when ``q`` is not of that shape."""
    m = _ELLIPSIS_RE.match(q) or _LEAD_ONLY_RE.match(q)
    if not m:
        return None
    x = m.group("x").strip()
    if not x or _QUESTION_WORD_RE.search(x) or _PRONOUN_RE.fullmatch(x):
        return None
    return x


def _substitute(prev: str, x: str, entities: list[str]) -> str:
    """Put ``x`` in place of the matching slot of ``prev`` (time or entity)."""
    if x in prev:
        return prev
    if _TIME_ANCHORED_RE.match(x):
        m = _TIME_RE.search(prev)
        if m:
            return prev[: m.start()] + x + prev[m.end():]
        return x + prev
    cands = _entity_spans(prev, entities)
    slot = _pick_slot(prev, x, cands)
    if slot is None:
        return f"关于{x}，{prev}"
    start, end = slot
    out = prev[:start] + x + prev[end:]
    actor = _actor_of(prev, slot, cands)
    if actor is not None:  # "A向B…" asked about another B: A's relation was to the old B only
        out = out[: actor[0]] + out[actor[1]:]
    return out


def _actor_of(prev: str, slot: tuple[int, int], cands: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The entity acting on ``slot`` when ``slot`` is a target ("张家港向沿河" -> 张家港), else None."""
    if _target(prev, [slot]) is None:
        return None
    for a, b in cands:
        gap = prev[b:slot[0]]
        if b <= slot[0] and len(gap) <= 6 and any(gap.endswith(w) for w in _TARGET_BEFORE) \
                and not re.search(r"[，,。；;？?！!]", gap):
            return a, b
    return None


def _pick_slot(prev: str, x: str, cands: list[tuple[int, int]]) -> tuple[int, int] | None:
    if not cands:
        return None
    overlap = [c for c in cands if x in prev[c[0]:c[1]] or prev[c[0]:c[1]] in x]
    if overlap:
        return overlap[0]
    if x[-1] in _ADMIN_SUFFIX:
        same = [c for c in cands if prev[c[1] - 1] == x[-1]]
        if len(same) == 1:
            return same[0]
    return _target(prev, cands) or cands[0]


def _main_entity(prev: str, entities: list[str], *, hint: str = "") -> str | None:
    cands = _entity_spans(prev, entities)
    if not cands:
        return None
    if hint and hint[-1] in _ADMIN_SUFFIX:
        same = [c for c in cands if prev[c[1] - 1] == hint[-1]]
        if same:
            return prev[same[0][0]:same[0][1]]
    a, b = _target(prev, cands) or cands[0]
    return prev[a:b]


def _target(prev: str, cands: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The entity right after a directional word (向沿河, 帮扶靖远): the object of the question."""
    for a, b in cands:
        if any(prev[:a].endswith(w) for w in _TARGET_BEFORE):
            return a, b
    return None


def _entity_spans(text: str, entities: list[str]) -> list[tuple[int, int]]:
    """Spans of named entities in ``text``: known names first, then jieba-tagged runs."""
    spans: list[tuple[int, int]] = []
    for name in sorted({e for e in entities if e}, key=len, reverse=True):
        for m in re.finditer(re.escape(name), text):
            if not any(a < m.end() and m.start() < b for a, b in spans):
                spans.append((m.start(), m.end()))
    for a, b in _tagged_runs(text):
        if not any(x < b and a < y for x, y in spans):
            spans.append((a, b))
    return sorted(spans)


def _tagged_runs(text: str) -> list[tuple[int, int]]:
    import jieba.posseg as pseg

    runs: list[tuple[int, int]] = []
    pos = 0
    current: list[int] | None = None
    for token in pseg.cut(text):
        word, flag = token.word, token.flag
        start, pos = pos, pos + len(word)
        is_entity = flag in _ENTITY_FLAGS or (
            len(word) >= 2 and word[-1] in _ADMIN_SUFFIX and re.fullmatch(r"[\u4e00-\u9fff]+", word) is not None)
        if is_entity:
            if current is not None and current[1] == start:
                current[1] = pos
            else:
                current = [start, pos]
                runs.append(current)  # type: ignore[arg-type]
        else:
            current = None
    return [(a, b) for a, b in runs]


# -- LLM fallback -----------------------------------------------------------------------------
def _rewrite_llm(q: str, prev: str, llm: CompleteFn) -> str | None:
    messages = [{"role": "system", "content": _REWRITE_SYSTEM},
                {"role": "user", "content": f"上一个问题：{prev}\n追问：{q}\n改写后的问题："}]
    try:
        raw = llm(messages) or ""
    except Exception:  # a failing rewrite must never break the chat
        return None
    line = next((ln.strip() for ln in raw.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(?:改写后的问题|改写|问题)[:：]\s*", "", line).strip("“”\"' ")
    if len(line) < 2 or len(line) > len(prev) + len(q) + 20:
        return None
    return line
