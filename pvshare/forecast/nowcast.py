r"""Clear-sky-index persistence blended towards a prior as the information ages.

At an issue time the latest measured clear-sky index ``k_src`` (mean of the last valid steps)
says what the sky is doing now. For a step ``a`` steps after that measurement the forecast is

.. math:: \\hat k = k_{prior} + \\alpha(a) \\, (k_{src} - k_{prior})

where ``k_prior`` is the climatology (or the clear-sky index of a weather-forecast model run
when one is given) and ``alpha(a)`` in ``[0, 1]`` falls from about 1 to about 0 as the
measurement ages. ``alpha`` is **fitted** on history by weighted least squares, per age:
``alpha(a) = sum(w x y) / sum(w x^2)`` with ``x = k_src - k_prior`` at the target,
``y = k_obs - k_prior`` and ``w = P_cs^2`` (so the fit minimises the squared error in power).

The age is counted from the last *valid* measured step (sun high enough), not from the issue
time: at 06:00 the freshest information is yesterday evening's sky, 12 h old, and is trusted
accordingly.

References
----------
.. [1] J. Antonanzas et al., "Review of photovoltaic power forecasting", Solar Energy 136,
   78-111, 2016.
"""

from __future__ import annotations

import numpy as np

#: Largest age (hours) the blending table covers; older measurements use its last value.
MAX_AGE_H = 72.0


def last_valid_before(valid) -> np.ndarray:
    """For each position ``i``, the position of the last ``True`` strictly before ``i`` (-1 if none).

    Parameters
    ----------
    valid : array-like of bool

    Returns
    -------
    numpy.ndarray of int
    """
    v = np.asarray(valid, dtype=bool)
    pos = np.where(v, np.arange(v.size), -1)
    last_incl = np.maximum.accumulate(pos) if v.size else pos
    out = np.empty(v.size, dtype=np.int64)
    if v.size:
        out[0] = -1
        out[1:] = last_incl[:-1]
    return out


def source_k(k, valid, n_avg: int = 1) -> np.ndarray:
    """Persistence source at each valid step: mean ``k`` of the last ``n_avg`` valid steps.

    Parameters
    ----------
    k : array-like
        Clear-sky index per step.
    valid : array-like of bool
        Steps whose ``k`` may be used.
    n_avg : int
        How many valid steps to average (up to and including the step itself).

    Returns
    -------
    numpy.ndarray
        Same shape as ``k``; NaN where ``valid`` is False.
    """
    k = np.asarray(k, dtype=float)
    valid = np.asarray(valid, dtype=bool) & np.isfinite(k)
    out = np.full(k.shape, np.nan)
    kv = k[valid]
    if kv.size == 0:
        return out
    c = np.concatenate([[0.0], np.cumsum(kv)])
    idx = np.arange(kv.size)
    lo = np.maximum(idx + 1 - n_avg, 0)
    out[valid] = (c[idx + 1] - c[lo]) / (idx + 1 - lo)
    return out


def fit_alpha(k_src, k_obs, k_prior, weight, src_ok, target_ok, step_s: int,
              max_age_h: float = MAX_AGE_H, min_pairs: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Fit the blending weight ``alpha`` per age by weighted least squares.

    Every pair (source step ``s``, target step ``s + a``) with ``src_ok[s]`` and
    ``target_ok[s + a]`` counts, for ``a = 1 .. max_age``.

    Parameters
    ----------
    k_src : array-like
        Persistence source per step (:func:`source_k`).
    k_obs : array-like
        Observed clear-sky index per step.
    k_prior : array-like
        Prior clear-sky index per step (climatology or weather model).
    weight : array-like
        Weight of each target step (``P_cs ** 2``, W^2).
    src_ok, target_ok : array-like of bool
        Usable sources and targets (the training period, daytime, measured).
    step_s : int
        Step length, seconds.
    max_age_h : float
        Largest age fitted, hours.
    min_pairs : int
        An age with fewer pairs takes the value of the previous age.

    Returns
    -------
    ages_h : numpy.ndarray
        Ages in hours, ``step_s / 3600 * (1 .. max_age)``.
    alpha : numpy.ndarray
        Blending weight per age, in ``[0, 1]``.
    """
    k_src = np.asarray(k_src, dtype=float)
    k_obs = np.asarray(k_obs, dtype=float)
    k_prior = np.asarray(k_prior, dtype=float)
    w = np.asarray(weight, dtype=float)
    src_ok = np.asarray(src_ok, dtype=bool) & np.isfinite(k_src)
    target_ok = (np.asarray(target_ok, dtype=bool) & np.isfinite(k_obs)
                 & np.isfinite(k_prior) & np.isfinite(w))
    n = k_src.size
    max_age = int(round(max_age_h * 3600 / step_s))
    alpha = np.zeros(max_age)
    s_idx = np.flatnonzero(src_ok)
    prev = 1.0
    for a in range(1, max_age + 1):
        t = s_idx + a
        t = t[t < n]
        s = t - a
        m = target_ok[t]
        t, s = t[m], s[m]
        if t.size < min_pairs:
            alpha[a - 1] = prev
            continue
        x = k_src[s] - k_prior[t]
        y = k_obs[t] - k_prior[t]
        den = np.sum(w[t] * x * x)
        val = float(np.sum(w[t] * x * y) / den) if den > 0 else 0.0
        alpha[a - 1] = prev = min(max(val, 0.0), 1.0)
    ages_h = np.arange(1, max_age + 1) * step_s / 3600.0
    return ages_h, alpha


def blend(k_src, age_h, k_prior, ages_h, alpha) -> np.ndarray:
    """Forecast clear-sky index: ``k_prior + alpha(age) * (k_src - k_prior)``.

    Parameters
    ----------
    k_src : array-like
        Persistence source (NaN = none: the prior alone is used).
    age_h : array-like
        Hours between the source step and the target step.
    k_prior : array-like
        Prior clear-sky index at the target.
    ages_h, alpha : array-like
        Blending table (:func:`fit_alpha`), interpolated linearly, held constant outside.

    Returns
    -------
    numpy.ndarray
        Forecast clear-sky index, unitless (broadcast shape of the inputs).
    """
    k_src = np.asarray(k_src, dtype=float)
    k_prior = np.asarray(k_prior, dtype=float)
    a = np.interp(np.asarray(age_h, dtype=float), np.asarray(ages_h, dtype=float),
                  np.asarray(alpha, dtype=float))
    return np.where(np.isfinite(k_src), k_prior + a * (k_src - k_prior), k_prior)
