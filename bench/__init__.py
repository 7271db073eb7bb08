"""Benchmarks of the gateway; each one is a package run with `python -m bench.<name>.run`."""
