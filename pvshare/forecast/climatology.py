r"""Climatology: what the sky usually does, by month and hour of the (mean solar) day.

Two kinds:

- the **clear-sky-index climatology** :math:`\\bar k(m, h)`, the least-squares ratio of
  measured to clear-sky power in each (month, solar hour) bin; our forecast blends towards it
  and uses it alone when nothing better is known;
- the **power climatology**, the mean measured power per (month, UTC time of day), the
  textbook baseline a forecast must beat.

Without measured history the clear-sky-index climatology is :data:`DEFAULT_MONTHLY_K`, from a
public typical meteorological year near the building.
"""

from __future__ import annotations

import numpy as np

#: Monthly clear-sky index of global horizontal irradiance, January..December: sum of GHI over
#: sum of Ineichen clear-sky GHI in the EU JRC PVGIS typical meteorological year at 45 N 8 E
#: (Piedmont, 250 m; ``shared/data/weather/pvgis_tmy_45N_8E.csv``, BSD-3-Clause via pvlib's
#: test data), the closest public weather year to the Ain we have. Used for a site without
#: measured history. Recomputed by ``tests/test_forecast_climatology.py``.
DEFAULT_MONTHLY_K = (0.801, 0.812, 0.837, 0.662, 0.681, 0.963,
                     0.895, 0.876, 0.892, 0.828, 0.909, 0.898)


def default_k_table() -> np.ndarray:
    """(12, 24) clear-sky-index climatology from :data:`DEFAULT_MONTHLY_K` (flat over hours)."""
    return np.repeat(np.asarray(DEFAULT_MONTHLY_K, dtype=float)[:, None], 24, axis=1)


def fit_k_table(power_w, clear_sky_w, months, hours, ok, min_samples: int = 8) -> np.ndarray:
    """Least-squares clear-sky-index climatology per (month, solar hour).

    In each bin, ``k = sum(P * P_cs) / sum(P_cs ** 2)``: the constant that, times the clear-sky
    power, fits the measured power best in the least-squares sense. A bin with fewer than
    ``min_samples`` steps takes its month's value, a month without data the overall value.

    Parameters
    ----------
    power_w, clear_sky_w : array-like
        Measured and clear-sky power per step, W.
    months : array-like of int
        1..12 per step.
    hours : array-like of int
        Solar hour 0..23 per step.
    ok : array-like of bool
        Steps to use (daytime, measured).

    Returns
    -------
    numpy.ndarray
        Shape (12, 24), unitless.
    """
    p = np.asarray(power_w, dtype=float)
    cs = np.asarray(clear_sky_w, dtype=float)
    ok = np.asarray(ok, dtype=bool) & np.isfinite(p) & np.isfinite(cs) & (cs > 0)
    b = (np.asarray(months)[ok] - 1) * 24 + np.asarray(hours)[ok]
    num = np.bincount(b, weights=p[ok] * cs[ok], minlength=288).reshape(12, 24)
    den = np.bincount(b, weights=cs[ok] ** 2, minlength=288).reshape(12, 24)
    n = np.bincount(b, minlength=288).reshape(12, 24)
    total = num.sum() / den.sum() if den.sum() > 0 else 1.0
    mnum, mden = num.sum(axis=1), den.sum(axis=1)
    month_k = np.where(mden > 0, mnum / np.where(mden > 0, mden, 1), total)
    table = np.where(n >= min_samples, num / np.where(den > 0, den, 1), month_k[:, None])
    return table


def k_from_table(table, months, hours) -> np.ndarray:
    """Look up a (12, 24) table at each step's month (1..12) and solar hour (0..23)."""
    return np.asarray(table, dtype=float)[np.asarray(months) - 1, np.asarray(hours)]


def fit_power_table(power_w, months, slots, ok, n_slots: int) -> np.ndarray:
    """Mean measured power per (month, time-of-day slot), W: the climatology baseline.

    Parameters
    ----------
    power_w : array-like
        Measured power per step, W (NaN = missing).
    months : array-like of int
        1..12.
    slots : array-like of int
        Step of the UTC day, ``0 .. n_slots - 1``.
    ok : array-like of bool
        Steps to use (the training period).
    n_slots : int
        Steps per day.

    Returns
    -------
    numpy.ndarray
        Shape (12, n_slots), W; NaN where a bin has no data.
    """
    p = np.asarray(power_w, dtype=float)
    ok = np.asarray(ok, dtype=bool) & np.isfinite(p)
    b = (np.asarray(months)[ok] - 1) * n_slots + np.asarray(slots)[ok]
    s = np.bincount(b, weights=p[ok], minlength=12 * n_slots)
    n = np.bincount(b, minlength=12 * n_slots)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s / n).reshape(12, n_slots)
