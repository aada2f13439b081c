"""The next-48-hour forecast on the example building."""

from pathlib import Path

import numpy as np
import pandas as pd

from pvshare.config import load_config
from pvshare.forecast.clearsky_index import clear_sky_power_w
from pvshare.forecast.green_hours import baseline_energy_wh
from pvshare.forecast.next48h import forecast_next_48h

CFG = load_config(Path(__file__).resolve().parents[1] / "config" / "example.toml")


def test_without_history_it_is_model_times_climatology():
    fc = forecast_next_48h(CFG, None, "2026-06-01T06:10:00Z")
    assert len(fc) == 96
    assert fc.index[0] == pd.Timestamp("2026-06-01T06:00:00Z")
    assert (fc.index[1:] - fc.index[:-1] == pd.Timedelta("30min")).all()
    assert (fc["p10_wh"] <= fc["p50_wh"]).all() and (fc["p50_wh"] <= fc["p90_wh"]).all()
    assert (fc["p90_wh"] <= 30000 * 0.5 + 1e-6).all()           # inverter limit × 0.5 h
    night = fc["clear_sky_wh"] == 0
    assert night.any() and (fc.loc[night, "p90_wh"] == 0).all()
    assert (fc["prior"] == "climatology").all()
    assert not fc.attrs["calibration"].calibrated
    # June, 36 kWp: a day gives between 100 and 300 kWh
    day = fc["p50_wh"].iloc[12:60].sum() / 1000
    assert 100 < day < 300


def test_green_hours_in_summer_daylight_only():
    step = 1800
    fc = forecast_next_48h(CFG, None, "2026-06-01T00:00:00Z",
                           baseline_wh=lambda t: baseline_energy_wh(t, step, 96000.0))
    green = fc["green"].to_numpy()
    assert green.any()
    assert not green[fc["clear_sky_wh"].to_numpy() == 0].any()
    np.testing.assert_array_equal(green, fc["p50_wh"].to_numpy() > fc["baseline_wh"].to_numpy())


def test_history_calibrates_and_persistence_drives_the_first_hours():
    now = pd.Timestamp("2026-06-20T10:00:00Z")
    t = pd.date_range(now - pd.Timedelta(days=21), now, freq="30min", inclusive="left")
    cs = clear_sky_power_w(CFG, t, 1800)
    # a roof giving 75 % of the model on clear days; today's morning is overcast (k = 0.3)
    p = 0.75 * cs
    p[t >= now.normalize()] = 0.3 * 0.75 * cs[t >= now.normalize()]
    hist = pd.Series(p * 0.5, index=t)   # Wh per 30 min
    fc = forecast_next_48h(CFG, hist, now)
    cal = fc.attrs["calibration"]
    assert cal.calibrated and abs(cal.factor - 0.75) < 0.02
    # first step: close to the overcast index; next day's noon: back towards climatology
    assert fc["k"].iloc[0] < 0.45
    assert fc["k"].iloc[48] > fc["k"].iloc[0] + 0.3
    # clear sky is the calibrated model
    np.testing.assert_allclose(fc["clear_sky_wh"].iloc[:4],
                               clear_sky_power_w(CFG, fc.index[:4], 1800) * 0.5 * cal.factor)


def test_weather_forecast_replaces_the_climatology():
    now = "2026-06-01T04:00:00Z"
    t = pd.date_range("2026-06-01", periods=72, freq="1h", tz="UTC")
    dark = pd.DataFrame({"ghi": np.where(t.day == 1, 40.0, np.nan)}, index=t)
    fc = forecast_next_48h(CFG, None, now, weather=dark)
    covered = fc.index < pd.Timestamp("2026-06-02T00:00:00Z")
    assert (fc.loc[covered, "prior"] == "weather").all()
    assert (fc.loc[~covered, "prior"] == "climatology").all()
    # a dark day (40 W/m2) gives far less than the next (climatology) day
    day1 = fc.loc[covered, "p50_wh"].sum()
    day2 = fc.loc[(fc.index >= "2026-06-02") & (fc.index < "2026-06-03"), "p50_wh"].sum()
    assert day1 < 0.35 * day2


def test_quarter_hour_steps():
    import tomllib

    from pvshare.config import parse_config
    data = tomllib.loads((Path(__file__).resolve().parents[1] / "config" / "example.toml")
                         .read_text())
    data["site"]["step"] = "PT15M"
    cfg15 = parse_config(data, "example-15min")
    fc15 = forecast_next_48h(cfg15, None, "2026-06-01T00:05:00Z")
    fc30 = forecast_next_48h(CFG, None, "2026-06-01T00:05:00Z")
    assert len(fc15) == 192 and fc15.index[1] - fc15.index[0] == pd.Timedelta("15min")
    # the same energy over the two days, within 2 %
    assert abs(fc15["p50_wh"].sum() / fc30["p50_wh"].sum() - 1) < 0.02


def test_child_process_round_trip(tmp_path):
    """The daemon's way: one JSON request on stdin, one answer on stdout, then exit."""
    import json
    import subprocess
    import sys
    now = pd.Timestamp("2026-06-20T10:00:00Z")
    t = pd.date_range(now - pd.Timedelta(days=20), now, freq="30min", inclusive="left")
    wh = clear_sky_power_w(CFG, t, 1800) * 0.5 * 0.9
    req = {"config": str(Path(__file__).resolve().parents[1] / "config" / "example.toml"),
           "now": int(now.timestamp()),
           "production": {"time_s": (t.as_unit("s").asi8).tolist(), "energy_wh": wh.tolist()}}
    out = subprocess.run([sys.executable, "-m", "pvshare.forecast.child"],
                         input=json.dumps(req), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ans = json.loads(out.stdout)
    assert len(ans["time_s"]) == 96 and ans["time_s"][0] == int(now.timestamp())
    assert ans["calibration"]["calibrated"] and abs(ans["calibration"]["factor"] - 0.9) < 0.02
    assert any(ans["green"]) and len(ans["p50_wh"]) == 96
    direct = forecast_next_48h(CFG, pd.Series(wh, index=t), now)
    np.testing.assert_allclose(ans["p50_wh"], direct["p50_wh"].round(1), atol=0.051)
    bad = subprocess.run([sys.executable, "-m", "pvshare.forecast.child"],
                         input=json.dumps({"config": str(tmp_path / "none.toml"), "now": 0}),
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "error" in json.loads(bad.stdout)
