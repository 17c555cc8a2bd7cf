"""Dataset loading: format detection on the real files, RGB passage sampling, item expansion."""

from __future__ import annotations

import json
import random

import pytest

from rag.eval.datasets import load_dataset, read_records
from rag.eval.formats import detect_format, get_format, names
from rag.eval.formats.base import DatasetError
from rag.eval.formats.rgb import rgb_sample

POS = [f"正例{i}" for i in range(1, 9)]
NEG = [f"负例{i}" for i in range(1, 9)]


@pytest.mark.parametrize("name,fmt", [
    ("seed_qa_dev.jsonl", "seed"),
    ("external/rgb_zh_dev.jsonl", "rgb"),
    ("external/rgb_zh_int_dev.jsonl", "rgb_int"),
    ("external/rgb_zh_fact_dev.jsonl", "rgb_fact"),
    ("external/drcd_dev.jsonl", "drcd"),
])
def test_detects_real_files(eval_dir, name, fmt):
    records = read_records(eval_dir / name)
    assert detect_format(records) == fmt
    assert load_dataset(eval_dir / name).format == fmt


def test_region_set_and_unknown_records_are_refused(eval_dir, tmp_path):
    with pytest.raises(DatasetError, match="地区摘要"):
        load_dataset(eval_dir / "seed_regions_dev.jsonl")
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"foo": 1}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="无法识别"):
        load_dataset(odd)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps({"question": "甲？", "must_include": ["1"]}) + "\n"
                     + json.dumps({"question": "乙？", "context": "丙", "answers": ["丙"]}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="混合"):
        load_dataset(mixed)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "甲？", "must_include": []}\n{not json\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="第 2 行"):
        load_dataset(broken)
    with pytest.raises(DatasetError, match="找不到"):
        load_dataset(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("noise,n_neg", [(0.0, 0), (0.2, 1), (0.4, 2), (0.6, 3), (0.8, 4)])
def test_rgb_sample_takes_ceil_5r_negatives_from_the_front(noise, n_neg):
    docs = rgb_sample(POS, NEG, noise)
    assert docs == POS[:5 - n_neg] + NEG[:n_neg]  # no rng: unshuffled
    shuffled = rgb_sample(POS, NEG, noise, rng=random.Random(7))
    assert sorted(shuffled) == sorted(docs)


def test_rgb_sample_fills_from_the_other_pool_and_rejection_is_negatives_only():
    assert rgb_sample(POS[:2], NEG, 0.2) == POS[:2] + NEG[:3]  # positives short: negatives fill
    assert rgb_sample(POS, NEG[:1], 0.6) == POS[:4] + NEG[:1]  # negatives short: positives fill
    assert rgb_sample(POS, NEG, 1.0) == NEG[:5]
    assert rgb_sample(POS, NEG[:3], 1.0) == NEG[:3]  # never a positive in a rejection context
    assert rgb_sample(POS, NEG, 0.7) == POS[:1] + NEG[:4]  # ceil(3.5) = 4
    with pytest.raises(ValueError):
        rgb_sample(POS, NEG, 1.5)


def test_rgb_expansion_on_real_file(eval_dir):
    path = eval_dir / "external" / "rgb_zh_dev.jsonl"
    records = read_records(path)
    ds = load_dataset(path, limit=3)
    assert len(ds.items) == 3 * 6  # 5 noise ratios + rejection per record
    for item in ds.items:
        rec = next(r for r in records if r["id"] == item.base_id)
        assert len(item.passages) == 5
        n_neg = sum(p in rec["negative"] for p in item.passages)
        if item.task == "rejection":
            assert item.unanswerable and n_neg == 5
        else:
            assert n_neg == {0: 0, 0.2: 1, 0.4: 2, 0.6: 3, 0.8: 4}[item.noise]
            assert set(item.passages) - set(rec["negative"]) <= set(rec["positive"][:5])
        assert item.answer_groups == rec["answer_groups"]
    # The shuffle is fixed by (seed, item, setting): independent of limit, different per seed.
    again = load_dataset(path, limit=1)
    assert [i.passages for i in again.items] == [i.passages for i in ds.items[:6]]
    other = load_dataset(path, limit=1, seed=1)
    assert [sorted(i.passages) for i in other.items] == [sorted(i.passages) for i in again.items]
    assert [i.passages for i in other.items] != [i.passages for i in again.items]


def test_rgb_modes_and_noise_options(eval_dir):
    path = eval_dir / "external" / "rgb_zh_dev.jsonl"
    ds = load_dataset(path, limit=2, modes=["rejection"])
    assert [i.task for i in ds.items] == ["rejection", "rejection"]
    ds = load_dataset(path, limit=2, modes=["noise"], noises=[0.4])
    assert [i.id for i in ds.items] == ["rgb-zh-0@noise=0.4", f"{ds.items[1].base_id}@noise=0.4"]
    with pytest.raises(DatasetError, match="没有评测模式"):
        load_dataset(path, modes=["reading"])
    with pytest.raises(DatasetError, match="噪声比例"):
        load_dataset(path, noises=[1.0])
    with pytest.raises(DatasetError, match="不支持 --retrieval index"):
        load_dataset(path, retrieval="index")


def test_int_takes_evidence_for_every_sub_answer(eval_dir):
    path = eval_dir / "external" / "rgb_zh_int_dev.jsonl"
    records = {r["id"]: r for r in read_records(path)}
    ds = load_dataset(path, limit=5, noises=[0.6])  # 2 positives: one from each group
    for item in ds.items:
        groups = records[item.base_id]["positive_groups"]
        assert item.task == "integration"
        for g in groups:
            assert any(p in g for p in item.passages), "a sub-question got no positive passage"


def test_fact_uses_counterfactual_passages(eval_dir):
    path = eval_dir / "external" / "rgb_zh_fact_dev.jsonl"
    records = {r["id"]: r for r in read_records(path)}
    ds = load_dataset(path)
    assert len(ds.items) == len(records)
    for item in ds.items:
        rec = records[item.base_id]
        assert item.task == "counterfactual" and item.extra["fakeanswer"] == rec["fakeanswer"]
        wrong = [p for p in item.passages if p in rec["positive_wrong"]]
        assert wrong == [p for p in item.passages if p not in rec["negative"]]
        assert wrong, "a counterfactual context needs counterfactual passages"
        assert len(item.passages) == min(5, len(rec["positive_wrong"]) + len(rec["negative"]))


def test_seed_items(eval_dir):
    ds = load_dataset(eval_dir / "seed_qa_dev.jsonl")
    assert ds.needs_index and ds.settings["retrieval"] == "index"
    by_id = {i.id: i for i in ds.items}
    assert len(by_id) == len(read_records(eval_dir / "seed_qa_dev.jsonl"))
    unanswerable = [i for i in ds.items if i.unanswerable]
    assert unanswerable and all(not i.must_include and not i.gold_docs for i in unanswerable)
    assert all(i.passages is None and i.task == "qa" for i in ds.items)
    assert any(i.any_of and not i.must_include and not i.unanswerable for i in ds.items)


def test_drcd_items_and_paragraph_pool(eval_dir):
    path = eval_dir / "external" / "drcd_dev.jsonl"
    records = read_records(path)
    own = load_dataset(path, limit=4)
    assert all(i.passages == [r["context"]] and i.gold_docs == [r["paragraph_id"]]
               for i, r in zip(own.items, records))
    assert not own.needs_index
    idx = load_dataset(path, limit=4, retrieval="index")
    assert idx.needs_index and all(i.passages is None for i in idx.items)
    pool = idx.corpus()  # all paragraphs of the file, not only the first 4 records
    assert len(pool) == len({r["paragraph_id"] for r in records}) > 4
    assert {p["id"] for p in pool} >= {i.gold_docs[0] for i in idx.items}
    assert all(i.extra["script"] == "traditional" for i in idx.items)


def test_format_registry(eval_dir):
    assert names() == ("seed", "rgb", "rgb_int", "rgb_fact", "drcd")
    with pytest.raises(DatasetError, match="未知的评测集格式"):
        get_format("squad")
    seed, drcd, rgb = get_format("seed"), get_format("drcd"), get_format("rgb")
    assert seed.needs_library_index("passages") and not rgb.needs_index("passages")
    assert drcd.needs_index("index") and not drcd.needs_library_index("index") and drcd.own_corpus
    first = read_records(eval_dir / "external" / "rgb_zh_fact_dev.jsonl")[:1]  # the UI detects on one record
    assert detect_format(first) == "rgb_fact" and get_format("rgb_fact").modes == ("counterfactual",)
    with pytest.raises(DatasetError, match="只有 DRCD"):
        load_dataset(eval_dir / "seed_qa_dev.jsonl", limit=1).corpus()
