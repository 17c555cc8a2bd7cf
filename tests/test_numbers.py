"""Chinese number normalisation (rag/text/numerals.py, rag/text/numbers.py): hand-made cases plus the seed corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.text.normalize import fold_text
from rag.text.numbers import (Quantity, extract_quantities, figure_in_text, figure_spans,
                              numbers_in, same_quantity)
from rag.text.numerals import parse_number


# ---------------------------------------------------------------- parse_number
@pytest.mark.parametrize("text, value", [
    ("1.1亿", 1.1e8), ("11000万", 1.1e8), ("110000000", 1.1e8), ("六万", 6e4), ("6万", 6e4),
    ("一千二百三十四", 1234), ("两百", 200), ("二〇一七", 2017), ("一九九六", 1996), ("5,200", 5200),
    ("0.94万", 9400), ("１２", 12), ("3.3", 3.3), ("三点五", 3.5), ("三点五亿", 3.5e8),
    ("1亿2000万", 1.2e8), ("一亿二千万", 1.2e8), ("三万五", 35000), ("两百五", 250), ("十五", 15),
    ("十", 10), ("廿三", 23), ("卅", 30), ("一千零五", 1005), ("一万零五百", 10500),
    ("一百零五万", 1050000), ("2万亿", 2e12), ("三万亿", 3e12), ("3千万", 3e7), ("百分之十三", 13),
    ("-3.5", -3.5), ("5500余万", 5.5e7), ("零", 0), ("壹佰贰拾", 120), ("萬", None),
    ("5200萬", 5.2e7), ("2.5億", 2.5e8), ("兩萬", 2e4), (" 42 ", 42),
])
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "abc", "十三五", "1.1亿元", "半", "一些", "三万点五", "百"])
def test_parse_number_rejects_non_numbers(text: str) -> None:
    assert parse_number(text) is None


def test_parse_number_is_exact_decimal_arithmetic() -> None:
    # 1.1 * 1e8 in binary floating point is 110000000.00000001; Decimal keeps it exact.
    assert parse_number("1.1亿") == 110000000.0
    assert parse_number("0.07万") == 700.0


def test_fold_text_preserves_length_and_converts() -> None:
    raw = "東西部扶貧協作５２００萬元，增長１２．５％　共計"
    folded = fold_text(raw)
    assert len(folded) == len(raw)
    assert folded == "东西部扶贫协作5200万元，增长12.5% 共计"


# ---------------------------------------------------------------- extract_quantities
def _q(text: str) -> list[tuple[float, str, str]]:
    return [(q.value, q.unit, q.kind) for q in extract_quantities(text)]


def test_money_multipliers_are_applied() -> None:
    assert _q("款项分别为：1.1亿元、11000万元和110000000元") == [(1.1e8, "元", "money")] * 3


def test_traditional_script_and_spans_point_into_original() -> None:
    text = "今年落實資金5200萬元，其中2.5億元用於產業"
    qs = extract_quantities(text)
    assert [(q.value, q.unit, q.surface) for q in qs] == [(5.2e7, "元", "5200萬元"), (2.5e8, "元", "2.5億元")]
    assert all(text[q.start:q.end] == q.surface for q in qs)


def test_approximate_quantities_keep_their_value() -> None:
    qs = extract_quantities("种了6萬餘畝辣椒，销售5500余万元，带动近2万户，300多家企业，约40元左右")
    assert [(q.value, q.unit, q.approx) for q in qs] == [
        (6e4, "亩", True), (5.5e7, "元", True), (2e4, "户", True), (300, "家", True), (40, "元", True)]


def test_years_dates_and_chinese_dates() -> None:
    assert _q("二〇一七年七月十三日") == [(2017, "年", "year"), (7, "月", "date"), (13, "日", "date")]
    assert _q("2020年7月13日") == [(2020, "年", "year"), (7, "月", "date"), (13, "日", "date")]
    for text in ("2020-7-13", "2020/07/13", "2020.7.13"):
        assert _q(text) == [(2020, "年", "year"), (7, "月", "date"), (13, "日", "date")], text
    assert _q("7月13号") == [(7, "月", "date"), (13, "日", "date")]
    assert _q("戴了32年") == [(32, "年", "count")]  # a duration, not a year
    assert _q("3个月") == [(3, "个月", "count")]


def test_ranges_give_two_quantities() -> None:
    assert _q("2017-2019年") == [(2017, "年", "year"), (2019, "年", "year")]
    assert _q("2017至2019年") == [(2017, "年", "year"), (2019, "年", "year")]
    assert _q("每户3-5万元") == [(3e4, "元", "money"), (5e4, "元", "money")]


def test_percentages() -> None:
    assert _q("从13.13%降到3.3％") == [(13.13, "%", "percent"), (3.3, "%", "percent")]
    assert _q("百分之十三点一三") == [(13.13, "%", "percent")]
    assert _q("下降0.4个百分点") == [(0.4, "百分点", "percent")]
    assert _q("增长-2.3%") == [(-2.3, "%", "percent")]


def test_compound_and_thousands() -> None:
    assert _q("1亿2000万元") == [(1.2e8, "元", "money")]
    assert _q("共60,248人") == [(60248, "人", "count")]
    assert _q("5千克") == [(5, "公斤", "count")]  # 千克 is a unit, not a multiplier


def test_words_and_identifiers_are_not_numbers() -> None:
    assert extract_quantities("一些村民统一行动，十八大以来，两江家园，十三五规划，半年") == []
    assert extract_quantities("5G基站沿G318国道，COVID-19疫情") == []
    assert extract_quantities("见 https://news.example.cn/2020/07/13/a1.html 或写信 ab12@example.cn") == []
    assert extract_quantities("发布于13:58") == []


def test_a_space_between_number_and_unit_is_allowed() -> None:
    assert _q("前年约 4.39 亿元，2021 年 9 月") == [(4.39e8, "元", "money"), (2021, "年", "year"), (9, "月", "date")]
    assert figure_in_text("4.39亿元", "前年约 4.39 亿元")


def test_time_and_degree_words_after_chinese_numerals_are_not_quantities() -> None:
    assert extract_quantities("这十分重要，一点也不难，曾一度搁置") == []
    assert _q("上午8时30分，指数收于4200点，气温负3度") == [
        (8, "时", "count"), (30, "分", "count"), (4200, "点", "count"), (-3, "度", "count")]


def test_adjacent_numbers_are_separate() -> None:
    assert _q("17818户60248人") == [(17818, "户", "count"), (60248, "人", "count")]
    assert _q("6万2017年") == [(6e4, "", "plain"), (2017, "年", "year")]


# ---------------------------------------------------------------- same_quantity
def _one(text: str) -> Quantity:
    (q,) = extract_quantities(text)
    return q


def test_same_quantity_units() -> None:
    assert same_quantity(_one("1.1亿元"), _one("11000万元"))
    assert same_quantity(_one("1.1億元"), _one("110000000元"))
    assert same_quantity(_one("265名"), _one("265人"))  # people
    assert not same_quantity(_one("571人次"), _one("571人"))  # person-times differ
    assert not same_quantity(_one("3.3%"), _one("3.3个百分点"))
    assert not same_quantity(_one("120万元"), _one("120万亩"))
    assert not same_quantity(_one("120万元"), _one("1120万元"))
    assert same_quantity(_one("100元"), _one("100.00000000001元"), rel_tol=1e-9)


# ---------------------------------------------------------------- figure_in_text
@pytest.mark.parametrize("figure, text, expected", [
    ("1.1亿元", "共投入11000万元", True), ("1.1亿元", "共投入110000000元", True),
    ("1.1亿元", "共投入1.1億元", True), ("5200万", "今年的5200萬元用于", True),
    ("5200万", "今年的5,200万元", True), ("5200万", "今年的5200萬(wàn)用于", True),
    ("6万", "辣椒6萬餘畝", True), ("6万", "辣椒六万亩", True), ("六万", "辣椒6万亩", True),
    ("2010", "2010年起", True), ("2017", "2017-2019年", True), ("2019年", "2017至2019年", True),
    ("120万", "捐赠1120万元", False), ("120万", "捐赠120万亩", True), ("120万元", "捐赠120万亩", False),
    ("13.13%", "从13.13%降", True), ("13.13%", "百分之十三点一三", True), ("13.13%", "13.13个百分点", False),
    ("3.3%", "降到13.3%", False), ("2.5亿元", "安排12.5亿元", False),
    ("2018年7月", "2018年7月摘帽", True), ("2018年7月", "2018-07-02", True), ("2018年7月", "2018年，7月", False),
    ("60248", "减少60248人", True), ("60248", "减少160248人", False), ("60248", "减少60,248人", True),
    ("265人", "选派265名干部", True), ("265人次", "选派265名干部", False), ("76", "车间76个", True),
    ("二〇一七年", "2017年", True), ("2017年", "二〇一七年", True), ("7月13日", "2020-7-13", True),
    ("天津", "來自天津、廈門", True), ("厦门", "來自天津、廈門", True), ("两江家园", "“兩江家園”", True),
    ("G318", "沿 G318 国道", True), ("", "任何文本", False), ("1.1亿元", "", False),
])
def test_figure_in_text(figure: str, text: str, expected: bool) -> None:
    assert figure_in_text(figure, text) is expected


def test_figure_spans_index_the_original_text() -> None:
    text = "先投入11000萬元，後又投入1.1億元。"
    spans = figure_spans("1.1亿元", text)
    assert [text[s:e] for s, e in spans] == ["11000萬元", "1.1億元"]
    text = "來自 天 津"
    (s, e), = figure_spans("天津", text)
    assert text[s:e] == "天 津"


# ---------------------------------------------------------------- numbers_in
def test_numbers_in_skips_markers_ordinals_and_phrasing() -> None:
    answer = "1. 张家港投入1.1亿元[1]，选派第3批干部[2,3]。\n2、一个项目覆盖4市，两个方面。【4】"
    assert [q.surface for q in numbers_in(answer)] == ["1.1亿元", "4市"]


def test_numbers_in_keeps_dates_years_and_multiplied_numerals() -> None:
    answer = "二〇二〇年七月安排六万元，增长百分之五"
    assert [q.surface for q in numbers_in(answer)] == ["二〇二〇年", "七月", "六万元", "百分之五"]


# ---------------------------------------------------------------- real data
def test_every_seed_qa_figure_is_found_in_its_gold_article(eval_dir: Path, seeds_dir: Path) -> None:
    """Each must_include/any_of figure of the dev set occurs in a gold article (many are Traditional)."""
    seeds = {p.stem: p.read_text(encoding="utf-8") for p in seeds_dir.glob("*.txt")}
    items = [json.loads(line) for line in (eval_dir / "seed_qa_dev.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    checked = 0
    for item in items:
        for figure in item["must_include"] + item.get("any_of", []):
            found = [d for d in item["gold_docs"] if figure_in_text(figure, seeds[d])]
            assert found, (item["id"], figure)
            for d in found:
                for s, e in figure_spans(figure, seeds[d]):
                    assert e > s and seeds[d][s:e].strip()
            checked += 1
    assert checked >= 30


def test_seed_traditional_article_amounts_normalise(seeds_dir: Path) -> None:
    """A Traditional-script seed writes amounts as 萬; they compare equal to 万 and to 元 amounts."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(seeds_dir.glob("*.txt"))]
    trad = [t for t in texts if "萬" in t]
    assert trad
    for t in trad:
        qs = [q for q in extract_quantities(t) if "萬" in q.surface]
        assert len(qs) >= 5
        for q in qs:
            head = q.surface[:q.surface.index("萬") + 1]
            assert q.value == parse_number(head.replace("萬", "")) * 1e4  # type: ignore[operator]
            assert figure_in_text(head.replace("萬", "万"), t)  # Simplified figure, Traditional text
            assert figure_in_text(f"{q.value:.0f}", t)  # the same amount written out in full
    for t in texts:  # spans always index the original article
        assert all(t[x.start:x.end] == x.surface for x in extract_quantities(t))


def test_list_markers_are_not_quantities_and_course_counts_are():
    assert [(q.value, q.unit) for q in extract_quantities("条件2.年满十八周岁")] == [(18.0, "岁")]
    assert [(q.value, q.unit) for q in extract_quantities("完成了12门课程")] == [(12.0, "门")]
    assert [q.value for q in extract_quantities("增长2.5%")] == [2.5]
