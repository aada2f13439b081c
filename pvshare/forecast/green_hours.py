"""Green hours: when the roof is expected to give more than the building draws.

This is the tenants' "run your washing machine now" signal: the steps of the coming 24-48 h
where the expected production (P50) exceeds the building's consumption baseline. The
baseline is a daily profile (mean power per local hour) times the building's yearly
consumption; without measured consumption, :data:`DEFAULT_DAILY_PROFILE` is used.
"""

from __future__ import annotations

import numpy as np

from pvshare.timegrid import to_epoch_seconds, utc_offsets

#: Typical household demand by local hour (0..23), as a multiple of the daily mean: the mean
#: power per hour of the real household of the UCI "Individual household electric power
#: consumption" data set (Sceaux, 2006-2010; G. Hebrail, A. Berard, CC BY 4.0, in
#: ``shared/data/load/``). One household, not 48 studios: a starting point until the
#: building's own meters give its profile.
DEFAULT_DAILY_PROFILE = (0.606, 0.497, 0.441, 0.408, 0.408, 0.418, 0.728, 1.378, 1.340, 1.222,
                         1.156, 1.139, 1.102, 1.048, 0.991, 0.903, 0.868, 0.964, 1.212, 1.586,
                         1.741, 1.721, 1.297, 0.828)
#: Default yearly consumption of one student studio, kWh (typical 1,500-2,500 kWh/yr).
DEFAULT_KWH_PER_YEAR = 2000.0


def baseline_energy_wh(times, step_s: int, yearly_kwh: float, tz: str = "Europe/Paris",
                       profile=DEFAULT_DAILY_PROFILE) -> np.ndarray:
    """Expected consumption of the building per step, Wh, from a daily profile.

    Parameters
    ----------
    times : array-like of datetime64
        UTC step starts.
    step_s : int
        Step length, seconds.
    yearly_kwh : float
        The building's yearly consumption, kWh (sum over its participants).
    tz : str
        Time zone of the profile's hours.
    profile : sequence of 24 floats
        Mean power per local hour as a multiple of the daily mean.

    Returns
    -------
    numpy.ndarray
        Energy per step, Wh.
    """
    secs = to_epoch_seconds(np.asarray(times, dtype="datetime64[s]"))
    local = secs + utc_offsets(secs, tz) + step_s // 2
    hour = (local % 86400) // 3600
    prof = np.asarray(profile, dtype=float)
    prof = prof / prof.mean()
    mean_w = yearly_kwh * 1000.0 / 8760.0
    return prof[hour] * mean_w * step_s / 3600.0


def green_steps(production_wh, baseline_wh) -> np.ndarray:
    """Steps where the expected production exceeds the consumption baseline (bool)."""
    p = np.asarray(production_wh, dtype=float)
    b = np.asarray(baseline_wh, dtype=float)
    return np.isfinite(p) & np.isfinite(b) & (p > b)


def green_periods(times, green, step_s: int) -> list[tuple[np.datetime64, np.datetime64]]:
    """Runs of consecutive green steps as ``(start, end)`` UTC ``datetime64[s]`` pairs."""
    g = np.asarray(green, dtype=bool)
    t = np.asarray(times, dtype="datetime64[s]")
    if g.size == 0:
        return []
    d = np.diff(np.concatenate([[0], g.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    step = np.timedelta64(int(step_s), "s")
    return [(t[a], t[b - 1] + step) for a, b in zip(starts, ends)]
