"""Weather-driven production: weather onto steps, Erbs split, model."""

import numpy as np
import pandas as pd

from pvshare.forecast import model
from pvshare.forecast.clearsky_index import clear_sky_power_w
from pvshare.forecast.dayahead import ghi_power_w, weather_on_steps, weather_power_w
from pvshare.forecast.evaluate import array_config

CFG = array_config(45.96, 5.36, 15.0, 180.0, 36.0, inverter_kw=30.0)


def test_hourly_values_are_spread_and_finer_values_averaged():
    hourly = pd.DataFrame({"ghi": [100.0, 300.0]},
                          index=pd.date_range("2026-06-01T10:00Z", periods=2, freq="1h"))
    steps = pd.date_range("2026-06-01T09:30Z", periods=6, freq="30min")
    w = weather_on_steps(hourly, steps, 1800)
    np.testing.assert_array_equal(w["ghi"].to_numpy(),
                                  [np.nan, 100, 100, 300, 300, np.nan])
    quarter = pd.DataFrame({"ghi": [100.0, 200.0, 300.0, 500.0]},
                           index=pd.date_range("2026-06-01T10:00Z", periods=4, freq="15min"))
    w = weather_on_steps(quarter, steps[1:3], 1800)
    np.testing.assert_array_equal(w["ghi"].to_numpy(), [150.0, 400.0])


def test_clear_sky_ghi_gives_about_the_clear_sky_power():
    steps = pd.date_range("2026-06-21", periods=48, freq="30min", tz="UTC")
    mid = steps + pd.Timedelta("15min")
    ghi = model.clear_sky(CFG, mid)["ghi"].to_numpy()
    p = ghi_power_w(CFG, ghi, steps, 1800, temp_air_c=np.full(48, 20.0))
    cs = clear_sky_power_w(CFG, steps, 1800)
    day = cs > 0.3 * cs.max()
    # the Erbs split of a clear GHI is close to the Ineichen split: within 10 %
    np.testing.assert_allclose(p[day], cs[day], rtol=0.10)
    assert abs(p.sum() / cs.sum() - 1) < 0.05


def test_no_light_no_power_and_missing_stays_missing():
    steps = pd.date_range("2026-06-21T10:00Z", periods=3, freq="30min")
    p = ghi_power_w(CFG, [0.0, np.nan, 500.0], steps, 1800)
    assert p[0] == 0 and np.isnan(p[1]) and 0 < p[2] <= 30000
    w = pd.DataFrame({"ghi": [500.0], "wind_speed": [3.0]},
                     index=pd.DatetimeIndex(["2026-06-21T10:00Z"]))
    out = weather_power_w(CFG, w, steps, 1800)
    assert np.isfinite(out[0]) and np.isnan(out[1:]).all()
