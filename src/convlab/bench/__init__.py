"""Benchmark infrastructure: robust timing, the machine record, and the conv benchmark runner."""
