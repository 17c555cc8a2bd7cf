"""Key-figure labels: whole segmenter words of the source sentence, short; rows grouped by label."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rag.regions import update_regions
from rag.summarize import render_markdown, summarize_region
from rag.summarize.facts import Fact
from rag.summarize.figures import figure_rows
from rag.summarize.labels import MAX_LABEL, SentenceLabeler, quantity_spans, group_rows
from rag.summarize.render import md_escape
from rag.text.tokenize import tagged_words

# Our own sentences (made up for these tests; places are real names, figures invented).
SENTENCES = [
    "截至2021年底，杭州市西湖区向昭觉县捐赠教育帮扶资金800万元，其中600万元用于建设乡村学校。",
    "和美县农业合作社累计投入产业发展资金1.2亿元，带动建档立卡贫困户3500户增收。",
    "全县贫困发生率由2015年的18.6%降至2020年的0.3%，尚有未脱贫人口420人。",
    "各级财政部门今年共安排资金560万元，社会组织向平安村落实社会救助资金75万元。",
    "宁波市对口帮扶延边州，宁波市慈善总会向延边州捐赠帮扶资金2300万元。",
    "宁波市北仑区结对帮扶和龙市，北仑区向和龙市拨付扶贫资金650万元，培训干部1200人次。",
]


def _fact(text: str, doc: str = "d1") -> Fact:
    return Fact(doc, f"{doc}#0", 0, len(text), text, text, "标题", "来源", "2021-12-30", 0, True, score=1.0)


def _pieces(label: str) -> list[str]:
    return [p for part in label.split(" ") for p in part.split("→") if p]


def assert_whole_words(label: str, sentence: str) -> None:
    """Every piece of ``label`` is a run of whole segmenter words of ``sentence``."""
    words = tagged_words(sentence, quantity_spans(sentence))
    starts, ends = {w[2] for w in words}, {w[3] for w in words}
    assert label and len(label) <= MAX_LABEL + 8, label
    for piece in _pieces(label):
        hits = [i for i in range(len(sentence)) if sentence.startswith(piece, i)]
        assert any(i in starts and i + len(piece) in ends for i in hits), (piece, label, sentence)


def test_labels_are_whole_words_of_own_sentences():
    rows = figure_rows([_fact(s, f"d{i}") for i, s in enumerate(SENTENCES)])
    assert len(rows) >= 7
    for r in rows:
        assert_whole_words(r.label, r.sentence)
        assert len(r.label.split(" ")[-1]) <= MAX_LABEL
    by = {r.value: r.label for r in rows}
    assert by["18.6%"] == by["0.3%"] and by["0.3%"].endswith("贫困发生率")
    assert "未脱贫人口" in by["420人"]  # a negation stays part of the measure
    assert by["75万元"].endswith("社会救助资金")  # subject and verb before the object dropped
    assert "资金" in by["560万元"] and "产业发展资金" in by["1.2亿元"]
    assert by["2300万元"] == "宁波市→延边州 帮扶资金"  # subject from the gazetteer's pairing
    assert by["650万元"] == "北仑区→和龙市 扶贫资金"
    assert by["1200人次"] == "培训干部"  # a count gets no donor/recipient subject


def test_label_never_starts_inside_a_word_when_the_measure_does():
    text = SENTENCES[0]
    figure = text.index("800万元")
    labeler = SentenceLabeler(text)
    cut = text[text.index("西湖区") + 1:figure]  # a raw measure starting inside 西湖区
    label = labeler.label(figure, figure + len("800万元"), cut, "money")
    assert_whole_words(label, text)
    assert not label.startswith("湖区")


def test_pair_prefix_only_from_names_in_the_measure():
    text = "宁波市对口帮扶延边州，延边州自筹资金900万元，宁波市向延边州捐赠帮扶资金2300万元。"
    assert SentenceLabeler(text).pairs
    rows = {r.value: r for r in figure_rows([_fact(text)])}
    for r in rows.values():
        assert_whole_words(r.label, text)
    assert rows["2300万元"].label.startswith("宁波市→延边州 ")
    assert "→" not in rows["900万元"].label  # its measure names one side only


def test_group_rows_keeps_one_measure_together_and_conflicts_side_by_side():
    rows = [SimpleNamespace(label=lab, conflict=c, i=i) for i, (lab, c) in enumerate(
        [("帮扶资金", 1), ("贫困人口", None), ("援助资金", 1), ("帮扶资金", None), ("贫困人口", None), ("培训", None)])]
    out = group_rows(rows)
    assert [r.i for r in out] == [0, 2, 3, 1, 4, 5]
    assert group_rows([]) == []
    assert_adjacent([r.label for r in out if r.conflict is None])
    assert_adjacent([str(r.conflict) for r in out if r.conflict is not None])


def assert_adjacent(labels: list[str]) -> None:
    seen: list[str] = []
    for lab in labels:
        if seen and seen[-1] == lab:
            continue
        assert lab not in seen, (lab, labels)
        seen.append(lab)


# -- the real seed corpus -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(seed_pipeline):
    return update_regions(seed_pipeline.index, persist=False)


def test_seed_regions_figure_labels(seed_pipeline, store):
    regions = store.summarizable()
    checked = 0
    for region in regions:
        s = summarize_region(store, region.name, seed_pipeline.index.get_doc, config=seed_pipeline.config,
                             backend="extractive")
        if not s.figures:
            continue
        for r in s.figures:
            assert_whole_words(r.label, r.sentence)
            checked += 1
        ordered = group_rows(s.figures)
        assert sorted(map(id, ordered)) == sorted(map(id, s.figures))
        plain = [r for r in ordered if r.conflict is None]
        assert_adjacent([r.label for r in plain])
        assert_adjacent([str(r.conflict) for r in ordered if r.conflict is not None])
        md = render_markdown(s)
        table = md.split("## 关键数字")[1].split("\n\n")[1].splitlines()[2:]
        assert [line.split(" | ")[1] for line in table] == [md_escape(r.label) for r in ordered]
    assert checked >= 30
