"""Backtest: baselines checked against direct computations; targets on real PVDAQ data."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pvshare.forecast import evaluate as ev
from pvshare.forecast.calibration import calibrate
from pvshare.forecast.clearsky_index import clear_sky_power_w
from pvshare.forecast.reference import POWER_FILE, SITE, WEATHER_FILE

ROOT = Path(__file__).resolve().parents[1]
CFG = ev.array_config(45.0, 5.0, 30.0, 180.0, 10.0)


def _synthetic(days=40, seed=0):
    t = pd.date_range("2026-04-01", periods=days * 48, freq="30min", tz="UTC")
    cs = clear_sky_power_w(CFG, t, 1800)
    rng = np.random.default_rng(seed)
    k = np.clip(np.repeat(rng.uniform(0.2, 1.1, days * 8), 6) + rng.normal(0, 0.05, t.size),
                0, 1.3)
    p = k * cs
    p[rng.random(t.size) < 0.02] = np.nan
    return pd.Series(p, index=t)


def test_baselines_match_direct_computation():
    power = _synthetic()
    inp = ev.prepare(CFG, power, 1800)
    train = np.asarray(inp.times < pd.Timestamp("2026-04-25", tz="UTC"))
    fc = ev.fit(inp, train)
    st = ev.state(inp, fc)
    issues = np.array([np.flatnonzero(~train)[0] + x for x in (3, 17, 20, 30, 100, 200)])
    m = ev.predictions(inp, fc, issues, **st)
    p = inp.power_w
    cs_cal = inp.clear_sky_w * fc.calibration.factor
    n = p.size
    for r, i in enumerate(issues):
        # last measured step before i with the sun above 10 degrees and a defined index
        s = i - 1
        while not (inp.elevation_deg[s] >= 10 and np.isfinite(p[s])
                   and cs_cal[s] >= 0.02 * 10000):
            s -= 1
        k_s = min(p[s] / cs_cal[s], 1.5)
        for h in (0, 1, 5, 47, 48, 60, 95):
            j = i + h
            if j >= n:
                continue
            assert np.isclose(m["preds"]["smart_persistence"][r, h],
                              min(k_s * cs_cal[j], inp.max_power_w))
            back = j - 48
            while back >= i:
                back -= 48
            np.testing.assert_equal(m["preds"]["persistence_24h"][r, h], p[back])
            t = inp.times[j]
            same = (inp.times.month == t.month) & (inp.times.hour == t.hour) \
                & (inp.times.minute == t.minute) & train & np.isfinite(p)
            expected = p[same].mean() if same.any() else np.nan   # no training data: NaN
            np.testing.assert_allclose(m["preds"]["climatology"][r, h], expected)
            assert m["lead_h"][h] == (h + 1) * 0.5


def test_backtest_needs_enough_data():
    power = _synthetic(days=10)
    with pytest.raises(ValueError, match="at least 14 days"):
        ev.backtest(CFG, power, 1800)


def _evaluate_json(*extra):
    cmd = [sys.executable, "-m", "pvshare.cli", "forecast", "evaluate",
           "--production", str(POWER_FILE), "--latitude", str(SITE["latitude"]),
           "--longitude", str(SITE["longitude"]), "--tilt", "45", "--azimuth", "158",
           "--kwp", "3.4", "--altitude", "1800", "--train-until", "2013-01-01", "--json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def scores():
    return _evaluate_json()


@pytest.fixture(scope="module")
def scores_weather():
    return _evaluate_json("--weather", str(WEATHER_FILE))


def _readme_figures(which):
    text = (ROOT / "docs" / "forecast.md").read_text()
    sec = text[text.index("<!-- section:forecast -->"):text.index("<!-- end:forecast -->")]
    block = sec[sec.index(f"<!-- figures:{which} -->"):]
    rows = {}
    for band, method, mae, rmse in re.findall(
            r"^\| *([0-9a-z-]+h?|day-ahead) *\| *([a-z_0-9]+) *\| *([0-9.]+) *\| *([0-9.]+) *\|",
            block, flags=re.M):
        rows.setdefault(band, {}).setdefault(method, (float(mae), float(rmse)))
        if len(rows) == 4 and all(len(v) == 4 for v in rows.values()):
            break
    return rows


def test_json_shape(scores):
    assert list(scores) == ["0-1h", "1-3h", "3-6h", "day-ahead"]
    for band in scores.values():
        assert list(band) == ["pvshare", "smart_persistence", "persistence_24h", "climatology"]
        for m in band.values():
            assert set(m) == {"nmae", "nrmse"} and 0 < m["nmae"] < m["nrmse"] < 1


def test_targets_on_pvdaq_system_50(scores, scores_weather):
    # intraday 1-3 h: RMSE skill of at least 10 % over smart persistence
    s = scores["1-3h"]
    assert 1 - s["pvshare"]["nrmse"] / s["smart_persistence"]["nrmse"] >= 0.10
    # day-ahead without weather: nMAE no worse than climatology
    d = scores["day-ahead"]
    assert d["pvshare"]["nmae"] <= d["climatology"]["nmae"]
    # day-ahead with the PSM3 irradiance as a perfect forecast: nMAE <= 12 % of capacity
    assert scores_weather["day-ahead"]["pvshare"]["nmae"] <= 0.12
    # the baselines do not depend on the weather input
    for band in scores:
        for m in ("smart_persistence", "persistence_24h", "climatology"):
            assert scores[band][m] == scores_weather[band][m]


def test_readme_figures_are_reproduced(scores, scores_weather):
    for which, sc in (("climatology", scores), ("weather", scores_weather)):
        fig = _readme_figures(which)
        assert set(fig) == set(sc)
        for band, methods in fig.items():
            for m, (mae, rmse) in methods.items():
                assert abs(100 * sc[band][m]["nmae"] - mae) <= 0.051, (which, band, m)
                assert abs(100 * sc[band][m]["nrmse"] - rmse) <= 0.051, (which, band, m)


def test_smart_persistence_skill_computed_independently(scores):
    """Recompute the 1-3 h smart persistence and 24-h persistence errors with pandas shifts."""
    p = pd.read_csv(POWER_FILE, index_col=0, parse_dates=True)["ac_power_w"]
    cfg = ev.array_config(SITE["latitude"], SITE["longitude"], 45, 158, 3.4, altitude_m=1800)
    cs = pd.Series(clear_sky_power_w(cfg, p.index, 1800), index=p.index)
    inp = ev.prepare(cfg, p, 1800)
    elev = pd.Series(inp.elevation_deg, index=p.index)
    # the model is calibrated on 2012; the factor matters only through the bound k <= 1.5
    train = p.index < "2013-01-01"
    cal = calibrate(p[train].to_numpy(), cs[train].to_numpy(), inp.elevation_deg[train],
                    p.index[train], 3.4, 0.96 * 3400)
    assert cal.calibrated and 0.8 < cal.factor < 0.95
    cs = cs * cal.factor
    src = (elev >= 10) & p.notna() & (cs >= 0.02 * 3400)
    k = (p / cs).where(src).clip(0, 1.5)
    k_last = k.ffill()                       # last valid index up to and including t
    test = p.index >= "2013-01-01"
    err_sp, err_24 = [], []
    for h in range(2, 6):                    # leads 1.5 .. 3 h: target = issue + h steps
        # issue i = target - h; the source is the last valid step before i
        k_src = k_last.shift(h + 1)
        pred = (k_src * cs).clip(upper=0.96 * 3400)
        n_back = 48 * ((h // 48) + 1)
        p24 = p.shift(n_back)
        ok = test & (elev >= 5) & p.notna() & pred.notna() & p24.notna()
        ok &= pd.Series(p.index, index=p.index).shift(h).ge("2013-01-01").to_numpy()
        err_sp.append((pred - p)[ok])
        err_24.append((p24 - p)[ok])
    e = pd.concat(err_sp)
    nrmse_sp = float(np.sqrt((e ** 2).mean()) / 3400)
    nrmse_24 = float(np.sqrt((pd.concat(err_24) ** 2).mean()) / 3400)
    assert abs(nrmse_sp - scores["1-3h"]["smart_persistence"]["nrmse"]) < 0.0006
    assert abs(nrmse_24 - scores["1-3h"]["persistence_24h"]["nrmse"]) < 0.0006
    assert 1 - scores["1-3h"]["pvshare"]["nrmse"] / nrmse_sp >= 0.10
