"""Backtest: fit the forecaster on the first part of a measured series, score it on the rest.

Every step of the test period is an issue time; from it each method forecasts the next 48 h
knowing only the steps measured before it. Errors are scored per horizon band on daytime
steps (sun above :data:`~pvshare.forecast.clearsky_index.MIN_ELEVATION_DEG` at mid-step),
normalised by the nameplate capacity (kWp):

- ``nMAE = mean(|P_hat - P|) / capacity``, ``nRMSE = sqrt(mean((P_hat - P)^2)) / capacity``;
- skill over a reference: ``1 - error / error_ref``.

Methods
-------
- ``pvshare``: this package's P50 (clear-sky-index persistence blended towards the
  climatology, or towards the weather-driven model when irradiance is given);
- ``smart_persistence``: the clear-sky index of the last valid measured step, times the
  clear-sky power at the target;
- ``persistence_24h``: the power measured at the same time one day before the target (or two
  days, when one day before is not yet measured at the issue time);
- ``climatology``: the mean measured power of the training period at the same month and time
  of day.

All methods are scored on the same (issue, target) pairs. Nothing of the test period is used
to fit anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pvshare.forecast import climatology, nowcast, uncertainty
from pvshare.forecast.calibration import Calibration, calibrate
from pvshare.forecast.clearsky_index import (
    K_MAX,
    MIN_ELEVATION_DEG,
    clear_sky_index,
    clear_sky_power_w,
    month,
    solar_hour,
    step_index,
    sun_elevation_deg,
)
from pvshare.i18n import _

#: Scored horizon bands: name -> (lead above, lead up to), hours. Lead = end of the target
#: step minus the issue time, so the first step ahead has a lead of one step.
BANDS = {"0-1h": (0.0, 1.0), "1-3h": (1.0, 3.0), "3-6h": (3.0, 6.0), "day-ahead": (24.0, 48.0)}
METHODS = ("pvshare", "smart_persistence", "persistence_24h", "climatology")
HORIZON_H = 48.0
#: Sun elevation (degrees) above which a step's clear-sky index may serve as persistence.
SOURCE_MIN_ELEVATION_DEG = 10.0
#: Clear-sky power (fraction of capacity) under which no clear-sky index is computed.
MIN_CLEAR_SKY_FRACTION = 0.02


def array_config(latitude: float, longitude: float, tilt_deg: float, azimuth_deg: float,
                 kwp: float, inverter_kw: float | None = None, losses_percent: float = 14.0,
                 altitude_m: float = 0.0, name: str = "evaluate"):
    """A minimal :class:`pvshare.config.Config` holding only a site and an array.

    The producer and the participant are placeholders: the forecast never looks at them.
    Raises :class:`pvshare.errors.ConfigError` naming any out-of-range value.
    """
    from pvshare.config import parse_config
    array = {"kwp": kwp, "tilt_deg": tilt_deg, "azimuth_deg": azimuth_deg,
             "losses_percent": losses_percent}
    if inverter_kw is not None:
        array["inverter_kw"] = inverter_kw
    return parse_config({
        "site": {"name": name, "timezone": "UTC", "latitude": latitude,
                 "longitude": longitude, "altitude_m": altitude_m},
        "producer": {"prm": "00000000000000"},
        "array": array,
        "participants": [{"id": "P", "prm": "00000000000001"}],
    }, source="<command line>")


@dataclass
class Inputs:
    """Per-step arrays of a site's history, on a regular UTC grid."""

    times: pd.DatetimeIndex
    step_s: int
    power_w: np.ndarray
    clear_sky_w: np.ndarray          # uncorrected model
    elevation_deg: np.ndarray
    months: np.ndarray
    hours: np.ndarray                # solar hour
    slots: np.ndarray                # step of the UTC day
    capacity_w: float
    max_power_w: float
    weather_w: np.ndarray | None = None   # uncorrected model driven by the weather


def prepare(cfg, power_w: pd.Series, step_s: int, weather: pd.DataFrame | None = None) -> Inputs:
    """Put a measured power series on its step grid and compute the model around it.

    Parameters
    ----------
    cfg : Config
        Site and array.
    power_w : pandas.Series
        Mean power per step, W, indexed by UTC step starts (gaps allowed).
    step_s : int
        Step length, seconds.
    weather : pandas.DataFrame, optional
        Weather (``ghi`` [, ``temp_air``, ``wind_speed``]) to drive the day-ahead model.
    """
    from pvshare.forecast import model
    from pvshare.forecast.dayahead import weather_power_w
    idx = step_index(power_w.index)
    grid = pd.date_range(idx.min(), idx.max(), freq=pd.Timedelta(seconds=step_s), tz="UTC")
    p = power_w.set_axis(idx).reindex(grid).to_numpy(dtype=float)
    cs = clear_sky_power_w(cfg, grid, step_s)
    wpow = weather_power_w(cfg, weather, grid, step_s) if weather is not None else None
    secs = grid.as_unit("s").asi8
    return Inputs(times=grid, step_s=step_s, power_w=p, clear_sky_w=cs,
                  elevation_deg=sun_elevation_deg(cfg, grid, step_s), months=month(grid),
                  hours=solar_hour(grid, step_s, cfg.site.longitude),
                  slots=((secs % 86400) // step_s).astype(int),
                  capacity_w=float(cfg.array.kwp) * 1000.0, max_power_w=model.ac_limit_w(cfg),
                  weather_w=wpow)


@dataclass
class Forecaster:
    """Everything fitted on history that a forecast needs."""

    calibration: Calibration
    k_table: np.ndarray                       # (12, 24) clear-sky-index climatology
    ages_h: np.ndarray
    alpha: np.ndarray
    quantiles: np.ndarray                     # (5, 3, 3)
    n_avg: int = 1
    uses_weather: bool = False
    power_table: np.ndarray | None = field(default=None, repr=False)  # climatology baseline


def _k_obs(inp: Inputs, cs_cal: np.ndarray) -> np.ndarray:
    return clear_sky_index(inp.power_w, cs_cal, MIN_CLEAR_SKY_FRACTION * inp.capacity_w)


def _prior_k(inp: Inputs, fc_k_table, cs_cal, factor) -> np.ndarray:
    prior = climatology.k_from_table(fc_k_table, inp.months, inp.hours)
    if inp.weather_w is not None:
        kw = clear_sky_index(inp.weather_w * factor, cs_cal,
                             MIN_CLEAR_SKY_FRACTION * inp.capacity_w)
        prior = np.where(np.isfinite(kw), kw, prior)
    return prior


def fit(inp: Inputs, train: np.ndarray, n_avg: int = 1) -> Forecaster:
    """Fit calibration, climatology, blending and error quantiles on the ``train`` steps.

    Parameters
    ----------
    inp : Inputs
    train : numpy.ndarray of bool
        Steps of the training period.
    n_avg : int
        Valid steps averaged into the persistence source.
    """
    p_train = np.where(train, inp.power_w, np.nan)
    cal = calibrate(p_train, inp.clear_sky_w, inp.elevation_deg, inp.times,
                    inp.capacity_w / 1000.0, inp.max_power_w)
    cs_cal = inp.clear_sky_w * cal.factor
    day = inp.elevation_deg >= MIN_ELEVATION_DEG
    k_table = climatology.fit_k_table(p_train, cs_cal, inp.months, inp.hours, train & day)
    n_slots = 86400 // inp.step_s
    power_table = climatology.fit_power_table(p_train, inp.months, inp.slots, train, n_slots)
    k = _k_obs(inp, cs_cal)
    prior = _prior_k(inp, k_table, cs_cal, cal.factor)
    src_ok = train & (inp.elevation_deg >= SOURCE_MIN_ELEVATION_DEG) & np.isfinite(k)
    ksrc = nowcast.source_k(k, src_ok, n_avg)
    ages_h, alpha = nowcast.fit_alpha(ksrc, k, prior, cs_cal ** 2, src_ok, train & day,
                                      inp.step_s)
    fc = Forecaster(calibration=cal, k_table=k_table, ages_h=ages_h, alpha=alpha,
                    quantiles=np.zeros((5, 3, 3)), n_avg=n_avg,
                    uses_weather=inp.weather_w is not None, power_table=power_table)
    # Error quantiles from the training period's own forecasts (every step an issue time).
    issues = np.flatnonzero(train)
    obs, khat, lead, ok = [], [], [], []
    for chunk in np.array_split(issues, max(1, issues.size // 2000)):
        m = _matrix(inp, fc, chunk, k, ksrc, prior, cs_cal, src_ok)
        obs.append(m["k_obs"])
        khat.append(m["k_hat"])
        lead.append(m["lead_h"])
        ok.append(m["day"] & m["target_in"](train))
    fc.quantiles = uncertainty.fit_error_quantiles(
        np.concatenate(obs), np.concatenate(khat),
        np.concatenate([np.broadcast_to(x, o.shape) for x, o in zip(lead, obs)]),
        np.concatenate(ok))
    return fc


def _matrix(inp: Inputs, fc: Forecaster, issues: np.ndarray, k, ksrc, prior, cs_cal, src_ok):
    """Forecasts from each issue position (rows) for each step ahead (columns)."""
    n = inp.power_w.size
    h = int(round(HORIZON_H * 3600 / inp.step_s))
    j = issues[:, None] + np.arange(h)[None, :]
    inside = j < n
    jj = np.where(inside, j, n - 1)
    last = nowcast.last_valid_before(src_ok)
    s = last[issues]
    k_src = np.where(s >= 0, ksrc[np.maximum(s, 0)], np.nan)[:, None]
    age_h = (j - s[:, None]) * inp.step_s / 3600.0
    k_hat = np.clip(nowcast.blend(k_src, age_h, prior[jj], fc.ages_h, fc.alpha), 0.0, K_MAX)
    lead_h = (np.arange(h) + 1) * inp.step_s / 3600.0
    day = inside & (inp.elevation_deg[jj] >= MIN_ELEVATION_DEG) & np.isfinite(inp.power_w[jj])
    return {"j": jj, "inside": inside, "k_obs": k[jj], "k_hat": k_hat, "lead_h": lead_h,
            "k_src": k_src, "day": day, "target_in": lambda mask: mask[jj] & inside}


def state(inp: Inputs, fc: Forecaster) -> dict:
    """Per-step quantities the forecasts read: calibrated clear sky, clear-sky indices,
    persistence sources (``ksrc`` averaged as fitted, ``ksrc1`` the last valid step), prior.
    """
    cs_cal = inp.clear_sky_w * fc.calibration.factor
    k = _k_obs(inp, cs_cal)
    src_ok = (inp.elevation_deg >= SOURCE_MIN_ELEVATION_DEG) & np.isfinite(k)
    return {"k": k, "ksrc": nowcast.source_k(k, src_ok, fc.n_avg),
            "ksrc1": nowcast.source_k(k, src_ok, 1),
            "prior": _prior_k(inp, fc.k_table, cs_cal, fc.calibration.factor),
            "cs_cal": cs_cal, "src_ok": src_ok}


def predictions(inp: Inputs, fc: Forecaster, issues: np.ndarray, k, ksrc, ksrc1, prior,
                cs_cal, src_ok) -> dict:
    """Every method's forecasts from the given issue positions, for the next 48 h.

    Returns
    -------
    dict
        ``preds``: method -> (issues, steps ahead) array of power, W; ``obs``: measured
        power at the targets, W; ``lead_h``: lead per column, hours; ``bands``: P10/P50/P90
        of ``pvshare`` (issues, steps, 3), W; ``day``: scored targets (bool).
    """
    m = _matrix(inp, fc, issues, k, ksrc, prior, cs_cal, src_ok)
    jj, lead_h = m["j"], m["lead_h"]
    cs_t = cs_cal[jj]
    bands = uncertainty.apply_error_quantiles(m["k_hat"], lead_h, cs_t, fc.quantiles,
                                              inp.max_power_w)
    n_slots = 86400 // inp.step_s
    s = nowcast.last_valid_before(src_ok)[issues]
    k1 = np.where(s >= 0, ksrc1[np.maximum(s, 0)], np.nan)[:, None]
    offs = np.arange(jj.shape[1])[None, :]
    back = (offs // n_slots + 1) * n_slots      # whole days back, to a measured step
    jb = issues[:, None] + offs - back
    p24 = np.where(jb >= 0, inp.power_w[np.maximum(jb, 0)], np.nan)
    preds = {
        "pvshare": bands[..., 1],
        "smart_persistence": np.minimum(k1 * cs_t, inp.max_power_w),
        "persistence_24h": p24,
        "climatology": fc.power_table[inp.months[jj] - 1, inp.slots[jj]],
    }
    return {"preds": preds, "obs": inp.power_w[jj], "lead_h": lead_h, "bands": bands,
            "day": m["day"]}


@dataclass
class BacktestResult:
    """Scores per band and method, plus what the fit found."""

    scores: dict                 # {band: {method: {"nmae", "nrmse"}}}
    counts: dict                 # {band: number of scored forecasts}
    coverage: dict               # {band: {"below_p10", "above_p90"}}
    forecaster: Forecaster
    train_period: tuple[str, str]
    test_period: tuple[str, str]

    def skill(self, band: str, method: str, ref: str, metric: str = "nrmse") -> float:
        """``1 - error(method) / error(ref)`` for one band and metric."""
        return 1.0 - self.scores[band][method][metric] / self.scores[band][ref][metric]


def backtest(cfg, power_w: pd.Series, step_s: int = 1800, weather: pd.DataFrame | None = None,
             train_fraction: float = 0.5, train_until=None,
             progress: Callable[[int, int], None] | None = None) -> BacktestResult:
    """Fit on the first part of a measured series and score every method on the rest.

    Parameters
    ----------
    cfg : Config
        Site and array.
    power_w : pandas.Series
        Mean power per step, W, UTC step starts.
    step_s : int
        Step length, seconds.
    weather : pandas.DataFrame, optional
        Irradiance for the whole period, used as a (perfect) day-ahead weather forecast.
    train_fraction : float
        Share of the period (in time) used for fitting, when ``train_until`` is not given.
    train_until : datetime-like, optional
        First instant of the test period.
    progress : callable, optional
        Called as ``progress(done, total)`` while scoring.

    Returns
    -------
    BacktestResult
    """
    inp = prepare(cfg, power_w, step_s, weather)
    t = inp.times
    if train_until is None:
        cut = t[0] + (t[-1] - t[0]) * float(train_fraction)
        cut = cut.floor(pd.Timedelta(seconds=step_s))
    else:
        cut = pd.Timestamp(train_until)
        cut = cut.tz_localize("UTC") if cut.tz is None else cut.tz_convert("UTC")
    train = np.asarray(t < cut)
    if train.sum() < 14 * 86400 // step_s or (~train).sum() < 3 * 86400 // step_s:
        raise ValueError(_("need at least 14 days to fit and 3 days to test (got "
                           "{fit:.1f} and {test:.1f})").format(
                               fit=train.sum() * step_s / 86400,
                               test=(~train).sum() * step_s / 86400))
    fc = fit(inp, train)
    st = state(inp, fc)
    test_issues = np.flatnonzero(~train)
    sums = {b: {m: [0.0, 0.0] for m in METHODS} for b in BANDS}
    counts = {b: 0 for b in BANDS}
    cover = {b: [0, 0] for b in BANDS}
    chunks = np.array_split(test_issues, max(1, test_issues.size // 1000))
    done = 0
    for chunk in chunks:
        m = predictions(inp, fc, chunk, **st)
        preds, obs, lead_h, bands = m["preds"], m["obs"], m["lead_h"], m["bands"]
        ok = m["day"].copy()
        for v in preds.values():
            ok &= np.isfinite(v)
        for b, (lo, hi) in BANDS.items():
            col = (lead_h > lo + 1e-9) & (lead_h <= hi + 1e-9)
            sel = ok & col[None, :]
            n = int(sel.sum())
            counts[b] += n
            for name, v in preds.items():
                e = (v - obs)[sel]
                sums[b][name][0] += float(np.abs(e).sum())
                sums[b][name][1] += float((e * e).sum())
            cover[b][0] += int((obs[sel] < bands[..., 0][sel]).sum())
            cover[b][1] += int((obs[sel] > bands[..., 2][sel]).sum())
        done += chunk.size
        if progress is not None:
            progress(done, test_issues.size)
    cap = inp.capacity_w
    scores = {b: {name: {"nmae": sums[b][name][0] / max(counts[b], 1) / cap,
                         "nrmse": float(np.sqrt(sums[b][name][1] / max(counts[b], 1))) / cap}
                  for name in METHODS} for b in BANDS}
    coverage = {b: {"below_p10": cover[b][0] / max(counts[b], 1),
                    "above_p90": cover[b][1] / max(counts[b], 1)} for b in BANDS}
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return BacktestResult(scores=scores, counts=counts, coverage=coverage, forecaster=fc,
                          train_period=(t[0].strftime(fmt), cut.strftime(fmt)),
                          test_period=(cut.strftime(fmt),
                                       (t[-1] + pd.Timedelta(seconds=step_s)).strftime(fmt)))
