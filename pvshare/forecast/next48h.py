"""The forecast of the next 48 hours: one pure function, for the CLI and the daemon.

The daemon runs it in a short-lived child process (pandas and pvlib cost about 120 MB); it
takes everything as arguments (no file, no clock) and returns one table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pvshare.forecast import defaults, uncertainty
from pvshare.forecast.calibration import Calibration, calibrate
from pvshare.forecast.clearsky_index import (
    K_MAX,
    clear_sky_index,
    clear_sky_power_w,
    month,
    solar_hour,
    sun_elevation_deg,
)
from pvshare.forecast.climatology import default_k_table, k_from_table
from pvshare.forecast.evaluate import MIN_CLEAR_SKY_FRACTION, SOURCE_MIN_ELEVATION_DEG
from pvshare.forecast.nowcast import blend
from pvshare.timegrid import step_seconds

HORIZON_H = 48
#: Measured history looked at (days): enough for the self-calibration, bounded for speed.
HISTORY_DAYS = 60


def _utc(ts) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")


def forecast_next_48h(cfg, measured_production_wh: pd.Series | None, now,
                      weather: pd.DataFrame | None = None, baseline_wh=None,
                      horizon_h: int = HORIZON_H) -> pd.DataFrame:
    """Forecast the production of the next 48 h, step by step, with its P10-P90 band.

    Parameters
    ----------
    cfg : Config
        Site configuration (site, array, step).
    measured_production_wh : pandas.Series or None
        Measured production per step, Wh, indexed by UTC step starts (only steps that ended
        before ``now`` are used; gaps allowed). None or empty: the model times the
        climatology alone.
    now : datetime-like
        The issue time (naive = UTC). The first forecast step is the one containing it.
    weather : pandas.DataFrame, optional
        Irradiance forecast (``ghi`` W/m2 [, ``temp_air`` °C, ``wind_speed`` m/s]) indexed by
        UTC interval starts; where it covers a step, it replaces the climatology.
    baseline_wh : array-like or callable, optional
        The building's expected consumption per forecast step, Wh (or a function of the step
        starts, UTC ``datetime64[s]``, returning it); when given, the ``green`` column flags
        the steps where P50 exceeds it.
    horizon_h : int
        Hours ahead.

    Returns
    -------
    pandas.DataFrame
        Indexed by the UTC step starts; columns ``p10_wh``, ``p50_wh``, ``p90_wh`` (energy
        per step), ``clear_sky_wh``, ``k`` (forecast clear-sky index), ``prior``
        (``"climatology"`` or ``"weather"``), ``baseline_wh`` and ``green`` (when a baseline
        is given). ``attrs``: ``calibration`` (:class:`Calibration`), ``issued``.
    """
    from pvshare.forecast.dayahead import weather_power_w
    step_s = step_seconds(cfg.site.step)
    step = pd.Timedelta(seconds=step_s)
    t0 = _utc(now).floor(step)
    n_ahead = int(horizon_h * 3600 // step_s)
    ahead = pd.date_range(t0, periods=n_ahead, freq=step)
    kwp = float(cfg.array.kwp)
    from pvshare.forecast import model
    max_w = model.ac_limit_w(cfg)

    # History: the last HISTORY_DAYS of steps that ended before the issue time.
    hist_p = np.zeros(0)
    hist_t = pd.DatetimeIndex([], tz="UTC")
    if measured_production_wh is not None and len(measured_production_wh):
        s = measured_production_wh.copy()
        idx = pd.DatetimeIndex(s.index)
        s.index = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        s = s[(s.index < t0) & (s.index >= t0 - pd.Timedelta(days=HISTORY_DAYS))]
        if len(s):
            hist_t = pd.date_range(s.index.min().floor(step), t0 - step, freq=step)
            hist_p = (s.groupby(s.index.floor(step)).sum(min_count=1).reindex(hist_t)
                      .to_numpy(dtype=float) * 3600.0 / step_s)

    grid = hist_t.append(ahead)
    cs_model = clear_sky_power_w(cfg, grid, step_s)
    elev = sun_elevation_deg(cfg, grid, step_s)
    n_hist = hist_t.size
    cal = Calibration()
    if n_hist:
        cal = calibrate(hist_p, cs_model[:n_hist], elev[:n_hist], hist_t, kwp, max_w)
    cs = cs_model * cal.factor

    # Prior: climatology, or the weather-driven model where the weather covers the step.
    prior = k_from_table(default_k_table(), month(ahead), solar_hour(ahead, step_s,
                                                                     cfg.site.longitude))
    source = np.array(["climatology"] * n_ahead, dtype=object)
    alpha, table = defaults.ALPHA_CLIMATOLOGY, defaults.QUANTILES_CLIMATOLOGY
    if weather is not None and len(weather):
        wp = weather_power_w(cfg, weather, ahead, step_s) * cal.factor
        kw = clear_sky_index(wp, cs[n_hist:], MIN_CLEAR_SKY_FRACTION * kwp * 1000.0)
        covered = np.isfinite(wp)
        prior = np.where(np.isfinite(kw), kw, prior)
        source = np.where(covered, "weather", source)
        if covered.any():
            alpha, table = defaults.ALPHA_WEATHER, defaults.QUANTILES_WEATHER
    ages = np.arange(1, len(alpha) + 1) * defaults.AGE_STEP_H

    # Persistence source: the clear-sky index of the last valid measured step.
    k_src, age_h = np.nan, np.inf
    if n_hist:
        k = clear_sky_index(hist_p, cs[:n_hist], MIN_CLEAR_SKY_FRACTION * kwp * 1000.0)
        ok = np.flatnonzero(np.isfinite(k) & (elev[:n_hist] >= SOURCE_MIN_ELEVATION_DEG))
        if ok.size:
            last = int(ok[-1])
            k_src = float(k[last])
            age_h = (n_hist - last + np.arange(n_ahead)) * step_s / 3600.0
    k_hat = np.clip(blend(np.full(n_ahead, k_src), np.broadcast_to(age_h, (n_ahead,)), prior,
                          ages, alpha), 0.0, K_MAX)
    lead_h = (np.arange(n_ahead) + 1) * step_s / 3600.0
    q = uncertainty.apply_error_quantiles(k_hat, lead_h, cs[n_hist:], np.asarray(table), max_w)
    to_wh = step_s / 3600.0
    out = pd.DataFrame({"p10_wh": q[:, 0] * to_wh, "p50_wh": q[:, 1] * to_wh,
                        "p90_wh": q[:, 2] * to_wh, "clear_sky_wh": cs[n_hist:] * to_wh,
                        "k": k_hat, "prior": source}, index=ahead)
    if baseline_wh is not None:
        from pvshare.forecast.green_hours import green_steps
        times = ahead.tz_localize(None).to_numpy().astype("datetime64[s]")
        base = baseline_wh(times) if callable(baseline_wh) else np.asarray(baseline_wh, float)
        out["baseline_wh"] = base
        out["green"] = green_steps(out["p50_wh"].to_numpy(), base)
    out.attrs["calibration"] = cal
    out.attrs["issued"] = _utc(now)
    return out
