"""Split multi-part questions into sub-questions (generic Chinese syntax only).

Two shapes are split:

* **Distributive** — ``A和B分别…``: the subjects before 分别 (joined by 和/与/及/、/以及, found as
  jieba tokens so ``天津市和平区`` stays whole) each get the predicate after 分别. A shared
  modifier after the last subject (``A和B的贫困发生率分别是多少`` → ``的贫困发生率``) and a
  leading time phrase (``2020年``) are copied to every part.
* **Coordinated questions** — ``…多少…，…多少…？``: clauses separated by ，/；/、 that each
  contain an interrogative become separate questions; a clause that starts with its verb
  inherits the subject of the first clause (``X安排了多少资金，建了多少座温室`` →
  ``X建了多少座温室``).

* **Coordinated phrases** — ``A和B<rest>`` without 分别: when the words just before the
  conjunction and just after it are parallel (same word classes: ``北京和上海``,
  ``2021年和2022年``, ``时间和地点``, ``台北市市长和高雄市市长``), each gets the rest of the
  question: ``2023年北京和上海高考出分时间`` → ``2023年北京高考出分时间`` + ``2023年上海高考出分时间``.
  Common nouns are split only as the slot that ends the question (``时间和地点``); names and
  numbers anywhere. Not split: a conjunction inside a quoted title, lists of three (、), and
  questions about A and B together (都, 之间, 关系, 合作, 一共, 相比…).

``从多少下降到多少`` (one clause) is not split. A question that matches none of the shapes is
returned as the only part.
"""

from __future__ import annotations

import re

from rag.answer.question import YEAR_PART_RE, _posseg
from rag.text.normalize import normalize

__all__ = ["split_question"]

_ASK = re.compile(r"多少|几[^乎]|什么|哪|谁|何[时年地处种]|如何|怎样|怎么|为什么|是否")
_CONJ = {"和", "与", "及", "以及", "、", "跟", "同"}
_LEAD_TIME = re.compile(r"^(?:(?:19|20)\d{2}年(?:底|初|末|" + YEAR_PART_RE.pattern + r")?|今年|去年"
                        r"|截至(?:19|20)\d{2}年(?:\d{1,2}月(?:\d{1,2}日)?|底|末|初)?[，,]?|截至[^，,]{1,12}[，,]|近\S{1,3}年)")
_END_PUNCT = "？?。！!"


def _finish(part: str) -> str:
    part = part.strip().strip("，,；;、")
    return part if part.endswith(("？", "?")) else part.rstrip("。！!") + "？"


def _split_distributive(q: str) -> list[str]:
    idx = q.find("分别")
    if idx <= 0:
        return []
    pre, pred = q[:idx], q[idx + 2:]
    if not _ASK.search(pred) and not _ASK.search(pre):
        return []
    words = [w for w, _f in _posseg().cut(pre)]
    groups: list[str] = [""]
    for w in words:
        if w in _CONJ:
            groups.append("")
        else:
            groups[-1] += w
    groups = [g for g in groups if g.strip()]
    if len(groups) < 2:
        return []
    lead = ""
    m = _LEAD_TIME.match(groups[0])
    if m and len(groups[0]) > m.end():
        lead, groups[0] = m.group(0), groups[0][m.end():]
    shared = ""
    last = groups[-1]
    if "的" in last:
        k = last.index("的")
        groups[-1], shared = last[:k], last[k:]
    elif re.search(r"(?:各自|分别)?[对向为在给从]", pred[:1]):
        shared = ""
    return [_finish(f"{lead}{g}{shared}{pred}") for g in groups if g]


def _verb_start(clause: str) -> bool:
    for w, f in _posseg().cut(clause):
        if not w.strip():
            continue
        return f.startswith(("v", "d", "p")) or w in ("有", "是", "又", "还", "共", "其中")
    return False


def _subject(clause: str) -> str:
    """The words of ``clause`` before its first verb (its subject), or "" if it has none."""
    out = ""
    for w, f in _posseg().cut(clause):
        if f.startswith(("v", "p", "d")) or _ASK.match(w):
            break
        out += w
    return out if len(out) >= 2 else ""


def _split_clauses(q: str) -> list[str]:
    body = q.rstrip(_END_PUNCT)
    clauses = [c for c in re.split(r"[，,；;]", body) if c.strip()]
    if len(clauses) < 2 or sum(bool(_ASK.search(c)) for c in clauses) < 2:
        return []
    # clauses without an interrogative are context for the next asking clause (截至2019年底，…)
    parts: list[str] = []
    context = ""
    for c in clauses:
        if not _ASK.search(c):
            context += c + "，"
            continue
        parts.append(context + c)
        context = ""
    if len(parts) < 2:
        return []
    subject = _subject(re.sub(r"^[^，]*，", "", parts[0]) if "，" in parts[0] else parts[0])
    lead = ""
    m = _LEAD_TIME.match(parts[0])
    if m:
        lead = m.group(0)
    out = [parts[0]]
    for p in parts[1:]:
        if subject and _verb_start(p):
            p = subject + p
        if lead and not _LEAD_TIME.match(p):
            p = lead + p
        out.append(p)
    return [_finish(p) for p in out]


# Word classes for parallelism: numbers, names, nouns, verbs, adjectives.
_CLASS = {"m": "num", "q": "num", "t": "num", "ns": "name", "nr": "name", "nrt": "name", "nrfg": "name",
          "nt": "name", "nz": "name", "j": "name", "eng": "name", "n": "noun", "vn": "noun", "ng": "noun",
          "nl": "noun", "v": "verb", "vd": "verb", "a": "adj", "an": "adj", "z": "adj"}
_TOGETHER = re.compile(r"之间|中间|关系|合作|结对|携手|联合|共同|一起|一共|总共|合计|共计|相比|对比|比较|区别|差距|差别|相差|"
                       r"谁[更最]|哪个[更最]")
_MAX_PARALLEL = 3
_SHORT_TAIL = 8


def _tokens(q: str) -> list[tuple[str, str]]:
    """jieba tokens with Latin+digit words cut apart (NBA2021 → NBA, 2021) and a one-character
    administrative suffix joined to the name before it (青山 县 → 青山县)."""
    out: list[tuple[str, str]] = []
    for w, f in _posseg().cut(q):
        if f == "eng" and re.search(r"[A-Za-z]\d|\d[A-Za-z]", w):
            out += [(x, "m" if x[0].isdigit() else "eng") for x in re.findall(r"[A-Za-z]+|\d+", w)]
        elif len(w) == 1 and w in "省市县区州镇乡村" and out and _CLASS.get(out[-1][1]) == "name":
            out[-1] = (out[-1][0] + w, out[-1][1])
        else:
            out.append((w, f))
    return out


def _split_coordinated(q: str) -> list[str]:
    toks = _tokens(q)
    depth, conj = 0, -1
    for i, (w, f) in enumerate(toks):
        depth += w.count("《") + w.count("“") - w.count("》") - w.count("”")
        if f == "c" and w in _CONJ and depth == 0 and 0 < i < len(toks) - 1:
            conj = i
            break
    if conj < 0 or any(w == "、" for w, _f in toks[:conj]):  # lists of three or more: left alone
        return []
    if _TOGETHER.search("".join(w for w, _f in toks[conj + 1:])) or any(w == "都" for w, _f in toks[conj + 1:]):
        return []
    asked_before = bool(_ASK.search("".join(w for w, _f in toks[:conj])))
    cls = [_CLASS.get(f, f) for _w, f in toks]
    for k in range(min(_MAX_PARALLEL, conj, len(toks) - conj - 1), 0, -1):
        before, after = cls[conj - k:conj], cls[conj + 1:conj + 1 + k]
        tail = toks[conj + 1 + k:]
        rest = "".join(w for w, _f in tail)
        # the asked slot ends the question: a few words, no verb but 是/有 (时间是什么时候, 冠军)
        short = (len(rest.rstrip(_END_PUNCT)) <= _SHORT_TAIL and not asked_before
                 and not any(f.startswith("v") and w not in ("是", "有") for w, f in tail))
        # 主演和导演是谁: a noun and a verb-tagged noun are parallel when they end the question
        same = before == after or (short and k == 1 and {before[0], after[0]} <= {"noun", "verb"})
        # named or numbered items (北京和上海, 2021年和2022年) anywhere; common words only as the
        # slot at the end of the question (时间和地点, 开始和结束时间是什么时候)
        if same and (before[0] in ("name", "num") or short):
            head = "".join(w for w, _f in toks[:conj - k])
            a = "".join(w for w, _f in toks[conj - k:conj])
            b = "".join(w for w, _f in toks[conj + 1:conj + 1 + k])
            return [_finish(head + a + rest), _finish(head + b + rest)]
    return []


def split_question(question: str, *, normalized: bool = False) -> list[str]:
    """Sub-questions of a multi-part question (Simplified), or ``[question]``.

    Args:
        question: the user's question (any script).
        normalized: ``question`` is already normalised and stripped (it is not normalised again).

    Returns:
        Two or more self-contained sub-questions in order, or a one-element list with the
        (normalised, stripped) question when it is not multi-part.
    """
    q = question if normalized else normalize((question or "").strip())
    for splitter in (_split_distributive, _split_clauses, _split_coordinated):
        parts = splitter(q)
        if len(parts) >= 2:
            return parts
    return [q]
