"""Cleaning, pinyin, mojibake, normalisation and metadata on the real seeds and on hand-written text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.text.clean import clean_text
from rag.text.meta import extract_meta, parse_date
from rag.text.normalize import detect_script, normalize
from rag.text.pinyin import count_syllables, find_annotations, leftover_annotations, syllables, to_tone_mark

SEED_IDS = ("000", "001", "002", "003", "004")


@pytest.fixture(scope="module")
def seeds(seeds_dir: Path) -> dict[str, str]:
    out = {}
    for sid in SEED_IDS:
        (path,) = seeds_dir.glob(f"{sid}_*.txt")
        out[sid] = path.read_text(encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def cleaned(seeds: dict[str, str]):
    return {sid: clean_text(raw) for sid, raw in seeds.items()}


def _assert_offsets(raw: str, c) -> None:
    assert len(c.offsets) == len(c.text)
    assert all(a < b for a, b in zip(c.offsets, c.offsets[1:])), "offsets must increase"
    repaired = {i for a, b in c.repaired for i in range(a, b)}
    for i, ch in enumerate(c.text):
        if i in repaired:
            continue
        src = raw[c.offsets[i]]
        assert src == ch or (src.isspace() and ch.isspace()), (i, ch, src)


# --- pinyin ---------------------------------------------------------------------------------------


def test_inventory_is_generated_not_listed():
    inv = syllables()
    assert 400 <= len(inv) <= 420
    for s in ("zhuang", "lüe", "nü", "jiong", "er", "yuan", "weng", "shei"):
        assert s in inv
    for s in ("gdp", "vr", "ji'", "bue", "fai", "ju" + "ang"):
        assert s not in inv
    assert to_tone_mark("lv4") == "lǜ" and to_tone_mark("gui4") == "guì" and to_tone_mark("zhou1") == "zhōu"


@pytest.mark.parametrize(
    "content,count",
    [("zhàn", 1), ("yuǎn", 1), ("xié", 1), ("zhan4", 1), ("nv3", 1), ("Zhāngjiāgǎng", 3), ("xi'an", 2),
     ("shan qu", 2), ("GDP", None), ("VR", None), ("商会", None), ("zha4n", None), ("zhàn4", None), ("40个", None)],
)
def test_count_syllables(content, count):
    assert count_syllables(content) == count


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("兩地協(xié)作多年", "兩地協作多年"),
        ("一篇紀(jì)實(shí)報道", "一篇紀實報道"),
        ("靖遠(yuǎn)縣的項目", "靖遠縣的項目"),
        ("幫扶（bāng fú）工作", "幫扶工作"),
        ("扶(fu2)貧(pin2)车间", "扶貧车间"),
        # real parentheticals stay
        ("全县贫困村52个(其中深度贫困村9个)", "全县贫困村52个(其中深度贫困村9个)"),
        ("成立协作办公室（以下简称“协作办”）负责", "成立协作办公室（以下简称“协作办”）负责"),
        ("地区生产总值(GDP)增长", "地区生产总值(GDP)增长"),
        ("展厅用上了虚拟现实(VR)设备", "展厅用上了虚拟现实(VR)设备"),
        ("民营企业（商会）代表", "民营企业（商会）代表"),
        ("粉丝(fan)很多", "粉丝(fan)很多"),  # one toneless English-like word: not an annotated text
        # more syllables than preceding Han characters: not an annotation of them
        ("，站(zhàn zhǎng)说", "，站(zhàn zhǎng)说"),
    ],
)
def test_pinyin_annotations(raw, expected):
    assert clean_text(raw).text == expected


def test_toneless_annotations_removed_in_annotated_text():
    raw = "山(shan)区(qu)的茶(cha)园"
    assert clean_text(raw).text == "山区的茶园"


def test_zero_pinyin_left_in_seeds(seeds, cleaned):
    before = sum(len(find_annotations(raw)) for raw in seeds.values())
    assert before > 500, "the seeds carry hundreds of annotations"
    for sid, c in cleaned.items():
        assert leftover_annotations(c.text) == [], sid
    # pinyin was about half of seed 001
    assert cleaned["001"].removed["pinyin"] > 0.4 * len(seeds["001"])
    assert "pinyin_removed" in cleaned["001"].flags and "pinyin_removed" in cleaned["002"].flags
    assert cleaned["000"].removed["pinyin"] == 0


def test_offsets_round_trip_on_seeds(seeds, cleaned):
    for sid, c in cleaned.items():
        _assert_offsets(seeds[sid], c)


# --- mojibake -------------------------------------------------------------------------------------


def test_seed_mojibake_dropped_or_repaired(cleaned):
    t2 = cleaned["002"].text
    for junk in ("碧K", "\ue68d", "撠", "笓]", "?xùn)", "安痪们"):
        assert junk not in t2
    assert "蘇州市委" in t2 and "高山村" in t2  # repaired from shifted GBK
    t1 = cleaned["001"].text
    assert "?yáng)" not in t1 and "?yōu)" not in t1 and "殚L" not in t1
    for sid in ("001", "002"):
        assert "mojibake_removed" in cleaned[sid].flags and "mojibake_repaired" in cleaned[sid].flags
    for sid in ("000", "003", "004"):
        assert cleaned[sid].removed["mojibake"] == 0


def _shift(segment: str) -> str:
    """GBK bytes read one byte off: what a lost byte does to a run of text."""
    return segment.encode("gbk")[1:].decode("gbk")


def test_shifted_gbk_repaired():
    strong = _shift("”高樓東")  # ends in '|', the orphaned trail byte of 東
    weak = _shift("”蘇州")  # ends in a letter: only repaired because the text is clearly garbled
    raw = (
        "這是一篇測試文章，講述山區合作社的發展。\n"
        f"社長說：“今年的收成比去年好!{strong}西兩地的企業都來參觀。\n"
        f"他又說：“繼續努力!{weak}的專家下月也會來。"
    )
    c = clean_text(raw)
    assert "高樓東西兩地" in c.text and "蘇州的專家" in c.text
    assert len(c.repaired) == 2
    _assert_offsets(raw, c)


def test_letters_between_han_are_not_mojibake():
    raw = "这部好莱坞A级大片上映了，主队直接进入A组，产品打上了X光检测合格的标签，西e网也报道了。"
    assert clean_text(raw).text == raw


def test_utf8_read_as_single_byte_codepage_repaired():
    own = "山区茶叶合作社今年扩大了种植面积"
    garbled = own.encode("utf-8").decode("latin-1")
    c = clean_text(f"前言。{garbled}。结尾。")
    assert own in c.text and "mojibake_repaired" in c.flags
    cyr = own.encode("utf-8").decode("ptcp154")
    assert own in clean_text(f"前言。{cyr}。").text


def test_utf8_read_as_gbk_repaired():
    own = "合作社的茶叶卖到了城里"
    garbled = own.encode("utf-8").decode("gbk", errors="replace")
    c = clean_text(f"开头，{garbled}。")
    assert "茶叶" in c.text and "\ufffd" not in c.text


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("村里锟斤拷锟斤拷修了路", "村里修了路"),
        ("村里\ufffd修了路", "村里修了路"),
        ("村里\ue123修了路", "村里修了路"),
        ("合作社?种植了茶树", "合作社种植了茶树"),  # a lost character
        ("你们去哪?我在村里", "你们去哪?我在村里"),  # a real question
    ],
)
def test_junk_dropped(raw, expected):
    assert clean_text(raw).text == expected


OWN_ARTICLE = """青山县茶产业调查：小茶叶撬动大产业
2021年春天，青山县的茶农比往年更忙。全县茶园面积达到3.6万亩，比2018年增长了27.5%，带动4,300多户农民增收。
“以前一斤鲜叶卖不到10块钱，现在能卖到18块。”村民翟大成一边采茶一边说。他家的茶园今年预计收入8.5万元……
县农业农村局（以下简称“农业局”）介绍，去年全县茶叶综合产值1.2亿元，其中电商销售占比约13.13%。为了提高品质，县里引进了近红外(NIR)检测设备，并请来3位专家驻村指导。
不过，问题也不少：劳动力外流、加工能力不足、品牌知名度低？对此，县里计划在2022年7月13日前建成第二个加工厂，并与东部2个城市签订了协作协议(其中1个已开始执行)。
“茶叶是青山的名片，也是乡亲们的‘钱袋子’。”县长佘明说；记者鄢小红 摄影报道后记：本文数字均为作者虚构，仅作测试之用！"""


def test_clean_own_article_unchanged():
    c = clean_text(OWN_ARTICLE)
    assert c.text == OWN_ARTICLE
    assert all(v == 0 for v in c.removed.values())
    assert c.flags == []


def test_clean_own_article_unchanged_except_whitespace():
    spaced = "\u3000\u3000" + OWN_ARTICLE.replace("\n", "\r\n\r\n  ").replace("其中电商", "其中\u00a0\u00a0电商")
    c = clean_text(spaced)
    assert c.text == OWN_ARTICLE.replace("其中电商", "其中 电商")
    _assert_offsets(spaced, c)


def test_clean_own_traditional_article_unchanged():
    import opencc

    trad = opencc.OpenCC("s2t").convert(OWN_ARTICLE)
    assert detect_script(trad) == "traditional"
    assert clean_text(trad).text == trad


# --- navigation / boilerplate -------------------------------------------------------------------

PAGE = """示例农业网
首页 | 新闻 | 政策 | 市场 | 技术 | 视频
地区：东部|西部|南部|北部|中部
当前位置：首页 > 新闻中心 > 正文
青山县的茶叶合作社
2021-03-05 10:20  来源：示例日报  作者：王小明
合作社成立三年来，社员从12户增加到86户，每户年均增收6000元。
理事长说，下一步要建设冷库，把夏秋茶也卖出好价钱。（责任编辑：李四）
免责声明：本站部分文章转载自网络，仅代表作者观点，如有侵权请联系删除。
分享到：
相关文章：
茶园管护要点
春茶采摘开始了
阅读排行榜
"""


def test_page_furniture_removed():
    c = clean_text(PAGE)
    assert c.text == (
        "青山县的茶叶合作社\n"
        "合作社成立三年来，社员从12户增加到86户，每户年均增收6000元。\n"
        "理事长说，下一步要建设冷库，把夏秋茶也卖出好价钱。"
    )
    assert c.removed["navigation"] > 0 and c.removed["boilerplate"] > 0
    assert {"navigation_removed", "boilerplate_removed"} <= set(c.flags)
    _assert_offsets(PAGE, c)


def test_byline_inside_a_paragraph_is_not_a_byline_line():
    raw = "发布时间：2022-01-03 来源：某某办公室。发言人今天表示，全县的茶叶产量增长了两成，销路也比往年更好。"
    assert clean_text(raw).text == raw


def test_seed_furniture_removed(cleaned):
    t0, t1, t2, t3 = (cleaned[s].text for s in ("000", "001", "002", "003"))
    assert "责编" not in t0 and "来源:" not in t0 and "13:58" not in t0
    assert "熱門資訊" not in t1 and "編輯:" not in t1
    for furniture in ("|", "當前位置", "免責聲明", "閱讀排行榜", "作者:佚名", "84農業網"):
        assert furniture not in t2
    assert "分享到" not in t3 and "相關文章" not in t3
    # the facts stay
    assert "60248" in t0 and "13.13%" in t0 and "1.1亿元" in t0
    assert "5200萬元" in t1 and "524.4萬元" in t1
    assert "120萬元" in t2 and "兩江家園" in t2
    assert "0.4%" in t3 and "54.33億元" in cleaned["004"].text


# --- normalisation --------------------------------------------------------------------------------


def test_normalize_is_length_preserving_and_simplifies(cleaned):
    for c in cleaned.values():
        n = normalize(c.text)
        assert len(n) == len(c.text)
        assert detect_script(n) == "simplified"
    n1 = normalize(cleaned["001"].text)
    i = n1.index("东西部扶贫协作")
    assert cleaned["001"].text[i:i + 7] == "東西部扶貧協作"  # normalised span -> original span


def test_normalize_fullwidth():
    assert normalize("２０２０年增长１３．１３％，ＧＤＰ达１，０００亿") == "2020年增长13.13%，GDP达1,000亿"
    assert normalize("你好，世界") == "你好，世界"


def test_detect_script(seeds):
    assert detect_script(seeds["000"]) == "simplified"
    for sid in ("001", "002", "003", "004"):
        assert detect_script(seeds[sid]) == "traditional"
    assert detect_script("abc 123") == "simplified"


# --- metadata -------------------------------------------------------------------------------------


def test_seed_metadata(seeds, cleaned):
    meta = {sid: extract_meta(seeds[sid], cleaned[sid].text, {}) for sid in SEED_IDS}
    assert meta["000"]["date"] == "2020-08-19" and meta["000"]["source"].startswith("人民网")
    assert meta["001"]["date"] == "2020-07-13" and "白银新闻网" in meta["001"]["source"]
    assert meta["002"]["date"] == "2020-04-24" and meta["002"]["source"] == "新华网"
    assert meta["003"]["date"] is None
    assert meta["004"]["date"] is None and "甘肃日报" in meta["004"]["source"]
    assert meta["001"]["title"].startswith("为决战决胜") and "(" not in meta["001"]["title"]
    assert meta["002"]["title"].startswith("江苏张家港")
    assert meta["004"]["title"].startswith("携手同心") and "——" in meta["004"]["title"]
    assert all(m["url"] is None for m in meta.values())


def test_meta_hints_win_and_are_normalised():
    raw = "标题行\n时间：2020-01-02 来源：甲报\n正文一句话。"
    meta = extract_meta(raw, "标题行\n正文一句话。", {"title": "東部新聞", "date": "2021年3月", "source": "乙網"})
    assert meta == {"title": "东部新闻", "source": "乙网", "date": "2021-03", "url": None}
    meta = extract_meta(raw + "\n原文链接：https://example.org/a/1.html", "标题行\n正文一句话。", {})
    assert meta["date"] == "2020-01-02" and meta["source"] == "甲报"
    assert meta["url"] == "https://example.org/a/1.html"


@pytest.mark.parametrize(
    "text,iso",
    [("2020年08月19日13:58", "2020-08-19"), ("发布时间:2020-7-13", "2020-07-13"), ("时间:2020-04-24", "2020-04-24"),
     ("2020/7/3", "2020-07-03"), ("２０２０年７月", "2020-07"), ("2019-2020", None), ("2020-02-30", None),
     ("截至2019年底", None)],
)
def test_parse_date(text, iso):
    assert parse_date(text) == iso


def test_body_dates_are_not_publication_dates():
    raw = "一篇文章\n2019年，全县脱贫。2020年7月13日，召开了大会。"
    assert extract_meta(raw, raw, {})["date"] is None
    assert re.search(r"\d", raw)
