"""Benchmarks: vipkeeper beside keepalived 2.2.7 on the same namespace lab, in one run.

Run ``python -m bench.run`` (``make bench``); see :mod:`bench.run` for the options
and :mod:`bench.report` for the results JSON schema.  Benchmarks are not tests:
nothing here fails ``make test`` on a slow figure (``tests/netns/test_bench_smoke.py``
only checks that every benchmark runs).
"""
