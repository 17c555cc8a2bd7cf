"""Line-level detection of page furniture: navigation, bylines, disclaimers, share/related lists.

Works on text whose pinyin annotations and mojibake are already gone. Returns ``Edit``s
(kind ``navigation`` or ``boilerplate``) that delete whole lines or short bracketed tags.
Rules look at a line's shape (short items, separators, keys such as ``来源:``) and its place
(header/tail zone), never at particular sites.
"""

from __future__ import annotations

import re

from rag.text.bylines import (COUNTER_KEYS, DATE_KEYS, EDITOR_KEYS, MORE_COUNTER_KEYS, SOURCE_KEYS, STAFF_KEYS,
                              alternation)
from rag.text.edits import Edit

NAV = "navigation"
BOILER = "boilerplate"

_SENT_PUNCT = re.compile(r"[。！？!?；;]")
_CLAUSE_PUNCT = re.compile(r"[，。、；！？,;!?]")
_PIPE_SPLIT = re.compile(r"\s*[|｜]\s*")
_MENU_RE = re.compile(
    r"^(地区|地區|行业|行業|栏目|欄目|频道|頻道|分类|分類|导航|導航|热门标签|熱門標籤|标签|標籤|热词|熱詞|专题|專題)\s*[:：]"
)
_CRUMB_RE = re.compile(
    r"(当前位置|當前位置|您的位置|你的位置|您现在的位置|您現在的位置|现在位置|現在位置|所在位置)\s*[:：]"
    r"|^(首页|首頁|主页|主頁|网站首页|網站首頁)\s*[>»›→/＞]"
)
_PAGER_RE = re.compile(r"(上一页|下一页|上一頁|下一頁|尾页|尾頁)")
_SITE_HEADER_RE = re.compile(r"^[\w\-·.]{1,14}(网|網|网站|網站|在线|在線|频道|頻道|门户|門戶)$")
# Each key is followed by a colon in every pattern, so the order of the alternatives does not matter.
_BYLINE_KEYS = alternation(SOURCE_KEYS, EDITOR_KEYS, STAFF_KEYS, DATE_KEYS, MORE_COUNTER_KEYS, COUNTER_KEYS)
_BYLINE_KEY_RE = re.compile(rf"({_BYLINE_KEYS})\s*[:：]")
# A field is "key: value" where the value runs to a wide gap, a separator or the next key.
_FIELD_RE = re.compile(rf"(?:{_BYLINE_KEYS})\s*[:：]\s*(?:(?!{_BYLINE_KEYS})[^\s|｜,，;；。)）】\]]){{0,24}}")
_DATETIME_RE = re.compile(
    r"\d{2,4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s*\d{1,2}[:：]\d{2}(?:[:：]\d{2})?)?"
)
_SENTENCE_RE = re.compile(r"[^。！？!?]+[。！？!?]*")
_DATETIME_START_RE = re.compile(
    r"^\d{4}\s*(?:年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|[-/.]\d{1,2}[-/.]\d{1,2})\s*\d{1,2}[:：]\d{2}"
)
_REPORTER_RE = re.compile(
    r"^.{0,20}?(记者|記者|通讯员|通訊員|特约记者|特約記者)\s*[\u4e00-\u9fff]{2,4}"
    r"(?:[\s、,，]+[\u4e00-\u9fff]{2,4})*$"
)
_EDITOR_TAG_RE = re.compile(
    r"[(（【\[]\s*(责编|責編|责任编辑|責任編輯|编辑|編輯|校对|校對|审核|審核|审校|審校|编审|編審|"
    r"来源|來源|作者|稿件来源|稿件來源)\s*[:：][^()（）【】\[\]\n]{0,40}[)）】\]]"
    r"|(?:责任编辑|責任編輯|责编|責編)\s*[:：]\s*[\u4e00-\u9fff、 ]{0,12}\s*$"
)
_DISCLAIMER_KEY_RE = re.compile(r"免责声明|免責聲明|版权声明|版權聲明|特别声明|特別聲明|郑重声明|鄭重聲明")
_DISCLAIMER_CUES = (
    "转载", "轉載", "侵权", "侵權", "侵犯", "删除", "刪除", "仅代表", "僅代表", "不代表", "版权", "版權",
    "联系我们", "聯繫我們", "聯系我們", "真实性", "真實性", "本站", "不以盈利", "仅供参考", "僅供參考",
)
_DISCLAIMER_EXTRA = (
    "著作权", "著作權", "授权", "授權", "观点", "觀點", "立场", "立場", "本网", "本網", "平台", "平臺",
    "信息存储", "联系", "聯系", "聯繫", "责任", "責任", "知识产权", "知識產權", "许可", "許可",
)
_TAIL_MARKERS = frozenset({
    "分享到", "分享至", "分享", "相关文章", "相關文章", "相关阅读", "相關閱讀", "相关新闻", "相關新聞",
    "相关链接", "相關鏈接", "热门资讯", "熱門資訊", "热门文章", "熱門文章", "热点新闻", "熱點新聞", "热门新闻",
    "熱門新聞", "阅读排行榜", "閱讀排行榜", "阅读排行", "閱讀排行", "排行榜", "推荐阅读", "推薦閱讀",
    "延伸阅读", "延伸閱讀", "猜你喜欢", "猜你喜歡", "返回顶部", "返回頂部", "返回首页", "返回首頁",
    "打印本页", "打印本頁", "关闭窗口", "關閉窗口", "打印", "关闭", "關閉", "扫一扫", "掃一掃", "更多精彩",
    "网友评论", "網友評論", "我要评论", "我要評論", "发表评论", "發表評論", "相关推荐", "相關推薦",
    "精彩推荐", "精彩推薦", "编辑推荐", "編輯推薦", "最新文章", "最新资讯", "最新資訊", "图片新闻", "圖片新聞",
})
_TAIL_PREFIX_RE = re.compile(r"^(上一篇|下一篇|上一条|下一條|下一条|上一條|分享到|分享至)\s*[:：]?")
_DECOR = " \t\u00a0\u3000:：【】[]「」『』<>《》()（）-—_=*·•|"
_HEAD_LINES = 8
_TAIL_LINES = 6


def _lines(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def _is_nav(s: str, edge: bool) -> bool:
    """Navigation: menus, breadcrumbs, ``|`` lists, pagers; space-separated word lists only
    near the top or bottom of the page (``edge``), where they cannot be a list of names."""
    if _MENU_RE.match(s) and not _SENT_PUNCT.search(s):
        return True
    if len(s) <= 160 and _CRUMB_RE.search(s) and not _SENT_PUNCT.search(s):
        return True
    parts = [p for p in _PIPE_SPLIT.split(s) if p]
    if len(parts) >= 3:
        lengths = [len(p) for p in parts]
        if sum(lengths) / len(lengths) <= 8 and max(lengths) <= 16 and not _SENT_PUNCT.search(s):
            return True
    tokens = s.split()
    if edge and len(tokens) >= 5 and all(len(t) <= 4 for t in tokens) and not _CLAUSE_PUNCT.search(s):
        return True
    if _PAGER_RE.search(s) and len(s) <= 60 and not _CLAUSE_PUNCT.search(s):
        return True
    return bool(s) and all(not c.isalnum() for c in s)  # a line of separators/symbols


def _byline_residue(s: str) -> str:
    """What is left of a line after removing byline fields, dates/times and separators."""
    rest = _FIELD_RE.sub(" ", s)
    rest = _DATETIME_RE.sub(" ", rest)
    return re.sub(r"[\s|｜/:：·•\-—_,，.。()（）\[\]【】]+", "", rest)


def _is_byline(s: str, strong_only: bool) -> bool:
    """A line made of byline fields (来源:, 作者:, 時間: ...) and dates, with little else."""
    if len(s) > 160 or _SENT_PUNCT.search(s):
        return False
    keys = len(_BYLINE_KEY_RE.findall(s))
    residue = _byline_residue(s)
    if keys >= 2 and len(residue) <= 12:
        return True
    if strong_only:
        return False
    if keys == 1 and len(residue) <= 8:
        return True
    if _DATETIME_START_RE.match(s) and len(residue) <= 12:
        return True
    return bool(_REPORTER_RE.match(s))


def _cues(text: str, cues: tuple[str, ...] = _DISCLAIMER_CUES) -> int:
    return sum(1 for c in cues if c in text)


def _disclaimer_span(line: str) -> tuple[int, int] | None:
    """The disclaimer part of a line: from a key such as 免责声明 (or the first sentence with
    two disclaimer cues, when the line has three or more) through the following sentences
    that still read like a disclaimer. Text after it on the same line is kept."""
    m = _DISCLAIMER_KEY_RE.search(line)
    if m:
        start, need = m.start(), 1
    else:
        if _cues(line) < 3:
            return None
        start = next((x.start() for x in _SENTENCE_RE.finditer(line) if _cues(x.group()) >= 2), None)
        if start is None:
            return None
        need = 2
    end = start
    for sent in _SENTENCE_RE.finditer(line, start):
        body = line[m.end():sent.end()] if m and sent.start() <= m.start() else sent.group()
        if _cues(body, _DISCLAIMER_CUES + _DISCLAIMER_EXTRA) >= need:
            end = sent.end()
            need = 1
        else:
            break
    if end == start and m:  # a bare heading like "版权声明" before other text
        end = m.end()
        while end < len(line) and line[end] in " :：】]\u3000":
            end += 1
    return (start, end) if end > start else None


def _is_tail_marker(s: str) -> bool:
    core = s.strip(_DECOR)
    return core in _TAIL_MARKERS or bool(_TAIL_PREFIX_RE.match(s)) and len(s) <= 60


def _is_listlike(s: str) -> bool:
    return len(s) <= 40 and not re.search(r"[。！？]", s)


def find_edits(text: str) -> list[Edit]:
    """Edits deleting navigation and boilerplate lines/tags from ``text``."""
    spans = _lines(text)
    nonempty = [i for i, (a, b) in enumerate(spans) if text[a:b].strip()]
    head = set(nonempty[:_HEAD_LINES])
    tail = set(nonempty[-_TAIL_LINES:])
    first3 = set(nonempty[:3])
    kinds: dict[int, str] = {}
    partial: list[Edit] = []
    in_tail_list = False
    for i in nonempty:
        a, b = spans[i]
        s = text[a:b].strip()
        if in_tail_list:
            if _is_listlike(s) or _is_tail_marker(s):
                kinds[i] = NAV
                continue
            in_tail_list = False
        edge = i in head or i in tail
        if _is_tail_marker(s):
            kinds[i] = NAV
            # the list after it is only swallowed in the second half of the page
            in_tail_list = a >= len(text) // 2
        elif _is_nav(s, edge) or (i in first3 and _SITE_HEADER_RE.match(s)):
            kinds[i] = NAV
        elif _is_byline(s, strong_only=i not in head and i not in tail):
            kinds[i] = BOILER
        elif _EDITOR_TAG_RE.fullmatch(s):
            kinds[i] = BOILER
        else:
            line = text[a:b]
            span = _disclaimer_span(line)
            if span is not None:
                head_part = line[: span[0]].strip()
                short_label = len(head_part) <= 15 and not _CLAUSE_PUNCT.search(head_part)
                if short_label and not line[span[1]:].strip():
                    kinds[i] = BOILER
                    continue
                partial.append(Edit(a + span[0], a + span[1], "", BOILER))
            partial.extend(
                Edit(m.start(), m.end(), "", BOILER)
                for m in _EDITOR_TAG_RE.finditer(text, a, b)
                if span is None or not (a + span[0] <= m.start() < a + span[1])
            )
    edits = [Edit(a, min(b + 1, len(text)), "", kinds[i]) for i, (a, b) in enumerate(spans) if i in kinds]
    return sorted(edits + partial, key=lambda e: e.start)
