"""shanhai vs a typical LangChain-style pipeline (benchmarks/peer_pipeline.py): one run, same
machine, same articles, same embedding model object.

For both pipelines it measures ingest throughput (articles/s, chunks/s), chunks per article and
e5 tokens per chunk (what the embedding cost follows), index size on disk, search latency
p50/p95 (model loaded, query embedding included, no LLM) and answer-bearing recall@3/@5:

* **A. seed dev in the archive**: the 5 seed articles mixed into the CRUD news sample (all
  19,720 articles, or the first ``--limit``), the seed dev questions. A question counts when
  the top-k passages contain every ``must_include`` figure (and one ``any_of`` figure), via
  ``rag.eval.metrics.answer_bearing_hit`` / ``figure_in_text``; also gold-document hit@k.
* **B. RGB pool**: every positive and negative passage of the RGB zh dev items in one index,
  the RGB dev questions; a question counts when every answer group has a string in the top k.

Both systems ingest the archive in ``--rounds`` blocks, taking turns (the order alternates), and
take turns on every search, so a load change on a shared machine hits both alike; process CPU
seconds per article are reported next to wall-clock throughput.

Passages of both pipelines are t2s-normalised before matching (scoring only: the peer keeps
its raw text), so a Traditional-script passage with the answer counts for the peer too.
Ratios are shanhai / peer. Results: ``benchmarks/results/peer_compare*.json`` and ``.md``.

Usage::

    python benchmarks/peer_compare.py                     # full run: ~2 h on an idle 2-core CPU
    python benchmarks/peer_compare.py --limit 300         # quick check on 300 archive articles
    python benchmarks/peer_compare.py --time-budget 1800  # no new archive round after 1800 s of ingest
                                                          # (both systems always get the same articles)
    python benchmarks/peer_compare.py --set ingest.chunk_overlap=50   # any shanhai setting
    python benchmarks/peer_compare.py --work W --time-budget 5400     # stop starting rounds after 90 min …
    python benchmarks/peer_compare.py --work W --resume               # … and go on later from W's finished turns
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._common import RESULTS, SHARED, config_overrides, load_jsonl, machine, peak_rss_mb, write_result  # noqa: E402
from benchmarks.peer_pipeline import TOP_K, PeerPipeline, iter_articles  # noqa: E402
from rag.eval.metrics import answer_bearing_hit, hit_at_k, latency_summary, unique_in_order  # noqa: E402

CRUD = SHARED / "corpus" / "external" / "crud_news_sample.jsonl.gz"
FULL = 19720
SEEDS = SHARED / "corpus" / "seeds"
KS = (3, 5)


# -- inputs ---------------------------------------------------------------------------------------

def archive_blocks(work: Path, bounds: list[int]) -> list[Path]:
    """One file per round holding archive lines ``(previous bound, bound]``, under the archive's
    own name; earlier lines are left blank, so line numbers and doc ids stay those of the full file."""
    out, lo = [], 0
    with gzip.open(CRUD, "rb") as src:
        for r, hi in enumerate(bounds):
            path = work / "input" / f"round{r:02d}" / CRUD.name
            path.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(path, "wb") as dst:
                dst.write(b"\n" * lo)
                for line in itertools.islice(src, hi - lo):
                    dst.write(line)
            out.append(path)
            lo = hi
    return out


def rgb_pool(work: Path, n_items: int | None) -> tuple[Path, list[dict]]:
    """All passages of the RGB dev items, once each, as ``rgb_pool.jsonl``; and the items."""
    items = load_jsonl(SHARED / "eval" / "external" / "rgb_zh_dev.jsonl")[:n_items]
    passages = list(dict.fromkeys(p for it in items for p in it["positive"] + it["negative"] if p.strip()))
    out = work / "input" / "rgb_pool.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps({"text": p}, ensure_ascii=False) + "\n" for p in passages), encoding="utf-8")
    return out, items


# -- measuring ------------------------------------------------------------------------------------

def folder_mb(paths: list[Path]) -> float:
    total = 0
    for p in paths:
        total += p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total / 1e6


def token_stats(encoder, texts: list[str], sample: int = 20000) -> dict:
    """e5 tokens per chunk (with the ``passage: `` prefix and special tokens, as embedded)."""
    rng = np.random.default_rng(0)
    pick = texts if len(texts) <= sample else [texts[i] for i in rng.choice(len(texts), sample, replace=False)]
    counts = encoder.count_tokens(pick)
    mean = float(np.mean(counts)) if counts else 0.0
    return {"tokens_per_chunk": round(mean, 1), "chars_per_chunk": round(float(np.mean([len(t) for t in texts])), 1) if texts else 0,
            "tokens_total_est": int(round(mean * len(texts))), "truncated_at_512": int(sum(c >= 512 for c in counts))}


def scored(texts: list[str]) -> list[str]:
    from rag.text.normalize import normalize

    return [normalize(t) for t in texts]


def seed_item_hit(texts: list[str], item: dict, k: int) -> float | None:
    """All must_include figures (and one any_of) in the top k, or None when the item has none."""
    must, any_of = item.get("must_include") or [], item.get("any_of") or []
    if not must and not any_of:
        return None
    ok = answer_bearing_hit(texts, must, k, require_all=True) if must else 1.0
    if any_of:
        ok = min(ok, answer_bearing_hit(texts, any_of, k))
    return ok


def rgb_item_hit(texts: list[str], item: dict, k: int) -> float | None:
    groups = [g for g in item.get("answer_groups") or [] if g]
    if not groups:
        return None
    return 1.0 if all(answer_bearing_hit(texts, g, k) for g in groups) else 0.0


def mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return round(sum(vals) / len(vals), 4) if vals else None


class Shanhai:
    """shanhai through its Python API (the same calls `shanhai ingest` / `shanhai search` make)."""

    label = "shanhai"

    def __init__(self, config, encoder, index_dir: Path):
        from rag.pipeline import Pipeline

        self.pipe = Pipeline(config.with_overrides({"index_dir": str(index_dir)}))
        self.pipe._encoder = encoder
        self.index_dir = index_dir

    def ingest(self, paths: list[Path], rebuild: bool = True) -> dict:
        from rag.ingest import ingest

        t, cpu = time.perf_counter(), time.process_time()
        r = ingest(paths, self.pipe.config, self.pipe.encoder, index_dir=self.index_dir, rebuild=rebuild,
                   progress=_progress("shanhai", t))
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        self.pipe._index = None
        return {"docs": r.docs_added, "chunks": r.chunks_added, "embedded": r.chunks_embedded, "seconds": seconds,
                "cpu_seconds": cpu, "embed_seconds": r.embed_seconds, "checkpoints": r.checkpoints,
                "skipped": len(r.skipped)}

    def texts(self) -> list[str]:
        idx = self.pipe.index
        found = idx.get_chunks(list(idx.chunk_ids))
        return [found[c].text for c in idx.chunk_ids]

    def size_mb(self) -> float:
        idx = self.pipe.index
        return folder_mb([self.index_dir / idx.manifest["generation_dir"], self.index_dir / "manifest.json"])

    def search(self, question: str, k: int) -> list[tuple[str, str]]:
        return [(h.chunk.doc_id, h.chunk.text) for h in self.pipe.search(question, k)]


class Peer:
    """The LangChain-style peer (see benchmarks/peer_pipeline.py)."""

    label = "peer"

    def __init__(self, encoder, folder: Path, splitter: str):
        self.peer = PeerPipeline(encoder, splitter=splitter)
        self.folder = folder
        self._size = 0.0
        if (folder / "index.faiss").exists():  # a resumed run: go on from the last finished turn
            self.peer.load(folder)
            self._size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6

    def ingest(self, paths: list[Path], rebuild: bool = True) -> dict:
        """Add the articles of ``paths`` (blank jsonl lines are skipped) and save the index."""
        t, cpu = time.perf_counter(), time.process_time()
        r = self.peer.ingest(iter_articles(paths))
        self._size = self.peer.save(self.folder) / 1e6
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        return {"docs": r.docs, "chunks": r.chunks, "embedded": r.chunks, "seconds": seconds, "cpu_seconds": cpu,
                "embed_seconds": r.embed_seconds}

    def texts(self) -> list[str]:
        return [t for _d, t in self.peer.docstore]

    def size_mb(self) -> float:
        return self._size

    def search(self, question: str, k: int) -> list[tuple[str, str]]:
        return [(h.doc_id, h.text) for h in self.peer.search(question, k)]


def _progress(label: str, t0: float):
    """Print a line to stderr every 1000 articles read."""
    state = {"last": 0}

    def update(done: int, _total, _message: str) -> None:
        if done - state["last"] >= 1000:
            state["last"] = done
            print(f"  {label}: {done} articles read, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    return update


def latency(systems: list, questions: list[str]) -> dict:
    """Search latency of each system, top-5, the systems taking turns on every question
    (so a load spike on a busy machine hits both)."""
    samples: dict[str, list[float]] = {s.label: [] for s in systems}
    for s in systems:
        s.search("预热：模型已加载", 5)
    for i, q in enumerate(questions):
        for s in systems if i % 2 == 0 else systems[::-1]:
            t = time.perf_counter()
            s.search(q, 5)
            samples[s.label].append(time.perf_counter() - t)
    out = {}
    for label, values in samples.items():
        summary = latency_summary(values)
        out[label] = {"p50_ms": round(summary["p50"] * 1000, 1), "p95_ms": round(summary["p95"] * 1000, 1), "n": len(values)}
    return out


_SUMMED = ("docs", "chunks", "embedded", "seconds", "cpu_seconds", "embed_seconds")


def ingest_rounds(systems: list, blocks: list[list[Path]], budget: float | None,
                  state: Path | None = None) -> tuple[list[dict], int]:
    """Both systems ingest the same blocks of articles, taking turns (the order alternates per
    round), so load changes on a shared machine hit both alike. Stops starting new rounds once
    ``budget`` seconds are spent in this call. Returns the summed report per system and the rounds done.

    With ``state`` (a JSON file), every finished turn is recorded there and a later call with the
    same file skips the turns already finished, so a run of hours can be split over several
    sittings (a turn cut off half-way is redone; shanhai resumes from its own ingest checkpoint).
    """
    turns: list[dict] = json.loads(state.read_text()) if state is not None and state.exists() else []
    totals = [{key: 0 for key in _SUMMED} | {"rounds": []} for _ in systems]
    spent, done = 0.0, 0
    for r, paths in enumerate(blocks):
        if budget is not None and spent >= budget:
            break
        order = list(range(len(systems))) if r % 2 == 0 else list(range(len(systems)))[::-1]
        for i in order:
            rep = next((t["report"] for t in turns if t["round"] == r and t["system"] == systems[i].label), None)
            if rep is None:
                rep = systems[i].ingest(paths, rebuild=(r == 0))
                spent += rep["seconds"]
                rep = {k: round(v, 3) if isinstance(v, float) else v for k, v in rep.items()} | {"loadavg": os.getloadavg()[0]}
                turns.append({"round": r, "system": systems[i].label, "report": rep})
                if state is not None:
                    tmp = state.with_suffix(".tmp")
                    tmp.write_text(json.dumps(turns, indent=1))
                    tmp.replace(state)
            for key in _SUMMED:
                totals[i][key] += rep[key]
            totals[i]["rounds"].append(rep)
        done += 1
        print(f"  round {r + 1}/{len(blocks)}: " + ", ".join(
            f"{s.label} {t['docs']} articles {t['seconds']:.0f} s" for s, t in zip(systems, totals)), file=sys.stderr, flush=True)
    return totals, done


def evaluate(system, items: list[dict], scorer, gold: bool) -> dict:
    out: dict = {}
    rows = []
    for it in items:
        row = {"id": it["id"]}
        for k in KS:
            hits = system.search(it["question"], k)  # a separate top-k call per k
            texts = scored([t for _d, t in hits])
            row[f"recall@{k}"] = scorer(texts, it, k)
            if gold and it.get("gold_docs"):
                row[f"gold_hit@{k}"] = hit_at_k(unique_in_order(d for d, _t in hits), it["gold_docs"], k)
        rows.append(row)
    for k in KS:
        out[f"recall@{k}"] = mean(r[f"recall@{k}"] for r in rows)
        if gold:
            out[f"gold_hit@{k}"] = mean(r.get(f"gold_hit@{k}") for r in rows)
    out["questions_scored"] = sum(r["recall@5"] is not None for r in rows)
    out["missed@5"] = [r["id"] for r in rows if r["recall@5"] == 0.0]
    return out


def ingest_block(sh: dict, pe: dict, s_texts: list[str], p_texts: list[str], encoder, s_size: float, p_size: float) -> dict:
    def side(r, texts, size):
        return {**{k: v for k, v in r.items() if k != "doc_ids"}, "articles_per_s": round(r["docs"] / r["seconds"], 3),
                "chunks_per_s": round(r["chunks"] / r["seconds"], 3), "chunks_per_article": round(r["chunks"] / max(1, r["docs"]), 3),
                "index_mb": round(size, 2), **token_stats(encoder, texts)}
    return {"shanhai": side(sh, s_texts, s_size), "peer": side(pe, p_texts, p_size)}


# -- the run --------------------------------------------------------------------------------------

def run(args) -> dict:
    from rag.config import load_config
    from rag.pipeline import Pipeline

    overrides = config_overrides(args.set)
    config = load_config(overrides=overrides)
    if args.resume and not args.work:
        raise SystemExit("--resume needs --work (the folder of the run to go on with)")
    work = Path(args.work or tempfile.mkdtemp(prefix="shanhai-peer-"))
    encoder = Pipeline(config).encoder
    encoder.encode_passages(["预热"])  # load the model before anything is timed
    # The peer embeds as such pipelines do by default (sentence-transformers, PyTorch fp32) unless
    # --peer-backend says otherwise; shanhai uses its configured backend.
    from rag.config import load_config as _load

    peer_encoder = Pipeline(_load(overrides={**overrides, "models.embedding.backend": args.peer_backend})).encoder
    peer_encoder.encode_passages(["预热"])
    seed_items = load_jsonl(SHARED / "eval" / "seed_qa_dev.jsonl")
    result: dict = {"machine": machine(), "settings": {
        "limit": args.limit, "time_budget_s": args.time_budget, "shanhai_overrides": overrides,
        "peer": {"splitter": args.peer_splitter, "chunk_size": 250, "chunk_overlap": 50, "top_k": TOP_K},
        "embedding_batch_size": encoder.batch_size, "torch_threads": _torch_threads(),
        "embedding_backend": {"shanhai": config.get("models.embedding.backend"), "peer": args.peer_backend}}}

    # A. seeds + archive, ingested by both in alternating rounds
    n_archive = min(args.limit or FULL, FULL)
    rounds = max(1, min(args.rounds, n_archive))
    bounds = [round(n_archive * (r + 1) / rounds) for r in range(rounds)]
    state = work / "rounds.json"
    if not args.resume:
        state.unlink(missing_ok=True)
        for old in ("shanhai-archive", "peer-archive"):
            shutil.rmtree(work / old, ignore_errors=True)
    blocks = [[SEEDS, f] if r == 0 else [f] for r, f in enumerate(archive_blocks(work, bounds))]
    shanhai = Shanhai(config, encoder, work / "shanhai-archive")
    peer = Peer(peer_encoder, work / "peer-archive", args.peer_splitter)
    (s_ing, p_ing), done = ingest_rounds([shanhai, peer], blocks, args.time_budget, state)
    block = ingest_block(s_ing, p_ing, shanhai.texts(), peer.texts(), encoder, shanhai.size_mb(), peer.size_mb())
    block["partial"] = done < rounds or n_archive < FULL
    block["archive_articles"] = bounds[done - 1]
    block["rounds"] = {"done": done, "planned": rounds}
    questions = [it["question"] for it in seed_items] + [it["question"] for it in load_jsonl(SHARED / "eval" / "external" / "rgb_zh_dev.jsonl")]
    block["latency"] = latency([shanhai, peer], questions)
    block["quality"] = {"shanhai": evaluate(shanhai, seed_items, seed_item_hit, True),
                        "peer": evaluate(peer, seed_items, seed_item_hit, True)}
    result["seed_in_archive"] = block
    print(f"A done: shanhai {s_ing['docs']} articles in {s_ing['seconds']:.0f}s, peer {p_ing['docs']} in {p_ing['seconds']:.0f}s", flush=True)

    # B. RGB pool
    if not args.skip_rgb:
        pool, rgb_items = rgb_pool(work, args.rgb_items)
        s_rgb = Shanhai(config, encoder, work / "shanhai-rgb")
        p_rgb = Peer(peer_encoder, work / "peer-rgb", args.peer_splitter)
        (s_ing, p_ing), _done = ingest_rounds([s_rgb, p_rgb], [[pool]], None)
        block = ingest_block(s_ing, p_ing, s_rgb.texts(), p_rgb.texts(), encoder, s_rgb.size_mb(), p_rgb.size_mb())
        block["latency"] = latency([s_rgb, p_rgb], [it["question"] for it in rgb_items])
        block["quality"] = {"shanhai": evaluate(s_rgb, rgb_items, rgb_item_hit, False),
                            "peer": evaluate(p_rgb, rgb_items, rgb_item_hit, False)}
        result["rgb_pool"] = block
    result["ratios"] = ratios(result)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if not (args.keep or args.work):
        shutil.rmtree(work, ignore_errors=True)
    return result


def _torch_threads() -> int | None:
    import sys

    torch = sys.modules.get("torch")  # only meaningful when the torch backend is in use
    return torch.get_num_threads() if torch else None


def _ratio(a, b):
    return round(a / b, 3) if a is not None and b not in (None, 0) else None


def ratios(result: dict) -> dict:
    out = {}
    for name in ("seed_in_archive", "rgb_pool"):
        block = result.get(name)
        if not block:
            continue
        s, p = block["shanhai"], block["peer"]
        q, lat = block["quality"], block["latency"]
        out[name] = {
            "ingest_articles_per_s": _ratio(s["articles_per_s"], p["articles_per_s"]),
            "ingest_chunks_per_s": _ratio(s["chunks_per_s"], p["chunks_per_s"]),
            "ingest_articles_per_cpu_s": _ratio(p["cpu_seconds"] / max(1, p["docs"]), s["cpu_seconds"] / max(1, s["docs"])),
            "embedded_tokens": _ratio(s["tokens_per_chunk"] * s["embedded"], p["tokens_per_chunk"] * p["embedded"]),
            "index_size": _ratio(s["index_mb"], p["index_mb"]),
            "search_p50": _ratio(lat["shanhai"]["p50_ms"], lat["peer"]["p50_ms"]),
            "search_p95": _ratio(lat["shanhai"]["p95_ms"], lat["peer"]["p95_ms"]),
            **{f"recall@{k}": _ratio(q["shanhai"][f"recall@{k}"], q["peer"][f"recall@{k}"]) for k in KS},
        }
    return out


def markdown(result: dict) -> str:
    lines = []
    for name, title in (("seed_in_archive", "A. Seed dev questions, seed articles mixed into the CRUD archive"),
                        ("rgb_pool", "B. RGB zh dev questions, all their passages in one index")):
        block = result.get(name)
        if not block:
            continue
        s, p, r = block["shanhai"], block["peer"], result["ratios"][name]
        q, lat = block["quality"], block["latency"]
        note = " (partial: see settings)" if block.get("partial") else ""
        lines += [f"### {title}{note}", "", "| | shanhai | peer | shanhai / peer |", "|---|---|---|---|"]
        rows = [
            ("articles", s["docs"], p["docs"], None),
            ("ingest articles/s", s["articles_per_s"], p["articles_per_s"], r["ingest_articles_per_s"]),
            ("ingest chunks/s", s["chunks_per_s"], p["chunks_per_s"], r["ingest_chunks_per_s"]),
            ("chunks per article", s["chunks_per_article"], p["chunks_per_article"], None),
            ("e5 tokens per chunk", s["tokens_per_chunk"], p["tokens_per_chunk"], None),
            ("ingest CPU seconds per article", round(s["cpu_seconds"] / max(1, s["docs"]), 3),
             round(p["cpu_seconds"] / max(1, p["docs"]), 3), r["ingest_articles_per_cpu_s"]),
            ("chunks embedded (distinct texts)", s["embedded"], p["embedded"], None),
            ("e5 tokens embedded (est.)", int(s["tokens_per_chunk"] * s["embedded"]), int(p["tokens_per_chunk"] * p["embedded"]),
             r["embedded_tokens"]),
            ("index size, MB", s["index_mb"], p["index_mb"], r["index_size"]),
            ("search p50, ms", lat["shanhai"]["p50_ms"], lat["peer"]["p50_ms"], r["search_p50"]),
            ("search p95, ms", lat["shanhai"]["p95_ms"], lat["peer"]["p95_ms"], r["search_p95"]),
            ("answer-bearing recall@3", q["shanhai"]["recall@3"], q["peer"]["recall@3"], r["recall@3"]),
            ("answer-bearing recall@5", q["shanhai"]["recall@5"], q["peer"]["recall@5"], r["recall@5"]),
        ]
        if "gold_hit@5" in q["shanhai"]:
            rows.append(("gold article hit@5", q["shanhai"]["gold_hit@5"], q["peer"]["gold_hit@5"], None))
        for label, a, b, ratio in rows:
            lines.append(f"| {label} | {a} | {b} | {'' if ratio is None else ratio} |")
        lines.append("")
    lines.append("(Ratios are shanhai / peer; for CPU seconds per article the ratio is peer / shanhai, so > 1 means "
                 "shanhai does less work per article. CPU time is the whole process, torch threads included. "
                 "Recall: questions scored "
                 f"{result['seed_in_archive']['quality']['shanhai']['questions_scored']} (A)"
                 + (f", {result['rgb_pool']['quality']['shanhai']['questions_scored']} (B)" if "rgb_pool" in result else "") + ".)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, help="use only the first N archive articles (partial run)")
    ap.add_argument("--time-budget", type=float, help="ingest seconds (both systems) after which no new round starts (partial run)")
    ap.add_argument("--rounds", type=int, default=10, help="archive blocks the two systems ingest in turn (default 10)")
    ap.add_argument("--rgb-items", type=int, help="use only the first N RGB dev items")
    ap.add_argument("--skip-rgb", action="store_true", help="skip part B")
    ap.add_argument("--peer-splitter", choices=["chatchat", "plain"], default="chatchat")
    ap.add_argument("--peer-backend", choices=["torch", "onnx", "onnx-int8"], default="torch",
                    help="the peer's embedding backend (default torch fp32, as LangChain-style pipelines run)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="shanhai config override")
    ap.add_argument("--work", help="working folder, kept (default: a temporary folder, removed)")
    ap.add_argument("--resume", action="store_true", help="go on with the run in --work: finished turns are not redone")
    ap.add_argument("--keep", action="store_true", help="keep the indexes in the working folder")
    ap.add_argument("--name", help="result file name (default peer_compare, with the limit/budget appended)")
    args = ap.parse_args()
    name = args.name or "peer_compare" + (f"_limit{args.limit}" if args.limit else "") + (f"_budget{int(args.time_budget)}" if args.time_budget else "")
    result = run(args)
    table = markdown(result)
    out = write_result(name, result)
    (RESULTS / f"{name}.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    print(f"→ {out}")


if __name__ == "__main__":
    main()
