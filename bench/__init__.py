"""Benchmarks for Internet10: the app against a raw ASGI baseline served the same way.

Run ``python -m bench --help`` (or ``make bench``). ``docs/benchmarks.md`` describes the method
and the figures measured. Workloads live in :mod:`bench.workloads`; add new ones there.
"""
