"""Deterministic simulation of vipkeeper clusters (issue 16): real ``VrrpNode``s, one
simulated clock, a simulated network and host faults; every history is a seed.

``world``: the engine; ``history``: seeds -> histories, the shrinker, the replay;
``checks``: the invariants and their bounds; ``run``: ``make sim``.
"""
