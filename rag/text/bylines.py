"""The keys of byline fields (``来源：``, ``發布時間：``, ``责任编辑：`` …) in both scripts.

One vocabulary for the two readers of bylines: :mod:`rag.text.meta` takes the outlet and the
date from them, :mod:`rag.text.boilerplate` removes byline lines from the body. Each builds its
patterns from the groups below with :func:`alternation`.
"""

from __future__ import annotations

__all__ = ["SOURCE_KEYS", "SOURCE_KEYS_LONG", "DATE_KEYS", "EDITOR_KEYS", "STAFF_KEYS", "COUNTER_KEYS",
           "MORE_COUNTER_KEYS", "alternation"]

# Where the article comes from (the long forms only :mod:`rag.text.meta` reads).
SOURCE_KEYS = ("来源", "來源", "信息来源", "信息來源", "出处", "出處", "稿源")
SOURCE_KEYS_LONG = ("稿件来源", "稿件來源", "文章来源", "文章來源", "新闻来源", "新聞來源")
# When it was published or changed.
DATE_KEYS = ("发布时间", "發布時間", "发布日期", "發布日期", "发表时间", "發表時間", "更新时间", "更新時間",
             "时间", "時間", "日期")
# Who wrote or edited it.
EDITOR_KEYS = ("作者", "编辑", "編輯", "责编", "責編")
STAFF_KEYS = ("责任编辑", "責任編輯", "记者", "記者", "通讯员", "通訊員", "摄影", "攝影", "供稿")
# Page furniture: counters and font-size switches.
COUNTER_KEYS = ("浏览", "瀏覽", "点击", "點擊", "字号", "字號")
MORE_COUNTER_KEYS = ("浏览次数", "瀏覽次數", "点击数", "點擊數", "阅读", "閱讀")


def alternation(*groups: tuple[str, ...]) -> str:
    """The keys of ``groups`` as one regex alternation (``来源|來源|…``), in the order given.

    Args:
        groups: Tuples of literal keys (no regex metacharacters).

    Returns:
        The alternation, without a group around it.
    """
    return "|".join(key for group in groups for key in group)
