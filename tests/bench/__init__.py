"""Benchmarks: ``uv run python -m tests.bench`` prints a table with a baseline beside each row."""
