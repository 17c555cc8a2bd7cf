"""Model provisioning front door: where each model lives, prepare all, report status."""

from __future__ import annotations

from pathlib import Path

from rag.config import Config


def embedding_dir(config: Config) -> Path:
    """Folder of the sentence-transformers embedding model."""
    emb = config["models"]["embedding"]
    return Path(emb["dir"]).expanduser() if emb.get("dir") else config.models_dir / emb["name"]


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
    """Build every model from its installed packages (cached; verified). Returns the ready paths."""
    from embeddings.provision import prepare_embedding_model
    from rag.llm.gguf import prepare_gguf

    ready: list[Path] = []
    if only in (None, "embedding", "judge"):
        e5 = prepare_embedding_model(embedding_dir(config), progress=progress, force=force and only != "judge")
        if only != "judge":
            ready.append(e5)
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
    from embeddings.provision import embedding_model_status
    from rag.judge.provision import judge_status
    from rag.llm.gguf import gguf_status

    return [
        embedding_model_status(embedding_dir(config), deep=deep),
        gguf_status(gguf_path(config).parent, deep=deep),
        judge_status(judge_dir(config), deep=deep, shipped=judge_weights_dir(config)),
    ]
