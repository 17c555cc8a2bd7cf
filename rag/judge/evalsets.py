"""Set-level measurement of a judge on the dev sets (no LLM).

A *set* is a question with the passages an answer would be built from; its score is the best
window score over all passages (the answer path refuses when no window reaches the
threshold). Sets come in two kinds: answerable (the passages hold the answer) and negative.

* RGB dev (:func:`rgb_sets`): the evaluation's own passage samples (``rag.eval.datasets``:
  noise 0 and 0.8 = answerable, the 5-negative rejection sample = negative), for one fixed
  half of the items (:func:`rag.judge.data.rgb_half`).
* DRCD dev (:func:`drcd_sets`): a question with its own paragraph (answerable) and with the
  most similar *other* paragraph of the file (TF-IDF on character bigrams; negative).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from rag.judge.data import rgb_half
from rag.judge.windows import prepare, sentence_windows, titled

Scorer = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""``scorer(questions, texts)`` -> one probability per pair."""


def set_scores(scorer: Scorer, sets: Sequence[tuple[str, Sequence[Any]]], *, batch: int = 256) -> np.ndarray:
    """Best window score of each (question, passages) set; shared windows are scored once.

    A passage is a text or a ``(title, text)`` pair (the title goes on a line before each window,
    as :mod:`rag.answer.rerank` gives it to the judge)."""
    keys: dict[tuple[str, str], int] = {}
    members: list[list[int]] = []
    for question, passages in sets:
        q = prepare(question).strip()
        idx = []
        for passage in passages:
            title, body = passage if isinstance(passage, tuple) else ("", passage)
            text, title = prepare(body), prepare(title)
            for w in sentence_windows(text):
                idx.append(keys.setdefault((q, titled(title, text[w.start:w.end])), len(keys)))
        members.append(idx)
    pairs = list(keys)
    probs = np.zeros(len(pairs), dtype=np.float32)
    for lo in range(0, len(pairs), batch):
        chunk = pairs[lo:lo + batch]
        probs[lo:lo + batch] = scorer([q for q, _ in chunk], [t for _, t in chunk])
    return np.array([probs[i].max() if i else 0.0 for i in members], dtype=np.float32)


def rgb_sets(path: str | Path, half: str | None, *, noises: Iterable[float] = (0.0, 0.8),
             seed: int = 0) -> dict[str, list[tuple[str, list[str]]]]:
    """RGB dev sets per setting (``noise=0``, ``noise=0.8``, ``rejection``) for one half.

    Args:
        path: ``rgb_zh_dev.jsonl``.
        half: ``"train"``, ``"eval"`` or None for all items.
        noises: noise ratios of the answerable sets.
        seed: the evaluation's sampling seed (config ``eval.seed``).
    """
    from rag.eval.datasets import load_dataset

    ds = load_dataset(path, modes=["noise", "rejection"], noises=list(noises), seed=seed)
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for item in ds.items:
        if half is not None and rgb_half(item.base_id) != half:
            continue
        out.setdefault(item.group, []).append((item.question, list(item.passages or [])))
    return out


def rgb_passages(path: str | Path, half: str | None) -> dict[str, list[tuple[str, list[str]]]]:
    """Every passage of the half's items alone: ``answerable`` (a positive passage holding an answer
    string) and ``negative`` (a negative passage holding none). More sets than :func:`rgb_sets`,
    so a less noisy (passage-level) AUC."""
    out: dict[str, list[tuple[str, list[str]]]] = {"answerable": [], "negative": []}
    with open(path, encoding="utf-8") as fh:
        for rec in map(json.loads, fh):
            if half is not None and rgb_half(rec["id"]) != half:
                continue
            answers = [prepare(a).strip() for a in rec["answers"] if a.strip()]
            for key, passages, want in (("answerable", rec["positive"], True), ("negative", rec["negative"], False)):
                for passage in passages:
                    if any(a in prepare(passage) for a in answers) == want:
                        out[key].append((rec["question"], [passage]))
    return out


def drcd_sets(path: str | Path) -> dict[str, list[tuple[str, list[str]]]]:
    """DRCD dev: ``own`` (question + its paragraph) and ``other`` (question + most similar other paragraph)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    with open(path, encoding="utf-8") as fh:
        recs = [json.loads(line) for line in fh]
    contexts = sorted({r["context"] for r in recs})
    norm = [prepare(c) for c in contexts]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True)
    mat = vec.fit_transform(norm)
    sims = (vec.transform([prepare(r["question"]) for r in recs]) @ mat.T).toarray()
    own, other = [], []
    for r, row in zip(recs, sims):
        mine = contexts.index(r["context"])
        row[mine] = -1.0
        own.append((r["question"], [r["context"]]))
        other.append((r["question"], [contexts[int(row.argmax())]]))
    return {"own": own, "other": other}


def auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """ROC AUC of positives over negatives (ties count half)."""
    p = np.asarray(pos, dtype=np.float64)[:, None]
    n = np.asarray(neg, dtype=np.float64)[None, :]
    if p.size == 0 or n.size == 0:
        return float("nan")
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def curve(pos: Sequence[float], neg: Sequence[float], thresholds: Sequence[float]) -> list[dict]:
    """False refusal (answerable below t) and refusal (negative below t) at each threshold."""
    p, n = np.asarray(pos), np.asarray(neg)
    return [{"threshold": float(t), "false_refusal": float((p < t).mean()) if p.size else float("nan"),
             "refusal": float((n < t).mean()) if n.size else float("nan")} for t in thresholds]


def refusal_at_keep(pos: Sequence[float], neg: Sequence[float], keep: float) -> tuple[float, float]:
    """(threshold keeping ``keep`` of the answerable sets, refusal of negatives there)."""
    p = np.sort(np.asarray(pos))
    t = float(p[int(np.floor(round((1 - keep) * len(p), 9)))]) if len(p) else float("nan")
    return t, float((np.asarray(neg) < t).mean())
