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
])
def test_multi_part_questions_are_split(question, parts):
    assert split_question(question) == parts


@pytest.mark.parametrize("question", [
    "青山县的贫困发生率从多少下降到了多少？",      # one fact with two figures
    "截至2019年底，青山县减少了多少贫困人口？",    # a context clause, one question
    "哪些城市参与了对口帮扶？",
    "青山县和白水镇的合作是什么时候开始的？",       # 和 without 分别: one joint question
])
def test_single_questions_are_not_split(question):
    assert split_question(question) == [question]


def test_traditional_script_is_normalised():
    assert split_question("青山縣和白水鎮分別投入了多少資金？") == ["青山县投入了多少资金？", "白水镇投入了多少资金？"]
