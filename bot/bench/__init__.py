"""Benchmarks behind `ragbot bench ...`: functions that measure and return figures."""
