"""Self-calibration from clear-sky periods."""

import numpy as np
import pandas as pd

from pvshare.forecast import model
from pvshare.forecast.calibration import calibrate
from pvshare.forecast.clearsky_index import clear_sky_power_w, sun_elevation_deg
from pvshare.forecast.evaluate import array_config

CFG = array_config(45.96, 5.36, 15.0, 180.0, 36.0, inverter_kw=30.0)


def _history(days, factor, seed=0):
    t = pd.date_range("2026-05-01", periods=days * 48, freq="30min", tz="UTC")
    cs = clear_sky_power_w(CFG, t, 1800)
    rng = np.random.default_rng(seed)
    # clear days at `factor` of the model; every third day cloudy (random, low)
    day = np.arange(t.size) // 48
    cloudy = day % 3 == 1
    p = factor * cs
    p[cloudy] = cs[cloudy] * rng.uniform(0.1, 0.7, cloudy.sum())
    return t, p, cs


def test_recovers_the_capacity_factor_of_a_soiled_roof():
    t, p, cs = _history(21, 0.8)
    cal = calibrate(p, cs, sun_elevation_deg(CFG, t, 1800), t, 36.0, model.ac_limit_w(CFG))
    assert cal.calibrated
    assert abs(cal.factor - 0.8) < 0.01
    assert abs(cal.derate - 0.2) < 0.01
    assert cal.clear_steps >= 100
    # cloudy steps were not taken as clear
    assert cal.days > 20


def test_needs_two_weeks():
    t, p, cs = _history(10, 0.8)
    cal = calibrate(p, cs, sun_elevation_deg(CFG, t, 1800), t, 36.0, model.ac_limit_w(CFG))
    assert not cal.calibrated and cal.factor == 1.0
    assert "need 14" in cal.reason


def test_missing_values_do_not_count_as_history():
    t, p, cs = _history(21, 0.8)
    p[: 10 * 48] = np.nan
    cal = calibrate(p, cs, sun_elevation_deg(CFG, t, 1800), t, 36.0, model.ac_limit_w(CFG))
    assert not cal.calibrated
