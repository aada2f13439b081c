"""P10/P50/P90 from error quantiles."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pvshare.forecast.uncertainty import (
    apply_error_quantiles,
    fit_error_quantiles,
    k_level,
    lead_band,
)


def test_bands_and_levels():
    assert lead_band([0.5, 1.0, 1.5, 3.0, 6.0, 6.5, 24.0, 30.0]).tolist() == \
        [0, 0, 1, 1, 2, 3, 3, 4]
    assert k_level([0.1, 0.4, 0.79, 0.8, 1.2]).tolist() == [0, 1, 1, 2, 2]


def test_quantiles_cover_their_share_of_synthetic_errors():
    rng = np.random.default_rng(3)
    n = 40000
    k_hat = rng.uniform(0, 1.2, n)
    lead = rng.choice([0.5, 2.0, 4.0, 12.0, 30.0], n)
    spread = 0.05 + 0.02 * lead            # errors grow with the lead time
    k_obs = k_hat + rng.normal(0, 1, n) * spread
    table = fit_error_quantiles(k_obs, k_hat, lead, np.ones(n, bool))
    assert table.shape == (5, 3, 3)
    assert np.all(np.diff(table, axis=-1) >= 0)
    assert table[4, 1, 2] - table[4, 1, 0] > table[0, 1, 2] - table[0, 1, 0]
    # Fresh samples: about 10 % fall below P10 and 10 % above P90 (in k; clear sky = 1 W).
    k2 = k_hat + rng.normal(0, 1, n) * spread
    q = apply_error_quantiles(k_hat, lead, np.ones(n), table, max_power_w=10.0)
    inside = (q[:, 0] > 0) & (q[:, 2] < 1.5)   # where the band is not clipped
    assert abs(np.mean(k2[inside] < q[inside, 0]) - 0.1) < 0.015
    assert abs(np.mean(k2[inside] > q[inside, 2]) - 0.1) < 0.015


@settings(max_examples=200, deadline=None)
@given(arrays(float, 10, elements=st.floats(0, 1.5)),
       arrays(float, 10, elements=st.floats(0, 50000)),
       st.floats(100, 40000), st.floats(0.5, 48))
def test_bands_are_ordered_and_bounded(k_hat, cs, max_w, lead):
    table = np.sort(np.random.default_rng(0).normal(0, 0.3, (5, 3, 3)), axis=-1)
    q = apply_error_quantiles(k_hat, lead, cs, table, max_w)
    assert q.shape == (10, 3)
    assert np.all(q >= 0) and np.all(q <= max_w)
    assert np.all(np.diff(q, axis=-1) >= 0)
