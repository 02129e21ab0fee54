"""Benchmarks: scripts that print figures; never part of pass/fail."""
