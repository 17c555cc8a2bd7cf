"""Every passage a region summary shows names the region (no passing mention or mis-resolved 全市 leaks in)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rag.regions import update_regions
from rag.regions.gazetteer import Mention
from rag.summarize import summarize_region
from rag.summarize.facts import confirmed, naming_chunks
from rag.text.normalize import normalize


def _m(key: str, start: int, form: str = "full") -> Mention:
    return Mention(key, key[:2], key[-1], start, start + len(key), key, key, form)


def test_naming_chunks_ignores_references_and_places_below():
    chunks = [["d#0", 0, 100], ["d#1", 80, 200], ["d#2", 180, 300], ["d#3", 300, 400]]
    mentions = [_m("沿河县", 90), _m("沿河县", 210, "ref"), _m("思渠镇", 320)]
    assert naming_chunks(chunks, mentions, "沿河县") == {"d#0", "d#1"}  # overlap: 90 is in both
    assert naming_chunks(chunks, [], "沿河县") == set()


def test_a_bare_word_needs_support_in_the_document():
    regions = {"沿河县": SimpleNamespace(level="县", parent="铜仁市"), "铜仁市": SimpleNamespace(level="市", parent="贵州省"),
               "贵州省": SimpleNamespace(level="省", parent=None), "北京市": SimpleNamespace(level="省", parent=None)}
    fake = SimpleNamespace(regions=regions)
    bare = _m("沿河县", 10, "bare")
    assert not confirmed(fake, [bare], "沿河县")  # 沿河城站, 沿河步道
    assert not confirmed(fake, [bare, _m("北京市", 0, "bare")], "沿河县")
    assert confirmed(fake, [bare, _m("贵州省", 0, "bare")], "沿河县")  # a place above it
    assert confirmed(fake, [_m("沿河县", 3, "full"), bare], "沿河县")
    assert confirmed(fake, [_m("北京市", 0, "bare")], "北京市")  # provinces: a fixed list
    assert not confirmed(fake, [_m("沿河县", 0, "ref")], "沿河县")


@pytest.fixture(scope="module")
def store(seed_pipeline):
    return update_regions(seed_pipeline.index, persist=False)


def test_every_passage_shown_names_the_region(seed_pipeline, store):
    regions = store.summarizable(3)
    assert len(regions) >= 10
    for region in regions:
        s = summarize_region(store, region.name, seed_pipeline.index.get_doc, config=seed_pipeline.config)
        names = {normalize(a) for a in [region.name, *region.aliases] if len(a) >= 2}
        for p in s.passages:
            text = p.text + normalize(p.title or "")
            assert any(n in text for n in names), (region.name, p.chunk_id)
