"""The evidence judge on real weights: seed sentences, config, provisioning errors, tiny training.

The seed test reads the seed articles and the seed dev questions at run time and picks the
sentences by content rules (no seed text in the repository).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.config import load_config
from rag.judge.data import bigrams, overlap
from rag.judge.windows import prepare, sentence_windows, titled
from rag.text.clean import clean_text
from rag.text.meta import extract_meta
from rag.text.sentences import split_sentences

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def judge():
    from rag.judge.model import load_judge

    return load_judge(load_config())


def _article(path: Path) -> str:
    """The article as the index holds it: cleaned (pinyin, navigation, mojibake gone), then t2s."""
    return prepare(clean_text(path.read_text(encoding="utf-8")).text)


def _title(path: Path) -> str:
    raw = path.read_text(encoding="utf-8")
    return prepare(extract_meta(raw, clean_text(raw).text)["title"])


def _windows(path: Path) -> list[str]:
    text = _article(path)
    return [text[w.start:w.end] for w in sentence_windows(text)]


def seed_cases(seeds_dir: Path, eval_dir: Path) -> list[tuple[str, str, str]]:
    """(question, answer window, distractor window) for every single-figure number question, each
    window on a line after its article's title (as rag/answer/rerank.py gives them to the judge).

    Answer window: the window around the only sentence of the gold article holding the figure.
    Distractor: the window of another seed article sharing the most character bigrams with the
    question, holding a digit but not the figure (same topic, another place/programme).
    """
    articles = {p.stem: _windows(p) for p in sorted(seeds_dir.glob("*.txt"))}
    titles = {p.stem: _title(p) for p in sorted(seeds_dir.glob("*.txt"))}
    cases = []
    for rec in map(json.loads, (eval_dir / "seed_qa_dev.jsonl").read_text(encoding="utf-8").splitlines()):
        if rec["answer_type"] != "number" or len(rec["must_include"]) != 1 or len(rec["gold_docs"]) != 1:
            continue
        figure, gold = rec["must_include"][0], rec["gold_docs"][0]
        text = _article(seeds_dir / f"{gold}.txt")
        sentences = [text[a:b] for a, b in split_sentences(text) if figure in text[a:b]]
        if len(sentences) != 1:
            continue
        # the window holding that sentence (a long sentence is cut to window_chars: any window
        # with the figure then is a part of it)
        answer = next((w for w in articles[gold] if sentences[0] in w),
                      next(w for w in articles[gold] if figure in w))
        q = prepare(rec["question"])
        grams = bigrams(q)
        others = [titled(titles[doc], w) for doc, ws in articles.items() if doc != gold for w in ws
                  if figure not in w and any(c.isdigit() for c in w)]
        cases.append((q, titled(titles[gold], answer), max(others, key=lambda w: overlap(grams, w))))
    return cases


def test_answer_window_beats_same_topic_distractor(judge, seeds_dir, eval_dir):
    cases = seed_cases(seeds_dir, eval_dir)
    assert len(cases) >= 8
    wins = 0
    for q, answer, distractor in cases:
        s_answer, s_distractor = judge.score(q, [answer, distractor])
        wins += s_answer > s_distractor
    assert wins == len(cases), f"{wins}/{len(cases)}"


def test_judgement_api_on_seed_passages(judge, seeds_dir, eval_dir):
    q, answer, distractor = seed_cases(seeds_dir, eval_dir)[0]
    j = judge.judge(q, [distractor, answer])
    assert j.ranking()[0] == 1
    best = j.best(1)[0]
    assert best.passage == 1 and best.text in answer
    assert j.span_score(1, best.start, best.end) == pytest.approx(best.score)
    assert j.supports(1, best.start, best.end) == (best.score >= j.threshold)
    empty = judge.judge(q, [])
    assert not empty.answerable and empty.ranking() == []


def test_a_window_budget_judges_the_lexical_shortlist_and_every_passage(judge, seeds_dir, eval_dir):
    """judge.max_windows: only the windows sharing most question bigrams (plus each passage's best)
    are scored; every passage keeps a score; a budget above the window count changes nothing."""
    from rag.judge.model import EvidenceJudge

    every, small = EvidenceJudge(judge.folder, max_windows=0), EvidenceJudge(judge.folder, max_windows=2)
    articles = [_article(p) for p in sorted(seeds_dir.glob("*.txt"))]
    cases = seed_cases(seeds_dir, eval_dir)
    for q, _answer, _distractor in cases[:3]:
        full, cut = every.judge(q, articles), small.judge(q, articles)
        assert len(cut.windows) <= 2 + len(articles) < len(full.windows)
        assert all(s > 0 for s in cut.passage_scores)
        spans = {(f.passage, f.start, f.end) for f in full.windows}
        assert all((w.passage, w.start, w.end) in spans for w in cut.windows)
    q = cases[0][0]
    roomy = EvidenceJudge(judge.folder, max_windows=1000)
    assert roomy.judge(q, articles).passage_scores == pytest.approx(every.judge(q, articles).passage_scores, abs=1e-5)


def test_threshold_and_folder_come_from_config(judge):
    from rag.judge.model import load_judge
    from rag.models import judge_dir

    config = load_config()
    assert judge.folder == judge_dir(config)
    assert judge.threshold == config.get("judge.threshold")
    other = load_judge(config.with_overrides({"judge.threshold": 0.123}))
    assert other.threshold == 0.123 and other.folder == judge.folder


def _copy_shipped(tmp_path: Path) -> Path:
    from rag.judge.weights import SHIPPED_DIR

    dst = tmp_path / "weights"
    shutil.copytree(SHIPPED_DIR, dst)
    return dst


def test_missing_or_corrupt_weights_name_models_prepare(tmp_path):
    from rag.judge.model import JudgeMissingError, load_judge
    from rag.judge.weights import WEIGHTS_FILE, JudgeWeightsError, verify_weights

    shipped = _copy_shipped(tmp_path)
    weights = shipped / WEIGHTS_FILE
    with open(weights, "r+b") as fh:  # flip one byte in the middle: same size, other sha256
        fh.seek(weights.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(JudgeWeightsError, match="sha256.*shanhai models prepare"):
        verify_weights(shipped)
    config = load_config().with_overrides({"judge.weights": str(shipped), "judge.dir": str(tmp_path / "judge")})
    with pytest.raises(JudgeMissingError, match="shanhai models prepare"):
        load_judge(config)
    weights.unlink()
    with pytest.raises(JudgeWeightsError, match="缺少.*shanhai models prepare"):
        verify_weights(shipped)
    off = config.with_overrides({"models.auto_prepare": False})
    with pytest.raises(JudgeMissingError, match="shanhai models prepare"):
        load_judge(off)


def test_status_lists_the_judge():
    from rag.models import model_status

    rows = {r["name"]: r for r in model_status(load_config())}
    assert "evidence-judge-zh" in rows
    assert rows["evidence-judge-zh"]["ready"], rows["evidence-judge-zh"]["detail"]


def test_training_runs_end_to_end_on_a_tiny_slice(tmp_path, shared_dir):
    """A few steps on a few questions, then the folder assembles from the new weights."""
    from rag.judge import train
    from rag.judge.provision import prepare_judge
    from rag.judge.weights import verify_weights
    from rag.models import embedding_dir

    out = tmp_path / "tiny"
    rc = train.main(["--out", str(out), "--limit", "40", "--max-steps", "3", "--layers", "1", "--batch", "8",
                     "--max-length", "64", "--rgb", "none", "--no-eval", "--log-every", "1",
                     "--reading", str(shared_dir / "train" / "zh_reading_train.jsonl.gz")])
    assert rc == 0
    _path, meta = verify_weights(out)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["train"]["steps"] == 3 and metrics["data"]["train_pairs"] > 0
    assert meta["num_layers"] == 1 and "logit" in meta["reference"]
    folder = prepare_judge(tmp_path / "judge", embedding_dir(load_config()), progress=False, shipped=out)
    assert (folder / "model.int8.onnx").is_file() and (folder / "shanhai-judge.json").is_file()
