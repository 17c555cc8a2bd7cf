"""Multi-turn chat: rewrite an elliptical follow-up into a standalone question.

Retrieval sees one question at a time, so "那天津市和平区对靖远县呢？" after
"张家港向沿河投入多少资金？" must become "天津市和平区向靖远县投入多少资金？" before it is
searched. :func:`rewrite_followup` does this with rules for the common Chinese follow-up shapes;
the previous question's predicate is kept and only the slots the follow-up names change:

* ``(那)X呢？`` / ``X怎么样？`` / ``那X？`` / ``如果是X呢？`` — X replaces the matching slot of
  the previous question: a time (``那2019年呢？``), both places of a pair (``那A对B呢？``: donor
  and recipient), the recipient (``那对B呢？``), or one name. Which slot one new place fills is
  decided by the region gazetteer when it knows the places (a donor → recipient pair with the
  place that stays, the roles the place has in the corpus, its level), else by the written
  administrative suffix, else it is the recipient (:mod:`rag.chat_frame`). The old partner is
  kept only when the gazetteer pairs it with the new place (a recipient swapped without a
  gazetteer drops the old donor: ``那靖远呢？`` → ``向靖远投入多少资金？``);
* a deictic word (``该县``, ``这个县``, ``它``, ``那里``, ``当地``…) — replaced by the place it
  refers to: the previous question's place of that level, or the place the previous answer
  named when the previous question asked for one (``…是哪里？`` → ``它…``);
* a bare continuation (``还有呢？``, ``具体呢？``) — the previous question again.

Anything else is returned unchanged. When the rules cannot resolve a question that looks
dependent, an optional ``llm`` callable rewrites it; its output is checked before use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from rag.chat_frame import ADMIN_SUFFIX, CONNECTORS, Places, Span, frame_of, same_place
from rag.text.citations import strip_citations

__all__ = ["rewrite_followup", "standalone_questions", "looks_dependent", "Places"]

CompleteFn = Callable[[list[dict]], str]

_END = r"[？?。.!！\s]*"
_LEAD = r"(?:那么|那末|那|还有|另外|再问一下|请问|如果是|要是|换成|换作|改成|至于)"
_TAIL = r"(?:的情况如何|情况如何|的情况呢|的情况|又如何|又怎样|怎么样|怎样|如何|的呢|呢)"
_ELLIPSIS_RE = re.compile(rf"^(?:{_LEAD}\s*){{0,2}}(?P<x>[^，,。；;？?！!的]{{1,24}}?)\s*{_TAIL}{_END}$")
_LEAD_ONLY_RE = re.compile(rf"^(?:那么|那)\s*(?P<x>[^，,。；;？?！!]{{1,16}}?){_END}$")
_CONTINUE_RE = re.compile(rf"^(?:那)?(?:还有呢|还有吗|还有别的吗|然后呢|继续|具体呢|具体一点|详细一点|详细说说|展开说说|多说一点){_END}$")
_QUESTION_WORD_RE = re.compile(r"多少|几[个年月次人项亿万]|什么|哪|谁|吗|怎么|为何|为什么|是否|有没有")
_PRONOUN_RE = re.compile(r"(?:该|这个|那个|此|本)(?:县|市|区|省|州|镇|乡|村|旗|地方)|该地|当地|那里|那儿|这里|此地"
                         r"|(?<!其)它们|(?<!其)它")
_ASKS_PLACE_RE = re.compile(r"哪里|哪儿|哪个|哪[县市区省州镇乡村家]|什么地方|什么单位|谁")
_TIME_CORE = (r"(?:\d{4}|[〇零一二三四五六七八九]{4})年(?:\d{1,2}月(?:\d{1,2}日)?)?(?:上半年|下半年)?"
              r"|今年|去年|前年|明年|上半年|下半年")
_TIME_SUFFIX = r"(?:以来|之前|以前|之后|以后|前|后|底|初)"
_TIME_ANCHORED_RE = re.compile(rf"^(?:{_TIME_CORE}){_TIME_SUFFIX}?$")
_TIME_RE = re.compile(rf"(?P<core>{_TIME_CORE})(?P<suffix>(?:以来|之前|以前|之后|以后|底|初)?)")
_LEADING_TIME_RE = re.compile(rf"^(?P<t>(?:{_TIME_CORE}){_TIME_SUFFIX}?)(?P<rest>.*)$")
_TIME_DE_RE = re.compile(rf"^(?P<lead>(?:{_LEAD}\s*){{0,2}})(?P<t>(?:{_TIME_CORE}){_TIME_SUFFIX}?)的")
_GIVING = "|".join(c for c in CONNECTORS if c not in ("到", "在"))  # 对/向/给/为/帮扶…, not 到/在
_PAIR_RE = re.compile(rf"^(?P<a>.+?)(?P<c>{_GIVING})(?P<b>.+)$")
_RECIPIENT_RE = re.compile(rf"^(?:{_GIVING})(?P<b>.+)$")
_REWRITE_SYSTEM = ("你负责把用户在多轮对话中的追问改写成一个完整、独立、可以单独检索的问题。"
                   "只输出改写后的问题本身，不要回答问题，不要解释。")


@dataclass
class _Focus:
    """What an elliptical follow-up names: a time, a donor/recipient pair, a recipient, a name."""

    time: str = ""
    donor: str = ""
    recipient: str = ""
    name: str = ""
    topic: str = ""


def rewrite_followup(question: str, history: Sequence[tuple[str, str]], *,
                     entities: Iterable[str] | None = None, places: Any = None,
                     llm: CompleteFn | None = None) -> str:
    """Rewrite a follow-up question into a standalone one, using the previous turns.

    Args:
        question: the new user question.
        history: earlier turns as ``(question, answer)`` pairs, oldest first. The questions may
            be as typed or already rewritten (earlier follow-ups are resolved in order); the
            answers resolve pronouns that refer to a place the answer named.
        entities: optional extra known names that help spot the slot to replace.
        places: the region gazetteer (:class:`rag.regions.RegionStore` or :class:`Places`):
            aliases in both scripts, levels and donor → recipient pairs decide slots.
        llm: optional ``complete(messages) -> str`` used only when the rules leave a question
            that looks dependent on context unchanged.

    Returns:
        The standalone question (``question`` stripped, unchanged when it needs no context).
    """
    q = (question or "").strip()
    book = _places(places, entities)
    previous = standalone_questions([h[0] for h in history], places=book, answers=[h[1] for h in history])
    last = next((i for i in range(len(previous) - 1, -1, -1) if previous[i].strip()), None)
    if not q or last is None:
        return q
    prev, answer = previous[last], str(history[last][1] or "")
    out = _rewrite_rules(q, prev, answer, book)
    if out == q and llm is not None and looks_dependent(q):
        out = _rewrite_llm(q, prev, llm) or q
    return out


def standalone_questions(questions: Sequence[str], *, entities: Iterable[str] | None = None, places: Any = None,
                         answers: Sequence[str] | None = None) -> list[str]:
    """Resolve a sequence of user questions turn by turn (each against the previous resolved one).

    Args:
        questions: user questions in order.
        entities: optional known names, as in :func:`rewrite_followup`.
        places: optional gazetteer, as in :func:`rewrite_followup`.
        answers: optional answers to those questions (same order), for pronouns.

    Returns:
        One standalone question per input.
    """
    book = _places(places, entities)
    out: list[str] = []
    for q in questions:
        q = (q or "").strip()
        j = next((k for k in range(len(out) - 1, -1, -1) if out[k]), None)
        answer = str(answers[j]) if answers is not None and j is not None and j < len(answers) else ""
        out.append(_rewrite_rules(q, out[j], answer, book) if q and j is not None else q)
    return out


def looks_dependent(question: str) -> bool:
    """Whether a question probably needs the conversation to be understood.

    True for very short questions, ones opening with 那/那么, and ones using a deictic word.
    """
    q = question.strip()
    content = re.sub(r"[\W_]", "", q)
    return len(content) <= 6 or q.startswith(("那", "还有", "另外")) or bool(_PRONOUN_RE.search(q))


def _places(places: Any, entities: Iterable[str] | None) -> Places:
    if not isinstance(places, Places):
        return Places(places, entities or ())
    return places.with_names(entities) if entities else places


# -- rules ------------------------------------------------------------------------------------
def _rewrite_rules(q: str, prev: str, answer: str, places: Places) -> str:
    if _CONTINUE_RE.match(q):
        return prev
    focus = _elliptical_focus(q, prev, answer, places)
    if focus is not None:
        return _apply(prev, focus, places)
    pronoun = _PRONOUN_RE.search(q)
    if pronoun:
        ref = _referent(prev, answer, places, pronoun.group())
        if ref:
            return q[: pronoun.start()] + ref + q[pronoun.end():]
    return q


def _elliptical_focus(q: str, prev: str, answer: str, places: Places) -> _Focus | None:
    """What ``那X呢？`` / ``X怎么样？`` / ``那X？`` names, or None when ``q`` is not of that shape."""
    q = _TIME_DE_RE.sub(r"\g<lead>\g<t>", q)  # 那2019年的靖远呢 → 那2019年靖远呢
    m = _ELLIPSIS_RE.match(q) or _LEAD_ONLY_RE.match(q)
    if not m:
        return None
    x = m.group("x").strip()
    if not x or _QUESTION_WORD_RE.search(x):
        return None
    if _PRONOUN_RE.fullmatch(x):  # 那这个县呢？: the place the pronoun stands for
        ref = _referent(prev, answer, places, x)
        return _Focus(name=ref) if ref else None
    focus = _Focus()
    t = _LEADING_TIME_RE.match(x)
    if t and _TIME_ANCHORED_RE.match(t.group("t")):
        focus.time, x = t.group("t"), t.group("rest").strip()
    if not x:
        return focus
    pair = _PAIR_RE.match(x)
    if pair and _is_name(pair.group("a"), places) and _is_name(pair.group("b"), places):
        focus.donor, focus.recipient = pair.group("a"), pair.group("b")
        return focus
    lone = _RECIPIENT_RE.match(x)
    if lone and _is_name(lone.group("b"), places):
        focus.recipient = lone.group("b")
        return focus
    if _is_name(x, places):
        focus.name = x
    else:  # a topic word (那就业呢？): asked about within the previous question
        focus.topic = x
    return focus


def _is_name(text: str, places: Places) -> bool:
    """Whether ``text`` is one name as a whole (a place the gazetteer knows, a suffixed or tagged name)."""
    if places.key(text):
        return True
    spans = places.spans(text)
    return len(spans) == 1 and spans[0].start == 0 and spans[0].end == len(text)


def _apply(prev: str, focus: _Focus, places: Places) -> str:
    out = prev
    if focus.time:
        out = _swap_time(out, focus.time)
    if focus.donor and focus.recipient:
        out = _set_pair(out, focus.donor, focus.recipient, places)
    elif focus.recipient:
        out = _set_recipient(out, focus.recipient, places)
    elif focus.name:
        out = _set_one(out, focus.name, places)
    elif focus.topic and focus.topic not in out:
        out = f"关于{focus.topic}，{out}"
    return out


def _swap_time(prev: str, t: str) -> str:
    """Put the time ``t`` in place of the previous question's time (or in front of it)."""
    m = _TIME_RE.search(prev)
    if not m:
        return t + prev
    keep_suffix = not re.search(_TIME_SUFFIX + "$", t)
    return prev[: m.start()] + t + (m.group("suffix") if keep_suffix else "") + prev[m.end():]


def _replace(text: str, *edits: tuple[int, int, str]) -> str:
    for a, b, new in sorted(edits, reverse=True):
        text = text[:a] + new + text[b:]
    return text


def _set_pair(prev: str, donor: str, recipient: str, places: Places) -> str:
    """Both places of ``D 向 R`` replaced; the previous connector (向/对/…) is kept."""
    fr = frame_of(prev, places)
    if fr.donor and fr.recipient:
        return _replace(prev, (fr.donor.start, fr.donor.end, donor), (fr.recipient.start, fr.recipient.end, recipient))
    if fr.recipient and fr.connector:
        head = prev[: fr.connector[0]]
        head = head if _TIME_ANCHORED_RE.match(head.strip()) or not head.strip() else ""
        return head + donor + prev[fr.connector[0]:fr.connector[1]] + recipient + prev[fr.recipient.end:]
    spots = fr.places or fr.spans
    if len(spots) == 1:
        s = spots[0]
        return prev[: s.start] + f"{donor}向{recipient}" + prev[s.end:]
    return f"关于{donor}对{recipient}，{prev}"


def _set_recipient(prev: str, recipient: str, places: Places) -> str:
    """``那对B呢？``: the recipient replaced (or added after a lone acting place); the donor stays."""
    fr = frame_of(prev, places)
    if fr.recipient:
        return _replace(prev, (fr.recipient.start, fr.recipient.end, recipient))
    spots = fr.places or fr.spans
    if len(spots) == 1:
        s = spots[0]
        if prev[s.end:s.end + 1] != "的":  # 天津市和平区投入多少资金？ → 天津市和平区向B投入…
            return prev[: s.end] + "向" + recipient + prev[s.end:]
        return _replace(prev, (s.start, s.end, recipient))
    return f"关于{recipient}，{prev}"


def _set_one(prev: str, x: str, places: Places) -> str:
    """Put one new name in the slot it fills (see the module docstring)."""
    if x in prev:
        return prev
    fr = frame_of(prev, places)
    new = Span(0, len(x), x, places.key(x), True)
    if fr.donor and fr.recipient:
        d, r = fr.donor, fr.recipient
        if _slot_for(new, fr, places) == "donor":
            drop = places.helps(new.key, r.key) is False  # the recipient belonged to the old donor only
            return _replace(prev, (d.start, d.end, x), *([(fr.connector[0], r.end, "")] if drop else []))
        keep = places.helps(d.key, new.key)
        gap = prev[d.end:fr.connector[0]]
        drop_to = fr.connector[0] if gap and not re.search(r"\d", gap) else d.end
        edits = [(r.start, r.end, x)] + ([] if keep else [(d.start, drop_to, "")])
        return _replace(prev, *edits)
    if fr.recipient:
        r = fr.recipient
        if places.role(new.key) == "donor" and not places.helps(new.key, r.key) and fr.connector:
            return _replace(prev, (fr.connector[0], r.end, x))
        return _replace(prev, (r.start, r.end, x))
    spots = fr.places or fr.spans
    if not spots:
        return f"关于{x}，{prev}"
    level = places.level(new)
    same = [s for s in spots if same_place(new, s, places)] or [s for s in spots if level and places.level(s) == level]
    s = same[0] if same else spots[0]
    return _replace(prev, (s.start, s.end, x))


def _slot_for(new: Span, fr: Any, places: Places) -> str:
    """``donor`` or ``recipient``: the slot of ``D 向 R`` a new place fills."""
    d, r = fr.donor, fr.recipient
    if same_place(new, d, places):
        return "donor"
    if same_place(new, r, places):
        return "recipient"
    as_recipient, as_donor = places.helps(d.key, new.key), places.helps(new.key, r.key)
    if as_recipient and not as_donor:
        return "recipient"
    if as_donor and not as_recipient:
        return "donor"
    role = places.role(new.key)
    if role:
        return role
    level, ld, lr = places.level(new), places.level(d), places.level(r)
    if level and level == ld != lr:
        return "donor"
    return "recipient"


def _referent(prev: str, answer: str, places: Places, pronoun: str) -> str | None:
    """The place a pronoun stands for: of the pronoun's level (该县 → a 县), from the previous
    question (its recipient first) or, when that question asked for a place, its answer first."""
    fr = frame_of(prev, places)
    asked = [s for s in (fr.places or fr.spans)]
    asked.sort(key=lambda s: (s is not fr.recipient, s is fr.donor, s.start))
    said: list[Span] = []
    if answer:
        text = strip_citations(answer)[:400]
        said = [s for s in places.spans(text) if s.place and not any(same_place(s, a, places) for a in asked)]
    order = said + asked if _ASKS_PLACE_RE.search(prev) else asked + said
    level = pronoun[-1] if pronoun[-1] in ADMIN_SUFFIX else ""
    if level:  # names of that level first, then names whose level is unknown (沿河 without a gazetteer)
        order = [s for s in order if places.level(s) == level] + [s for s in order if not places.level(s)]
    return order[0].text if order else None


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
