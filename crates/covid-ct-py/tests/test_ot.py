"""covid_ct.ot against POT on fresh random problems."""

import numpy as np
import ot
import pytest

import covid_ct.ot as co


def problem(rng, n, m):
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    a /= a.sum()
    b /= b.sum()
    x, y = rng.normal(size=(n, 3)), rng.normal(1, 1, size=(m, 3))
    return a, b, ot.dist(x, y)


def test_emd_equals_pot(rng):
    for n, m in [(5, 7), (60, 40), (200, 200)]:
        a, b, M = problem(rng, n, m)
        want = ot.emd2(a, b, M)
        assert abs(co.emd2(a, b, M) - want) <= 1e-9 * want
        plan = co.emd(a, b, M)
        np.testing.assert_allclose(plan.sum(1), a, atol=1e-12)
        np.testing.assert_allclose(plan.sum(0), b, atol=1e-12)
        assert abs((plan * M).sum() - want) <= 1e-9 * want
    # Empty weights are uniform, as in POT.
    _, _, M = problem(rng, 8, 8)
    assert abs(co.emd2([], [], M) - ot.emd2([], [], M)) <= 1e-9 * ot.emd2([], [], M)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_sinkhorn_equals_pot(rng, method):
    for n, m, reg in [(10, 12, 0.5), (80, 60, 0.1)]:
        a, b, M = problem(rng, n, m)
        want = ot.sinkhorn(a, b, M, reg, method=method)
        got = co.sinkhorn(a, b, M, reg, method=method)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)
        assert abs(co.sinkhorn2(a, b, M, reg, method=method) - ot.sinkhorn2(a, b, M, reg, method=method)) <= 1e-9 * abs(ot.sinkhorn2(a, b, M, reg, method=method))
