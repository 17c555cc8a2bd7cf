"""The object every tab's ``build(ctx)`` receives: the pipeline, the config and shared UI hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag import Pipeline, backend_choices, default_backend
from rag.config import Config
from ui import render

BACKEND_CHOICES = backend_choices()


@dataclass
class UIContext:
    """Shared by all tabs.

    Attributes:
        pipeline: the :class:`rag.pipeline.Pipeline` (the UI's only way into the data).
        config: the resolved config (section ``ui`` holds the UI settings).
        docs_changed: a ``gr.State`` holding an integer that the library tab increments after
            every upload or removal. Tabs that show per-document data subscribe with
            ``ctx.docs_changed.change(fn, inputs, outputs)``. Set by ``ui.app`` before tabs build.
        components: named components a tab offers to the others (e.g. ``"passages"``: the chat
            tab's passage panel). Register with :meth:`share`, look up with :meth:`get`.
        render: the rendering helpers (:mod:`ui.render`): ``render.passages_html(...)`` draws
            passage cards and ``render.answer_markdown(text, panel=...)`` turns ``[n]`` into links
            that scroll the card ``render.anchor_id(n, panel)`` into view (the "show passage" hook).
    """

    pipeline: Pipeline
    config: Config
    docs_changed: Any = None
    components: dict[str, Any] = field(default_factory=dict)
    render: Any = render

    def share(self, name: str, component: Any) -> Any:
        """Register ``component`` under ``name`` for other tabs and return it."""
        self.components[name] = component
        return component

    def get(self, name: str) -> Any:
        """A component another tab shared (KeyError when none was)."""
        return self.components[name]

    # -- settings read by several tabs -------------------------------------------------------------
    @property
    def default_backend(self) -> str:
        return default_backend(self.config)

    @property
    def top_k(self) -> int:
        return int(self.config.get("retrieval.top_k") or 5)

    @property
    def max_k(self) -> int:
        """Largest ``k`` a request may ask for (``retrieval.max_k``)."""
        return int(self.config.get("retrieval.max_k") or 20)

    @property
    def max_upload_mb(self) -> float:
        return float(self.config.get("ui.max_upload_mb") or 10)

    @property
    def concurrency(self) -> int:
        """Simultaneous answer requests (chat + API). Retrieval and checks run in parallel; the local
        model answers one at a time, the others wait in its queue (the chat shows the position)."""
        return int(self.config.get("ui.concurrency") or 8)

    @property
    def upload_dir(self) -> Path:
        """Where uploaded files are kept (next to the index), so documents keep a real path."""
        return Path(self.pipeline.index_dir).parent / "uploads"

    def sources(self) -> list[str]:
        """Distinct outlets of the indexed documents (empty when there is no index yet)."""
        try:
            return sorted({m.source for m in self.pipeline.documents() if m.source})
        except Exception:
            return []
