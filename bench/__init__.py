"""Benchmarks: scripts that print measured ratios (not timed tests)."""
