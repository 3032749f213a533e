"""The atheris targets in tests/fuzz keep working: their seeds and some random inputs pass.

The long runs (``python tests/fuzz/fuzz_decode.py -atheris_runs=...``) need atheris and are
not part of ``make test``; this only checks the targets themselves.
"""

from __future__ import annotations

import random

from tests.fuzz import fuzz_config, fuzz_decode


def test_decode_target_on_seeds_and_random_bytes() -> None:
    seeds = fuzz_decode.seed_inputs()
    assert len(seeds) >= 20
    for seed in seeds:
        fuzz_decode.TestOneInput(seed)
    rng = random.Random(8)
    for _ in range(3000):
        base = rng.choice(seeds)
        data = bytearray(base)
        for _ in range(rng.randrange(3)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        fuzz_decode.TestOneInput(bytes(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.2 else data))


def test_config_target_on_seeds() -> None:
    seeds = fuzz_config.seed_inputs()
    assert len(seeds) >= 10
    for seed in seeds:
        fuzz_config.TestOneInput(seed)
