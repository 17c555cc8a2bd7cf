"""The evidence judge at inference: does a sentence window answer the question?

Usage in the answer path (integration is a later step)::

    judge = load_judge(config)                       # cached; clear error if not prepared
    j = judge.judge(question, [p.text for p in candidates])   # every window, one batch
    order = j.ranking()                              # (a) rerank candidate chunks
    if not j.answerable: refuse()                    # (b) no window reaches the threshold
    for w in j.best(3): evidence(w.passage, w.start, w.end)    # (c) best windows as evidence
    j.supports(passage_index, start, end)            # (d) is a claim inside a supporting window?

Scores are probabilities (sigmoid of the logit). Passages are normalised like the index
(:func:`rag.judge.windows.prepare`, length-preserving), so window spans index ``Passage.text``
and the original text alike.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.judge.windows import NEIGHBOURS, WINDOW_CHARS, Window, prepare, sentence_windows, titled


class JudgeMissingError(RuntimeError):
    """The judge folder is absent, incomplete or corrupt (the message names `shanhai models prepare`)."""


@dataclass(frozen=True)
class WindowScore:
    """One scored window of passage number ``passage`` (0-based, in the order given)."""

    passage: int
    window: Window
    score: float
    text: str

    @property
    def start(self) -> int:
        """Window start in the passage's (normalised) text."""
        return self.window.start

    @property
    def end(self) -> int:
        """Window end (exclusive)."""
        return self.window.end


@dataclass
class Judgement:
    """Every window of every passage with its score, plus the decisions built on them."""

    question: str
    windows: list[WindowScore]
    passage_scores: np.ndarray
    threshold: float
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def top(self) -> float:
        """Best window score (0.0 without windows)."""
        return float(self.passage_scores.max()) if self.passage_scores.size else 0.0

    @property
    def answerable(self) -> bool:
        """At least one window reaches the threshold."""
        return self.top >= self.threshold

    def best(self, k: int = 3, *, min_score: float | None = None) -> list[WindowScore]:
        """The ``k`` best windows, best first (only those >= ``min_score`` when given)."""
        ranked = sorted(self.windows, key=lambda w: -w.score)
        if min_score is not None:
            ranked = [w for w in ranked if w.score >= min_score]
        return ranked[:k]

    def supporting(self) -> list[WindowScore]:
        """Windows at or above the threshold, best first."""
        return self.best(len(self.windows), min_score=self.threshold)

    def ranking(self) -> list[int]:
        """Passage indices by best window score, best first (stable for ties)."""
        return sorted(range(len(self.passage_scores)), key=lambda i: -float(self.passage_scores[i]))

    def span_score(self, passage: int, start: int, end: int) -> float:
        """Best score of the windows of ``passage`` that contain ``[start, end)`` (0.0 if none)."""
        inside = [w.score for w in self.windows if w.passage == passage and w.start <= start and end <= w.end]
        return max(inside, default=0.0)

    def supports(self, passage: int, start: int, end: int) -> bool:
        """A supporting window of ``passage`` contains the span ``[start, end)``."""
        return self.span_score(passage, start, end) >= self.threshold


class EvidenceJudge:
    """A prepared judge folder with an inference engine (ONNX int8 or torch).

    Args:
        folder: the folder ``shanhai models prepare`` assembled.
        engine: ``"onnx"``, ``"torch"`` or ``"auto"`` (ONNX when onnxruntime and the file exist).
        threshold: default decision threshold (probability).
        threads: CPU threads (0 = library default).
        window_chars: window length limit (characters).
        neighbours: neighbouring sentences per side in a window.
        max_length: token limit per pair.
        max_windows: windows scored per :meth:`judge` call (0 = all): the ones sharing most of the
            question's character bigrams, plus the best such window of every passage.
    """

    def __init__(self, folder: Path, *, engine: str = "auto", threshold: float = 0.5, threads: int = 0,
                 window_chars: int = WINDOW_CHARS, neighbours: int = NEIGHBOURS, max_length: int = 160,
                 max_windows: int = 0):
        from rag.judge.encode import load_tokenizer

        self.folder = Path(folder)
        self.threshold = float(threshold)
        self.window_chars, self.neighbours = window_chars, neighbours
        self.max_windows = int(max_windows)
        self._lock = threading.Lock()
        tok = load_tokenizer(self.folder, max_length)
        self.engine = self._engine(engine, tok, threads)

    def _engine(self, engine: str, tok: Any, threads: int) -> Any:
        from rag.judge.provision import ONNX_FILE

        onnx_path = self.folder / ONNX_FILE
        if engine in ("auto", "onnx"):
            try:
                from rag.judge.engines import OnnxEngine

                if onnx_path.is_file():
                    return OnnxEngine(onnx_path, tok, threads=threads)
            except ImportError:
                pass
            if engine == "onnx":
                raise JudgeMissingError(f"无法用 ONNX Runtime 加载证据判别模型 {onnx_path}（缺少文件或未安装 onnxruntime）。"
                                        "请运行 `shanhai models prepare`，或把 judge.engine 设为 torch。")
        import json

        import torch
        from transformers import BertForSequenceClassification

        from rag.judge.engines import TorchEngine
        from rag.judge.network import MeanPoolJudge

        pooling = json.loads((self.folder / "config.json").read_text(encoding="utf-8")).get("judge_pooling", "cls")
        cls = MeanPoolJudge if pooling == "mean" else BertForSequenceClassification
        model = cls.from_pretrained(str(self.folder), dtype=torch.float32)
        return TorchEngine(model, tok, threads=threads)

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """Probability that each text answers ``question`` (both normalised first), one batch.
        A text repeated (overlapping chunks share sentences) is scored once."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        q = prepare(question).strip()
        prepared = [prepare(t) for t in texts]
        unique = list(dict.fromkeys(prepared))
        with self._lock:
            probs = self.engine([q] * len(unique), unique)
        at = {t: i for i, t in enumerate(unique)}
        return np.asarray([probs[at[t]] for t in prepared], dtype=np.float32)

    def judge(self, question: str, passages: Sequence[str], *, threshold: float | None = None,
              titles: Sequence[str] | None = None) -> Judgement:
        """Score every sentence window of every passage in one call.

        Args:
            question: the (sub-)question.
            passages: passage texts (``Passage.text``; any script — normalised here).
            threshold: decision threshold (default: the judge's).
            titles: one article title per passage (or ""), put on a line before each of its
                windows: a sentence often names its place only through the article ("全县…");
                window offsets stay relative to the passage text.

        Returns:
            A :class:`Judgement`; a passage without windows scores 0.0.
        """
        import time

        started = time.perf_counter()
        items: list[tuple[int, Window, str]] = []
        scored: list[str] = []
        for pi, passage in enumerate(passages):
            text = prepare(passage)
            title = titles[pi] if titles else ""
            for w in sentence_windows(text, max_chars=self.window_chars, neighbours=self.neighbours):
                items.append((pi, w, text[w.start:w.end]))
                scored.append(titled(title, text[w.start:w.end]))
        if 0 < self.max_windows < len(items):
            keep = lexical_shortlist(question, scored, [pi for pi, _w, _t in items], self.max_windows)
            items, scored = [items[i] for i in keep], [scored[i] for i in keep]
        probs = self.score(question, scored)
        best = np.zeros(len(passages), dtype=np.float32)
        windows = []
        for (pi, w, text), p in zip(items, probs):
            windows.append(WindowScore(pi, w, float(p), text))
            best[pi] = max(best[pi], float(p))
        return Judgement(question, windows, best, self.threshold if threshold is None else float(threshold),
                         seconds=time.perf_counter() - started)


def lexical_shortlist(question: str, texts: Sequence[str], groups: Sequence[int], limit: int) -> list[int]:
    """Indices (in order) of the ``limit`` texts sharing most of the question's character bigrams,
    plus the best such text of every group (passage), so each passage keeps a score."""
    from rag.judge.data import bigrams, overlap

    grams = bigrams(prepare(question))
    share = [overlap(grams, prepare(t)) for t in texts]
    ranked = sorted(range(len(texts)), key=lambda i: (-share[i], i))
    best: dict[int, int] = {}
    for i in ranked:
        best.setdefault(groups[i], i)
    return sorted(set(ranked[:limit]) | set(best.values()))


_CACHE: dict[tuple, EvidenceJudge] = {}
_CACHE_LOCK = threading.Lock()


def load_judge(config: Any, *, progress: bool = True) -> EvidenceJudge:
    """The configured judge (section ``judge``), assembled on first use when ``models.auto_prepare``.

    Raises:
        JudgeMissingError: not prepared (and auto-prepare off) or the shipped weights are missing or
            corrupt; the message names ``shanhai models prepare``.
    """
    from rag.judge.provision import judge_status, prepare_judge
    from rag.judge.weights import JudgeWeightsError
    from rag.models import embedding_dir, judge_dir, judge_weights_dir

    cfg = config.get("judge") or {}
    folder = judge_dir(config)
    key = (str(folder), cfg.get("engine", "auto"), int(cfg.get("threads", 0)), float(cfg.get("threshold", 0.5)),
           int(cfg.get("window_chars", WINDOW_CHARS)), int(cfg.get("neighbours", NEIGHBOURS)),
           int(cfg.get("max_windows", 0) or 0))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        status = judge_status(folder, shipped=judge_weights_dir(config))
        if not status["ready"]:
            if not config.get("models.auto_prepare", True):
                raise JudgeMissingError(f"证据判别模型不可用（{folder}）：{status['detail']}")
            try:
                from embeddings.provision import prepare_embedding_model

                e5 = prepare_embedding_model(embedding_dir(config), progress=progress)
                prepare_judge(folder, e5, progress=progress, shipped=judge_weights_dir(config))
            except JudgeWeightsError as exc:
                raise JudgeMissingError(str(exc)) from exc
        meta_len = _max_length(folder)
        judge = EvidenceJudge(folder, engine=cfg.get("engine", "auto"), threshold=key[3], threads=key[2],
                              window_chars=key[4], neighbours=key[5], max_length=meta_len, max_windows=key[6])
        _CACHE[key] = judge
        return judge


def _max_length(folder: Path) -> int:
    import json

    from rag.judge.provision import MANIFEST

    try:
        return int(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["max_length"])
    except (OSError, ValueError, KeyError) as exc:
        raise JudgeMissingError(f"证据判别模型目录 {folder} 的清单无法读取（{exc}）。请运行 `shanhai models prepare`。") from exc
