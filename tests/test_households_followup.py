"""What a visit changed (pvshare/households/followup.py): properties of the pure core on
synthetic households whose true effect is known."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pvshare.households.followup import (
    MIN_DAYS,
    Daily,
    daily_kwh,
    heating_degree_days,
    total_saving,
    visit_effect,
)

FIRST = np.datetime64("2023-01-01")


def household(seed: int, *, effect: float, level: float = 12.0, slope: float = 0.6,
              noise: float = 0.10, rho: float = 0.5, days: int = 730, visit: int = 365):
    """Daily kWh = (level + slope × HDD) × (1 + effect after the visit) + AR(1) noise
    (``noise`` × level, lag-1 correlation ``rho``); HDD of a seasonal typical year.
    """
    rng = np.random.default_rng(seed)
    d = FIRST + np.arange(days)
    doy = np.arange(days) % 365
    temp = 12 - 9 * np.cos(2 * np.pi * (doy - 15) / 365) + rng.normal(0, 2.5, days)
    hdd = heating_degree_days(temp)
    e = np.zeros(days)
    eps = rng.normal(0, noise * level * np.sqrt(1 - rho ** 2), days)
    e[0] = rng.normal(0, noise * level)
    for k in range(1, days):
        e[k] = rho * e[k - 1] + eps[k]
    kwh = level + slope * hdd + e
    kwh = np.where(np.arange(days) > visit, kwh * (1 + effect), kwh)
    return Daily(d, kwh), hdd, str(FIRST + visit)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31), effect=st.floats(-0.4, 0.2),
       visit=st.integers(120, 610))
def test_a_known_effect_is_recovered_within_its_band(seed, effect, visit):
    daily, hdd, date = household(seed, effect=effect, visit=visit)
    e = visit_effect(daily, hdd, date, ["led"])
    assert e.computed
    half = (e.high_percent - e.low_percent) / 2
    # The true change, within the band (1.5 × its half-width: 0.3 % risk per example).
    assert abs(e.change_percent - 100 * effect) <= 1.5 * half
    assert e.low_percent <= e.change_percent <= e.high_percent
    if abs(effect) >= 0.15:
        assert e.significant and np.sign(e.change_percent) == np.sign(effect)
    if e.significant:
        assert e.low_percent > 0 or e.high_percent < 0


def test_no_effect_is_not_significant_most_of_the_time():
    significant = 0
    for seed in range(200):
        daily, hdd, date = household(1000 + seed, effect=0.0, visit=300 + seed)
        e = visit_effect(daily, hdd, date)
        significant += bool(e.significant)
    # A 95 % band: about 5 % false alarms; the AR(1) correction keeps them at or under it.
    assert significant <= 14, significant


@settings(max_examples=40, deadline=None, derandomize=True)
@given(before=st.integers(0, 200), after=st.integers(0, 200))
def test_less_than_8_weeks_on_a_side_computes_nothing(before, after):
    daily, hdd, _ = household(7, effect=-0.2, days=before + after + 1, visit=before)
    e = visit_effect(daily, hdd, str(FIRST + before), ["advice"])
    assert e.days_before == before and e.days_after == after
    assert e.computed == (before >= MIN_DAYS and after >= MIN_DAYS)
    if not e.computed:
        j = e.to_json()
        assert j["change_percent"] is None and j["significant"] is None
        assert j["before_kwh_per_day"] is None and "8 weeks" in j["reason"]


def test_neighbouring_visits_bound_the_periods():
    daily, hdd, _ = household(3, effect=0.0)
    e = visit_effect(daily, hdd, "2024-01-01", previous="2023-11-01", following="2024-02-01")
    assert not e.computed                   # 30 days after, before the next visit
    assert e.days_after == 30 and e.days_before == 60


def test_the_weather_correction_removes_the_season():
    """Consumption that only follows the degree days: no change after a visit in autumn,
    though winter days use far more."""
    daily, hdd, _ = household(11, effect=0.0, noise=0.02, slope=1.0)
    e = visit_effect(daily, hdd, "2023-10-01")
    raw = daily.kwh[daily.days > np.datetime64("2023-10-01")].mean() / \
        daily.kwh[daily.days < np.datetime64("2023-10-01")].mean()
    assert raw > 1.1                                        # raw after/before misleads
    assert abs(e.change_percent) < 3 and not e.significant


def test_whole_days_across_clock_changes():
    """46 half-hours on 31 March 2024, 50 on 27 October: whole days; a day with a missing
    half-hour is not."""
    start = np.datetime64("2024-03-29T23:00:00")            # 30 March 00:00 Paris
    t = start + np.arange(0, (48 + 46 + 10) * 1800, 1800).astype("timedelta64[s]")
    wh = np.full(t.size, 100.0)             # 1 April only partly covered
    d = daily_kwh(t, wh)
    assert list(d.days.astype(str)) == ["2024-03-30", "2024-03-31"]
    assert np.allclose(d.kwh, [4.8, 4.6])
    start = np.datetime64("2024-10-26T22:00:00")            # 27 October 00:00 Paris
    t = start + np.arange(0, 50 * 1800, 1800).astype("timedelta64[s]")
    d = daily_kwh(t, np.full(t.size, 100.0))
    assert list(d.days.astype(str)) == ["2024-10-27"] and np.allclose(d.kwh, [5.0])
    d = daily_kwh(np.delete(t, 7), np.full(t.size - 1, 100.0))
    assert d.days.size == 0


def test_total_saving_adds_visits_and_their_bands_in_quadrature():
    a = [visit_effect(*household(s, effect=-0.1)[:2], "2024-01-01") for s in (1, 2)]
    s, lo, hi, n = total_saving(a)
    assert n == 2
    assert np.isclose(s, a[0].saving_kwh_per_year + a[1].saving_kwh_per_year)
    sd = np.hypot(a[0].saving_sd_kwh_per_year, a[1].saving_sd_kwh_per_year)
    assert np.isclose(hi - s, 1.959964 * sd, rtol=1e-5) and np.isclose(s - lo, hi - s)
