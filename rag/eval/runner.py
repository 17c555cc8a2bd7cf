"""Run an evaluation: load the dataset, answer every item (in parallel if asked), score, write the run folder.

Run folder (``--out``, default ``runs/eval-<dataset>-<backend>-<time>``)::

    results.jsonl   one line per item: id, question, answer, refused, citations, passages,
                    expected, scores, correct, timings, error
    metrics.json    run info + aggregate metrics (:func:`rag.eval.scoring.aggregate`)
    config.yaml     the resolved config, with the run's settings under ``eval``
    report.md / report.html / plots/*.png   (:mod:`rag.eval.report`)
    index/          run-local index, when built here (``corpus=`` or DRCD ``retrieval="index"``)

Items arrive in ``results.partial.jsonl`` as they finish; ``resume=True`` continues an
interrupted run from it, or reruns only the failed items of a finished run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rag.config import Config
from rag.eval.datasets import Dataset, load_dataset
from rag.eval.formats.base import EvalItem
from rag.eval.scoring import aggregate, is_correct, score_item
from rag.llm.registry import default_backend
from rag.parallel import parallel_map

__all__ = ["RunSummary", "ItemTask", "PipelineFactory", "run_eval", "default_run_dir", "runs_root", "list_runs", "EvalRunError"]

PARTIAL = "results.partial.jsonl"
# Stop when this many first items all fail (a broken backend, not a bad item).
FAIL_FAST = 3
ProgressFn = Callable[[int, int], None]


class EvalRunError(RuntimeError):
    """The run cannot start (no index for a set that needs one, bad options)."""


@dataclass
class RunSummary:
    """What :func:`run_eval` produced."""

    run_dir: Path
    dataset: Dataset
    metrics: dict[str, Any]
    rows: list[dict[str, Any]] = field(repr=False, default_factory=list)


def default_run_dir(dataset_path: str | Path, backend: str, root: str | Path = "runs") -> Path:
    """``runs/eval-<dataset>-<backend>-<YYYYmmdd-HHMMSS>`` (``runs/`` is git-ignored)."""
    name = Path(dataset_path).name.removesuffix(".jsonl")
    return Path(root) / f"eval-{name}-{backend}-{time.strftime('%Y%m%d-%H%M%S')}"


def runs_root(config: Config) -> Path:
    """Folder holding run folders: config ``eval.runs_dir``, default ``runs`` (relative to the cwd)."""
    return Path(str(config.get("eval.runs_dir") or "runs")).expanduser()


def list_runs(root: str | Path) -> list[Path]:
    """Run folders (with a metrics.json) directly under ``root``, newest first."""
    folder = Path(root)
    if not folder.is_dir():
        return []
    runs = [d for d in folder.iterdir() if (d / "metrics.json").is_file()]
    return sorted(runs, key=lambda d: (d / "metrics.json").stat().st_mtime, reverse=True)


# One pipeline per (process, settings): threads share it; each Ray worker builds its own.
_PIPELINES: dict[tuple, Any] = {}
_PIPELINES_LOCK = threading.Lock()

PipelineFactory = Callable[..., Any]
"""``make_pipeline(config, index_dir=...)`` -> a pipeline (:class:`rag.Pipeline`): ``ingest``,
``search``, ``ask``, ``answer_from_passages``, ``answerer(backend)``, ``index``. Picklable (a class)
when items run on Ray."""


def _pipeline(make_pipeline: PipelineFactory, config_data: dict, index_dir: str | None):
    key = (make_pipeline, json.dumps(config_data, sort_keys=True, default=str), index_dir)
    with _PIPELINES_LOCK:
        if key not in _PIPELINES:
            _PIPELINES[key] = make_pipeline(Config(config_data), index_dir=index_dir)
        return _PIPELINES[key]


def _slim_passage(p: dict[str, Any]) -> dict[str, Any]:
    out = dict(p)
    if out.get("original") == out.get("text"):
        out.pop("original", None)
    return out


@dataclass
class ItemTask:
    """Answer and score one item; picklable (plain data only), so Ray can ship it.

    Args:
        make_pipeline: builds this process's pipeline (see :data:`PipelineFactory`).
        config_data: the resolved config's data.
        index_dir: index for items answered by retrieval (None when none is needed).
        backend: answer backend name.
        k: ``retrieval.top_k`` (the cut-off of the retrieval metrics).
        retrieve_k: how many chunks the retrieval metrics look at (MRR depth).
    """

    make_pipeline: PipelineFactory
    config_data: dict
    index_dir: str | None
    backend: str
    k: int
    retrieve_k: int = 10

    def pipeline(self):
        """This process's pipeline for these settings."""
        return _pipeline(self.make_pipeline, self.config_data, self.index_dir)

    def __call__(self, item: EvalItem) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": item.id, "base_id": item.base_id, "question": item.question, "task": item.task,
            "group": item.group, "noise": item.noise,
            "expected": {"must_include": item.must_include, "any_of": item.any_of, "gold_docs": item.gold_docs,
                         "answer_groups": item.answer_groups, "unanswerable": item.unanswerable, **item.extra},
            "input_passages": item.passages, "answer": "", "refused": None, "citations": [], "passages": [],
            "retrieved": None, "scores": {}, "correct": False, "timings": {}, "checks": {}, "error": None,
        }
        started = time.perf_counter()
        try:
            pipe = self.pipeline()
            retrieved = None
            if item.passages is None:
                hits = pipe.search(item.question, k=max(self.k, self.retrieve_k))
                retrieved = [{"doc_id": h.chunk.doc_id, "chunk_id": h.chunk.chunk_id, "score": round(h.score, 6),
                              "text": h.chunk.text} for h in hits]
                ans = pipe.ask(item.question, backend=self.backend)
            else:
                ans = pipe.answer_from_passages(item.question, item.passages, backend=self.backend)
            a = ans.to_json()
            timings = {**a["timings"], **self._llm_stats(pipe, a["timings"])}
            row.update(answer=a["answer"], refused=a["refused"], citations=a["citations"],
                       passages=[_slim_passage(p) for p in a["passages"]], checks=a["checks"], timings=timings,
                       retrieved=[{k: v for k, v in r.items() if k != "text"} for r in retrieved or []] or None)
            row["scores"] = score_item(item, a, retrieved, k=self.k)
            row["correct"] = is_correct(item, row["scores"])
        except Exception as exc:  # noqa: BLE001 - one bad item must not end a long run; recorded per item
            row["error"] = f"{type(exc).__name__}: {exc}"
            row["timings"] = {"total": round(time.perf_counter() - started, 4)}
        return row

    def _llm_stats(self, pipe, timings: dict[str, Any]) -> dict[str, Any]:
        """Generated tokens and LLM time, for tokens/s.

        Taken from the answer's timings when it reports them; otherwise from the backend's
        per-thread ``last_stats`` when the answer made exactly one LLM call.
        """
        if "completion_tokens" in timings or timings.get("llm_calls") != 1:
            return {}
        st = getattr(pipe.answerer(self.backend).llm, "last_stats", None)
        if st is None:
            return {}
        return {"completion_tokens": st.completion_tokens, "llm_seconds": round(st.total_s, 4),
                "llm_first_token": round(st.first_token_s, 4) if st.first_token_s is not None else None}


def _build_index(make_pipeline: PipelineFactory, dataset: Dataset, config: Config, run_dir: Path,
                 corpus: list[str] | None, log) -> Path:
    """Ingest ``corpus`` (folders/files) or the DRCD paragraphs into ``run_dir/index``."""
    index_dir = run_dir / "index"
    if corpus:
        paths = [Path(c).expanduser() for c in corpus]
    else:
        folder = run_dir / "corpus"
        folder.mkdir(parents=True, exist_ok=True)
        for doc in dataset.corpus():  # one file per paragraph: doc_id = file stem = paragraph id
            name = "".join(c if c.isalnum() or c in "-_" else "_" for c in doc["id"])
            (folder / f"{name}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
        paths = [folder]
    log(f"正在为本次评测建立索引：{index_dir}")
    report = make_pipeline(config, index_dir=index_dir).ingest(paths)
    if not report.ok:
        raise EvalRunError(f"建立评测索引失败：{report.summary()}")
    return index_dir


def _resolve_index(make_pipeline: PipelineFactory, dataset: Dataset, config: Config, run_dir: Path,
                   index: str | None, corpus: list[str] | None, log) -> str | None:
    if not dataset.needs_index:
        return None
    if index:
        path = Path(index).expanduser()
        if not path.exists():
            raise EvalRunError(f"索引目录不存在：{path}（先用 shanhai ingest 建索引，或改用 --corpus 目录）")
        return str(path)
    return str(_build_index(make_pipeline, dataset, config, run_dir, corpus, log))


def _check_index_options(dataset: Dataset, index: str | None, corpus: list[str] | None) -> None:
    if index and corpus:
        raise EvalRunError("--index 与 --corpus 只能选一个：用已有索引，或从文章目录临时建索引")
    if dataset.needs_index and not index and not corpus and not dataset.spec.own_corpus:
        raise EvalRunError(f"{dataset.path.name} 需要从索引检索作答：请用 --index 指定已有索引，"
                           "或用 --corpus 指定文章目录（会在运行目录中建立临时索引）")


def _warm_up(task: ItemTask, dataset: Dataset) -> None:
    """Load the model and open the index once, so a missing model fails before the first item."""
    pipe = task.pipeline()
    if task.index_dir:
        pipe.index  # noqa: B018 - opens the index (raises on a missing/mismatched one)
    llm = pipe.answerer(task.backend).llm
    if llm is not None and hasattr(llm, "load"):
        llm.load()


def _read_partial(path: Path) -> dict[str, dict[str, Any]]:
    """Rows without an error from a results file, by id (missing file: none)."""
    done: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the interruption
            if not row.get("error"):
                done[row["id"]] = row
    return done


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _open_run_dir(run_dir: Path, resume: bool) -> Path:
    """Create the run folder; a non-empty one only when resuming."""
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        raise EvalRunError(f"运行目录已存在且不为空：{run_dir}（换一个 --out，或加 --resume 继续上次的运行）")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _answer_items(task: ItemTask, todo: list[EvalItem], partial: Path, config: Config, *, workers: int,
                  parallel: str, progress: ProgressFn | None) -> tuple[list[dict[str, Any]], float]:
    """Answer ``todo``, appending each row to ``partial`` as it finishes; stop when the first
    :data:`FAIL_FAST` items all fail. Returns the new rows and the wall time in seconds."""
    lock = threading.Lock()
    seen = {"n": 0, "errors": 0}
    with partial.open("a", encoding="utf-8") as fh:
        def on_result(_i: int, row: dict[str, Any]) -> None:
            with lock:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                seen["n"] += 1
                seen["errors"] += bool(row.get("error"))
                if seen["n"] == FAIL_FAST and seen["errors"] == FAIL_FAST:
                    raise EvalRunError(f"前 {FAIL_FAST} 题全部出错，已停止评测。最后一个错误：{row['error']}")

        started = time.perf_counter()
        new_rows = parallel_map(task, todo, workers=workers, backend=parallel,
                                ray_address=config.get("ray.address"), progress=progress, on_result=on_result,
                                ray_init={"num_cpus": config.get("ray.num_cpus")} if config.get("ray.num_cpus")
                                else None)
        wall = time.perf_counter() - started
    return new_rows, wall


def _write_results(run_dir: Path, rows: list[dict[str, Any]], run: dict[str, Any], *,
                   report: bool) -> dict[str, Any]:
    """Write results.jsonl and metrics.json (``run`` info + aggregates), drop the partial file,
    write the report if asked; returns the metrics."""
    _write_jsonl(run_dir / "results.jsonl", rows)
    metrics = {"run": run, **aggregate(rows)}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    (run_dir / PARTIAL).unlink(missing_ok=True)
    if report:
        from rag.eval.report import write_report

        write_report(run_dir)
    return metrics


def run_eval(dataset_path: str | Path, config: Config, *, make_pipeline: PipelineFactory,
             out: str | Path | None = None, backend: str | None = None,
             index: str | None = None, corpus: str | list[str] | None = None, limit: int | None = None,
             workers: int | None = None, parallel: str | None = None, noises: list[float] | None = None,
             modes: list[str] | None = None, retrieval: str = "passages", resume: bool = False,
             report: bool = True, progress: ProgressFn | None = None,
             log: Callable[[str], None] = lambda _m: None) -> RunSummary:
    """Evaluate a dataset and write the run folder.

    Args:
        dataset_path: a JSONL file (format auto-detected, see :mod:`rag.eval.datasets`).
        config: the resolved config.
        make_pipeline: builds the pipelines that answer (pass :class:`rag.Pipeline`); see
            :data:`PipelineFactory`.
        out: run folder (default :func:`default_run_dir` under :func:`runs_root`).
        backend: answer backend (default ``answer.backend``).
        index: existing index for sets answered by retrieval (seed format).
        corpus: instead of ``index``, folder(s)/file(s) of articles ingested into ``<out>/index``
            (e.g. the seed articles plus a distractor corpus).
        limit: only the first ``limit`` records.
        workers: parallel items (default ``eval.workers``).
        parallel: ``local`` | ``threads`` | ``ray`` (default: threads when workers > 1).
        noises: RGB noise ratios (default per format).
        modes: settings to run (default all the format has).
        retrieval: ``passages`` or ``index`` (DRCD).
        resume: continue from ``<out>/results.partial.jsonl``.
        report: write report.md/html and plots.
        progress: ``progress(done, total)`` after each item.
        log: receives status lines (Chinese).

    Returns:
        The :class:`RunSummary`.

    Raises:
        rag.eval.formats.base.DatasetError: unreadable dataset or invalid settings.
        EvalRunError: no index for a set that needs one.
        rag.llm.LLMError: the backend cannot start (missing model, server down).
    """
    backend = backend or default_backend(config)
    dataset = load_dataset(dataset_path, modes=modes, noises=noises, retrieval=retrieval, limit=limit,
                           seed=int(config.get("eval.seed", 0) or 0),
                           passages=int(config.get("eval.rgb_passages", 5) or 5))
    corpus = [corpus] if isinstance(corpus, str) else (list(corpus) if corpus else None)
    _check_index_options(dataset, index, corpus)
    run_dir = _open_run_dir(Path(out) if out else default_run_dir(dataset_path, backend, runs_root(config)), resume)
    index_dir = _resolve_index(make_pipeline, dataset, config, run_dir, index, corpus, log)
    workers = int(workers if workers is not None else config.get("eval.workers", 1) or 1)
    parallel = parallel or ("threads" if workers > 1 else "local")
    config = config.with_overrides({
        "answer.backend": backend, "index_dir": index_dir,
        "eval.run": {"dataset": str(Path(dataset_path).resolve()), "format": dataset.format, **dataset.settings,
                     "workers": workers, "parallel": parallel, "corpus": corpus},
    })
    (run_dir / "config.yaml").write_text(config.dump(), encoding="utf-8")
    task = ItemTask(make_pipeline, config.data, index_dir, backend, k=int(config.get("retrieval.top_k", 5)))
    # Resume: finished items of an earlier (interrupted or complete) run are kept; errored ones rerun.
    done = {**_read_partial(run_dir / "results.jsonl"), **_read_partial(run_dir / PARTIAL)} if resume else {}
    todo = [it for it in dataset.items if it.id not in done]
    log(f"{dataset.path.name}（{dataset.format}）：{len(dataset.items)} 题，"
        f"{'续跑，已完成 ' + str(len(done)) + ' 题，' if done else ''}后端 {backend}，并行 {parallel}×{workers}")
    if parallel != "ray" and todo:
        _warm_up(task, dataset)
    started_at = time.strftime("%Y-%m-%d %H:%M:%S")
    new_rows, wall = _answer_items(task, todo, run_dir / PARTIAL, config, workers=workers, parallel=parallel,
                                   progress=progress)
    by_id = {**done, **{r["id"]: r for r in new_rows}}
    rows = [by_id[it.id] for it in dataset.items]
    run = {"dataset": dataset.name, "path": str(dataset.path), "format": dataset.format, "backend": backend,
           "settings": dataset.settings, "workers": workers, "parallel": parallel,
           "index": index_dir, "corpus": corpus, "started": started_at,
           "wall_seconds": round(wall, 3), "items_per_second": round(len(todo) / wall, 4) if wall > 0 else None,
           "resumed_items": len(done)}
    metrics = _write_results(run_dir, rows, run, report=report)
    return RunSummary(run_dir=run_dir, dataset=dataset, metrics=metrics, rows=rows)
