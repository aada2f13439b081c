"""Blending of clear-sky-index persistence towards a prior."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pvshare.forecast.nowcast import blend, fit_alpha, last_valid_before, source_k


@settings(max_examples=200, deadline=None)
@given(arrays(bool, st.integers(0, 60)))
def test_last_valid_before_matches_a_scan(valid):
    expected = []
    last = -1
    for v in valid:
        expected.append(last)
        if v:
            last = len(expected) - 1
    assert last_valid_before(valid).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(arrays(float, 30, elements=st.floats(0, 1.5)), arrays(bool, 30), st.integers(1, 4))
def test_source_k_is_the_mean_of_the_last_valid_values(k, valid, n):
    out = source_k(k, valid, n)
    seen = []
    for i in range(30):
        if valid[i]:
            seen.append(k[i])
            assert np.isclose(out[i], np.mean(seen[-n:]))
        else:
            assert np.isnan(out[i])


def test_fit_alpha_recovers_a_known_blending():
    """Targets built as prior + alpha(a) * (source - prior) + noise give alpha back."""
    rng = np.random.default_rng(1)
    n = 20000
    prior = np.full(n, 0.7)
    k_src = rng.uniform(0.1, 1.2, n)
    true_alpha = np.array([0.9, 0.6, 0.3])
    # one AR chain: target at s + a follows the source at s
    k_obs = np.full(n, np.nan)
    # every third step is a source; its next 3 steps are targets with ages 1, 2, 3
    src = np.zeros(n, dtype=bool)
    src[::4] = True
    for a in (1, 2, 3):
        t = np.flatnonzero(src) + a
        t = t[t < n]
        k_obs[t] = prior[t] + true_alpha[a - 1] * (k_src[t - a] - prior[t]) \
            + rng.normal(0, 0.05, t.size)
    ages, alpha = fit_alpha(k_src, k_obs, prior, np.ones(n), src, ~src, step_s=1800,
                            max_age_h=1.5)
    np.testing.assert_allclose(ages, [0.5, 1.0, 1.5])
    np.testing.assert_allclose(alpha, true_alpha, atol=0.02)


def test_fit_alpha_stays_in_unit_interval():
    rng = np.random.default_rng(2)
    n = 5000
    k_src = rng.uniform(0, 1.2, n)
    k_obs = 2.0 - k_src  # anti-correlated: least squares would give a negative weight
    _, alpha = fit_alpha(k_src, np.roll(k_obs, 1), np.full(n, 1.0), np.ones(n),
                         np.ones(n, bool), np.ones(n, bool), 1800, max_age_h=2)
    assert np.all((alpha >= 0) & (alpha <= 1))


def test_blend_endpoints_and_missing_source():
    ages, alpha = np.array([0.5, 1.0, 2.0]), np.array([1.0, 0.5, 0.0])
    assert np.isclose(blend(0.2, 0.5, 0.8, ages, alpha), 0.2)         # fresh: persistence
    assert np.isclose(blend(0.2, 5.0, 0.8, ages, alpha), 0.8)         # old: prior
    assert np.isclose(blend(0.2, 1.0, 0.8, ages, alpha), 0.5)
    assert float(blend(np.nan, 0.5, 0.8, ages, alpha)) == 0.8       # no measurement: prior
