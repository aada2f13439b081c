"""P10 / P50 / P90 bands from the quantiles of historical forecast errors.

The error of a forecast clear-sky index, ``e = k_obs - k_hat``, is collected on history and
its 10 %, 50 % and 90 % quantiles are kept per **lead-time band** and per **forecast sky
level** (overcast, broken, clear: the spread of the error depends on both). A forecast
``k_hat`` then becomes ``P_q = min(clip(k_hat + e_q, 0, 1.5) * P_cs, P_max)``; P50 is the median
forecast (it minimises the absolute error), P10 and P90 bound 80 % of the outcomes.

References
----------
.. [1] T. Hong et al., "Probabilistic energy forecasting: Global Energy Forecasting
   Competition 2014 and beyond", Int. J. Forecasting 32(3), 896-913, 2016.
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.1, 0.5, 0.9)
#: Lead-time band edges, hours (lead = end of the target step minus the issue time).
LEAD_EDGES_H = (1.0, 3.0, 6.0, 24.0)
LEAD_BANDS = ("0-1h", "1-3h", "3-6h", "6-24h", "24-48h")
#: Forecast clear-sky index edges between overcast, broken and clear.
K_EDGES = (0.4, 0.8)
#: Upper bound of the clear-sky index of every quantile. (Capping P50 at the clear sky was
#: tried and made the PVDAQ backtest worse: on clear days that site's measured power is
#: often above the calibrated model, by up to 10-20 %.)
K_UPPER = 1.5


def lead_band(lead_h) -> np.ndarray:
    """Band number 0..4 of each lead time (hours): 0-1 h, 1-3 h, 3-6 h, 6-24 h, beyond."""
    return np.searchsorted(np.asarray(LEAD_EDGES_H), np.asarray(lead_h, dtype=float),
                           side="left")


def k_level(k_hat) -> np.ndarray:
    """Sky level 0 (overcast), 1 (broken) or 2 (clear) of each forecast clear-sky index."""
    return np.searchsorted(np.asarray(K_EDGES), np.asarray(k_hat, dtype=float), side="right")


def fit_error_quantiles(k_obs, k_hat, lead_h, ok, min_samples: int = 30) -> np.ndarray:
    """Quantiles of ``k_obs - k_hat`` per lead band and sky level.

    Parameters
    ----------
    k_obs, k_hat : array-like
        Observed and forecast clear-sky indices (any shape, same shape).
    lead_h : array-like
        Lead time of each forecast, hours.
    ok : array-like of bool
        Forecasts to use (training period, daytime, measured).
    min_samples : int
        A cell with fewer samples takes the quantiles of its whole lead band.

    Returns
    -------
    numpy.ndarray
        Shape (5, 3, 3): band, sky level, quantile (:data:`QUANTILES`), unitless.
    """
    k_obs = np.asarray(k_obs, dtype=float)
    lead = np.broadcast_to(np.asarray(lead_h, dtype=float), k_obs.shape).ravel()
    k_obs = k_obs.ravel()
    k_hat = np.asarray(k_hat, dtype=float).ravel()
    ok = np.asarray(ok, dtype=bool).ravel() & np.isfinite(k_obs) & np.isfinite(k_hat)
    err = (k_obs - k_hat)[ok]
    band = lead_band(lead[ok])
    level = k_level(k_hat[ok])
    table = np.zeros((len(LEAD_BANDS), 3, len(QUANTILES)))
    for b in range(len(LEAD_BANDS)):
        in_b = band == b
        whole = (np.quantile(err[in_b], QUANTILES) if in_b.sum() >= min_samples
                 else np.array([-0.3, 0.0, 0.2]))
        for lv in range(3):
            m = in_b & (level == lv)
            table[b, lv] = np.quantile(err[m], QUANTILES) if m.sum() >= min_samples else whole
    return table


def apply_error_quantiles(k_hat, lead_h, clear_sky_w, table, max_power_w: float):
    """P10, P50 and P90 power from a forecast clear-sky index.

    Parameters
    ----------
    k_hat : array-like
        Forecast clear-sky index.
    lead_h : array-like
        Lead time, hours (broadcast with ``k_hat``).
    clear_sky_w : array-like
        Clear-sky power at the target, W.
    table : numpy.ndarray
        (5, 3, 3) quantile table (:func:`fit_error_quantiles`).
    max_power_w : float
        Largest possible power (inverter AC limit), W.

    Returns
    -------
    numpy.ndarray
        Shape ``k_hat.shape + (3,)``: P10, P50, P90 in W, ``0 <= P10 <= P50 <= P90 <= max``.
    """
    k_hat = np.asarray(k_hat, dtype=float)
    b = lead_band(np.broadcast_to(np.asarray(lead_h, dtype=float), k_hat.shape))
    lv = k_level(np.nan_to_num(k_hat, nan=0.0))
    e = np.asarray(table, dtype=float)[b, lv]                     # (..., 3)
    cs = np.asarray(clear_sky_w, dtype=float)[..., None]
    k = np.clip(k_hat[..., None] + e, 0.0, K_UPPER)
    p = np.minimum(k * cs, max_power_w)
    return np.sort(p, axis=-1)
