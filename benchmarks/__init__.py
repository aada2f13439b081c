"""Benchmarks: speed and memory targets, reported as ratios against a baseline measured in
the same run. ``make bench`` runs ``python -m benchmarks``; one area alone:
``python -m benchmarks allocation``."""
