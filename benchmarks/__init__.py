"""Benchmark suite: ``python -m benchmarks [--quick] [--only CASE]`` (see README.md)."""
