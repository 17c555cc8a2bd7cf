"""Training pairs for the evidence judge, built from the shared reading-comprehension data.

Source: ``zh_reading_train.jsonl.gz`` (CMRC 2018 + DRCD, see ``/work/shared/train/README.md``),
read at training time and never copied into the repository. Everything is normalised like the
index (OpenCC t2s, half-width; :func:`rag.judge.windows.prepare`) and cut into windows by the
code the judge uses at inference (:mod:`rag.judge.windows`). Per question:

* ``pos``: a window around the answer sentence (answer span inside);
* ``neg_para``: a window of the same paragraph without the answer (often the one sharing the
  most character bigrams with the question);
* ``neg_topic``: the most question-like window of another paragraph of the same article, else
  of a similar paragraph of another article (TF-IDF on character bigrams);
* counterfactual pairs from the positive (:mod:`rag.judge.counterfactual`).

Window sizes vary (a lone sentence, sentence ± 1 within 150 characters, passage-like ±3 within
220), labels never depend on size. Optionally RGB dev items of the training half
(:func:`rgb_half`) add news windows: answer-bearing windows of ``positive`` passages and
windows of ``negative`` passages (same topic, no answer). A small share of articles is held out
(:func:`is_dev_article`) for the training run's own pair-level dev metrics.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from rag.judge.windows import grow, prepare
from rag.text.sentences import split_sentences

# (before, after, max_chars, weight): lone sentence, inference-style window, passage-like window.
SIZES = ((0, 0, 150, 0.15), (1, 1, 150, 0.6), (3, 3, 220, 0.25))
DEV_ARTICLE_BUCKETS = 25  # 1 in 25 articles (4 %) held out


def bucket(key: str, n: int) -> int:
    """Stable bucket of ``key`` in ``range(n)`` (sha256, independent of Python's hash seed)."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], 16) % n


def rgb_half(item_id: str) -> str:
    """``"train"`` or ``"eval"``: the fixed half of RGB dev an item belongs to (sha256 of its id)."""
    return "train" if bucket(item_id, 2) == 0 else "eval"


def is_dev_article(article_id: str) -> bool:
    """Articles held out of training for the run's pair-level dev metrics."""
    return bucket(article_id, DEV_ARTICLE_BUCKETS) == 0


@dataclass(frozen=True)
class Pair:
    """One training example: does ``text`` answer ``question``?"""

    question: str
    text: str
    label: float
    kind: str
    group: str


@dataclass
class ReadingSet:
    """Normalised reading data: questions, paragraph texts and sentence spans, articles."""

    items: list[dict] = field(default_factory=list)
    paragraphs: dict[str, str] = field(default_factory=dict)
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    articles: dict[str, list[str]] = field(default_factory=dict)


def load_reading(path: str | Path, *, limit: int | None = None, every: int = 1) -> ReadingSet:
    """Read and normalise the reading-comprehension file (gzip JSON lines).

    Args:
        path: ``zh_reading_train.jsonl.gz``.
        limit: keep only the first ``limit`` questions (tiny runs).
        every: keep every ``every``-th question (smaller runs that still mix both sources).

    Returns:
        A :class:`ReadingSet`; questions whose answer cannot be located are dropped.
    """
    data = ReadingSet()
    articles: dict[str, set[str]] = defaultdict(set)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if limit is not None and n >= limit:
                break
            if n % every:
                continue
            rec = json.loads(line)
            pid = rec["paragraph_id"]
            if pid not in data.paragraphs:
                text = prepare(rec["context"])
                data.paragraphs[pid] = text
                data.spans[pid] = split_sentences(text)
            text = data.paragraphs[pid]
            answers = [prepare(a).strip() for a in rec["answers"] if a.strip()]
            start = rec["answer_starts"][0]
            if not answers or text[start:start + len(answers[0])] != answers[0]:
                start = text.find(answers[0]) if answers else -1
                if start < 0:
                    continue
            articles[rec["article_id"]].add(pid)
            data.items.append({"id": rec["id"], "question": prepare(rec["question"]).strip(),
                               "answers": answers, "span": (start, start + len(answers[0])),
                               "paragraph": pid, "article": rec["article_id"]})
    data.articles = {a: sorted(p) for a, p in articles.items()}
    return data


def bigrams(text: str) -> set[str]:
    """Character bigrams of the word characters of ``text``."""
    chars = [c for c in text if c.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:])}


def overlap(question_grams: set[str], text: str) -> float:
    """Share of the question's bigrams found in ``text``."""
    return len(question_grams & bigrams(text)) / max(1, len(question_grams))


def _size(rng: random.Random) -> tuple[int, int, int]:
    r = rng.random()
    for before, after, chars, weight in SIZES:
        if r < weight:
            return before, after, chars
        r -= weight
    return SIZES[-1][:3]


def _clip(a: int, b: int, max_chars: int, rng: random.Random, keep: tuple[int, int] | None = None) -> tuple[int, int]:
    """Cut ``[a, b)`` to ``max_chars``, keeping ``keep`` inside when given."""
    if b - a <= max_chars:
        return a, b
    lo, hi = a, b - max_chars
    if keep is not None:
        lo, hi = max(lo, keep[1] - max_chars), min(hi, keep[0])
        if lo > hi:
            return max(a, keep[0] - 10), min(b, max(keep[1], keep[0] - 10 + max_chars))
    start = rng.randint(lo, hi)
    return start, start + max_chars


def window_at(text_spans: Sequence[tuple[int, int]], i: int, rng: random.Random,
              keep: tuple[int, int] | None = None) -> tuple[int, int]:
    """A window of random size around sentence ``i`` (covering ``keep`` when given)."""
    before, after, chars = _size(rng)
    a, b = grow(text_spans, i, before=before, after=after, max_chars=chars)
    if keep is not None:
        a, b = min(a, keep[0]), max(b, keep[1])
    return _clip(a, b, chars, rng, keep)


def sentence_of(spans: Sequence[tuple[int, int]], pos: int) -> int:
    """Index of the sentence containing offset ``pos`` (the nearest one before it otherwise)."""
    best = 0
    for i, (a, _b) in enumerate(spans):
        if a <= pos:
            best = i
    return best


def _free(text: str, answers: Sequence[str]) -> bool:
    return not any(ans in text for ans in answers)


def negative_window(text: str, spans: Sequence[tuple[int, int]], answers: Sequence[str], qgrams: set[str],
                    rng: random.Random, *, avoid: tuple[int, int] | None = None, hard: float = 0.6) -> str | None:
    """A window of ``text`` without any answer string (and not touching ``avoid``).

    With probability ``hard`` the candidate sharing the most question bigrams is taken, else a
    random one. None when no sentence qualifies.
    """
    cands = []
    for i in range(len(spans)):
        a, b = window_at(spans, i, rng)
        if avoid is not None and a < avoid[1] and b > avoid[0]:
            continue
        piece = text[a:b]
        if _free(piece, answers):
            cands.append(piece)
    if not cands:
        return None
    if rng.random() < hard:
        return max(cands, key=lambda w: overlap(qgrams, w))
    return rng.choice(cands)


def similar_paragraphs(data: ReadingSet, k: int = 5) -> dict[str, list[str]]:
    """For each question id: up to ``k`` most similar paragraphs of *other* articles (TF-IDF bigrams)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    pids = list(data.paragraphs)
    owner = {pid: art for art, ps in data.articles.items() for pid in ps}
    vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), min_df=2, sublinear_tf=True)
    mat = vec.fit_transform([data.paragraphs[p] for p in pids])
    out: dict[str, list[str]] = {}
    items = data.items
    for lo in range(0, len(items), 512):
        chunk = items[lo:lo + 512]
        sims = (vec.transform([it["question"] for it in chunk]) @ mat.T).toarray()
        for it, row in zip(chunk, sims):
            order = row.argsort()[::-1]
            picks = [pids[j] for j in order[: k + 12] if owner.get(pids[j]) != it["article"]]
            out[it["id"]] = picks[:k]
    return out
