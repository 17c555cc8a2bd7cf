"""Fast tests of the evidence judge's data code: windows, counterfactuals, splits, metrics.

Texts here are written for the tests (no seed or benchmark sentences).
"""

from __future__ import annotations

import random

import pytest

from rag.judge.counterfactual import find_anchors, make_swaps
from rag.judge.data import bucket, rgb_half, window_at
from rag.judge.evalsets import auc, curve, refusal_at_keep
from rag.judge.windows import grow, prepare, sentence_windows

TEXT = ("2013年，第3届临江杯在曼谷举行。共有12支球队参赛。冠军是北港队。"
        "比赛持续了十天，观众超过五万人次。下一届将在海州举行。")


def test_windows_cover_every_sentence_and_stay_within_limit():
    windows = sentence_windows(TEXT, max_chars=40, neighbours=1)
    assert [w.centre for w in windows] == [0, 1, 2, 3, 4]
    for w in windows:
        assert w.end - w.start <= 40
        assert w.start <= w.sent_start < w.sent_end <= w.end
    # the middle sentence gets a neighbour on each side when they fit
    mid = windows[2]
    assert TEXT[mid.start:mid.end].startswith("共有12支") and TEXT[mid.start:mid.end].endswith("五万人次。")


def test_long_sentence_is_cut_into_overlapping_pieces():
    long = "甲" * 100 + "。"
    windows = sentence_windows(long, max_chars=40)
    assert len(windows) > 2 and all(w.end - w.start <= 40 for w in windows)
    assert windows[0].start == 0 and windows[-1].end == len(long)


def test_grow_stops_at_the_character_limit():
    spans = [(0, 10), (10, 20), (20, 30)]
    assert grow(spans, 1, before=1, after=1, max_chars=30) == (0, 30)
    assert grow(spans, 1, before=1, after=1, max_chars=20) == (0, 20)
    assert grow(spans, 1, before=0, after=0, max_chars=5) == (10, 20)


def test_prepare_is_length_preserving_t2s():
    assert prepare("臨河縣２０２０年") == "临河县2020年"


def test_positive_window_keeps_the_answer():
    from rag.text.sentences import split_sentences

    spans = split_sentences(TEXT)
    answer = (TEXT.index("北港队"), TEXT.index("北港队") + 3)
    for seed in range(20):
        a, b = window_at(spans, 2, random.Random(seed), keep=answer)
        assert a <= answer[0] and answer[1] <= b


def test_anchors_and_counterfactual_swaps():
    q = "2013年第3届临江杯的冠军是哪支球队？"
    span = (TEXT.index("北港队"), TEXT.index("北港队") + 3)
    kinds = {a.kind for a in find_anchors(q, TEXT, span, names=[("临江杯", "nz")])}
    assert {"year", "ordinal", "name:nz"} <= kinds
    seen = set()
    for seed in range(30):
        for swap in make_swaps(q, TEXT, span, random.Random(seed), names=[("临江杯", "nz")],
                               pools={"nz": ["海港杯", "南山杯"]}):
            seen.add(swap.kind)
            assert "北港队" in swap.text  # the answer-bearing form stays
            if swap.label == 0.0:
                assert (swap.question, swap.text) != (q, TEXT)
            if swap.kind.startswith("cf_text_year"):
                assert "2013年" not in swap.text and swap.question == q
    assert {"cf_text_year", "cf_question_year", "cf_both_year"} <= seen


def test_number_swaps_respect_digit_boundaries():
    q = "第3届比赛有多少支球队？"
    text = "2013年第3届比赛共有12支球队。"
    span = (text.index("12支"), text.index("12支") + 3)
    for seed in range(20):
        for swap in make_swaps(q, text, span, random.Random(seed)):
            assert "2013年" in swap.text  # the 3 inside 2013 is never touched


def test_rgb_half_and_buckets_are_stable():
    assert rgb_half("rgb-zh-0") == rgb_half("rgb-zh-0")
    halves = [rgb_half(f"rgb-zh-{i}") for i in range(400)]
    assert 150 < halves.count("train") < 250
    assert bucket("abc", 7) == bucket("abc", 7)


def test_auc_and_curves():
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.5], [0.5]) == 0.5
    points = curve([0.9, 0.4], [0.1, 0.6], [0.5])
    assert points == [{"threshold": 0.5, "false_refusal": 0.5, "refusal": 0.5}]
    t, refusal = refusal_at_keep([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05], [0.01, 0.9], 0.9)
    assert t == pytest.approx(0.1) and refusal == 0.5
