"""Write a trained judge: shipped weights, ``judge.json`` (with the reference score), ``metrics.json``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rag.judge.weights import REFERENCE_PAIR, assemble_state, save_weights, verify_weights


def e5_folder(path: str | None = None) -> Path:
    """The prepared e5-small folder (the configured one unless ``path`` is given), prepared if missing."""
    from rag.config import load_config
    from rag.models import embedding_dir

    if path:
        return Path(path).expanduser()
    from embeddings.provision import prepare_embedding_model

    return prepare_embedding_model(embedding_dir(load_config()), progress=True)


def reference_logit(e5: Path, folder: Path, num_layers: int, max_length: int, pooling: str) -> float:
    """Logit of :data:`REFERENCE_PAIR` from the weights *as stored* (fp16 -> fp32), torch engine."""
    from rag.judge.encode import build_network, load_tokenizer
    from rag.judge.engines import TorchEngine

    weights, _meta = verify_weights(folder)
    model = build_network(e5, num_layers, assemble_state(e5, weights, num_layers), pooling=pooling)
    engine = TorchEngine(model, load_tokenizer(e5, max_length))
    return float(engine.logits([REFERENCE_PAIR[0]], [REFERENCE_PAIR[1]])[0])


def write_outputs(out: Path, model: Any, tok: Any, args: argparse.Namespace, metrics: dict[str, Any]) -> dict[str, Any]:
    """Save weights + ``judge.json`` + ``metrics.json`` into ``out``; returns the meta."""
    from rag.judge.windows import NEIGHBOURS, WINDOW_CHARS

    recipe = {k: getattr(args, k) for k in ("layers", "pooling", "freeze_layers", "epochs", "batch", "lr", "head_lr", "warmup", "max_length",
                                            "rgb_repeat", "p_swap", "limit", "every", "max_steps", "seed")}
    meta = {"name": "shanhai-evidence-judge", "base": "multilingual-e5-small", "num_layers": args.layers, "pooling": args.pooling,
            "max_length": args.max_length, "window_chars": WINDOW_CHARS, "neighbours": NEIGHBOURS,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "recipe": recipe,
            "command": "python -m rag.judge.train --out rag/judge/weights",
            "licence": "CC BY-SA 4.0 (trained on CMRC 2018 CC BY-SA 4.0 and DRCD CC BY-SA 3.0; see LICENSE-weights.md)",
            "dev": {"pairs": metrics.get("dev_pairs"), "sets": metrics.get("dev_sets")}}
    meta = save_weights(model, out, meta)
    e5 = e5_folder(getattr(args, "e5", None))
    meta["reference"] = {"question": REFERENCE_PAIR[0], "text": REFERENCE_PAIR[1],
                         "logit": round(reference_logit(e5, out, args.layers, args.max_length, args.pooling), 5)}
    (out / "judge.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps({**metrics, "recipe": recipe}, ensure_ascii=False, indent=1) + "\n",
                                      encoding="utf-8")
    return meta
