"""Key-file coefficients rounded without loss: the grid point Enedis gives back most from.

Enedis applies a PMO's dynamic coefficients per participant and step as
``a_i = min(C_i, k_i · P)`` (consumption ``C_i``, production ``P``); whatever is left is
surplus. The coefficients are written on a decimal grid (0.1 % or 0.01 %) and a row must sum
to at most 100 %. Flooring every coefficient throws away up to one grid unit of production
per participant and step (3.8 % of the self-consumption on the bundled sample year).

Given the exact allocation ``a*`` (what pvshare computed), this module chooses integer grid
units ``n_i`` (``k_i = n_i / G``, ``G`` units in 100 %) with ``Σ n_i ≤ G`` maximising

    V(n) = Σ_i min(a*_i, n_i · P / G).

Each term is concave and piecewise linear in ``n_i``: the first ``floor(a*_i G / P)`` units
each bring ``P / G``, the next one brings the remainder ``frac_i · P / G``, any further unit
brings nothing. For a separable concave objective under one budget constraint, taking units
in decreasing order of marginal gain is optimal (the exchange argument: any solution that
skips a larger gain for a smaller one can swap them without loss). Hence:

1. every participant gets its floor (full-value units, and ``Σ floor ≤ G`` since
   ``Σ a* ≤ P``);
2. the spare units ``G − Σ floor`` go, one each, to the largest remainders; nobody goes past
   the ceiling of ``a*_i G / P``.

Consequences, checked by property tests against a brute force: ``V`` is the optimum of the
grid; every coefficient is within one unit of the exact share (``n_i ≤ ceil``); Enedis's own
``min(C_i, ·)`` keeps anyone from receiving more than they consumed. A participant rounded up
may receive slightly more than ``a*_i`` when it consumed more: that is what Enedis computes,
and it is part of the self-consumption given back (the total never exceeds ``P``).

Everything is vectorised over steps and participants (one ``argsort`` along the rows).
"""

from __future__ import annotations

import numpy as np

from pvshare.i18n import _

#: Grid units in 100 % for 1 and 2 decimals of a percent.
GRID = {1: 1000, 2: 10000}
#: Guard against floating-point noise around a grid point (12.299999999 → 12,3).
_EPS = 1e-9
#: A production below this is no production: every coefficient of the step is 0, Wh. Meters
#: count whole Wh; far below that (e.g. 5e-324 Wh, a subnormal float) the shares ``a*/P``
#: have lost their precision: an allocation of 5e-324 Wh split among three participants
#: gives each of them the whole 5e-324 Wh, i.e. three coefficients of 100 %.
PRODUCTION_EPS_WH = 1e-9


def grid_units(decimals: int) -> int:
    """Units in 100 % for coefficients written with ``decimals`` decimals of a percent."""
    try:
        return GRID[decimals]
    except KeyError:
        raise ValueError(_("decimals must be 1 or 2, got {value!r}").format(
            value=decimals)) from None


def exact_units(allocated_wh: np.ndarray, production_wh: np.ndarray, grid: int) -> np.ndarray:
    """The exact shares ``a* · G / P`` in grid units, shape (T, N); 0 where ``P`` is below
    :data:`PRODUCTION_EPS_WH` (no production).
    """
    p = np.asarray(production_wh, dtype=float)[:, None]
    a = np.asarray(allocated_wh, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p >= PRODUCTION_EPS_WH, a * grid / p, 0.0)
    ratio[~np.isfinite(ratio)] = 0.0
    return np.clip(ratio, 0.0, grid)


def floor_units(allocated_wh: np.ndarray, production_wh: np.ndarray, grid: int) -> np.ndarray:
    """Each coefficient floored to the grid (pvshare's former rule), int64 (T, N).

    Rows sum to at most ``grid`` (a row over it through rounding noise is trimmed from its
    largest coefficient).
    """
    units = np.floor(exact_units(allocated_wh, production_wh, grid) + _EPS).astype(np.int64)
    return _trim_rows(units, grid)


def _trim_rows(units: np.ndarray, grid: int) -> np.ndarray:
    """Rows over ``grid`` (only with Σa* > P by float noise: rare, tiny) trimmed from their
    largest coefficients down, never below 0.
    """
    over = units.sum(axis=1) - grid
    bad = np.flatnonzero(over > 0)
    while bad.size:
        cols = np.argmax(units[bad], axis=1)
        cut = np.minimum(units[bad, cols], over[bad])
        units[bad, cols] -= cut
        over[bad] -= cut
        bad = bad[over[bad] > 0]
    return units


def optimal_units(allocated_wh: np.ndarray, production_wh: np.ndarray, grid: int) -> np.ndarray:
    """Grid units maximising ``Σ min(a*_i, n_i P / G)`` under ``Σ n_i ≤ G`` (see module).

    Parameters
    ----------
    allocated_wh : ndarray, shape (T, N)
        The exact allocation (AUTOCONS), Wh; ``Σ_i ≤ P`` per step.
    production_wh : ndarray, shape (T,)
        Production, Wh.
    grid : int
        Units in 100 % (1000 for 0.1 %, 10000 for 0.01 %).

    Returns
    -------
    ndarray of int64, shape (T, N)
        ``floor`` or ``ceil`` of each exact share; every row sums to at most ``grid``; ties
        between equal remainders go to the lower column index.
    """
    exact = exact_units(allocated_wh, production_wh, grid)
    units = np.floor(exact + _EPS).astype(np.int64)
    units = _trim_rows(units, grid)
    frac = exact - units
    frac[frac <= _EPS] = 0.0                # on the grid already: nothing to give back
    spare = grid - units.sum(axis=1)        # (T,) ≥ 0
    if units.shape[1] == 0:
        return units
    # Rank each row's remainders, largest first (stable: ties to the lower column).
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(units.shape[1])[None, :].repeat(len(units), 0),
                      axis=1)
    units += (rank < spare[:, None]) & (frac > 0)
    return units


def enedis_allocation(units: np.ndarray, production_wh: np.ndarray, consumption_wh: np.ndarray,
                      grid: int) -> np.ndarray:
    """What Enedis computes from a key file: ``min(C_i, n_i / G · P)``, Wh, shape (T, N).

    Missing consumption (NaN) counts as zero.
    """
    c = np.nan_to_num(np.asarray(consumption_wh, dtype=float), nan=0.0)
    share = np.asarray(units, dtype=float) * (np.asarray(production_wh, dtype=float)[:, None]
                                              / grid)
    return np.minimum(c, share)


def rounding_loss(allocated_wh: np.ndarray, production_wh: np.ndarray,
                  consumption_wh: np.ndarray, units: np.ndarray, grid: int) -> np.ndarray:
    """Per participant, the exact allocation minus what Enedis gives from ``units``, Wh (N,).

    Positive = lost to rounding; a negative value is a participant rounded up that Enedis
    gave a little more than its exact share.
    """
    enedis = enedis_allocation(units, production_wh, consumption_wh, grid)
    return np.asarray(allocated_wh, dtype=float).sum(axis=0) - enedis.sum(axis=0)
