"""Splitting multi-part questions (generic syntax, hand-written questions)."""

from __future__ import annotations

import pytest

from rag.answer.multipart import split_question


@pytest.mark.parametrize("question,parts", [
    ("青山县和东海市港湾区分别对口帮扶哪个县？", ["青山县对口帮扶哪个县？", "东海市港湾区对口帮扶哪个县？"]),
    ("青山县和白水镇的贫困发生率分别是多少？", ["青山县的贫困发生率是多少？", "白水镇的贫困发生率是多少？"]),
    ("2020年青山县和白水镇分别投入了多少资金？", ["2020年青山县投入了多少资金？", "2020年白水镇投入了多少资金？"]),
    ("青山县温室项目安排了多少资金，建了多少座温室？", ["青山县温室项目安排了多少资金？", "青山县温室项目建了多少座温室？"]),
    ("青山县投入了多少资金，白水镇获得了多少？", ["青山县投入了多少资金？", "白水镇获得了多少？"]),
    # coordinated phrases without 分别: parallel words around the conjunction
    ("2021年青山县和白水镇的茶叶产量？", ["2021年青山县的茶叶产量？", "2021年白水镇的茶叶产量？"]),
    ("2019年和2020年青山县的茶叶产量", ["2019年青山县的茶叶产量？", "2020年青山县的茶叶产量？"]),
    ("青山茶博会的时间和地点", ["青山茶博会的时间？", "青山茶博会的地点？"]),
    ("ABC2022和2023的举办地", ["ABC2022的举办地？", "ABC2023的举办地？"]),
    ("截至2019年底青山县和白水镇分别有多少贫困户？", ["截至2019年底青山县有多少贫困户？", "截至2019年底白水镇有多少贫困户？"]),
    ("2022年一季度青山县和白水镇的增长率分别是多少？",
     ["2022年一季度青山县的增长率是多少？", "2022年一季度白水镇的增长率是多少？"]),
])
def test_multi_part_questions_are_split(question, parts):
    assert split_question(question) == parts


@pytest.mark.parametrize("question", [
    "青山县的贫困发生率从多少下降到了多少？",      # one fact with two figures
    "截至2019年底，青山县减少了多少贫困人口？",    # a context clause, one question
    "哪些城市参与了对口帮扶？",
    "青山县和白水镇的合作是什么时候开始的？",       # about both together: one joint question
    "青山县和白水镇一共投入了多少资金？",
    "《山和海》什么时候上映？",                     # a conjunction inside a title
    "青山县与白水镇是什么时候结对的？",             # 与 as a preposition
    "青山县和白水镇都属于哪个市？",                 # one answer for both
    "青山县、白水镇和红岩乡的人口",                 # lists of three are left alone
    "青山公司于何年收购了白水公司的茶叶及饮料业务？",  # common nouns, the slot asked before them
    "青山县组织了茶叶和蔬菜的展销会，地点在哪里？",
])
def test_single_questions_are_not_split(question):
    assert split_question(question) == [question]


def test_traditional_script_is_normalised():
    assert split_question("青山縣和白水鎮分別投入了多少資金？") == ["青山县投入了多少资金？", "白水镇投入了多少资金？"]
