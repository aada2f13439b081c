"""Climatology tables."""

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

from pvshare.forecast.climatology import (
    DEFAULT_MONTHLY_K,
    fit_k_table,
    fit_power_table,
    k_from_table,
)

BUNDLED = Path(__file__).resolve().parents[1] / "pvshare" / "data"   # copies of ../shared/data


def test_k_table_is_the_least_squares_ratio_per_bin():
    rng = np.random.default_rng(0)
    n = 5000
    months = rng.integers(1, 13, n)
    hours = rng.integers(6, 18, n)
    cs = rng.uniform(100, 1000, n)
    true = 0.3 + 0.04 * (hours - 6)  # depends on the hour only
    p = cs * true
    table = fit_k_table(p, cs, months, hours, np.ones(n, bool))
    np.testing.assert_allclose(k_from_table(table, months, hours), true, rtol=1e-9)
    # empty hours take the month's value
    m1 = months == 1
    month_k = np.sum(p[m1] * cs[m1]) / np.sum(cs[m1] ** 2)
    assert np.isclose(table[0, 2], month_k)


def test_power_table_is_the_mean_per_month_and_slot():
    t = pd.date_range("2026-01-01", "2026-03-01", freq="30min", tz="UTC", inclusive="left")
    p = np.arange(t.size, dtype=float)
    slots = (t.hour * 2 + t.minute // 30).to_numpy()
    months = t.month.to_numpy()
    table = fit_power_table(p, months, slots, np.ones(t.size, bool), 48)
    jan_noon = p[(months == 1) & (slots == 24)].mean()
    assert np.isclose(table[0, 24], jan_noon)
    assert np.all(np.isnan(table[5]))


def test_default_monthly_k_is_the_pvgis_tmy_ratio():
    import gzip
    with gzip.open(BUNDLED / "weather" / "pvgis_tmy_45N_8E.csv.gz", "rb") as f:
        data, meta = pvlib.iotools.read_pvgis_tmy(f, pvgis_format="csv", map_variables=True)
    t = data.index + pd.Timedelta(hours=meta["inputs"]["irradiance time offset"])
    cs = pvlib.location.Location(45.0, 8.0, altitude=250).get_clearsky(t, model="ineichen")
    m = data.index.month
    k = (pd.Series(data["ghi"].to_numpy()).groupby(m).sum()
         / pd.Series(cs["ghi"].to_numpy()).groupby(m).sum())
    np.testing.assert_allclose(DEFAULT_MONTHLY_K, k.to_numpy(), atol=6e-4)
