"""The corpus-wide gazetteer: per-document analyses merged into regions and pairs.

Per-document results (:func:`analyze_document`) depend on that document only, so they can be
cached by content hash; linking bare words (``厦门`` → ``厦门市``), aliases, parents and the
direction of undirected pairs are settled here, across documents, each time the store loads.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable

from rag.regions.gazetteer import Mention, analyze_text, split_name
from rag.regions.model import Evidence, Pair, Region
from rag.regions.pairs import find_pairs
from rag.text.normalize import normalize
from rag.types import Chunk, Document

__all__ = ["RegionStore", "analyze_document"]

_M_FIELDS = ("key", "stem", "level", "start", "end", "surface", "original", "form", "parent")


def analyze_document(doc: Document, chunks: Iterable[Chunk]) -> dict[str, Any]:
    """Everything the gazetteer needs from one document (JSON-able, cached by content hash).

    Args:
        doc: the stored document.
        chunks: its chunks (for chunk ids of mentions and evidence).

    Returns:
        ``{"hash", "title", "source", "date", "title_end", "chunks", "mentions", "pairs"}``.
    """
    mentions = analyze_text(doc.text, doc.original)
    hits = find_pairs(doc.text, mentions)
    first_line = doc.text.split("\n", 1)[0].strip()
    title_end = doc.text.find(first_line) + len(first_line) if first_line and first_line == normalize(
        doc.title or "").strip() else 0
    return {
        "hash": doc.content_hash, "title": doc.title, "source": doc.source, "date": doc.date,
        "title_end": title_end,
        "chunks": [[c.chunk_id, c.start, c.end] for c in chunks],
        "mentions": [[getattr(m, f) for f in _M_FIELDS] for m in mentions],
        "pairs": [[h.donor, h.recipient, h.relation, h.directed, h.start, h.end,
                   doc.text[h.start:h.end], doc.original[h.start:h.end]] for h in hits],
    }


def _chunk_at(chunks: list[list], start: int, end: int) -> str:
    """Id of the first chunk holding ``[start, end)`` whole, else the one holding ``start``."""
    whole = next((c for c, a, b in chunks if a <= start and end <= b), None)
    return whole or next((c for c, a, b in chunks if a <= start < b), chunks[0][0] if chunks else "")


class RegionStore:
    """Regions, pairs and per-document mentions of one index (read-only view).

    Args:
        docs: doc_id → the entry of :func:`analyze_document`.
        generation: index generation these entries describe (-1 when unknown).
    """

    def __init__(self, docs: dict[str, dict[str, Any]], generation: int = -1):
        self.docs = docs
        self.generation = generation
        self._mentions: dict[str, list[Mention]] = {
            d: [Mention(*row) for row in e["mentions"]] for d, e in docs.items()}
        self._link_bare()
        self.regions: dict[str, Region] = self._build_regions()
        self.pairs: list[Pair] = self._build_pairs()
        self._alias: dict[str, str] = {}
        for r in sorted(self.regions.values(), key=lambda r: -r.mentions):
            for a in [r.name, *r.aliases]:
                self._alias.setdefault(normalize(a), r.name)

    # -- building ---------------------------------------------------------------------------------
    def _link_bare(self) -> None:
        counts: Counter = Counter(m.key for ms in self._mentions.values() for m in ms if m.key)
        by_stem: dict[str, list[str]] = defaultdict(list)
        for key in counts:
            stem, _lvl = split_name(key)
            by_stem[stem].append(key)
        for ms in self._mentions.values():
            local = Counter(m.key for m in ms if m.key)
            for m in ms:
                if not m.key and by_stem.get(m.stem):
                    m.key = max(by_stem[m.stem], key=lambda k: (local[k], counts[k]))
                    m.level = split_name(m.key)[1]
            ms[:] = [m for m in ms if m.key]
        self._by_stem = by_stem

    def _build_regions(self) -> dict[str, Region]:
        acc: dict[str, dict[str, Any]] = {}
        for doc_id, ms in self._mentions.items():
            chunks = self.docs[doc_id]["chunks"]
            for m in ms:
                r = acc.setdefault(m.key, {"stem": m.stem, "level": m.level, "aliases": Counter(),
                                           "parents": Counter(), "docs": Counter(), "chunks": []})
                if m.form != "ref":
                    r["aliases"][m.surface] += 1
                    r["aliases"][m.original] += 1
                if m.parent:
                    r["parents"][m.parent] += 1
                r["docs"][doc_id] += 1
                for c, a, b in chunks:
                    if a <= m.start < b and c not in r["chunks"]:
                        r["chunks"].append(c)
        out = {}
        for key, r in acc.items():
            stem, level = split_name(key)
            parent = r["parents"].most_common(1)[0][0] if r["parents"] else None
            aliases = [a for a, _n in r["aliases"].most_common() if a != key]
            if len(stem) >= 2 and stem != key and stem not in aliases:
                aliases.append(stem)
            if parent:
                pstem = split_name(parent)[0]
                aliases += [q for q in (parent + key, pstem + key) if q not in aliases]
            out[key] = Region(key, stem, level, aliases, parent, dict(r["docs"]), r["chunks"],
                              sum(r["docs"].values()))
        return out

    def _ancestors(self, key: str) -> set[str]:
        seen: set[str] = set()
        while key in self.regions and self.regions[key].parent and self.regions[key].parent not in seen:
            key = self.regions[key].parent
            seen.add(key)
        return seen

    def _resolve(self, ref: str) -> str | None:
        if not ref.startswith("?"):
            return ref if ref in self.regions else None
        keys = self._by_stem.get(ref[1:])
        return max(keys, key=lambda k: self.regions[k].mentions) if keys else None

    def _build_pairs(self) -> list[Pair]:
        votes: dict[tuple[str, str], list[tuple[str, str, Evidence]]] = defaultdict(list)
        for doc_id, entry in self.docs.items():
            for donor, recip, relation, directed, s, e, text, original in entry["pairs"]:
                d, r = self._resolve(donor), self._resolve(recip)
                if not d or not r or d == r or d in self._ancestors(r) or r in self._ancestors(d):
                    continue
                ev = Evidence(doc_id, _chunk_at(entry["chunks"], s, e), s, e, text, original, relation, directed)
                votes[tuple(sorted((d, r)))].append((d, r, ev))
        edges = {(d, r) for items in votes.values() for d, r, ev in items if ev.directed}
        pairs = []
        for (a, b), items in votes.items():
            fwd = sum(1 for d, _r, ev in items if ev.directed and d == a)
            back = sum(1 for d, _r, ev in items if ev.directed and d == b)
            if not (fwd or back):  # 甘肃 ↔ 厦门, but 厦门 → 临夏州 (in 甘肃): orient by the places below
                fwd, back = self._implied(a, b, edges), self._implied(b, a, edges)
            directed = bool(fwd or back) and fwd != back
            if directed:
                donor, recip = (a, b) if fwd > back else (b, a)
            else:
                donor, recip = items[0][0], items[0][1]
            evidence = sorted((ev for _d, _r, ev in items), key=lambda ev: (not ev.directed, ev.doc_id, ev.start))
            relations = list(dict.fromkeys(ev.relation for ev in evidence))
            pairs.append(Pair(donor, recip, directed, relations, evidence, self.label(donor), self.label(recip)))
        pairs.sort(key=lambda p: (-len(p.evidence), p.donor, p.recipient))
        return pairs

    def _implied(self, a: str, b: str, edges: set[tuple[str, str]]) -> int:
        """Directed edges from ``a`` or a place under it to ``b`` or a place under it."""
        return sum(1 for d, r in edges if (d == a or a in self._ancestors(d)) and (r == b or b in self._ancestors(r)))

    # -- queries ----------------------------------------------------------------------------------
    def label(self, key: str) -> str:
        """A name for display; district names, which repeat across cities, are qualified by the
        city they are written under (``天津市和平区``)."""
        r = self.regions.get(key)
        if r and r.level == "区" and r.parent and r.parent + key in r.aliases:
            return r.parent + key
        return key

    def find(self, name: str) -> Region | None:
        """The region ``name`` designates: any alias, script or form (``靖遠``, ``沿河土家族自治县``,
        ``天津和平区``); None when unknown."""
        q = normalize((name or "").strip()).replace(" ", "")
        if not q:
            return None
        if q in self._alias:
            return self.regions[self._alias[q]]
        stem, _lvl = split_name(q)
        keys = self._by_stem.get(stem) or []
        keys = [k for k in keys if k in self.regions]
        if keys:
            return self.regions[max(keys, key=lambda k: self.regions[k].mentions)]
        tails = [a for a in self._alias if len(a) >= 2 and q.endswith(a) and len(a) < len(q)]
        if tails:
            return self.regions[self._alias[max(tails, key=len)]]
        return None

    def search(self, query: str = "", limit: int = 20) -> list[Region]:
        """Regions whose name or an alias contains ``query`` (all when empty), most mentioned first."""
        q = normalize((query or "").strip())
        hits = [r for r in self.regions.values()
                if not q or any(q in normalize(a) for a in [r.name, *r.aliases])]
        return sorted(hits, key=lambda r: (-r.mentions, r.name))[:limit]

    def pairs_of(self, key: str) -> list[Pair]:
        """Pairs where ``key`` is donor or recipient."""
        return [p for p in self.pairs if key in (p.donor, p.recipient)]

    def mentions(self, doc_id: str) -> list[Mention]:
        """Linked mentions of one document, in text order."""
        return list(self._mentions.get(doc_id, []))

    def title_keys(self, doc_id: str) -> set[str]:
        """Regions named in the document's title."""
        end = self.docs.get(doc_id, {}).get("title_end", 0)
        return {m.key for m in self._mentions.get(doc_id, []) if m.start < end}

    def summarizable(self, min_mentions: int = 3) -> list[Region]:
        """Regions with enough material for a summary (at least ``min_mentions`` mentions)."""
        return [r for r in self.search("", limit=len(self.regions)) if r.mentions >= min_mentions]

    def to_json(self) -> dict[str, Any]:
        """``{"regions": [...], "pairs": [...], "docs": n}`` for `shanhai regions --json`."""
        return {"docs": len(self.docs), "generation": self.generation,
                "regions": [r.to_json() for r in self.search("", limit=len(self.regions))],
                "pairs": [p.to_json() for p in self.pairs]}
