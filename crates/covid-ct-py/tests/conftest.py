"""Shared fixtures: a random generator whose seed is fresh per run and printed, so that every
run tests new inputs and a failing one can be replayed with COVID_CT_TEST_SEED=<seed>."""

import os

import numpy as np
import pytest

SEED = int(os.environ.get("COVID_CT_TEST_SEED", np.random.SeedSequence().entropy % 2**32))


def pytest_report_header(config):
    return f"covid_ct test seed: {SEED} (replay with COVID_CT_TEST_SEED={SEED})"


@pytest.fixture
def rng(request):
    # One stream per test, derived from the run's seed and the test's name.
    name = request.node.name.encode()
    return np.random.default_rng([SEED, int.from_bytes(name[:8].ljust(8, b"\0"), "little")])


def blobs(rng, shape, n=6, radius=(2, 6)):
    """A mask of random balls (and a few holes), the kind of input CT masks are."""
    grids = np.indices(shape)
    mask = np.zeros(shape, dtype=bool)
    for _ in range(n):
        centre = [rng.uniform(0, s) for s in shape]
        r = rng.uniform(*radius)
        mask |= sum((g - c) ** 2 for g, c in zip(grids, centre)) <= r * r
    mask ^= rng.random(shape) < 0.03
    return mask
