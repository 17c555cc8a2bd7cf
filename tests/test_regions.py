"""Region gazetteer: names and aliases, mentions, pairs, incremental sidecar — on the real seed corpus."""

from __future__ import annotations

import json
import shutil

import pytest

from rag.regions import analyze_text, find_pairs, load_regions, split_name, update_regions
from rag.regions.lexicon import GENERIC_STEMS
from rag.regions.store import SIDECAR
from rag.text.normalize import normalize


@pytest.fixture(scope="module")
def store(seed_pipeline):
    # in memory: the session index stays untouched
    return update_regions(seed_pipeline.index, persist=False)


# -- pure extraction on hand-written text ---------------------------------------------------------------
def _keys(text: str) -> dict[str, set[str]]:
    norm = normalize(text)
    out: dict[str, set[str]] = {}
    for m in analyze_text(norm, text):
        out.setdefault(m.key or "?" + m.stem, set()).add(m.form)
    return out


def test_suffix_forms_short_forms_and_references():
    text = "湖州市对口帮扶青川县已有五年。青川的茶叶卖到了湖州。该县的贫困发生率持续下降。全县新修道路。"
    keys = _keys(text)
    assert keys["青川县"] >= {"full", "short", "ref"}
    assert "湖州市" in keys and "short" in keys["湖州市"]
    assert not any(k.startswith(("该", "全")) for k in keys)


def test_ethnic_autonomous_form_and_traditional_script():
    text = "記者來到湘西土家族苗族自治州。湘西州的村民說，湘西的變化很大。"
    ms = analyze_text(normalize(text), text)
    names = {m.key for m in ms}
    assert "湘西州" in names
    originals = {m.original for m in ms if m.key == "湘西州"}
    assert "湘西土家族苗族自治州" in originals and "湘西" in originals
    assert split_name("湘西土家族苗族自治州") == ("湘西", "州")
    assert split_name("靖遠縣".translate(str.maketrans("遠縣", "远县"))) == ("靖远", "县")


def test_descriptions_are_not_place_names():
    text = "全市12个深度贫困县和300个贫困村全部摘帽，山区农村面貌一新，各乡镇新建了超市。"
    keys = _keys(text)
    assert not [k for k in keys if not k.startswith("?")], keys


def test_pairs_patterns():
    text = ("2016年，宁波市对口帮扶吉林省延边州。" "延边州与东西部扶贫协作单位宁波市北仑区签订协议。"
            "北仑区还向延边州捐赠资金。")
    norm = normalize(text)
    ms = analyze_text(norm, text)
    hits = {(h.donor, h.recipient, h.directed) for h in find_pairs(norm, ms)}
    assert ("宁波市", "延边州", True) in hits
    assert ("北仑区", "延边州", True) in hits  # the partner unit helps the sentence's subject
    assert not any(d == "延边州" for d, _r, _x in hits)


# -- the seed corpus --------------------------------------------------------------------------------------
def test_aliases_across_scripts_and_forms(store):
    assert store.find("沿河").name == store.find("沿河县").name == store.find("沿河土家族自治县").name == "沿河县"
    assert store.find("靖遠").name == store.find("靖远县").name == store.find("靖遠縣").name == "靖远县"
    assert store.find("廣信區").name == store.find("广信区").name == "广信区"
    assert store.find("天津和平区").name == "和平区"
    yanhe = store.regions["沿河县"]
    assert {"沿河", "沿河土家族自治县"} <= set(yanhe.aliases)
    assert "廣信區" in store.regions["广信区"].aliases  # the original (Traditional) spelling is kept
    assert store.find("不存在的地方") is None


def test_regions_point_at_documents_and_chunks(seed_pipeline, store):
    yanhe = store.regions["沿河县"]
    assert set(yanhe.docs) == {"000_1fb75d803cb4263f", "002_98d53a2129488873"}
    assert set(store.regions["广信区"].docs) == {"003_84327d8820f6d344"}
    chunks = seed_pipeline.index.get_chunks(yanhe.chunks)
    assert len(chunks) == len(yanhe.chunks) >= 5
    assert all(c.doc_id in yanhe.docs and "沿河" in c.text for c in chunks.values())
    # references (该区 / 全区) count for the document's own region
    assert store.regions["广信区"].docs["003_84327d8820f6d344"] > 10


def test_no_generic_descriptions_in_gazetteer(store):
    assert not [r.name for r in store.regions.values() if r.stem in GENERIC_STEMS]
    for bad in ("贫困村", "贫困县", "深度贫困县", "武陵山区", "产业园区", "全县", "该区", "我省"):
        assert bad not in store.regions


def test_pairs_found_with_evidence(seed_pipeline, store):
    arrows = {(p.donor, p.recipient): p for p in store.pairs if p.directed}
    for donor, recipient in (("张家港市", "沿河县"), ("和平区", "靖远县"), ("厦门市", "临夏州")):
        pair = arrows.get((donor, recipient))
        assert pair is not None, f"{donor} → {recipient} missing: {[p.arrow() for p in store.pairs]}"
        assert (recipient, donor) not in arrows
        for ev in pair.evidence:
            chunk = seed_pipeline.index.get_chunk(ev.chunk_id)
            assert chunk is not None and chunk.doc_id == ev.doc_id
            assert ev.text in chunk.text  # the whole evidence sentence is inside the cited chunk
            names = lambda key: [store.regions[key].name, *store.regions[key].aliases]  # noqa: E731
            assert any(a in ev.original or a in ev.text for a in names(donor))
            assert any(a in ev.original or a in ev.text for a in names(recipient))
    assert store.label("和平区") == "天津市和平区"
    assert "天津市和平区 → 靖远县" in [p.arrow() for p in store.pairs]


def test_search_and_json_shape(store):
    assert [r.name for r in store.search("沿河")][:1] == ["沿河县"]
    data = store.to_json()
    assert {"regions", "pairs", "docs"} <= set(data) and data["docs"] == 5
    first = data["regions"][0]
    assert {"name", "level", "aliases", "docs", "chunks", "mentions"} <= set(first)
    json.dumps(data, ensure_ascii=False)


# -- incremental sidecar ----------------------------------------------------------------------------------
@pytest.fixture()
def small_pipeline(tmp_path, seeds_dir):
    from rag.config import load_config
    from rag.pipeline import Pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("001_c52947674760a02e.txt", "003_84327d8820f6d344.txt"):
        shutil.copy(seeds_dir / name, corpus / name)
    pipe = Pipeline(load_config(overrides={"index_dir": str(tmp_path / "index")}))
    assert pipe.ingest([corpus]).docs_added == 2
    return pipe, corpus


def test_incremental_update_after_ingest_and_remove(small_pipeline, tmp_path):
    pipe, _corpus = small_pipeline
    seen: list[str] = []
    store = update_regions(pipe.index, progress=lambda done, total, doc_id: seen.append(doc_id))
    assert sorted(seen) == ["001_c52947674760a02e", "003_84327d8820f6d344"]
    sidecar = pipe.index_dir / SIDECAR
    assert sidecar.is_file() and not list(pipe.index_dir.glob(f".{SIDECAR}.*"))
    assert "靖远县" in store.regions and "松溪县" not in store.regions

    seen.clear()
    again = update_regions(pipe.index, progress=lambda *a: seen.append(a[2]))
    assert seen == [] and set(again.regions) == set(store.regions)

    extra = tmp_path / "new.txt"
    extra.write_text("松溪县扶贫工作纪实\n\n今年，松溪县与宁波市北仑区签订对口帮扶协议。松溪县新建茶叶加工厂三座。"
                     "该县贫困发生率降至1.2%。\n", encoding="utf-8")
    assert pipe.ingest([extra]).docs_added == 1
    seen.clear()
    store = update_regions(pipe.index, progress=lambda *a: seen.append(a[2]))
    assert seen == ["new"]  # only the new document is analysed
    assert "松溪县" in store.regions and set(store.regions["松溪县"].docs) == {"new"}
    assert "靖远县" in store.regions
    assert json.loads(sidecar.read_text(encoding="utf-8"))["generation"] == pipe.index.generation

    assert pipe.remove("001_c52947674760a02e")
    seen.clear()
    store = update_regions(pipe.index, progress=lambda *a: seen.append(a[2]))
    assert seen == []  # removal needs no analysis
    assert "靖远县" not in store.regions and "001_c52947674760a02e" not in store.docs
    reloaded = load_regions(pipe.index_dir)
    assert reloaded is not None and set(reloaded.docs) == {"003_84327d8820f6d344", "new"}


def test_damaged_sidecar_is_rebuilt(small_pipeline):
    pipe, _corpus = small_pipeline
    (pipe.index_dir / SIDECAR).write_text("{not json", encoding="utf-8")
    store = update_regions(pipe.index)
    assert "广信区" in store.regions
    assert json.loads((pipe.index_dir / SIDECAR).read_text(encoding="utf-8"))["docs"]
