"""Green hours: expected production above the consumption baseline."""

import datetime as dt

import numpy as np

from pvshare.forecast.green_hours import (
    DEFAULT_DAILY_PROFILE,
    baseline_energy_wh,
    green_periods,
    green_steps,
)
from pvshare.timegrid import local_day_steps


def test_baseline_sums_to_the_yearly_consumption_per_day():
    for day in (dt.date(2026, 1, 15), dt.date(2026, 3, 29), dt.date(2026, 10, 25)):
        steps = local_day_steps(day, "PT30M", "Europe/Paris")
        e = baseline_energy_wh(steps, 1800, 96000.0)
        hours = steps.size / 2
        # mean power 96 MWh / 8760 h; a 23 h or 25 h day is shorter or longer
        assert np.isclose(e.sum(), 96e6 / 8760 * hours, rtol=0.05)


def test_baseline_follows_the_local_hour():
    steps = local_day_steps(dt.date(2026, 7, 1), "PT30M", "Europe/Paris")
    e = baseline_energy_wh(steps, 1800, 8760.0)   # mean 1 kW
    prof = np.asarray(DEFAULT_DAILY_PROFILE) / np.mean(DEFAULT_DAILY_PROFILE)
    # the first local step (00:00-00:30) is hour 0; 20:00 local is the evening peak
    assert np.isclose(e[0], prof[0] * 500.0)
    assert np.isclose(e[40], prof[20] * 500.0)


def test_green_steps_and_periods():
    t = np.arange(np.datetime64("2026-06-01T00:00:00"), np.datetime64("2026-06-01T05:00:00"),
                  np.timedelta64(30, "m"))
    prod = np.array([0, 5, 6, 1, np.nan, 7, 8, 9, 0, 3], float)
    base = np.full(10, 2.0)
    g = green_steps(prod, base)
    assert g.tolist() == [False, True, True, False, False, True, True, True, False, True]
    periods = green_periods(t, g, 1800)
    assert [(str(a), str(b)) for a, b in periods] == [
        ("2026-06-01T00:30:00", "2026-06-01T01:30:00"),
        ("2026-06-01T02:30:00", "2026-06-01T04:00:00"),
        ("2026-06-01T04:30:00", "2026-06-01T05:00:00")]
    assert green_periods(t[:0], g[:0], 1800) == []
