"""Tests of :func:`pvshare.allocation.waterfill.waterfill`, the exact water-filling solver.

Checked two ways: against the exact rational reference (sorted saturation thresholds, in
``tests/reference_allocation.py``), and against the definition itself (a common level λ ≥ 1
for every participant that is not capped, the capped ones at or below that level).
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from pvshare.allocation import allocate, keys
from pvshare.allocation.waterfill import waterfill
from tests import reference_allocation as ref

#: PVSHARE_HYPOTHESIS_SCALE=20 runs 20 times more examples (a deeper search, off CI).
SCALE = int(os.environ.get("PVSHARE_HYPOTHESIS_SCALE", "1"))

SETTINGS = settings(deadline=None, max_examples=150 * SCALE,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

value = st.one_of(
    st.just(0.0),
    st.sampled_from([1.0, 10.0, 100.0, 333.0]),
    st.floats(1e-9, 1e-3),
    st.floats(0.0, 1e4, allow_subnormal=False),
    st.floats(1e7, 1e12),
)


@st.composite
def steps(draw, max_n: int = 9):
    """One step: production, consumption (N,), coefficients (N,) with exact Σ ≤ 1."""
    n = draw(st.integers(1, max_n))
    consumption = np.array(draw(st.lists(value, min_size=n, max_size=n)))
    mode = draw(st.sampled_from(["any", "all saturated", "none saturated", "tight"]))
    total = consumption.sum()
    if mode == "all saturated":
        production = total * draw(st.floats(1.0, 10.0))
    elif mode == "none saturated":
        production = total * draw(st.floats(0.0, 1.0)) * consumption.min() / max(total, 1e-300)
    elif mode == "tight":
        production = total * draw(st.floats(0.95, 1.0))
    else:
        production = draw(value)
    raw = np.array(draw(st.lists(st.one_of(st.just(0.0), st.just(1.0), st.floats(1e-6, 1.0)),
                                 min_size=n, max_size=n)))
    if raw.sum() == 0:
        raw[0] = 1.0
    k = raw / raw.sum() * draw(st.sampled_from([1.0, 1.0, 0.999, 0.5, 0.01]))
    assume(sum(Fraction(x) for x in k) <= 1)
    production = 0.0 if production < 1e-300 else float(production)   # no sub-normals
    return production, consumption, k


def solve(production, consumption, k):
    """The production path: shares k·P, target min(P, Σ_{k>0} C)."""
    shares = (k * production)[None, :]
    demand = consumption[None, :]
    target = np.array([min(production, consumption[k > 0].sum())])
    return waterfill(shares, demand, target)[0]


def check_close(got, expected, production, consumption):
    scale = max(production, consumption.sum())
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * scale)


@SETTINGS
@given(step=steps())
@example(step=(100.0, np.array([0.0, 0.0, 100.0, 1.0]),
               np.array([0.25, 0.5, 1e-20, 0.25])))                # a tiny coefficient
@example(step=(100.0, np.array([100.0, 100.0, 100.0]), np.array([1, 1, 1]) / 3))  # all tied
@example(step=(0.0, np.array([5.0, 6.0]), np.array([0.5, 0.5])))    # no production
@example(step=(10.0, np.array([0.0, 0.0]), np.array([0.5, 0.5])))   # no consumption
@example(step=(1e12, np.array([1e-9, 1e12, 1e-9]), np.array([0.2, 0.2, 0.6])))
def test_waterfill_agrees_with_exact_reference(step):
    production, consumption, k = step
    got = solve(production, consumption, k)
    expected = np.array([float(x) for x in ref.waterfill_step(production, consumption, k)])
    check_close(got, expected, production, consumption)


@SETTINGS
@given(step=steps())
def test_waterfill_meets_its_definition(step):
    """a = min(C, λ·w) with one λ ≥ 1 for everyone, and Σa = target."""
    production, consumption, k = step
    a = solve(production, consumption, k)
    w = k * production
    eligible = k > 0
    target = min(production, consumption[eligible].sum())
    scale = max(production, consumption.sum(), 1e-300)
    assert (a >= 0).all() and (a <= consumption).all()
    assert (a[~eligible] == 0).all()
    assert (a >= np.minimum(consumption, w)).all()                   # λ ≥ 1
    assert a.sum() == pytest.approx(target, rel=1e-12, abs=1e-13 * scale)
    uncapped = eligible & (a < consumption)
    if uncapped.any() and production > 0:
        levels = a[uncapped] / w[uncapped]
        lam = levels.max()
        np.testing.assert_allclose(levels, lam, rtol=1e-9)
        capped = eligible & ~uncapped
        # A capped participant's own level C/w is at most λ: it would not take more.
        assert (consumption[capped] <= lam * w[capped] * (1 + 1e-9)).all()


@settings(deadline=None, max_examples=60 * SCALE)
@given(t=st.integers(1, 30), n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       fraction=st.sampled_from([1.0, 0.99, 0.5]))
def test_waterfill_vectorised_over_steps_equals_step_by_step(t, n, seed, fraction):
    """Rows that converge at different rounds must not disturb each other."""
    rng = np.random.default_rng(seed)
    consumption = rng.gamma(0.5, 300.0, size=(t, n)) * (rng.random((t, n)) > 0.2)
    production = consumption.sum(axis=1) * rng.uniform(0.0, 1.4, size=t)
    production[rng.random(t) < 0.2] = 0.0
    k = rng.dirichlet(np.full(n, 0.7)) * fraction
    k[rng.random(n) < 0.15] = 0.0
    assume(sum(Fraction(x) for x in k) <= 1)
    shares = k * production[:, None]
    target = np.minimum(production, consumption[:, k > 0].sum(axis=1))
    whole = waterfill(shares, consumption, target)
    for i in range(t):
        alone = waterfill(shares[i:i + 1], consumption[i:i + 1], target[i:i + 1])
        np.testing.assert_allclose(whole[i], alone[0], rtol=1e-12, atol=0)
        expected = [float(x) for x in ref.waterfill_step(production[i], consumption[i], k)]
        check_close(whole[i], np.array(expected), production[i], consumption[i])


def test_waterfill_writes_into_out_without_reading_it_after():
    shares = np.array([[300.0, 300.0, 300.0]])
    demand = np.array([[100.0, 500.0, 600.0]])
    out = shares                              # what keys.reallocated does to save memory
    result = waterfill(shares, demand, np.array([900.0]), out=out)
    assert result is out
    np.testing.assert_allclose(result, [[100.0, 400.0, 400.0]])


def test_per_step_coefficients_path_agrees_with_reference():
    """keys.reallocated also takes (T, N) coefficients (one row per step)."""
    rng = np.random.default_rng(3)
    consumption = rng.gamma(0.8, 200.0, size=(20, 6))
    production = consumption.sum(axis=1) * rng.uniform(0, 1.2, size=20)
    k = rng.dirichlet(np.ones(6), size=20) * 0.98
    k[:, 2] = 0.0
    got = keys.reallocated(production, consumption, k)
    for t in range(20):
        expected = [float(x) for x in ref.waterfill_step(production[t], consumption[t], k[t])]
        check_close(got[t], np.array(expected), production[t], consumption[t])


def test_tiny_coefficient_still_receives_what_is_left():
    """A participant with a minute but positive coefficient takes what the others leave:
    Σa = min(P, Σ_{k>0} C), as docs/design.md §2 says (no loss to floating-point cancellation)."""
    production = np.array([100.0])
    consumption = np.array([[0.0, 0.0, 100.0]])
    k = np.array([0.5, 0.5, 1e-20])
    a = allocate(production, consumption, "reallocated", coefficients=k).allocated
    np.testing.assert_allclose(a, [[0.0, 0.0, 100.0]], rtol=1e-12)
    a = allocate(production, np.array([[1.0, 0.0, 100.0]]), "priority",
                 coefficients=[1.0, 1.0, 1e-60], ranks=[1, 1, 1]).allocated
    np.testing.assert_allclose(a, [[1.0, 0.0, 99.0]], rtol=1e-12)
