"""Answer-type detection and the post-check's notion of what an answer adds (own examples)."""

from __future__ import annotations

import pytest

from rag.answer.postcheck import novel_segments
from rag.answer.question import analyze_question


@pytest.mark.parametrize("question, atype", [
    ("为什么那座高山夏天气温低、游客却很多？", "text"),       # explanation, not the temperature
    ("果汁的口感与其中哪一种糖的比例有关？", "entity"),        # 比例 is context, 哪一种 asks
    ("该县女性干部所占比例？", "number"),                     # a bare quantity noun still asks a number
    ("青石县去年投入了多少资金？", "number"),
    ("青石县由哪一座城市对口帮扶？", "entity"),
    ("怎样才能提高茶叶的产量？", "text"),
    ("青山茶博会在哪举行", "entity"),                          # an event verb at the end, but a place is asked
    ("电影《山海》上映", "date"),                                # a bare event verb asks when
    ("青山茶博会是在哪一年举办的？", "date"),
    ("青山书院建于公元几年？", "date"),                          # a calendar year, not a duration
    ("青山书院已经建成几年了？", "number"),
    ("按总面积算，青山县最大的水库为？", "text"),            # 面积 is context, the head noun comes later
    ("青山县的人口为？", "number"),                             # the quantity noun is the head
    ("青山县2020年人口出生率", "number"),                       # a rate after 人口 is still a measure
    ("青山茶最早产于何处？", "entity"),
    ("青山书院是何人创办的？", "entity"),
    ("该地区只有几座水库建在山区，其中最大的一座是？", "text"),   # 只有几座 is "a few"
    ("青山县有几座水库？", "number"),
])
def test_answer_type(question, atype):
    assert analyze_question(question).answer_type == atype


def test_novel_segments_are_what_the_answer_adds():
    assert novel_segments("这座桥用青石砌成", "这座桥用什么砌成？") == ["青石"]
    assert novel_segments("青石县投入资金880万元", "青石县投入多少资金？") == ["880万元"]
    assert novel_segments("青石县投入多少资金", "青石县投入多少资金？") == []


def test_an_adverb_glued_to_a_name_is_dropped():
    assert analyze_question("青禾曾于1990年开始生产哪一种茶？").names == ["青禾"]   # not 青禾曾
    assert analyze_question("李青曾在哪里工作？").names == ["李青"]
