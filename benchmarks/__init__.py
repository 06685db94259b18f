"""Benchmarks for stylejax; each script rewrites its own section of BENCHMARKS.md."""
