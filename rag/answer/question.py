"""Question checks and analysis: is the input answerable, what kind of answer is asked for,
which terms constrain it.

:func:`check_question` is the one validation of a user's question (every entry point of
:class:`rag.pipeline.Pipeline` calls it once); the answer path then normalises the checked text
once and hands the normalised form on (``analyze_question(q, norm=...)``).

Everything here is generic Chinese question syntax (interrogatives, measure words,
quantity nouns), never a rule aimed at a particular question. The result drives
evidence selection (:mod:`rag.answer.evidence`), the support check
(:mod:`rag.answer.support`) and the extractive backend.

* ``answer_type``: ``number`` (多少/几/…率/…人数), ``date`` (什么时候/哪一年/何时), ``list``
  (哪些), ``entity`` (哪个/谁/哪里/冠军/导演…), ``text`` (是什么/如何/为什么, the fallback).
* ``kind``: for numbers, the quantity kind expected (``money`` | ``percent`` | ``count`` |
  None = any), and ``unit`` when the question names one (多少亩 → 亩).
* ``years``: years the answer must be about (``2021年``, ``2021赛季``, ``2020-2021``).
* ``terms``: content words of the question (jieba, question words and fillers removed);
  ``names`` is the subset that looks like a name (place/person/organisation tags, quoted
  or bracketed titles, Latin/digit tokens), which must be found near the evidence;
  ``targets`` the names written right after 向/对/给/为 (the receiving side: 向沿河投入).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rag.regions.lexicon import LEVEL_RANK, PROVINCES, SUFFIX_LEVEL
from rag.text.normalize import normalize
from rag.text.numbers import Quantity, extract_quantities
from rag.validate import InputError

__all__ = ["QuestionError", "DEFAULT_MAX_QUESTION_CHARS", "check_question", "max_question_chars", "QuestionInfo",
           "analyze_question", "is_generic_place", "name_spans", "strip_admin_suffix", "term_in", "year_parts",
           "YEAR_PART_RE"]

DEFAULT_MAX_QUESTION_CHARS = 500

_ADMIN = "省市县区州镇乡村旗盟"
_DATE_RE = re.compile(r"什么时候|什么时间|何时|哪一?年|哪一?天|哪个月|几月|几号|哪日|何年|(?:公元|西元)(?:前)?几年|日期|时间|年份|多久以前")
# An event verb ending the question (…上映？) asks when, unless a place or name is asked (在哪举行).
_DATE_VERB_END_RE = re.compile(r"(?:开售|上映|开播|发布|举办|举行|开幕|成立|下水|首飞|开通)(?:的)?[？?]?$")
_LIST_RE = re.compile(r"哪些|哪几|有什么|包括什么|包含什么|都有谁")
# 几 after 只有/仅有/好/十 is "a few", not a question (只有几座山的源头…, 好几家)
_NUMBER_RE = re.compile(r"多少|(?<!只有)(?<!仅有)(?<![好十])几[个名人次家座项年万亿条所户岁倍天只辆台头亩吨元届枚位批期对种所支]"
                        r"|多[大高长远重久深宽]"
                        r"|百分之几|几成")
_QUANTITY_NOUN_RE = re.compile(r"(?:人数|数量|总量|产量|总产量|金额|营收|收入|票房|吞吐量|增长率|增速|增幅|降幅|规模|面积|"
                               r"价格|票价|销量|市值|估值|得分|比分|高度|长度|距离|速度|温度|人口|死亡|伤亡|利润|"
                               r"总额|总值|产值|GDP|gdp|发生率|排名|第几|比例|比重|占比)")
_ENTITY_RE = re.compile(r"何处|何地|何人|何种|哪个|哪家|哪位|哪里|哪儿|哪国|哪座|哪所|哪支|哪款|哪部|哪种|哪一|谁|什么(?:地方|名字|公司|单位|"
                        r"组织|机构|国家|城市|县|村|项目|品牌|产品|人)|冠军|得主|导演|主演|主角|作者|起点|终点|"
                        r"名称|叫什么|是哪|举办地|地点|所在地|发源地|主办方|获胜者|赢家")
_ENTITY_ASK_RE = re.compile(r"何处|何地|何人|何种|哪个|哪家|哪位|哪里|哪儿|哪国|哪座|哪所|哪支|哪款|哪部|哪种|哪一|谁|什么(?:地方|名字|公司|单位|"
                            r"组织|机构|国家|城市|县|村|项目|品牌|产品|人)|叫什么|在哪")
_TEXT_RE = re.compile(r"是什么|什么是|怎样|怎么|如何|为什么|为何|什么意思|有何|哪方面")
_REASON_RE = re.compile(r"为什么|为何|怎样|怎么|如何|什么意思")
_MONEY_RE = re.compile(r"资金|金额|[^人]元|^元|钱|投资|投入|营收|收入|票房|利润|产值|市值|价格|收益|款|经费|预算|补贴|"
                       r"工资|销售额|成交额|融资|估值|薪|GDP|gdp|总值|费用|花费|售价|报价|奖金|税")
_PERCENT_RE = re.compile(r"率|比例|比重|占比|百分之|百分比|增长了多少|增长多少|下降了多少|增速|增幅|降幅|涨幅|跌幅")
_UNIT_AFTER_RE = re.compile(r"(?:多少|几)(个百分点|百分点|平方公里|平方米|公顷|公里|人次|个月|小时|分钟|千克|公斤|"
                            r"[名人次家座项个条所户岁倍天只辆台头亩吨元届枚位批期对种支艘架场部本栋间年])")
_YEAR_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})(?:\s*[-－—~至到]\s*((?:19|20)\d{2}))?\s*(?=年|赛季|财年|年度|届|-|—|$|\D)")
_QUOTED_RE = re.compile(r"[“\"「『《〈]([^”\"」』》〉]{1,30})[”\"」』》〉]")
_LATIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-·]*[A-Za-z][A-Za-z0-9.\-·]*|[A-Za-z]")

# Interrogatives, fillers and function words that carry no constraint.
_STOP = frozenset(
    "多少 什么 哪些 哪个 哪里 哪儿 哪家 哪位 哪一年 哪年 哪一 哪 几 是 的 了 有 在 向 为 从 到 与 和 及 对 被 把 吗 呢 啊 "
    "请问 是否 怎么 怎样 如何 为什么 为何 时候 何时 谁 分别 一共 总共 共 都 也 还 又 就 其 之 所 以 于 由 将 给 让 使 "
    "这 那 这个 那个 这些 那些 该 此 其中 以及 或 或者 并 且 而 但 请 告诉 我 我们 你 他 她 它 他们 上 下 中 内 "
    "时间 日期 情况 问题 方面 哪方面 具体 大约 大概 约 多 少 个 名 人 次 家 座 项 年 月 日 号 天 届 一 第 "
    "开始 正式 进行 实现 达到 达 为止 截至 截止 目前 当前 已经 已 曾 能 会 可以 要 应 需要 通过 根据 是从 是由 有关 关于".split())
_GENERIC_TERMS = frozenset("今年 去年 明年 全年 年度 累计 总计 合计 一季度 上半年 下半年".split())
# Nouns that name the answer slot rather than constrain it (the passage states the value instead).
_SLOT = frozenset("人数 数量 数目 时间 日期 地点 名称 结果 情况 数字 数据 金额 多久 几次".split())
# Period qualifiers: the answer must be about the same part of the year.
# Parts of a year: a figure for one of them is not a figure for another (全年 vs 第四季度).
YEAR_PART_RE = re.compile(r"全年|上半年|下半年|前三季度|第?[一二三四1-4]季度")
_PERIOD_RE = re.compile(r"全年|上半年|下半年|[一二三四1-4]季度|第[一二三四1-4]季度|前三季度|(?<!\d)1?\d月(?!\d)|年底|年末|年初")
_INTERROGATIVE_RE = re.compile(r"多少|几|什么时候|什么|哪些|哪个|哪里|哪一?年|何时|谁|怎样|如何|为什么|是否")
# Adverbs jieba sometimes glues to the end of a name (杜拜曾 for 杜拜 + 曾).
_GLUED_ADVERBS = "曾将已也还被把"
_NAME_FLAGS = {"ns", "nr", "nt", "nz", "nrt", "nrfg", "eng"}
# Common nouns jieba tags as places: not names.
_GENERIC_PLACES = frozenset("城市 地区 国家 省份 地方 全国 各地 东部 西部 中部 南方 北方 农村 乡村 城乡 国内 国外 海外 "
                            "当地 本地 外地 全省 全市 全县 全区 深度".split())
_lock = threading.Lock()



class QuestionError(InputError):
    """The question is empty, has no searchable content, is not text or is too long."""

    def __init__(self, message: str, param: str | None = "question"):
        super().__init__(message, param)


def max_question_chars(config: Any) -> int:
    """The configured question length limit (``answer.max_question_chars``; 0 or less = none)."""
    value = config.get("answer.max_question_chars") if config is not None else None
    return DEFAULT_MAX_QUESTION_CHARS if value is None else int(value)


def check_question(question: Any, max_chars: int | None = None) -> str:
    """Strip a question and reject what cannot be answered.

    Args:
        question: the user's question.
        max_chars: longest accepted question in characters (after stripping); None or <= 0 =
            no limit.

    Returns:
        The stripped question.

    Raises:
        QuestionError: not text, empty, punctuation only, or longer than ``max_chars``.
    """
    if question is not None and not isinstance(question, str):
        raise QuestionError(f"问题必须是文字，收到的是 {type(question).__name__}。")
    q = (question or "").strip()
    if not q:
        raise QuestionError("问题为空：请输入要查询的问题。")
    if max_chars and max_chars > 0 and len(q) > max_chars:
        raise QuestionError(f"问题过长：共 {len(q)} 个字符，超过上限 {max_chars} 个字符"
                            "（配置项 answer.max_question_chars）。请把问题精简到一两句话再问。")
    if not any(ch.isalnum() for ch in q):
        raise QuestionError("问题只包含标点或符号：请输入有实际内容的问题。")
    return q


@dataclass
class QuestionInfo:
    """What a question asks for (see the module docstring)."""

    question: str
    norm: str
    answer_type: str
    kind: str | None = None
    unit: str | None = None
    years: list[int] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    quantities: list[Quantity] = field(default_factory=list)
    relative: list[str] = field(default_factory=list)
    focus: list[str] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    def term_weight(self, term: str) -> float:
        """Weight of a term in coverage scores: names count double, longer terms more."""
        return min(len(term), 4) * (2.0 if term in self.names else 1.0)


@lru_cache(maxsize=1)
def _posseg():
    import jieba
    import jieba.posseg as pseg

    with _lock:
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
    return pseg


@lru_cache(maxsize=512)
def name_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Spans of name-like tokens in normalised ``text``: people, places, organisations and other
    proper nouns as jieba tags them, Latin words, and quoted titles (《…》, “…”)."""
    out, pos = [], 0
    for word, flag in _posseg().cut(text):
        if flag in _NAME_FLAGS and len(word) >= 2:
            out.append((pos, pos + len(word)))
        pos += len(word)
    out += [m.span(1) for m in _QUOTED_RE.finditer(text)]
    return tuple(out)


def is_generic_place(word: str) -> bool:
    """Common nouns jieba tags as places (城市, 全国, 东部…): not names."""
    return word in _GENERIC_PLACES


def strip_admin_suffix(term: str) -> str:
    """``沿河县`` → ``沿河``, ``张家港市`` → ``张家港``, ``德国队`` → ``德国`` (kept when fewer than
    2 chars would remain)."""
    if len(term) >= 3 and term[-1] in _ADMIN + "队":
        return term[:-1]
    return term


# How Chinese news refers to the country it is written in.
_ALIASES = {"中国": ("我国", "全国"), "国内": ("我国", "全国")}


def term_in(term: str, text: str) -> bool:
    """Whether ``term`` (or its form without an administrative suffix) occurs in ``text``.

    ``中国`` also matches ``我国``/``全国`` (domestic news wording). Terms are lower-cased
    Simplified; ``text`` must be normalised (see :func:`normalize`) and lower-cased by the
    caller when Latin terms matter.
    """
    if term in text or strip_admin_suffix(term) in text:
        return True
    return any(a in text for a in _ALIASES.get(term, ()))


def year_parts(text: str) -> set[str]:
    """Parts of a year named in ``text``, normalised (第四季度 → 四季度, 4季度 → 四季度)."""
    digits = dict(zip("1234", "一二三四"))
    return {"".join(digits.get(c, c) for c in m.group(0).lstrip("第")) for m in YEAR_PART_RE.finditer(text)}


def _answer_type(q: str) -> str:
    if _LIST_RE.search(q):
        return "list"
    if _DATE_RE.search(q) or (_DATE_VERB_END_RE.search(q) and not _ENTITY_ASK_RE.search(q)):
        return "date"
    number = [m.end() for m in _NUMBER_RE.finditer(q)]
    asked = [m.end() for m in _ENTITY_ASK_RE.finditer(q)]
    if number or asked:  # explicit interrogatives: the last one decides (哪个县…多少资金 → number)
        return "number" if max(number, default=-1) > max(asked, default=-1) else "entity"
    if _REASON_RE.search(q):  # 为什么温度低… asks for an explanation, not the temperature
        return "text"
    entity = [m.end() for m in _ENTITY_RE.finditer(q)]
    quantity = [m.end() for m in _QUANTITY_NOUN_RE.finditer(q)]
    if quantity and not entity and _noun_after(q, quantity[-1]):
        quantity = []  # 依面积计算，最大的湖泊为？ — the quantity noun is context, the head noun comes later
    if entity or quantity:  # the head noun comes last in Chinese: 首日票房冠军 vs 爆炸死亡人数
        return "entity" if max(entity, default=-1) >= max(quantity, default=-1) else "number"
    if _TEXT_RE.search(q):
        return "text"
    return "text"


def _noun_after(q: str, pos: int) -> bool:
    """Whether a noun other than a measure (…率, …数, …量, …额) follows position ``pos`` of ``q``
    (jieba's tags)."""
    return any(flag.startswith("n") and w[-1] not in "率数量额值比" for w, flag in _posseg().cut(q[pos:]))


def _kind_and_unit(q: str) -> tuple[str | None, str | None]:
    m = _UNIT_AFTER_RE.search(q)
    unit = m.group(1) if m else None
    if unit in ("个百分点", "百分点"):
        return "percent", "百分点"
    if unit == "元":
        return "money", None
    if unit:
        return "count", unit
    if _PERCENT_RE.search(q) and not re.search(r"人数|多少(?:人|名|个|户)", q):
        return "percent", None
    if _MONEY_RE.search(q):
        return "money", None
    if re.search(r"人数|死亡|伤亡|志愿者|多少人", q):
        return "count", "人"
    return None, None


def _years(q: str) -> list[int]:
    years: list[int] = []
    for m in _YEAR_RE.finditer(q):
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        years += [y for y in range(lo, hi + 1)] if 0 <= hi - lo <= 5 else [lo, hi]
    return list(dict.fromkeys(years))


def _focus(q: str, terms: list[str], names: list[str], verbs: set[str]) -> list[str]:
    """What the question asks about: the noun phrase after each interrogative (多少财政帮扶资金)
    up to the next punctuation, plus the nearest noun before it (发生率…降到了多少); without an
    interrogative, the last term (…死亡人数 → 死亡). Names are excluded (checked separately);
    verbs only when there is no noun (降到/降至 vary too much between question and text)."""
    # every occurrence: a term may come back after the interrogative (日光温室…多少座温室)
    pos = sorted((m.start(), t) for t in set(terms) if t not in names and t not in _GENERIC_TERMS
                 for m in re.finditer(re.escape(t), q))
    if not pos:
        return []
    marks = list(_INTERROGATIVE_RE.finditer(q))
    if not marks:
        return [max(pos)[1]]
    out: list[str] = []
    for k, m in enumerate(marks):
        stop = re.search(r"[，,；;。？?！!]", q[m.end():])
        end = m.end() + stop.start() if stop else len(q)
        if k + 1 < len(marks):
            end = min(end, marks[k + 1].start())
        after = [t for i, t in pos if m.end() <= i < end]
        before = [t for i, t in pos if i + len(t) <= m.start()]
        out += ([t for t in after if t not in verbs] or after)[:3]
        out += ([t for t in before if t not in verbs] or before)[-1:]
    return list(dict.fromkeys(out))


def _admin_rank(word: str, flag: str) -> int | None:
    """Rank of a place word's level (province 0 … village 4), None when it is not one."""
    if word in PROVINCES or (word[:-1] in PROVINCES and word[-1] in "省市"):
        return 0
    if len(word) >= 3 and word[-1] in SUFFIX_LEVEL and flag in ("ns", "n", "nr", "nt", "nz"):
        return LEVEL_RANK[SUFFIX_LEVEL[word[-1]]]
    return None


def _qualifiers(tokens: list[tuple[str, str]]) -> set[str]:
    """Place words that only qualify the next one (天津市 in 天津市和平区, 甘肃省 in 甘肃省定西市):
    a higher administrative level written right before a lower one. They locate the name rather
    than constrain the answer, so a passage about 和平区 need not repeat 天津市. A word also
    written on its own elsewhere in the question stays a term."""
    out: set[str] = set()
    alone: set[str] = set()
    for i, (word, flag) in enumerate(tokens):
        rank = _admin_rank(word, flag)
        nxt = _admin_rank(*tokens[i + 1]) if i + 1 < len(tokens) else None
        if rank is not None and nxt is not None and rank < nxt:
            out.add(word.lower())
        elif rank is not None:
            alone.add(word.lower())
    return out - alone


def _terms(q: str) -> tuple[list[str], list[str], set[str]]:
    """Content terms, the name-like subset and the verbs, in question order, lower-cased."""
    verbs: set[str] = set()
    names: list[str] = [m.group(1).strip().lower() for m in _QUOTED_RE.finditer(q) if m.group(1).strip()]
    terms: list[str] = list(names)
    masked = _QUOTED_RE.sub(lambda m: " " * len(m.group(0)), q)
    masked = _YEAR_RE.sub(lambda m: " " * len(m.group(0)), masked)
    for m in _LATIN_RE.finditer(masked):  # 5G, RCEP, iPhone: whole tokens, before jieba splits them
        token = m.group(0).strip(".-·").lower()
        if len(token) >= 2 or token.isalpha():
            terms.append(token)
            names.append(token)
    masked = _LATIN_RE.sub(lambda m: " " * len(m.group(0)), masked)
    run = ""  # consecutive single CJK characters jieba left unjoined (营/收 → 营收)
    tokens = list(_posseg().cut(masked))
    qualifiers = _qualifiers([(t.word, t.flag) for t in tokens])
    for word, flag in [*((t.word, t.flag) for t in tokens), (" ", "x")]:
        w = word.strip().lower()
        if w in qualifiers:
            continue
        single = len(w) == 1 and "\u4e00" <= w <= "\u9fff" and w not in _STOP
        if single:
            run += w
            continue
        if len(run) >= 2 and run not in _SLOT:
            terms.append(run)
        run = ""
        if not w or w in _STOP or w in _SLOT or not re.search(r"\w", w):
            continue
        if re.fullmatch(r"[\d.]+", w) or (len(w) == 1 and not _LATIN_RE.fullmatch(w)):
            continue
        if w.endswith("年") and re.fullmatch(r"\d+年", w):
            continue
        is_name = ((flag in _NAME_FLAGS and len(w) >= 2) or _LATIN_RE.search(w)) and w not in _GENERIC_PLACES
        if is_name and len(w) >= 3 and w[-1] in _GLUED_ADVERBS:  # 杜拜曾于… : jieba glued 曾 to the name
            w = w[:-1]
        terms.append(w)
        if flag.startswith("v") and flag != "vn":
            verbs.add(w)
        if is_name:
            names.append(w)
    terms = list(dict.fromkeys(terms))
    return terms, [n for n in dict.fromkeys(names) if n not in _GENERIC_TERMS], verbs


def analyze_question(question: str, *, norm: str | None = None) -> QuestionInfo:
    """Analyse a question (any script).

    Args:
        question: The user's question.
        norm: its normalised, stripped form when the caller already has it (not normalised again).

    Returns:
        Its :class:`QuestionInfo` (normalised text, answer type, expected quantity kind
        and unit, years, content terms and name-like terms).
    """
    if norm is None:
        norm = normalize((question or "").strip())
    atype = _answer_type(norm)
    kind, unit = _kind_and_unit(norm) if atype == "number" else (None, None)
    terms, names, verbs = _terms(norm)
    relative = [w for w in ("今年", "去年", "明年", "本年") if w in norm]
    quantities = [q for q in extract_quantities(norm) if q.kind not in ("year",)]
    periods = [m.group(0) for m in _PERIOD_RE.finditer(norm)]
    low = norm.lower()
    targets = [n for n in names if re.search(r"[向对给为](?:[\u4e00-\u9fff]{1,4}[省市])?" + re.escape(n), low)]
    return QuestionInfo(question=question, norm=norm, answer_type=atype, kind=kind, unit=unit,
                        years=_years(norm), terms=terms, names=names, quantities=quantities,
                        relative=relative, focus=_focus(norm, terms, names, verbs), periods=periods,
                        targets=targets)
