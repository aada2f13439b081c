"""Self-calibration: the array's effective size, from its own clear-sky days.

A roof never gives exactly its nameplate: soiling, shading, ageing, a wrong kWp in the
config. When the sky is clear the measured power should be the clear-sky power of the model;
the ratio on those periods is the **capacity factor** ``f`` that corrects the model (the
effective capacity is ``f * kWp``, the derate ``1 - f``).

Clear periods are found with :func:`pvlib.clearsky.detect_clearsky` (Reno & Hansen), applied
to the measured power and the model's clear-sky power, both scaled to W per kWp so that the
method's W/m2 thresholds keep their meaning. The model is first scaled by a rough factor (the
90th percentile of measured/model with the sun high: clear steps are the brightest), because
the method only refines its scale on windows it already finds clear. Steps with the sun below 15 degrees (horizon
effects) or near the inverter limit (clipping) are left out; ``f`` is the median ratio of
the rest.

References
----------
.. [1] M. J. Reno and C. W. Hansen, "Identification of periods of clear sky irradiance in
   time series of GHI measurements", Renewable Energy 90, 520-531, 2016.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: At least this much measured history (days) before the model is corrected.
MIN_DAYS = 14
#: At least this many clear steps before the model is corrected.
MIN_CLEAR_STEPS = 20
MIN_ELEVATION_DEG = 15.0
#: Steps above this fraction of the AC limit may be clipped and are not used.
CLIP_FRACTION = 0.97
#: Quantile of the measured/model ratio (sun high) used as the first guess of the factor.
ROUGH_QUANTILE = 0.9


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`.

    Attributes
    ----------
    factor : float
        Multiplier of the model's power (1.0 when not calibrated).
    clear_steps : int
        Number of clear steps used.
    days : float
        Days of measured history seen.
    calibrated : bool
        Whether ``factor`` comes from the data (else it is 1.0).
    reason : str
        Why it was not calibrated, or an empty string.
    """

    factor: float = 1.0
    clear_steps: int = 0
    days: float = 0.0
    calibrated: bool = False
    reason: str = "no measured history"

    @property
    def derate(self) -> float:
        """``1 - factor``: the share of the modelled production the roof does not give."""
        return 1.0 - self.factor


def clear_steps_mask(power_w, clear_sky_w, step_starts, kwp: float) -> np.ndarray:
    """Steps of a clear sky, by :func:`pvlib.clearsky.detect_clearsky` on power per kWp.

    Parameters
    ----------
    power_w, clear_sky_w : array-like
        Measured and clear-sky power per step, W (regular steps).
    step_starts : array-like of datetimes
        UTC step starts (regular).
    kwp : float
        Nameplate DC power, kW.

    Returns
    -------
    numpy.ndarray of bool
    """
    from pvlib.clearsky import detect_clearsky

    p = np.asarray(power_w, dtype=float)
    cs = np.asarray(clear_sky_w, dtype=float)
    idx = pd.DatetimeIndex(step_starts)
    if len(idx) < 3:
        return np.zeros(len(idx), dtype=bool)
    step_min = (idx[1] - idx[0]).total_seconds() / 60.0
    meas = pd.Series(np.nan_to_num(p / kwp, nan=0.0), index=idx)
    clear = pd.Series(cs / kwp, index=idx)
    mask = detect_clearsky(meas, clear, window_length=int(3 * step_min),
                           mean_diff=75, max_diff=75 * max(1.0, step_min / 10.0))
    return np.asarray(mask, dtype=bool) & np.isfinite(p)


def calibrate(power_w, clear_sky_w, elevation_deg, step_starts, kwp: float,
              max_power_w: float) -> Calibration:
    """Capacity factor of the array from the clear steps of its measured history.

    Parameters
    ----------
    power_w : array-like
        Measured mean power per step, W (NaN = missing).
    clear_sky_w : array-like
        The model's clear-sky power per step, W (uncorrected).
    elevation_deg : array-like
        Sun elevation at mid-step, degrees.
    step_starts : array-like of datetimes
        UTC step starts, regular.
    kwp : float
        Nameplate DC power, kW.
    max_power_w : float
        Inverter AC limit, W.

    Returns
    -------
    Calibration
    """
    p = np.asarray(power_w, dtype=float)
    idx = pd.DatetimeIndex(step_starts)
    n_ok = int(np.isfinite(p).sum())
    step_s = (idx[1] - idx[0]).total_seconds() if len(idx) > 1 else 1800.0
    days = n_ok * step_s / 86400.0
    if days < MIN_DAYS:
        return Calibration(days=days, reason=f"{days:.1f} days of history, need {MIN_DAYS}")
    cs = np.asarray(clear_sky_w, dtype=float)
    high = (np.asarray(elevation_deg) >= MIN_ELEVATION_DEG) & (cs > 0) & np.isfinite(p)
    if not high.any():
        return Calibration(days=days, reason="no daytime measurement")
    # detect_clearsky only rescales the model on windows it already finds clear: start it
    # from a rough factor (clear steps are the brightest ones), then take the clear steps.
    rough = float(np.quantile(p[high] / cs[high], ROUGH_QUANTILE))
    if not rough > 0:
        return Calibration(days=days, reason="no production measured")
    clear = clear_steps_mask(p, cs * rough, idx, kwp)
    use = (clear & (np.asarray(elevation_deg) >= MIN_ELEVATION_DEG) & (cs > 0)
           & (p < CLIP_FRACTION * max_power_w) & (cs < CLIP_FRACTION * max_power_w))
    n = int(use.sum())
    if n < MIN_CLEAR_STEPS:
        return Calibration(clear_steps=n, days=days,
                           reason=f"{n} clear steps found, need {MIN_CLEAR_STEPS}")
    factor = float(np.median(p[use] / cs[use]))
    return Calibration(factor=factor, clear_steps=n, days=days, calibrated=True, reason="")
