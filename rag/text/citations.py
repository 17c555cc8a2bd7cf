"""The grammar every answer shares: citation markers, refusals, the comparison form of answers.

One home for what answering, summaries, evaluation and the UI must read the same way:

* **markers** ``[1]`` / ``[1,2]`` / ``[1-3]`` / ``【2】`` / ``［3］``, alone or in groups such
  as ``[1][2]`` (:data:`MARKER`, :data:`CITATION_MARKERS_RE`, :func:`parse_markers`,
  :func:`cited_numbers`, :func:`strip_citations`);
* **refusals**: the sentence the system refuses with (:data:`REFUSAL`) and the phrases that
  mark any answer as a refusal (:data:`REFUSAL_PATTERNS`, :func:`is_refusal`);
* **answer normalisation** (:func:`normalize_answer`: t2s, half-width, lower case, no
  punctuation or markers) and the bigram overlap of a claim with a passage
  (:func:`claim_overlap`).
"""

from __future__ import annotations

import re
import unicodedata

from rag.text.ngrams import char_bigrams
from rag.text.normalize import fold_text

__all__ = ["MARKER_BODY", "MARKER", "CITATION_MARKERS_RE", "parse_markers", "cited_numbers",
           "strip_citations", "is_punct", "normalize_answer", "claim_overlap", "REFUSAL",
           "REFUSAL_PATTERNS", "is_refusal"]

# One marker; MARKER adds the whitespace before it, and a group is one or more MARKERs.
MARKER_BODY = r"[\[【［]\s*\d+(?:\s*[,，、\-–~]\s*\d+)*\s*[\]】］]"
MARKER = rf"\s*{MARKER_BODY}"
CITATION_MARKERS_RE = re.compile(f"(?:{MARKER})+")

# The sentence the system refuses with (contains 信息不足, as RGB's scorer expects).
REFUSAL = "文档信息不足，无法回答该问题。"


def parse_markers(group: str) -> list[int]:
    """Passage numbers in a marker group: ``[1][3]`` → [1, 3]; ``[1-3]`` → [1, 2, 3]; ``【2，4】`` → [2, 4].

    Args:
        group: Text of one or more adjacent markers.

    Returns:
        Numbers in order, without repeats.
    """
    out: list[int] = []
    for a, b in re.findall(r"(\d+)(?:\s*[\-–~]\s*(\d+))?", group):
        lo, hi = int(a), int(b or a)
        out += list(range(lo, hi + 1)) if 0 <= hi - lo <= 50 else [lo]
    return list(dict.fromkeys(out))


def cited_numbers(text: str, *, unique: bool = True) -> list[int]:
    """The passage numbers the markers of ``text`` cite, in order.

    Args:
        text: Text with markers.
        unique: Keep only the first citation of each number (else one entry per citation).

    Returns:
        The numbers.
    """
    found = [n for m in CITATION_MARKERS_RE.finditer(text or "") for n in parse_markers(m.group())]
    return list(dict.fromkeys(found)) if unique else found


def strip_citations(answer: str) -> str:
    """Remove ``[n]`` / ``[1,2]`` / ``【3】`` citation markers (and the space before them).

    Args:
        answer: An answer with inline markers.

    Returns:
        The answer without markers.
    """
    return CITATION_MARKERS_RE.sub("", answer or "")


def is_punct(ch: str) -> bool:
    """Whitespace, punctuation, symbols and separators (Unicode categories P, S, Z)."""
    return ch.isspace() or unicodedata.category(ch)[0] in "PSZ"


def normalize_answer(s: str) -> str:
    """SQuAD-style answer normalisation adapted to Chinese.

    Source: SQuAD v1.1 ``evaluate-v1.1.py`` ``normalize_answer`` (lower case, drop
    punctuation and extra whitespace; Rajpurkar et al. 2016) with the CMRC 2018 / DRCD
    practice of dropping Chinese punctuation; plus OpenCC t2s and full-width folding (our
    addition, so Traditional and Simplified compare equal). English articles are kept.

    Args:
        s: Any answer text.

    Returns:
        The normalised string (no whitespace, no punctuation or symbols).
    """
    return "".join(c for c in fold_text(strip_citations(s or "")).lower() if not is_punct(c))


def claim_overlap(claim: str, passage: str) -> float:
    """Share of the claim's character bigrams (after :func:`normalize_answer`) found in the passage.

    A claim of one character counts as its own bigram; an empty claim overlaps nothing (0.0).
    """
    t = normalize_answer(claim)
    grams = char_bigrams(t) or ({t} if t else set())
    if not grams:
        return 0.0
    hay = normalize_answer(passage)
    return sum(g in hay for g in grams) / len(grams)


REFUSAL_PATTERNS: tuple[str, ...] = (
    r"信息不足", r"(?:资料|信息|内容|证据)(?:不足|不够|有限)以?",
    r"(?:文档|文件|资料|材料|段落|上下文|文章|提供的(?:内容|信息))(?:中|里|内)?(?:并|均|都)?(?:没有|未|无|不)"
    r"(?:提及|提到|包含|涉及|说明|给出|提供|记载|显示|明确|相关|有关|关于|找到|具体|见)",
    r"(?:没有|未|并未|无|未能|不能|无法)(?:提及|提到|给出|找到|查到)(?:相关|具体|有关)?",
    r"没有(?:提供|相关|足够|具体|明确)(?:的)?(?:信息|资料|数据|内容|说明)",
    r"无法(?:回答|确定|得知|得出|判断|确认|提供|给出|找到|根据)", r"不能(?:回答|确定|确认)",
    r"无从(?:得知|知晓|判断)", r"找不到(?:相关|有关|具体|该|此|答案|信息|数据)", r"未(?:能)?找到",
    r"(?:无|没有)相关(?:信息|资料|数据|内容|记录)", r"暂无(?:相关)?(?:信息|资料|数据)",
    r"不(?:清楚|知道|确定)", r"抱歉",
    r"(?:do|does)n[o']?t(?:contain|mention|provide)", r"insufficientinformation", r"cannotanswer",
)
_REFUSAL_RE = re.compile("|".join(REFUSAL_PATTERNS), re.IGNORECASE)


def is_refusal(answer: str) -> bool:
    """Whether an answer declines to answer (says the documents lack the information).

    Matches :data:`REFUSAL_PATTERNS` (文档中没有提及 / 无法回答 / 未提及 / 信息不足 /
    没有提供相关信息 / 找不到相关 / 抱歉 …, and a few English forms) anywhere in the
    t2s-normalised answer without whitespace, so a partial answer that also says part is
    missing counts as a refusal; an empty answer is a refusal too. The pattern list is
    public so reports can cite it.

    Args:
        answer: The system answer (any script).

    Returns:
        True for a refusal.
    """
    text = re.sub(r"\s+", "", fold_text(strip_citations(answer or "")))
    return not text or bool(_REFUSAL_RE.search(text))
