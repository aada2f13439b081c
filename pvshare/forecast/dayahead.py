"""Day-ahead (up to 48 h) production from an irradiance forecast.

A weather forecast gives the global horizontal irradiance (GHI) per step, sometimes the air
temperature and the wind. The array needs the beam and the diffuse parts: they are split
from GHI with the Erbs decomposition (:func:`pvlib.irradiance.erbs`), then the model
(:mod:`pvshare.forecast.model`) transposes them to the plane of the array and gives AC power.

Weather file (CSV, documented in docs/forecast.md)::

    time,ghi[,temp_air,wind_speed]
    2026-06-01T06:00:00Z,212.0,14.5,2.1

``time`` is the **start** of the interval the values are a mean over (ISO 8601, with an
offset or ``Z``; a naive time is UTC), ``ghi`` in W/m2, ``temp_air`` in °C, ``wind_speed``
in m/s. Hourly or finer; values are spread or averaged onto the settlement steps.

References
----------
.. [1] D. G. Erbs, S. A. Klein and J. A. Duffie, "Estimation of the diffuse radiation
   fraction for hourly, daily and monthly-average global radiation", Solar Energy 28(4),
   293-302, 1982.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pvshare.forecast import model
from pvshare.forecast.clearsky_index import step_index


def weather_on_steps(weather: pd.DataFrame, step_starts, step_s: int) -> pd.DataFrame:
    """Weather means per step, from values that are means over intervals starting at their time.

    Each step takes the value of the interval that contains its middle (finer data is first
    averaged onto the steps). Steps outside the weather's span are NaN.

    Parameters
    ----------
    weather : pandas.DataFrame
        UTC index (interval starts), columns ``ghi`` [, ``temp_air``, ``wind_speed``].
    step_starts : array-like of datetimes
    step_s : int

    Returns
    -------
    pandas.DataFrame
        Indexed by the step starts.
    """
    idx = step_index(step_starts)
    w = weather.sort_index()
    if len(w) == 0:
        return pd.DataFrame(index=idx, columns=w.columns, dtype=float)
    wi = step_index(w.index)
    dt = np.median(np.diff(wi.as_unit("s").asi8)) if len(wi) > 1 else step_s
    if dt < step_s:  # finer than the step: mean within each step
        w = w.set_axis(wi).resample(pd.Timedelta(seconds=step_s), origin="epoch").mean()
        wi = w.index
        dt = step_s
    t = wi.as_unit("s").asi8
    mid = idx.as_unit("s").asi8 + step_s // 2
    pos = np.searchsorted(t, mid, side="right") - 1
    inside = (pos >= 0) & (mid < t[np.clip(pos, 0, None)] + dt)
    out = w.to_numpy(dtype=float)[np.clip(pos, 0, None)]
    out[~inside] = np.nan
    return pd.DataFrame(out, index=idx, columns=w.columns)


def ghi_power_w(cfg, ghi_w_m2, step_starts, step_s: int, temp_air_c=None,
                wind_speed_m_s=None) -> np.ndarray:
    """AC power of the array for a GHI per step, W (Erbs split, model transposition).

    Parameters
    ----------
    cfg : Config
        Site configuration.
    ghi_w_m2 : array-like
        Mean global horizontal irradiance per step, W/m2 (NaN = unknown).
    step_starts : array-like of datetimes
        UTC step starts.
    step_s : int
        Step length, seconds.
    temp_air_c, wind_speed_m_s : array-like, optional
        Air temperature (°C, default 20) and wind speed (m/s, default 1).

    Returns
    -------
    numpy.ndarray
        AC power per step, W; NaN where GHI is NaN.
    """
    from pvlib.irradiance import erbs

    idx = step_index(step_starts)
    if len(idx) == 0:
        return np.zeros(0)
    mid = idx + pd.Timedelta(seconds=step_s / 2)
    ghi = np.clip(np.asarray(ghi_w_m2, dtype=float), 0.0, None)
    sp = model.solar_position(cfg, mid)
    zen = sp["apparent_zenith"].to_numpy(dtype=float)
    doy = mid.day_of_year.to_numpy()
    parts = erbs(np.nan_to_num(ghi), zen, doy)
    dni = np.where(zen < 90, np.asarray(parts["dni"], dtype=float), 0.0)
    dhi = np.asarray(parts["dhi"], dtype=float)
    w = pd.DataFrame({"ghi": ghi, "dni": np.nan_to_num(dni), "dhi": np.nan_to_num(dhi)},
                     index=mid)
    w["temp_air"] = 20.0 if temp_air_c is None else np.nan_to_num(
        np.asarray(temp_air_c, dtype=float), nan=20.0)
    w["wind_speed"] = 1.0 if wind_speed_m_s is None else np.nan_to_num(
        np.asarray(wind_speed_m_s, dtype=float), nan=1.0)
    return model.ac_power_w(cfg, w).to_numpy(dtype=float)


def weather_power_w(cfg, weather: pd.DataFrame, step_starts, step_s: int) -> np.ndarray:
    """AC power per step from a weather table (see the module docstring), W; NaN outside it."""
    w = weather_on_steps(weather, step_starts, step_s)
    return ghi_power_w(cfg, w["ghi"].to_numpy(), w.index, step_s,
                       w["temp_air"].to_numpy() if "temp_air" in w else None,
                       w["wind_speed"].to_numpy() if "wind_speed" in w else None)
