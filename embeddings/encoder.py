"""The embedding encoder the pipeline uses: multilingual-e5-small on CPU, three backends.

* ``onnx-int8``: ONNX Runtime, dynamically quantised int8 weights (fastest; one text per pass);
* ``onnx``: ONNX Runtime, fp32;
* ``torch``: sentence-transformers on PyTorch (the reference; what training/export use).

The ONNX backends import neither torch nor transformers (:mod:`embeddings.onnx_runtime`).
A requested ONNX variant whose parity check failed at ``models prepare`` is not used: the
encoder falls back to the next slower backend with a warning. Texts are tokenised first and
encoded in length-sorted batches (little padding); :attr:`Encoder.stats` counts texts,
tokens and seconds so callers can report tokens/s.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from embeddings.onnx_runtime import available_cores, length_batches
from embeddings.e5_spec import DIM, MODEL_NAME, ModelMissingError
from embeddings.provision import embedding_model_status, prepare_embedding_model
from embeddings.torch_model import load_sentence_transformer

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

BACKENDS = ("onnx-int8", "onnx", "torch")  # fastest first; a failed variant falls back rightwards
# Loaded runners shared by every Encoder in the process (keyed by folder, backend, threads),
# so the CLI, the UI and tests pay the load once.
_LOADED: dict[tuple, Any] = {}
_LOAD_LOCK = threading.Lock()

# Encodes of at least this many passes run side by side (see Encoder.parallel).
PARALLEL_MIN_PASSES = 16

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
__all__ = ["BACKENDS", "Encoder", "available_cores", "load_sentence_transformer"]


class _TorchRunner:
    """sentence-transformers behind the runner interface (``token_ids``, ``embed_batch``)."""

    def __init__(self, model: "SentenceTransformer"):
        self.model = model

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.model.tokenizer(list(texts), truncation=True, max_length=self.model.max_seq_length)["input_ids"]

    def embed_batch(self, texts: Sequence[str], _ids: Sequence[Sequence[int]]) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=len(texts), show_progress_bar=False,
                                 convert_to_numpy=True, normalize_embeddings=True)


class _OnnxRunner:
    """:class:`~embeddings.onnx_runtime.OnnxEmbedder` behind the runner interface."""

    def __init__(self, embedder):
        self.model = embedder

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.model.token_ids(texts)

    def embed_batch(self, _texts: Sequence[str], ids: Sequence[Sequence[int]]) -> np.ndarray:
        return self.model.embed_ids(ids)


class Encoder:
    """Encodes passages and queries into L2-normalised 384-d float32 vectors.

    The model is loaded on first use. If a folder is missing or incomplete it is prepared
    from the installed packages (``auto_prepare=True``) or :class:`ModelMissingError` is
    raised.

    Attributes:
        name: model name recorded in index manifests.
        dim: vector dimension.
        stats: cumulative ``texts``, ``tokens``, ``padded_tokens`` and ``seconds`` of encoding.
    """

    name: str = MODEL_NAME
    dim: int = DIM

    def __init__(self, model_dir: Path, *, batch_size: int = 32, threads: int = 0,
                 auto_prepare: bool = True, progress: bool = True, backend: str = "torch",
                 onnx_dir: Path | None = None, spin_wait: bool = False, parallel: int = 0):
        """Set up a lazy encoder.

        Args:
            model_dir: prepared sentence-transformers folder (``<home>/models/multilingual-e5-small``).
            batch_size: texts per forward pass (texts are sorted by token length first).
            threads: CPU threads (torch, or ONNX Runtime intra-op); 0 = all cores.
            auto_prepare: build missing model folders on first use.
            progress: show progress while preparing a model.
            backend: ``onnx-int8`` | ``onnx`` | ``torch``.
            onnx_dir: folder of the ONNX models (default ``<model_dir>-onnx`` beside it).
            spin_wait: let ONNX Runtime's idle threads spin between operators.
            parallel: for ``onnx-int8``, passes run side by side from this many threads on one
                single-thread session (weights loaded once); 0 = one per core when ``threads``
                is 0, else 1. An int8 pass of one text keeps one core busy better than two
                intra-op threads do (docs/benchmarks.md); the vectors are the same either way.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size 必须是正整数，收到 {batch_size}")
        if threads < 0:
            raise ValueError(f"threads 不能为负数，收到 {threads}（0 表示使用全部核心）")
        if parallel < 0:
            raise ValueError(f"parallel 不能为负数，收到 {parallel}（0 表示自动）")
        if backend not in BACKENDS:
            raise ValueError(f"未知的向量后端 {backend!r}：可选 {'、'.join(BACKENDS)}（models.embedding.backend）")
        self.model_dir = Path(model_dir).expanduser()
        from embeddings.onnx_export import onnx_dir_for

        self.onnx_dir = Path(onnx_dir).expanduser() if onnx_dir else onnx_dir_for(self.model_dir)
        self.batch_size = batch_size
        self.threads = threads
        self.auto_prepare = auto_prepare
        self.progress = progress
        self.backend = backend
        self.spin_wait = spin_wait
        self.parallel = parallel
        self.active_backend: str | None = None  # set when loaded (after any fallback)
        self._runner: _TorchRunner | _OnnxRunner | None = None
        self.stats: dict[str, float] = {"texts": 0, "tokens": 0, "padded_tokens": 0, "seconds": 0.0}

    # -- loading ---------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether the model is already in memory."""
        return self._runner is not None

    @property
    def model(self):
        """The loaded backend model: a ``SentenceTransformer`` (torch) or an ``OnnxEmbedder``."""
        return self._load().model

    def load(self) -> None:
        """Load (and if needed prepare) the model now instead of at the first encode."""
        self._load()

    def _load(self) -> _TorchRunner | _OnnxRunner:
        if self._runner is None:
            with _LOAD_LOCK:
                backend = self._usable_backend(prepare=True)
                key = (str(self.model_dir.resolve()), str(self.onnx_dir.resolve()), backend,
                       self._session_threads(backend), self.spin_wait)
                if key not in _LOADED:
                    _LOADED[key] = self._make_runner(backend)
                self._runner, self.active_backend = _LOADED[key], backend
        return self._runner

    def _make_runner(self, backend: str) -> _TorchRunner | _OnnxRunner:
        if backend == "torch":
            self._ensure_ready()
            return _TorchRunner(load_sentence_transformer(self.model_dir, threads=self.threads))
        from embeddings.onnx_export import TOKENIZER_FILE, read_onnx_manifest
        from embeddings.onnx_runtime import OnnxEmbedder

        variant = (read_onnx_manifest(self.onnx_dir) or {})["variants"][backend]
        return _OnnxRunner(OnnxEmbedder(self.onnx_dir / variant["file"], self.onnx_dir / TOKENIZER_FILE,
                                        threads=self._session_threads(backend), spin=self.spin_wait))

    def _session_threads(self, backend: str) -> int:
        """Intra-op threads of the session: 1 when passes run side by side instead."""
        return 1 if self._side_by_side(backend) > 1 else self.threads

    def _side_by_side(self, backend: str | None = None) -> int:
        """Passes run at once on the one session (1 = one after another)."""
        if (backend or self.active_backend) != "onnx-int8":
            return 1
        if self.parallel:
            return self.parallel
        return available_cores() if self.threads == 0 else 1

    def _usable_backend(self, *, prepare: bool) -> str:
        """The backend that will run: the requested one, or the next whose parity check passed.

        Args:
            prepare: build a missing ONNX folder (else report the requested backend as is).
        """
        if self.backend == "torch":
            return "torch"
        from embeddings.onnx_export import onnx_model_status, prepare_onnx_model

        status = onnx_model_status(self.onnx_dir)
        if not status["ready"]:
            if not prepare:
                return self.backend
            if not self.auto_prepare:
                raise ModelMissingError(f"{MODEL_NAME} 的 ONNX 模型不可用（{self.onnx_dir}）：{status['detail']}")
            if self.progress:
                print(f"首次使用：正在导出并量化 ONNX 模型 → {self.onnx_dir}", file=sys.stderr)
            prepare_onnx_model(self.model_dir, self.onnx_dir, progress=self.progress)
            status = onnx_model_status(self.onnx_dir)
        for candidate in BACKENDS[BACKENDS.index(self.backend):]:
            if candidate == "torch" or (status["variants"].get(candidate) or {}).get("passed"):
                if candidate != self.backend and prepare:
                    log.warning("向量后端 %s 未通过与 fp32 的一致性检查（%s），改用 %s。", self.backend,
                                status["variants"].get(self.backend), candidate)
                return candidate
        return "torch"  # pragma: no cover - the loop always ends at torch

    def _ensure_ready(self) -> None:
        status = embedding_model_status(self.model_dir)
        if status["ready"]:
            return
        if not self.auto_prepare:
            raise ModelMissingError(
                f"嵌入模型 {MODEL_NAME} 不可用（{self.model_dir}）：{status['detail']}"
            )
        if self.progress:
            print(f"首次使用：正在从已安装的软件包生成嵌入模型 {MODEL_NAME} → {self.model_dir}",
                  file=sys.stderr)
        prepare_embedding_model(self.model_dir, progress=self.progress)

    @property
    def index_info(self) -> dict[str, str]:
        """What an index built with this encoder records: ``backend`` and ``quantization``.

        Does not load the model (reads the small ONNX manifest at most).
        """
        backend = self.active_backend or self._usable_backend(prepare=False)
        quant = "fp32"
        if backend == "onnx-int8":
            from embeddings.onnx_export import int8_file, quantization_preset, read_onnx_manifest

            file = ((read_onnx_manifest(self.onnx_dir) or {}).get("variants") or {}).get(backend, {}).get("file")
            quant = Path(file or int8_file(quantization_preset())).stem.removeprefix("model_")
        return {"backend": backend, "quantization": quant}

    # -- encoding --------------------------------------------------------------------------------
    def _encode(self, texts: Sequence[str], prefix: str, progress: bool) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("需要字符串列表；单条查询请用 encode_query()")
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise TypeError(f"第 {i} 条输入不是字符串（{type(text).__name__}）")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        runner = self._load()
        started = time.perf_counter()
        prefixed = [prefix + text for text in items]
        ids = runner.token_ids(prefixed)
        lengths = [len(x) for x in ids]
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        batches = length_batches(lengths, self._batch_size())
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), desc="计算向量", unit="段", dynamic_ncols=True, leave=False)

        def run(rows: np.ndarray) -> np.ndarray:
            return runner.embed_batch([prefixed[i] for i in rows], [ids[i] for i in rows])

        for rows, vecs in zip(batches, self._passes(batches, run)):
            out[rows] = vecs
            self.stats["padded_tokens"] += len(rows) * max(lengths[i] for i in rows)
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        self.stats["texts"] += len(items)
        self.stats["tokens"] += sum(lengths)
        self.stats["seconds"] += time.perf_counter() - started
        return np.ascontiguousarray(out, dtype=np.float32)

    def _passes(self, batches: list[np.ndarray], run: Callable[[np.ndarray], np.ndarray]) -> Iterator[np.ndarray]:
        """Vectors of each batch, in order; long int8 encodes run several passes at once
        (ONNX Runtime sessions may be run from several threads)."""
        workers = self._side_by_side()
        if len(batches) < PARALLEL_MIN_PASSES or workers < 2:
            for rows in batches:
                yield run(rows)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="shanhai-embed") as pool:
            yield from pool.map(run, batches)

    def count_tokens(self, texts: Sequence[str], *, prefix: str = PASSAGE_PREFIX) -> list[int]:
        """e5 tokens of each text as it would be embedded (prefix, ``<s>``/``</s>``, 512 cap)."""
        return [len(ids) for ids in self._load().token_ids([prefix + t for t in texts])]

    def _batch_size(self) -> int:
        """Texts per forward pass: ``batch_size``, but 1 for ``onnx-int8``.

        Dynamic int8 quantises activations with one scale per tensor, i.e. per batch (padding
        included), so a text's vector would depend on what else is in its batch (cosine 0.996
        between batchings). One text per pass makes every vector depend on its text alone (as
        queries, cached vectors and Ray workers need) and computes no padding; on the shared
        2-core machine it was as fast as batches of 4-16 (docs/benchmarks.md).
        """
        return 1 if self.active_backend == "onnx-int8" else self.batch_size

    def tokens_per_second(self) -> float:
        """Tokens encoded per second so far (0.0 before the first encode)."""
        return float(self.stats["tokens"] / self.stats["seconds"]) if self.stats["seconds"] else 0.0

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed passages (adds the e5 ``"passage: "`` prefix).

        Args:
            texts: passages; each is truncated at 512 tokens.
            progress: show a tqdm bar over texts.

        Returns:
            ``(len(texts), 384)`` float32, rows L2-normalised.
        """
        return self._encode(texts, PASSAGE_PREFIX, progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (adds the e5 ``"query: "`` prefix); ``(n, 384)`` float32, normalised."""
        return self._encode(texts, QUERY_PREFIX, False)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query; returns a ``(384,)`` float32 unit vector."""
        if not isinstance(text, str):
            raise TypeError(f"查询必须是字符串（收到 {type(text).__name__}）")
        return self._encode([text], QUERY_PREFIX, False)[0]
