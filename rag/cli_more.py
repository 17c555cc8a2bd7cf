"""Subcommands added by later features (ask, serve, summarize, regions, eval, index)."""

from __future__ import annotations


def add_parsers(sub, common) -> None:
    """Register the feature subcommands (each module registers its own handler)."""
    from rag import cli_answer, cli_serve

    cli_answer.add_parser(sub, common)
    cli_serve.add_parser(sub, common)

    from rag import cli_eval

    cli_eval.add_parser(sub, common)

    from rag import cli_index

    cli_index.add_parser(sub, common)

    from rag import cli_regions

    cli_regions.add_parsers(sub, common)
