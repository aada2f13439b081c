"""The pvlib model of the array (pvshare.forecast.model)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvshare.config import load_config, parse_config
from pvshare.forecast import model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.toml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


def _with_array(cfg, **array):
    data = cfg.model_dump(mode="python", exclude_none=True)
    data["array"] = {**data["array"], **array}
    return parse_config(data, "test")


def _day(date: str, minutes: int = 5) -> pd.DatetimeIndex:
    return pd.date_range(date, periods=24 * 60 // minutes, freq=f"{minutes}min", tz="UTC")


def _solar_noon_utc(cfg, date: dt.date) -> pd.Timestamp:
    """Solar noon from the equation of time (Spencer), independent of the model."""
    doy = date.timetuple().tm_yday
    b = 2 * np.pi * (doy - 1) / 365.0
    eot_min = 229.18 * (0.000075 + 0.001868 * np.cos(b) - 0.032077 * np.sin(b)
                        - 0.014615 * np.cos(2 * b) - 0.040849 * np.sin(2 * b))
    minutes = 720 - 4 * cfg.site.longitude - eot_min
    return pd.Timestamp(date, tz="UTC") + pd.Timedelta(minutes=float(minutes))


@pytest.mark.parametrize("date", ["2025-03-21", "2025-06-21", "2025-12-21"])
def test_clear_day_is_a_bell_peaking_at_solar_noon(cfg, date):
    times = _day(date)
    p = model.ac_power_w(cfg, model.clear_sky(cfg, times))
    assert (p >= 0).all() and p.max() > 0
    noon = _solar_noon_utc(cfg, dt.date.fromisoformat(date))
    assert abs((p.idxmax() - noon).total_seconds()) <= 20 * 60
    # Rises monotonically until the peak, falls after it (tolerating a clipped plateau).
    i = int(np.argmax(p.to_numpy()))
    up, down = np.diff(p.to_numpy()[: i + 1]), np.diff(p.to_numpy()[i:])
    assert (up >= -1e-6).all() and (down <= 1e-6).all()
    # Night is zero: the sun is well below the horizon at 00:00 UTC in France.
    assert p.iloc[0] == 0 and p.iloc[-1] == 0
    # A south-facing, slightly tilted array is roughly symmetric around solar noon.
    before = p[(p.index >= noon - pd.Timedelta(hours=3)) & (p.index < noon)].sum()
    after = p[(p.index >= noon) & (p.index < noon + pd.Timedelta(hours=3))].sum()
    assert abs(before - after) / (before + after) < 0.05


def test_summer_clear_day_energy_is_plausible(cfg):
    p = model.ac_power_w(cfg, model.clear_sky(cfg, _day("2025-06-21")))
    kwh_per_kwp = p.sum() / 12 / 1000 / cfg.array.kwp
    assert 5.0 < kwh_per_kwp < 8.5


def test_ac_power_is_clipped_at_the_inverter_and_never_negative(cfg):
    small = _with_array(cfg, inverter_kw=10.0)
    times = _day("2025-06-21")
    weather = model.clear_sky(small, times) * 1.3  # cloud enhancement
    weather["temp_air"] = -10.0
    p = model.ac_power_w(small, weather)
    assert p.max() == pytest.approx(10_000.0)
    assert (p >= 0).all()
    neg = model.ac_power_w(small, -weather)
    assert (neg == 0).all()


def test_no_inverter_size_limits_at_096_kwp(cfg):
    c = _with_array(cfg, inverter_kw=None, kwp=5.0)
    assert model.ac_limit_w(c) == pytest.approx(4800.0)


def test_missing_weather_stays_missing(cfg):
    times = _day("2025-06-21", 30)
    w = model.clear_sky(cfg, times)
    w.iloc[24, 0] = np.nan
    p = model.ac_power_w(cfg, w)
    assert np.isnan(p.iloc[24]) and p.drop(p.index[24]).notna().all()


def test_losses_scale_dc_linearly(cfg):
    times = _day("2025-01-15", 30)
    w = model.clear_sky(cfg, times) * 0.3
    dc = {}
    for losses in (0.0, 20.0):
        mc = model.model_chain(_with_array(cfg, losses_percent=losses))
        mc.run_model(w)
        dc[losses] = mc.results.dc.to_numpy()
    day = dc[0.0] > 100
    np.testing.assert_allclose(dc[20.0][day] / dc[0.0][day], 0.8, rtol=1e-9)
    # AC also drops, a bit more at low load (inverter efficiency curve).
    p0 = model.ac_power_w(_with_array(cfg, losses_percent=0.0), w)
    p20 = model.ac_power_w(_with_array(cfg, losses_percent=20.0), w)
    on = (p0 > 500).to_numpy()
    ratio = (p20[on] / p0[on]).to_numpy()
    assert on.sum() > 10 and np.all((ratio > 0.7) & (ratio <= 0.8))


def test_horizon_blocks_the_beam(cfg):
    times = _day("2025-12-21")
    w = model.clear_sky(cfg, times)
    open_sky = model.ac_power_w(cfg, w)
    # A 40-degree wall to the south: the winter sun never clears it.
    walled = _with_array(cfg, horizon=[[90.0, 0.0], [120.0, 40.0], [240.0, 40.0], [270.0, 0.0]])
    shaded = model.ac_power_w(walled, w)
    assert shaded.sum() < 0.6 * open_sky.sum()
    assert (shaded <= open_sky + 1e-6).all()
    assert shaded.max() > 0  # the diffuse sky still reaches the array
    prof = model.horizon_elevation_deg(walled, [0.0, 105.0, 180.0, 300.0])
    assert prof == pytest.approx([0.0, 20.0, 40.0, 0.0])


def test_bad_weather_is_refused_with_a_clear_message(cfg):
    times = _day("2025-06-21", 60)
    with pytest.raises(ValueError, match="missing column.*dni"):
        model.ac_power_w(cfg, pd.DataFrame({"ghi": 1.0, "dhi": 1.0}, index=times))
    with pytest.raises(ValueError, match="time-zone aware"):
        model.ac_power_w(cfg, model.clear_sky(cfg, times).tz_localize(None))


def test_interpolate_weather_keeps_a_clear_sky_clear(cfg):
    hourly = _day("2025-04-10", 60) + pd.Timedelta(minutes=10)
    fine = _day("2025-04-10", 5)
    clear = model.clear_sky(cfg, hourly)
    got = model.interpolate_weather(cfg, clear * 0.5, fine)
    expect = model.clear_sky(cfg, fine) * 0.5
    np.testing.assert_allclose(got[["ghi", "dni", "dhi"]].to_numpy(), expect.to_numpy(),
                               atol=1e-6)


def test_interpolate_weather_moves_the_sun_to_the_site(cfg):
    # Samples measured 40 degrees further east: the sun rises earlier there. Moved to the
    # site, the day's shape follows the site's sun.
    src = (cfg.site.latitude, cfg.site.longitude + 40.0, cfg.site.altitude_m)
    hourly = _day("2025-04-10", 60)
    w = model.clear_sky_at(*src, hourly)
    fine = _day("2025-04-10", 5)
    got = model.interpolate_weather(cfg, w, fine, source=src)
    site = model.clear_sky(cfg, fine)
    np.testing.assert_allclose(got["ghi"].to_numpy(), site["ghi"].to_numpy(), rtol=0.02,
                               atol=1.0)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0, 50_000, allow_nan=False), min_size=12, max_size=12 * 8),
       offset_steps=st.integers(0, 5))
def test_step_energy_conserves_energy_from_5min_power(values, offset_steps):
    n = len(values) - len(values) % 6
    start = pd.Timestamp("2025-03-30T00:00Z") + pd.Timedelta(minutes=30 * offset_steps)
    idx = pd.date_range(start, periods=n, freq="5min")
    p = pd.Series(values[:n], index=idx)
    e = model.step_energy_wh(p, "PT30M")
    assert len(e) == n // 6
    assert e.sum() == pytest.approx(p.sum() * 5 / 60, rel=1e-9, abs=1e-6)
    assert (e.index.as_unit("s").asi8 % 1800 == 0).all()
    q = model.step_energy_wh(p, "PT15M")
    np.testing.assert_allclose(q.to_numpy().reshape(-1, 2).sum(axis=1), e.to_numpy(),
                               rtol=1e-9, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(0, 50_000, allow_nan=False), min_size=2, max_size=48))
def test_step_energy_spreads_hourly_power(values):
    idx = pd.date_range("2025-10-26T00:00Z", periods=len(values), freq="1h")
    e = model.step_energy_wh(pd.Series(values, index=idx))
    assert len(e) == 2 * len(values)
    np.testing.assert_allclose(e.to_numpy(), np.repeat(values, 2) * 0.5)


def test_step_energy_refuses_irregular_series():
    idx = pd.DatetimeIndex(["2025-01-01T00:00Z", "2025-01-01T00:05Z", "2025-01-01T00:15Z"])
    with pytest.raises(ValueError, match="regular"):
        model.step_energy_wh(pd.Series([1.0, 2.0, 3.0], index=idx))


def test_step_energy_marks_incomplete_steps():
    idx = pd.date_range("2025-01-01T00:00Z", periods=12, freq="5min")
    p = pd.Series(100.0, index=idx)
    p.iloc[8] = np.nan
    e = model.step_energy_wh(p)
    assert e.iloc[0] == pytest.approx(50.0) and np.isnan(e.iloc[1])


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(0, 3), temp=st.floats(-20, 45), wind=st.floats(0, 20),
       inverter_kw=st.floats(1, 60), date=st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)))
def test_ac_power_bounded_for_any_weather(cfg, scale, temp, wind, inverter_kw, date):
    c = _with_array(cfg, inverter_kw=inverter_kw)
    times = _day(date.isoformat(), 60)
    w = model.clear_sky(c, times) * scale
    w["temp_air"] = temp
    w["wind_speed"] = wind
    p = model.ac_power_w(c, w).to_numpy()
    assert np.all((p >= 0) & (p <= inverter_kw * 1000 + 1e-6))
    if scale == 0:
        assert np.all(p == 0)
    more = model.ac_power_w(c, w.assign(ghi=w.ghi * 1.1, dni=w.dni * 1.1, dhi=w.dhi * 1.1))
    assert np.all(more.to_numpy() >= p - 1e-6)
