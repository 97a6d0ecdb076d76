"""Benchmarks: load generation, JSONSchemaBench, quality evaluation."""
