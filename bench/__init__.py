"""Benchmarks and the proof on a real Prometheus: synthetic traffic, incidents, a reference exporter."""
