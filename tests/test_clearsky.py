"""pvshare.meters.clearsky: the roof's clear-sky shape without pvlib, checked against pvlib
(solar position, Ineichen clear sky, plane-of-array irradiance)."""

import numpy as np
import pandas as pd
import pvlib  # the forecast extra (`make setup` installs it)
import pytest

from pvshare.meters.clearsky import ArrayShape, poa_clear_sky_w_m2, sun_position

SITES = [(48.85, 2.35, 30.0, 180.0), (43.6, 1.44, 15.0, 120.0), (50.6, 3.06, 45.0, 250.0)]
DAYS = ["2025-06-21", "2025-12-21", "2025-03-30", "2025-10-26"]


def _times(day: str):
    idx = pd.date_range(day, periods=24 * 12, freq="5min", tz="UTC")
    return idx, (idx - pd.Timestamp("1970-01-01", tz="UTC")).total_seconds().to_numpy()


@pytest.mark.parametrize("lat,lon,tilt,az", SITES)
@pytest.mark.parametrize("day", DAYS)
def test_the_shape_follows_pvlib_clear_sky_on_the_array_plane(lat, lon, tilt, az, day):
    idx, t = _times(day)
    sp = pvlib.solarposition.get_solarposition(idx, lat, lon)
    el, sun_az = sun_position(t, lat, lon)
    ref_el = sp.apparent_elevation.to_numpy()
    up = ref_el > 0
    high = ref_el > 1.0            # refraction formulas differ near the horizon
    assert np.abs(el - ref_el)[high].max() < 0.05
    assert (up != (el > 0)).sum() <= 2          # sunrise and sunset within 5 min
    assert np.abs((sun_az - sp.azimuth.to_numpy() + 180) % 360 - 180)[up].max() < 0.05
    cs = pvlib.location.Location(lat, lon).get_clearsky(idx, model="ineichen")
    ref = pvlib.irradiance.get_total_irradiance(tilt, az, sp.apparent_zenith, sp.azimuth,
                                                cs.dni, cs.ghi, cs.dhi, albedo=0.2)
    ref = ref["poa_global"].fillna(0).to_numpy()
    mine = poa_clear_sky_w_m2(t, lat, lon, tilt, az)
    assert np.corrcoef(mine, ref)[0, 1] > 0.99
    # the day's shape: each 5-min weight within 0.3 % of the day's total of pvlib's
    assert np.abs(mine / mine.sum() - ref / ref.sum()).max() < 0.003
    assert (mine[el <= 0] == 0).all() and (mine >= 0).all()


def test_array_shape_is_kwp_times_the_irradiance_in_kw_per_m2():
    _, t = _times("2025-06-21")
    shape = ArrayShape(48.85, 2.35, 30.0, 180.0, 36.0)
    np.testing.assert_allclose(shape(t), 36.0 * poa_clear_sky_w_m2(t, 48.85, 2.35, 30.0, 180.0))
    assert 30_000 < shape(t).max() < 40_000       # about 1 kW/m² at noon in June
