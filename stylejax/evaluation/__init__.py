"""Evaluation: metrics in independent networks, summaries and figures of runs."""
