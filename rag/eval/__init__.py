"""Offline evaluation: metrics (pure functions in :mod:`rag.eval.metrics`), datasets, runs, reports."""
