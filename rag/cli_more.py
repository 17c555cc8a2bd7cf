"""Subcommands added by later features (ask, serve, summarize, regions, eval, index)."""

from __future__ import annotations


def add_parsers(sub, common) -> None:
    """Register the feature subcommands (each module registers its own handler)."""
