"""Summary facts picked by the evidence judge (issue 17 item 1): typed questions, answer-type gating,
quotas; on real weights over the seed corpus and over held-out archive regions."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from rag.summarize.facts import Fact
from rag.summarize.judged import judge_facts, typed_questions
from rag.summarize.reduce import select_facts
from rag.text.numbers import figure_in_text

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE_REGIONS = ROOT / "benchmarks" / "data" / "archive_regions.jsonl"


def _fact(doc: str, ordinal: int, text: str, score: float = 1.0, **kw) -> Fact:
    return Fact(doc, f"{doc}#0", 0, len(text), text, text, "", "", "2020-01-01", ordinal, True, score=score, **kw)


class _Judge:
    """Scores by a keyword table; records what it was asked."""

    def __init__(self, table: dict[str, float]):
        self.table, self.calls = table, []

    def score(self, question: str, texts):
        self.calls.append((question, list(texts)))
        return np.asarray([max([v for k, v in self.table.items() if k in t] or [0.05]) for t in texts])


def test_typed_questions_depend_on_pairing_and_topic():
    plain = [_fact("a", 0, "某县举办运动会。")]
    poor = [_fact("a", 0, "某县脱贫攻坚取得成效。")]
    q_plain = typed_questions("某县", plain, paired=False)
    assert all("某县" in q for q, _ in q_plain)
    assert not any(kind == "partner" for _, kind in q_plain) and not any("贫困" in q for q, _ in q_plain)
    q_poor = typed_questions("某县", poor, paired=True)
    assert any(kind == "partner" for _, kind in q_poor) and any("贫困发生率" in q for q, _ in q_poor)


def test_only_facts_carrying_the_answer_type_are_judged():
    money = _fact("a", 1, "某县获得帮扶资金1200万元。")
    people = _fact("b", 2, "某县共有3500人参加培训。")
    slogan = _fact("c", 3, "来源：某县融媒体中心，欢迎转发。")
    judge = _Judge({"1200万元": 0.9, "3500人": 0.8})
    stats = judge_facts([money, people, slogan], typed_questions("某县", [], paired=False), judge)
    asked = {q: texts for q, texts in judge.calls}
    money_q = next(q for q in asked if "资金" in q)
    assert [t for t in asked[money_q]] == [money.text]  # the people and byline facts are not asked "多少资金"
    assert all(slogan.text not in texts for texts in asked.values())
    assert money.judged == pytest.approx(0.9) and people.judged == pytest.approx(0.8) and slogan.judged == 0.0
    assert money.score == pytest.approx(1.0 + 2.0 * 0.9)
    assert stats["pairs"] == sum(len(t) for t in asked.values())


def test_selection_keeps_best_judged_answer_and_every_document():
    texts = ["甲县修建道路投入300万元。", "全县新建学校两所，招收学生1200名。", "当地茶园面积达到5万亩。",
             "合作社带动农户增收18%。", "县医院新增床位150张。", "旅游接待游客40万人次。"]
    facts = [_fact("a", i, t, score=5.0 - i * 0.1) for i, t in enumerate(texts)]
    answer = _fact("b", 0, "甲县获得东部帮扶资金2.5亿元。", score=0.5)
    other = _fact("c", 0, "甲县在去年的洪水中转移群众。", score=0.2)
    answer.answers, answer.judged = [0.95], 0.95
    for f in facts:
        f.answers, f.judged = [0.1], 0.1
    chosen = select_facts([*facts, answer, other], 4)
    assert answer in chosen  # the best-judged fact for the money question, despite its low rule score
    assert other in chosen  # every document is heard before a document's second fact
    assert len(chosen) == 4


# -- real judge, real seed corpus -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(seed_pipeline):
    from rag.regions import update_regions

    return update_regions(seed_pipeline.index, persist=False)


def test_summary_facts_are_judged_on_real_weights(seed_pipeline, store):
    from rag.summarize import summarize_region

    s = summarize_region(store, "沿河", seed_pipeline.index.get_doc, config=seed_pipeline.config)
    judged = s.checks["judge"]
    assert judged["judged"] > 0 and judged["pairs"] > 0
    assert any("沿河县" in q and "资金" in q for q in judged["questions"])
    assert any("对口帮扶" in q for q in judged["questions"])  # 沿河县 has a pairing partner


def test_judge_off_in_config_means_rule_scores_only(seed_pipeline, store):
    from rag.config import load_config
    from rag.summarize import summarize_region

    config = load_config(overrides={"index_dir": str(seed_pipeline.config.index_dir), "summarize.judge": False})
    s = summarize_region(store, "沿河", seed_pipeline.index.get_doc, config=config)
    assert s.checks["judge"] == {} and s.sentences


# -- held-out regions of the archive (expectations written before measuring) --------------------------------
@pytest.fixture(scope="module")
def archive_pipeline(tmp_path_factory, shared_dir):
    """An index of the archive articles that the held-out regions' expectations name."""
    from rag.config import load_config
    from rag.pipeline import Pipeline

    items = [json.loads(x) for x in ARCHIVE_REGIONS.read_text(encoding="utf-8").splitlines() if x.strip()]
    wanted = {int(d.split(":")[1]) for it in items for d in it["gold_docs"]}
    src = shared_dir / "corpus" / "external" / "crud_news_sample.jsonl.gz"
    folder = tmp_path_factory.mktemp("archive-regions")
    with gzip.open(src, "rt", encoding="utf-8") as fin, open(folder / "archive.jsonl", "w", encoding="utf-8") as out:
        for n, line in enumerate(fin, 1):
            if n in wanted:
                out.write(line)
    pipe = Pipeline(load_config(overrides={"index_dir": str(folder / "index")}))
    report = pipe.ingest([folder / "archive.jsonl"])
    assert report.docs_added >= len(wanted) - 2, report.summary()  # two archive copies may be duplicates
    return pipe, items


def test_key_facts_of_held_out_archive_regions(archive_pipeline):
    from rag.regions import update_regions
    from rag.summarize import summarize_region

    pipe, items = archive_pipeline
    store = update_regions(pipe.index, persist=False)
    found = total = 0
    missed = {}
    for item in items:
        s = summarize_region(store, item["region"], pipe.index.get_doc, config=pipe.config)
        text = "".join(x.text for x in s.sentences)
        table = "\n".join(f"{r.value} {r.measure}" for r in s.figures)
        hits = [f for f in item["key_facts"] if figure_in_text(f, text) or figure_in_text(f, table)]
        found, total = found + len(hits), total + len(item["key_facts"])
        missed[item["region"]] = sorted(set(item["key_facts"]) - set(hits))
        assert s.checks["ungrounded_numbers"] == [] and s.checks["cited_sentences"] == s.checks["sentences"]
    # Over this 31-article index: 29/33 (27/33 before the judge-picked facts and the per-document
    # quota); over the whole archive, where the gazetteer sees 19,725 articles, 30/33
    # (docs/benchmarks.md §19, `benchmarks/summaries.py --regions benchmarks/data/archive_regions.jsonl`).
    assert found >= 0.85 * total, (found, total, missed)
