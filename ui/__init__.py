"""The Gradio app of shanhai: thin, it calls ``rag``'s public API and holds no pipeline logic.

Layout:
    ``ui.app``         builds the ``gr.Blocks`` from the tab list and mounts it on FastAPI
    ``ui.server``      ``shanhai serve``: first ingest, warm-up, uvicorn (127.0.0.1 by default)
    ``ui.context``     :class:`~ui.context.UIContext`, the object every tab receives
    ``ui.chat_tab``    问答: streamed answer, clickable ``[n]``, passage panel, settings drawer
    ``ui.library_tab`` 文档库: document table, upload + ingest, remove, cleaned vs original
    ``ui.api``         gradio_client endpoints /ask /search /documents /document /upload /remove
    ``ui.openai_api``  ``POST /v1/chat/completions`` and ``GET /v1/models``
    ``ui.render``      escaping and the HTML/Markdown of answers and passage cards
    ``ui.actions``     upload checks, filters, error messages (plain functions)

Tab contract (how the Regions and Eval tabs plug in):
    1. Write a module ``ui/<name>_tab.py`` with ``build(ctx: UIContext) -> None``. It is called
       inside ``with gr.Tab(label):`` within the app's ``gr.Blocks``, so it just creates
       components and wires events. Use ``api_visibility="private"`` on UI-only events, and
       ``api_name="<name>"`` only for endpoints meant to be stable (document them in docs/api.md).
    2. Add one line ``("<标签>", "ui.<name>_tab")`` to :data:`ui.app.TABS`.
    3. Use only ``ctx``: ``ctx.pipeline`` (the :class:`rag.pipeline.Pipeline`), ``ctx.config``,
       ``ctx.docs_changed`` (a ``gr.State`` bumped after every upload/removal — subscribe with
       ``ctx.docs_changed.change(...)`` to refresh per-document choices), ``ctx.share(name, comp)``
       / ``ctx.get(name)`` for components other tabs offer (``"passages"``, ``"question"``,
       ``"doc_select"``), and ``ctx.render`` (:mod:`ui.render`).
    4. Show passages with ``ctx.render.passages_html(passages, citations=..., panel="<name>")``
       and turn ``[n]`` in text into links with ``ctx.render.answer_markdown(text, panel="<name>")``:
       clicking a link scrolls the card ``anchor_id(n, "<name>")`` into view (page script in
       ``render.HEAD_JS``). Never put unescaped article text or model output into ``gr.HTML``:
       use ``render.esc`` / ``render.md_escape``.
"""

import os

# Gradio phones home (version check, telemetry) unless this is off; shanhai is offline.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
