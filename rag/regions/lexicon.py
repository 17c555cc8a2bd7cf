"""Generic Chinese administrative-geography vocabulary used by the gazetteer (no corpus data).

Everything here is general language knowledge: the administrative suffixes and their levels,
the provincial-level divisions (the only names known in advance), and the generic words that
look like place names but are not (``贫困村`` "poor village", ``山区`` "mountain area",
``全县`` "the whole county").
"""

from __future__ import annotations

import re

# Single-character suffix -> level. 自治X forms map onto the same levels.
SUFFIX_LEVEL = {"省": "省", "市": "市", "州": "州", "盟": "盟", "县": "县", "区": "区", "旗": "旗",
                "镇": "镇", "乡": "乡", "村": "村"}
SUFFIXES = frozenset(SUFFIX_LEVEL)
AUTONOMOUS = ("自治县", "自治州", "自治区", "自治旗")
# Coarse rank for parent/child chains (江苏省张家港市, 天津市和平区, 思渠镇 in 沿河自治县).
LEVEL_RANK = {"省": 0, "市": 1, "州": 1, "盟": 1, "县": 2, "区": 2, "旗": 2, "镇": 3, "乡": 3, "村": 4}
COUNTY_OR_ABOVE = frozenset("省市州盟县区旗")

# Provincial-level divisions: stem -> official name.
PROVINCES = {
    "北京": "北京市", "天津": "天津市", "上海": "上海市", "重庆": "重庆市", "河北": "河北省", "山西": "山西省",
    "辽宁": "辽宁省", "吉林": "吉林省", "黑龙江": "黑龙江省", "江苏": "江苏省", "浙江": "浙江省", "安徽": "安徽省",
    "福建": "福建省", "江西": "江西省", "山东": "山东省", "河南": "河南省", "湖北": "湖北省", "湖南": "湖南省",
    "广东": "广东省", "海南": "海南省", "四川": "四川省", "贵州": "贵州省", "云南": "云南省", "陕西": "陕西省",
    "甘肃": "甘肃省", "青海": "青海省", "台湾": "台湾省", "内蒙古": "内蒙古自治区", "广西": "广西壮族自治区",
    "西藏": "西藏自治区", "宁夏": "宁夏回族自治区", "新疆": "新疆维吾尔自治区", "香港": "香港特别行政区",
    "澳门": "澳门特别行政区",
}

# Two-character words ending in a suffix character that are ordinary nouns, not names.
GENERIC_COMPOUNDS = frozenset(
    "山区 地区 社区 园区 景区 小区 城区 林区 矿区 牧区 灾区 老区 藏区 市区 郊区 辖区 片区 街区 校区 库区 湖区 "
    "港区 新区 专区 特区 军区 选区 禁区 误区 盲区 政区 分区 战区 营区 "
    "农村 乡村 新村 山村 渔村 强村 邻村 本村 全村 该村 各村 每村 百村 驻村 进村 入村 到村 在村 出村 "
    "城市 超市 都市 门市 股市 上市 城乡 下乡 家乡 故乡 老乡 返乡 回乡 本乡 "
    "城镇 集镇 乡镇 村镇 重镇 古镇 小镇 名镇 强镇 建镇 "
    "市县 县市 县区 区县 市州 州市 省市 省区 省份 全县 全区 全省 全市 全州 全镇 全乡 我省 我市 我县 我区 "
    "本省 本市 本县 本区 该省 该市 该县 该区 该镇 该乡 外省 外市 外县 各省 各市 各县 各区 两省 两市 两县 两区 "
    "诸省 邻省 邻县 邻市 大省 强省 强市 强县 大县 小县 穷县 贫县 名县 名村".split())
# Stems (what precedes the suffix) that are descriptions, not names.
GENERIC_STEMS = frozenset(
    "贫困 深度贫困 特困 特别贫困 国贫 省贫 重点 定点 行政 自然 中心 示范 试点 移民 先进 文明 卫生 "
    "东部 西部 中部 南部 北部 东南部 西南部 西北部 东北部 沿海 内地 边远 偏远 边境 少数民族 民族 "
    "协作 结对 帮扶 受援 对口 扶贫 脱贫 摘帽 出列 未出列 开发 试验 保护 产业 工业 经济 高新 "
    "新 老 大 小 强 弱 穷 富 全 各 每 该 本 我 此 其 这 那 邻 外 周边 当地 所在 相关 其他 其它 有关 "
    "发达 欠发达 落后 困难 一类 二类 三类 非贫困 贫困户 试验田 样板 美丽 和美 生态 旅游 明星 模范 "
    "城 乡 县 市 区 省 村 镇 州 旗 都 国 地 社 山 农 渔 郊 新农 "
    "国家级 省级 市级 县级 乡级 村级 镇级 区级".split())
GENERIC_STEM_ENDINGS = ("贫困", "扶贫", "示范", "试点", "重点", "行政", "中心", "开发", "试验", "产业",
                        "协作", "结对", "帮扶", "先进", "文明", "东部", "西部", "发达", "民族", "困难")
# Characters that never occur inside a name stem (classifier, particles) or never start one
# (deictics and quantifiers: 该县, 全区, 每村, 第三村).
STOP_CHARS = frozenset("个的了")
STOP_FIRST = frozenset("各每全该本我此其这那几第")
CN_NUMERALS = frozenset("零〇一二三四五六七八九十百千万亿两")
# Token tags (jieba) that a name stem never has: verbs, adverbs, pronouns, numerals, particles…
BAD_STEM_TAGS = frozenset({"v", "vn", "vd", "d", "p", "c", "u", "uj", "ul", "uz", "ug", "uv", "ud",
                           "r", "m", "mq", "q", "f", "t", "y", "e", "o", "k"})

# Anaphoric references: 该区, 全县, 我省, 本市 … resolved to the document's main region.
REF_RE = re.compile(r"(该|全|我|本)(省|市|州|县|区|旗|镇|乡|村)(?![域场景民委])")
CJK_RE = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")


def is_cjk(text: str) -> bool:
    """True when ``text`` is non-empty and made of CJK ideographs only."""
    return bool(CJK_RE.match(text or ""))
