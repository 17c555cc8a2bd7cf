"""Assemble the judge's training and dev pairs (see :mod:`rag.judge.data` for the recipe)."""

from __future__ import annotations

import json
import logging
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from rag.judge.counterfactual import NAME_FLAGS, make_swaps
from rag.judge.data import (Pair, ReadingSet, bigrams, is_dev_article, load_reading, negative_window,
                            rgb_half, sentence_of, similar_paragraphs, window_at)
from rag.judge.windows import prepare
from rag.text.sentences import split_sentences

log = logging.getLogger(__name__)


@dataclass
class PairSet:
    """Training pairs, held-out dev pairs and counts by kind."""

    train: list[Pair] = field(default_factory=list)
    dev: list[Pair] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def _tag(questions: Sequence[str]) -> list[list[tuple[str, str]]]:
    """jieba POS tags of each question (names are counterfactual anchors)."""
    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(logging.WARNING)
    return [[(w.word, w.flag) for w in pseg.lcut(q)] for q in questions]


def name_pools(tags: Sequence[Sequence[tuple[str, str]]]) -> dict[str, list[str]]:
    """Names seen in the questions, by POS flag (replacement values for counterfactuals)."""
    pools: dict[str, set[str]] = defaultdict(set)
    for row in tags:
        for word, flag in row:
            if flag in NAME_FLAGS and 2 <= len(word) <= 8:
                pools[flag].add(word)
    return {flag: sorted(words) for flag, words in pools.items()}


def question_pairs(it: dict, data: ReadingSet, similar: Sequence[str], tags: Sequence[tuple[str, str]],
                   pools: dict[str, list[str]], rng: random.Random, *, p_swap: float = 0.8) -> list[Pair]:
    """All pairs of one reading question (positive, hard negatives, counterfactuals)."""
    q, pid, span, answers = it["question"], it["paragraph"], it["span"], it["answers"]
    text, spans = data.paragraphs[pid], data.spans[pid]
    qgrams = bigrams(q)
    out: list[Pair] = []
    i = sentence_of(spans, span[0])
    a, b = window_at(spans, i, rng, keep=span)
    window = text[a:b]
    out.append(Pair(q, window, 1.0, "pos", it["id"]))
    neg = negative_window(text, spans, answers, qgrams, rng, avoid=span)
    if neg:
        out.append(Pair(q, neg, 0.0, "neg_para", it["id"]))
    others = [p for p in data.articles.get(it["article"], []) if p != pid]
    source = rng.choice(others) if others else (rng.choice(similar) if similar else None)
    if source:
        neg = negative_window(data.paragraphs[source], data.spans[source], answers, qgrams, rng, hard=0.8)
        if neg:
            out.append(Pair(q, neg, 0.0, "neg_article" if others else "neg_similar", it["id"]))
    if rng.random() < p_swap:
        local = (span[0] - a, span[1] - a)
        for swap in make_swaps(q, window, local, rng, names=tags, pools=pools):
            out.append(Pair(swap.question, swap.text, swap.label, swap.kind, it["id"]))
    return out


def rgb_pairs(records: Sequence[dict], rng: random.Random, *, per_item_pos: int = 8,
              per_item_neg: int = 16) -> list[Pair]:
    """News pairs from RGB records: answer-bearing windows of positives, windows of negatives.

    Windows of a positive passage without an answer string and windows of a negative passage
    with one are left out (their label is uncertain).
    """
    out: list[Pair] = []
    for rec in records:
        q = prepare(rec["question"]).strip()
        answers = [prepare(a).strip() for a in rec["answers"] if a.strip()]
        pos, neg = [], []
        for passages, bag, want in ((rec["positive"], pos, True), (rec["negative"], neg, False)):
            for passage in passages:
                text = prepare(passage)
                spans = split_sentences(text)
                for i in range(len(spans)):
                    a, b = window_at(spans, i, rng)
                    piece = text[a:b]
                    if any(ans in piece for ans in answers) == want:
                        bag.append(piece)
        for bag, n, label, kind in ((pos, per_item_pos, 1.0, "rgb_pos"), (neg, per_item_neg, 0.0, "rgb_neg")):
            for piece in rng.sample(sorted(set(bag)), min(n, len(set(bag)))):
                out.append(Pair(q, piece, label, kind, rec["id"]))
    return out


def read_rgb(path: str | Path, half: str) -> list[dict]:
    """RGB dev records of one half (``"train"`` or ``"eval"``, :func:`rgb_half`)."""
    with open(path, encoding="utf-8") as fh:
        return [r for r in map(json.loads, fh) if rgb_half(r["id"]) == half]


def build_pairs(reading_path: str | Path, *, seed: int = 13, limit: int | None = None, every: int = 1,
                rgb_path: str | Path | None = None, rgb_repeat: int = 1, p_swap: float = 0.8) -> PairSet:
    """Build every training and dev pair.

    Args:
        reading_path: ``zh_reading_train.jsonl.gz``.
        seed: fixes every random choice (per question: seed + question id).
        limit: use only the first ``limit`` questions (tiny runs).
        every: use every ``every``-th question (smaller runs).
        rgb_path: ``rgb_zh_dev.jsonl`` to add its training half (None: reading data only).
        rgb_repeat: how many independently sampled copies of the RGB pairs to add.
        p_swap: share of questions that get counterfactual pairs.

    Returns:
        A :class:`PairSet` (dev = pairs of held-out articles; RGB pairs are train only).
    """
    data = load_reading(reading_path, limit=limit, every=every)
    similar = similar_paragraphs(data)
    tags = _tag([it["question"] for it in data.items])
    pools = name_pools(tags)
    out = PairSet()
    for it, tag in zip(data.items, tags):
        rng = random.Random(f"{seed}|{it['id']}")
        pairs = question_pairs(it, data, similar.get(it["id"], []), tag, pools, rng, p_swap=p_swap)
        (out.dev if is_dev_article(it["article"]) else out.train).extend(pairs)
    n_rgb = 0
    if rgb_path and rgb_repeat > 0:
        records = read_rgb(rgb_path, "train")
        for r in range(rgb_repeat):
            extra = rgb_pairs(records, random.Random(f"{seed}|rgb|{r}"))
            out.train.extend(extra)
            n_rgb += len(extra)
        out.stats["rgb_items"] = len(records)
    out.stats.update({
        "questions": len(data.items), "paragraphs": len(data.paragraphs), "articles": len(data.articles),
        "train_pairs": len(out.train), "dev_pairs": len(out.dev), "rgb_pairs": n_rgb,
        "train_positive_share": round(sum(p.label for p in out.train) / max(1, len(out.train)), 3),
        "train_kinds": dict(sorted(Counter(p.kind for p in out.train).items())),
    })
    return out
