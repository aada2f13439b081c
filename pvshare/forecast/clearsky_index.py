"""Clear-sky power of the array per step and the clear-sky index of measured production.

The clear-sky index of a step is its measured power divided by the power the array would give
under a clear sky, ``k = P / P_cs``. Clouds make it drop, cloud edges push it a little above
1. Forecasting ``k`` instead of ``P`` removes the daily and seasonal shape of the sun, which
the clear-sky model already knows exactly.

Steps are labelled by their start (UTC). The clear-sky power of a step is the mean of the
model at three instants inside it (1/6, 1/2 and 5/6 of the step), which is close to the true
mean even at sunrise and sunset.

References
----------
.. [1] R. Perez et al., "Comparison of numerical weather prediction solar irradiance
   forecasts in the US, Canada and Europe", Solar Energy 94, 305-326, 2013 (smart
   persistence, clear-sky index).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pvshare.forecast import model

#: Largest clear-sky index kept (cloud enhancement rarely lifts a 30-min mean above this).
K_MAX = 1.5
#: Sun elevation (degrees, mid-step) above which a step counts as daytime in the metrics and
#: its clear-sky index is used as a persistence source: below, the ratio of two small powers
#: says more about the horizon than about the clouds.
MIN_ELEVATION_DEG = 5.0
_SUB = np.array([1.0, 3.0, 5.0]) / 6.0


def step_index(step_starts) -> pd.DatetimeIndex:
    """UTC :class:`pandas.DatetimeIndex` of step starts (naive values are taken as UTC)."""
    idx = pd.DatetimeIndex(step_starts)
    return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")


def _sub_instants(idx: pd.DatetimeIndex, step_s: int) -> pd.DatetimeIndex:
    offs = pd.to_timedelta(_SUB * step_s, unit="s")
    sub = idx.as_unit("ns").asi8[:, None] + offs.as_unit("ns").asi8[None, :]
    return pd.DatetimeIndex(sub.ravel()).tz_localize("UTC")


def clear_sky_power_w(cfg, step_starts, step_s: int) -> np.ndarray:
    """Mean AC power of the array under a clear sky over each step, W.

    Parameters
    ----------
    cfg : Config
        Site configuration (:mod:`pvshare.forecast.model` builds the array from it).
    step_starts : array-like of datetimes
        Step starts, UTC.
    step_s : int
        Step length, seconds.

    Returns
    -------
    numpy.ndarray
        Clear-sky AC power, W, one value per step (0 at night).
    """
    idx = step_index(step_starts)
    if len(idx) == 0:
        return np.zeros(0)
    sub = _sub_instants(idx, step_s)
    cs = model.clear_sky(cfg, sub)
    p = model.ac_power_w(cfg, cs).to_numpy(dtype=float)
    return p.reshape(len(idx), len(_SUB)).mean(axis=1)


def sun_elevation_deg(cfg, step_starts, step_s: int) -> np.ndarray:
    """Apparent sun elevation at the middle of each step, degrees."""
    idx = step_index(step_starts)
    mid = idx + pd.Timedelta(seconds=step_s / 2)
    return model.solar_position(cfg, mid)["apparent_elevation"].to_numpy(dtype=float)


def clear_sky_index(power_w, clear_sky_w, min_clear_sky_w: float, k_max: float = K_MAX):
    """Clear-sky index ``k = P / P_cs``, bounded to ``[0, k_max]``.

    Parameters
    ----------
    power_w : array-like
        Measured power (or energy: any unit, the same as ``clear_sky_w``).
    clear_sky_w : array-like
        Clear-sky power, same unit and shape.
    min_clear_sky_w : float
        Where the clear-sky power is below this, the index is undefined (NaN).
    k_max : float
        Upper bound.

    Returns
    -------
    numpy.ndarray
        ``k`` in ``[0, k_max]``, NaN where the power is missing or the clear sky too small.
    """
    p = np.asarray(power_w, dtype=float)
    cs = np.asarray(clear_sky_w, dtype=float)
    ok = np.isfinite(p) & np.isfinite(cs) & (cs >= min_clear_sky_w) & (cs > 0)
    k = np.full(np.broadcast(p, cs).shape, np.nan)
    with np.errstate(over="ignore"):          # a huge ratio is clipped to k_max anyway
        k[ok] = np.clip(p[ok] / cs[ok], 0.0, k_max)
    return k


def solar_hour(step_starts, step_s: int, longitude: float) -> np.ndarray:
    """Mean solar hour (0..23, integer) at the middle of each step.

    Local mean solar time is UTC plus ``longitude / 15`` hours; it groups steps by the sun's
    position whatever the time zone and daylight saving time.
    """
    idx = step_index(step_starts)
    secs = idx.as_unit("s").asi8 + step_s / 2 + longitude / 15.0 * 3600.0
    return (np.floor(np.mod(secs, 86400) / 3600.0)).astype(int) % 24


def month(step_starts) -> np.ndarray:
    """Calendar month (1..12, UTC) of each step start."""
    return step_index(step_starts).month.to_numpy().astype(int)
