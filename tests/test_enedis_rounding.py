"""Key-file rounding without loss: optimal on the grid, never above 100 %, within one unit.

The optimum is checked against a brute force over every grid point of small cases.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pvshare.allocation import allocate
from pvshare.enedis.rounding import (
    enedis_allocation,
    exact_units,
    floor_units,
    grid_units,
    optimal_units,
    rounding_loss,
)

KEYS = st.sampled_from(["prorata", "reallocated", "static"])


def _value(units, a, p, grid):
    """Σ min(a*, n P / G): the exact allocation given back by the grid point ``units``."""
    return np.minimum(a, units * p[:, None] / grid).sum(axis=1)


def _brute_force(a_row, p, grid):
    n = len(a_row)
    best = -1.0
    for combo in itertools.product(range(grid + 1), repeat=n):
        if sum(combo) <= grid:
            best = max(best, float(np.minimum(a_row, np.array(combo) * p / grid).sum()))
    return best


@settings(max_examples=150, deadline=None)
@given(arrays(float, (4,), elements=st.floats(0, 1e4)),
       arrays(float, (4, 3), elements=st.floats(0, 1e4)), KEYS,
       st.sampled_from([5, 10, 12]))
def test_optimal_against_brute_force(p, c, key, grid):
    a = allocate(p, c, key).allocated
    units = optimal_units(a, p, grid)
    got = _value(units, a, p, grid)
    for t in range(len(p)):
        assert got[t] >= _brute_force(a[t], p[t], grid) - 1e-9 * max(1.0, p[t])


@settings(max_examples=200, deadline=None)
@given(arrays(float, (8,), elements=st.floats(0, 1e5)),
       arrays(float, (8, 6), elements=st.floats(0, 1e4) | st.just(np.nan)), KEYS,
       st.sampled_from([1, 2]))
def test_rows_at_most_100_and_within_one_unit(p, c, key, decimals):
    grid = grid_units(decimals)
    res = allocate(p, c, key)
    units = optimal_units(res.allocated, p, grid)
    floor = floor_units(res.allocated, p, grid)
    exact = exact_units(res.allocated, p, grid)
    assert units.dtype == np.int64 and (units >= 0).all()
    assert (units.sum(axis=1) <= grid).all()
    assert (units >= floor).all() and (units <= np.ceil(exact - 1e-9) + 0).all()
    # Never worse than flooring, for the total Enedis computes.
    e_opt = enedis_allocation(units, p, res.consumption, grid)
    e_floor = enedis_allocation(floor, p, res.consumption, grid)
    assert e_opt.sum() >= e_floor.sum() - 1e-9 * max(1.0, p.sum())
    # Nobody gets more than they consumed, and the total never exceeds production.
    cons = np.nan_to_num(res.consumption)
    assert (e_opt <= cons + 1e-9).all()
    assert (e_opt.sum(axis=1) <= p + 1e-6).all()


def test_largest_remainders_get_the_spare_units():
    # Shares 33.35 %, 33.35 %, 33.30 % of 1000 Wh, grid 0.1 %: floors 333+333+333 = 999, one
    # spare unit, to the largest remainder (0.5, tie → first column).
    p = np.array([1000.0])
    a = np.array([[333.5, 333.5, 333.0]])
    assert optimal_units(a, p, 1000).tolist() == [[334, 333, 333]]
    assert floor_units(a, p, 1000).tolist() == [[333, 333, 333]]
    # With the consumption equal to the allocation Enedis gives back 999.5 Wh (by hand:
    # min(333.5, 334) + min(333.5, 333) + min(333, 333)), flooring only 999 Wh.
    e = enedis_allocation(optimal_units(a, p, 1000), p, a, 1000)
    assert e.sum() == 333.5 + 333 + 333


def test_exact_grid_points_survive_float_noise_and_zero_production():
    p = np.array([10.0, 0.0])
    a = np.array([[1.23, 8.77], [0.0, 0.0]])     # 12.3 % and 87.7 %, not exact in binary
    assert optimal_units(a, p, 1000).tolist() == [[123, 877], [0, 0]]
    assert optimal_units(a, p, 10000).tolist() == [[1230, 8770], [0, 0]]


def test_rounding_loss_per_participant_by_hand():
    # One step, P = 1000 Wh, a* = 100.05 / 899.95 Wh, consumption 500 / 900 Wh, grid 0.1 %.
    # Exact shares 100.05 and 899.95 units: floors 100 + 899 = 999, the spare unit goes to the
    # larger remainder (0.95, the second). Enedis: min(500, 100) = 100, min(900, 900) = 900.
    p = np.array([1000.0])
    a = np.array([[100.05, 899.95]])
    c = np.array([[500.0, 900.0]])
    units = optimal_units(a, p, 1000)
    assert units.tolist() == [[100, 900]]
    loss = rounding_loss(a, p, c, units, 1000)
    assert np.allclose(loss, [0.05, -0.05])


def test_bad_decimals():
    import pytest
    with pytest.raises(ValueError, match="1 or 2"):
        grid_units(3)


def test_sample_year_losses_meet_the_targets():
    # The bundled year (48 tenants): flooring to 0.1 % loses about 3.8 % of the
    # self-consumption (issue 12); the optimal rounding at most 0.2 % (1 decimal) and
    # 0.02 % (2 decimals), for both keys.
    from pvshare.data.sample import load_sample_year
    y = load_sample_year()
    for key in ("prorata", "reallocated"):
        r = allocate(y.production_wh, y.consumption_wh, key)
        exact = r.allocated.sum()

        def lost(units, grid, r=r, exact=exact):
            return 1 - enedis_allocation(units, r.production, r.consumption, grid).sum() / exact
        assert 0.037 < lost(floor_units(r.allocated, r.production, 1000), 1000) < 0.039
        assert lost(optimal_units(r.allocated, r.production, 1000), 1000) <= 0.002
        assert lost(optimal_units(r.allocated, r.production, 10000), 10000) <= 0.0002


def test_subnormal_production_is_no_production():
    """Regression (found by hypothesis): P = 5e-324 Wh split by the prorata key gives three
    participants the whole 5e-324 Wh each (the float cannot hold a third of it), i.e. three
    shares of 100 %; trimming the row used to leave a coefficient of -100 %. A production
    below PRODUCTION_EPS_WH (1e-9 Wh) is no production: every coefficient is 0."""
    from pvshare.enedis.rounding import PRODUCTION_EPS_WH
    p = np.array([5e-324, 1e-10, PRODUCTION_EPS_WH, 1000.0])
    c = np.array([[5e-324, 5e-324, 0.625, 0.625, 0.625]] + [[0.625] * 5] * 2
                 + [[200.0] * 5])
    res = allocate(p, c, "prorata")
    assert (res.allocated[0].sum() > p[0])  # the float noise this is about
    for grid in (1000, 10000):
        for units in (optimal_units(res.allocated, p, grid), floor_units(res.allocated, p, grid)):
            assert units[:2].tolist() == [[0] * 5] * 2
            assert units[2].tolist() == [grid // 5] * 5  # 1e-9 Wh is still a production
            assert units[3].tolist() == [grid // 5] * 5  # 200 of 1000 Wh each: 20 %


@settings(max_examples=300, deadline=None)
@given(arrays(float, (4,), elements=st.sampled_from([0.0, 5e-324, 1e-310, 1e-300, 1e-12])
              | st.floats(0, 1e4)),
       arrays(float, (4, 5), elements=st.floats(0, 1e4)), KEYS, st.sampled_from([1, 2]))
def test_tiny_and_subnormal_productions_keep_rows_within_100(p, c, key, decimals):
    grid = grid_units(decimals)
    res = allocate(p, c, key)
    for units in (optimal_units(res.allocated, p, grid), floor_units(res.allocated, p, grid)):
        assert (units >= 0).all() and (units.sum(axis=1) <= grid).all()
        assert (units[p < 1e-9] == 0).all()
