"""What a visit changed: daily consumption after the visit against before, corrected for the
weather with heating degree days (pure core: arrays in, figures out; no I/O, no clock).

Method (docs/design.md, "What a visit changed"):

1. **Days.** Whole local days only (every half-hour present: 46, 48 or 50 steps). The
   *before* days are those of the 365 days before the visit and after the previous visit;
   the *after* days those of the 365 days after the visit and before the next one; the
   visits' own days are in none. Days without a temperature are left out. Less than
   :data:`MIN_DAYS` (8 weeks) on either side: nothing is computed.
2. **Model of before.** Ordinary least squares of the daily kWh on the day's heating
   degree days (``HDD = max(0, 18 °C − daily mean temperature)``) over the before days:
   ``kWh = a + b × HDD``. When the before days' degree days hardly vary (a summer), only
   the mean ``a`` is fitted.
3. **Before, in the after period's weather.** ``before_kwh_per_day`` is the model's mean
   over the after days (what the household would have used after the visit without it);
   ``after_kwh_per_day`` the measured mean; ``change_percent = 100 × (after − before) /
   before``.
4. **Band.** The variance of ``after − before`` is that of the model's mean prediction over
   the after days plus that of the after days' own mean: ``s² × (x̄ᵀ(XᵀX)⁻¹x̄ + 1/n_after)``,
   ``s²`` the before residuals' variance, ``x̄ = (1, mean HDD after)``. Daily consumption
   follows habits that last several days, so the residuals are correlated from one day to
   the next: the variance is multiplied by ``(1 + r) / (1 − r)`` (``r`` > 0 the residuals'
   lag-1 autocorrelation, the usual AR(1) effective-sample-size correction). The 95 % band
   is ``± 1.96`` standard deviations (normal quantile: with at least 56 days Student's t is
   within 2.5 % of it). A band that includes zero is "not significant".
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from pvshare.timegrid import DEFAULT_TZ, utc_offsets

#: At least 8 weeks of whole days on each side of a visit.
MIN_DAYS = 56
#: At most one year on each side.
WINDOW_DAYS = 365
#: Base temperature of the heating degree days, °C (Météo-France's DJU base).
HDD_BASE_C = 18.0
#: Below this standard deviation of the before days' degree days (K·day) only the mean is
#: fitted (a slope on degree days that hardly vary would be noise).
MIN_HDD_STD = 0.5
#: Confidence of the band.
LEVEL = 0.95
#: Largest autocorrelation used in the correction (keeps the factor finite: at most 19).
MAX_R = 0.9


@dataclass(frozen=True)
class Daily:
    """Daily consumption of whole local days (only the complete days are kept)."""

    days: np.ndarray        # datetime64[D], increasing
    kwh: np.ndarray         # float


@dataclass(frozen=True)
class VisitEffect:
    """What one visit changed (kWh per day; percents of the weather-corrected before).

    When ``computed`` is False the figures are None and ``reason`` says why.
    """

    date: str
    actions: tuple
    computed: bool
    reason: str = ""
    days_before: int = 0
    days_after: int = 0
    before_kwh_per_day: float | None = None
    after_kwh_per_day: float | None = None
    change_percent: float | None = None
    low_percent: float | None = None
    high_percent: float | None = None
    significant: bool | None = None
    saving_kwh_per_year: float | None = None    # (before − after) × 365
    saving_sd_kwh_per_year: float | None = None  # its standard deviation
    slope_kwh_per_hdd: float | None = None

    def to_json(self) -> dict:
        """The JSON of a visit (docs/reports.md)."""
        r = {"date": self.date, "actions": list(self.actions),
             "before_kwh_per_day": _r(self.before_kwh_per_day, 2),
             "after_kwh_per_day": _r(self.after_kwh_per_day, 2),
             "change_percent": _r(self.change_percent, 1),
             "low_percent": _r(self.low_percent, 1),
             "high_percent": _r(self.high_percent, 1),
             "significant": self.significant}
        if not self.computed:
            r["reason"] = self.reason
        return r


def _r(x: float | None, n: int) -> float | None:
    return None if x is None else round(float(x), n)


def daily_kwh(times, wh, tz: str = DEFAULT_TZ) -> Daily:
    """The whole local days of a (sparse) 30-minute curve and their kWh.

    Parameters
    ----------
    times : array of datetime64[s], shape (T,)
        UTC starts of the steps that have a value (sorted, unique, 30-minute grid).
    wh : array of float, shape (T,)
        Energy of each step, Wh.
    tz : str
        Local time zone of the days.
    """
    secs = np.asarray(times, dtype="datetime64[s]").astype(np.int64)
    wh = np.asarray(wh, dtype=float)
    if secs.size == 0:
        return Daily(np.zeros(0, "datetime64[D]"), np.zeros(0))
    day = (secs + utc_offsets(secs, tz)) // 86400
    uniq, start, count = np.unique(day, return_index=True, return_counts=True)
    kwh = np.add.reduceat(wh, start) / 1000.0
    # Steps in the local day: 48, minus the change of UTC offset from the day before.
    noon = uniq * 86400 + 12 * 3600
    change = utc_offsets(noon - 3600 * 2, tz) - utc_offsets(noon - 86400 - 7200, tz)
    expected = 48 - change // 1800
    whole = count == expected
    return Daily(uniq[whole].astype("datetime64[D]"), kwh[whole])


def heating_degree_days(temp_c) -> np.ndarray:
    """``max(0, 18 − T)`` per day (NaN where the temperature is unknown)."""
    t = np.asarray(temp_c, dtype=float)
    return np.clip(HDD_BASE_C - t, 0.0, None)


def visit_effect(daily: Daily, hdd, visit: str, actions=(), *, previous: str | None = None,
                 following: str | None = None, min_days: int = MIN_DAYS,
                 window_days: int = WINDOW_DAYS) -> VisitEffect:
    """What the visit of ``visit`` (``YYYY-MM-DD``) changed (see the module docstring).

    Parameters
    ----------
    daily : Daily
        The household's whole days (:func:`daily_kwh`).
    hdd : array of float, shape (D,)
        Heating degree days of each of ``daily.days`` (NaN: unknown, the day is left out).
    visit : str
        The visit's local date.
    actions : sequence of str
        Its interventions (copied into the result).
    previous, following : str, optional
        The dates of the household's previous and next visits: the before and after days
        stop there.
    min_days, window_days : int
        Whole days needed on each side; days looked at on each side.
    """
    v = np.datetime64(visit, "D")
    lo = v - np.timedelta64(window_days, "D")
    hi = v + np.timedelta64(window_days, "D")
    if previous is not None:
        lo = max(lo, np.datetime64(previous, "D") + np.timedelta64(1, "D"))
    if following is not None:
        hi = min(hi, np.datetime64(following, "D"))
    d = daily.days
    h = np.asarray(hdd, dtype=float)
    known = np.isfinite(h) & np.isfinite(daily.kwh)
    before = known & (d >= lo) & (d < v)
    after = known & (d > v) & (d < hi) if following is not None else \
        known & (d > v) & (d <= hi)
    nb, na = int(before.sum()), int(after.sum())
    base: dict[str, Any] = dict(date=str(visit), actions=tuple(actions), days_before=nb, days_after=na)
    if nb < min_days or na < min_days:
        return VisitEffect(**base, computed=False,
                           reason=f"{nb} whole days before and {na} after the visit: "
                                  f"at least {min_days} (8 weeks) are needed on each side")
    y, x = daily.kwh[before], h[before]
    ya, xa = daily.kwh[after], h[after]
    use_slope = float(np.std(x)) >= MIN_HDD_STD
    X = np.column_stack([np.ones(nb), x]) if use_slope else np.ones((nb, 1))
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    p = X.shape[1]
    s2 = float(resid @ resid) / max(nb - p, 1)
    xbar = np.array([1.0, float(xa.mean())])[:p]
    xtx_inv = np.linalg.inv(X.T @ X)
    var = s2 * (float(xbar @ xtx_inv @ xbar) + 1.0 / na)
    r = _lag1(resid, daily.days[before])
    var *= (1 + r) / (1 - r)
    before_kwh = float(xbar @ beta)
    after_kwh = float(ya.mean())
    sd = float(np.sqrt(var))
    z = NormalDist().inv_cdf(0.5 + LEVEL / 2)
    diff = after_kwh - before_kwh
    if before_kwh <= 0:
        return VisitEffect(**base, computed=False,
                           reason="the model of before predicts no consumption after the visit")
    pct = 100.0 / before_kwh
    low, high = (diff - z * sd) * pct, (diff + z * sd) * pct
    return VisitEffect(**base, computed=True, before_kwh_per_day=before_kwh,
                       after_kwh_per_day=after_kwh, change_percent=diff * pct,
                       low_percent=low, high_percent=high,
                       significant=bool(low > 0 or high < 0),
                       saving_kwh_per_year=-diff * 365.0, saving_sd_kwh_per_year=sd * 365.0,
                       slope_kwh_per_hdd=float(beta[1]) if use_slope else 0.0)


def _lag1(resid: np.ndarray, days: np.ndarray) -> float:
    """Lag-1 autocorrelation of residuals of consecutive days (0 … :data:`MAX_R`)."""
    if resid.size < 3:
        return 0.0
    gap = np.diff(days.astype(np.int64)) == 1
    e = resid - resid.mean()
    den = float(e @ e)
    if den <= 0 or not gap.any():
        return 0.0
    num = float(np.sum(e[:-1][gap] * e[1:][gap])) * (e.size - 1) / gap.sum()
    return float(np.clip(num / den, 0.0, MAX_R))


def visits_effects(daily: Daily, hdd, visits) -> list[VisitEffect]:
    """:func:`visit_effect` of each visit (``[(date, actions), …]`` in date order), each
    bounded by its neighbours.
    """
    out = []
    for i, (date, actions) in enumerate(visits):
        prev = visits[i - 1][0] if i > 0 else None
        nxt = visits[i + 1][0] if i + 1 < len(visits) else None
        out.append(visit_effect(daily, hdd, date, actions, previous=prev, following=nxt))
    return out


def total_saving(effects: list[VisitEffect]) -> tuple[float, float, float, int]:
    """Sum of the computed visits' yearly savings (kWh) and its 95 % band, households and
    visits taken as independent (standard deviations added in quadrature).

    Returns
    -------
    (saving, low, high, n)
        kWh per year; ``n`` the number of visits counted.
    """
    done = [e for e in effects if e.computed]
    if not done:
        return 0.0, 0.0, 0.0, 0
    s = float(sum(float(e.saving_kwh_per_year or 0.0) for e in done))
    sd = float(np.sqrt(sum(float(e.saving_sd_kwh_per_year or 0.0) ** 2 for e in done)))
    z = NormalDist().inv_cdf(0.5 + LEVEL / 2)
    return s, s - z * sd, s + z * sd, len(done)
