"""Region gazetteer built from the corpus: place names with aliases, mentions, donor → recipient pairs.

>>> from rag.regions import update_regions
>>> store = update_regions(pipeline.index)          # incremental; sidecar <index>/regions.json
>>> store.find("靖遠").name, store.find("沿河土家族自治县").name
('靖远县', '沿河县')
>>> [p.arrow() for p in store.pairs_of("沿河县")][:1]
['张家港市 → 沿河县']
"""

from rag.regions.corpus import RegionStore, analyze_document
from rag.regions.gazetteer import Mention, analyze_text, split_name
from rag.regions.model import Evidence, Pair, Region
from rag.regions.pairs import PairHit, find_pairs
from rag.regions.store import SIDECAR, load_regions, regions_stale, update_regions

__all__ = [
    "RegionStore", "Region", "Pair", "Evidence", "Mention", "PairHit", "analyze_text", "analyze_document",
    "find_pairs", "split_name", "update_regions", "load_regions", "regions_stale", "SIDECAR",
]
