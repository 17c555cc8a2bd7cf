"""Per-region summaries: facts (map) → cited summary + key-figures table (reduce), verified.

>>> from rag.summarize import summarize, render_markdown
>>> s = summarize(pipeline, "沿河", backend="extractive")
>>> print(render_markdown(s))
"""

from rag.summarize.facts import Fact, collect_facts
from rag.summarize.figures import Conflict, FigureRow, figure_rows, find_conflicts
from rag.summarize.reduce import SummarySentence
from rag.summarize.render import md_escape, regions_text, render_json, render_markdown
from rag.summarize.summary import (DEFAULTS, RegionNotFoundError, RegionSummary, SummaryError, SummaryPassage,
                                   summarize, summarize_region, summary_backend)

__all__ = [
    "summarize", "summarize_region", "summary_backend", "RegionSummary", "SummaryPassage", "SummarySentence", "Fact", "FigureRow",
    "Conflict", "collect_facts", "figure_rows", "find_conflicts", "render_markdown", "render_json",
    "regions_text", "md_escape", "RegionNotFoundError", "SummaryError", "DEFAULTS",
]
