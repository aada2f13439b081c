"""Clear-sky power per step and the clear-sky index."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pvshare.forecast import model
from pvshare.forecast.clearsky_index import (
    K_MAX,
    clear_sky_index,
    clear_sky_power_w,
    month,
    solar_hour,
    sun_elevation_deg,
)
from pvshare.forecast.evaluate import array_config

CFG = array_config(45.0, 5.0, 30.0, 180.0, 10.0, inverter_kw=8.0)


def test_clear_sky_power_is_zero_at_night_and_bounded_at_noon():
    day = pd.date_range("2026-06-21", periods=48, freq="30min", tz="UTC")
    p = clear_sky_power_w(CFG, day, 1800)
    elev = sun_elevation_deg(CFG, day, 1800)
    assert p.shape == (48,)
    assert np.all(p[elev < -5] == 0)
    assert np.all(p <= 8000.0 + 1e-6)
    # Noon in June on a 10 kWp roof: several kW; the peak is near 11:40 UTC (solar noon at 5 E).
    assert p.max() > 5000
    assert abs(day[int(np.argmax(p))].hour - 11.5) <= 1


def test_clear_sky_power_is_the_mean_over_the_step():
    """The step value lies between the model at the step's start and end (monotone morning)."""
    t = pd.DatetimeIndex(["2026-03-20 07:00"], tz="UTC")
    p = clear_sky_power_w(CFG, t, 1800)[0]
    inst = model.ac_power_w(CFG, model.clear_sky(CFG, pd.DatetimeIndex(
        ["2026-03-20 07:00", "2026-03-20 07:30"], tz="UTC"))).to_numpy()
    assert inst[0] < p < inst[1]


@pytest.mark.filterwarnings("error::RuntimeWarning")     # a tiny clear sky: no overflow noise
@settings(max_examples=200, deadline=None)
@given(arrays(float, 20, elements=st.one_of(st.floats(-1e4, 1e6), st.just(np.nan))),
       arrays(float, 20, elements=st.one_of(st.floats(-10, 1e5), st.just(np.nan))),
       st.floats(0, 1000))
@example(np.full(20, 1e6), np.full(20, 5e-324), 0.0)        # the ratio overflows to inf
def test_clear_sky_index_is_bounded_and_nan_where_undefined(p, cs, min_cs):
    k = clear_sky_index(p, cs, min_cs)
    defined = np.isfinite(p) & np.isfinite(cs) & (cs >= min_cs) & (cs > 0)
    assert np.all(np.isnan(k[~defined]))
    assert np.all((k[defined] >= 0) & (k[defined] <= K_MAX))
    inside = defined & (p >= 0) & (p <= K_MAX * cs)
    np.testing.assert_allclose(k[inside], p[inside] / cs[inside])


def test_solar_hour_and_month():
    t = pd.DatetimeIndex(["2026-01-31 23:30", "2026-07-01 11:00"], tz="UTC")
    # longitude 90 E: solar time = UTC + 6 h, at the middle of the step.
    assert solar_hour(t, 1800, 90.0).tolist() == [5, 17]
    assert solar_hour(t, 1800, -105.0).tolist() == [16, 4]
    assert month(t).tolist() == [1, 7]
