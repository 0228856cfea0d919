"""Benchmark and synthetic corpus for newsbot (see README: Scale, Chroma server mode and the benchmark)."""
