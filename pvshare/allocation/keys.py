"""The allocation keys of collective self-consumption (Code de l'énergie L315-2, D315-6,
D315-9), as pure functions over arrays.

Every key takes the production ``P`` of each step, shape (T,), and the consumption ``C`` of
each participant, shape (T, N), both in Wh per step, and returns the energy allocated to each
participant (AUTOCONS), shape (T, N), in Wh. Each share is the production times a
coefficient, **capped at the participant's consumption**, so ``0 ≤ a ≤ C`` and
``Σ a ≤ min(P, Σ C)``.

Here ``C`` must be finite: :func:`pvshare.allocation.allocate` handles missing consumption
(NaN) before calling these — a participant with no measurement gets nothing for that step,
and the step is flagged incomplete.

References
----------
.. [1] Code de l'énergie, articles L315-2, D315-6 and D315-9 (Légifrance).
.. [2] Enedis, "Autoconsommation collective : les clés de répartition" (Enedis-FIC-CF_xxx):
       clé par défaut (dynamique au prorata), clé statique, clé dynamique simple,
       clé dynamique (full dynamique).
"""

from __future__ import annotations

import numpy as np

from pvshare.allocation.waterfill import waterfill


def prorata(production_wh: np.ndarray, consumption_wh: np.ndarray,
            out: np.ndarray | None = None) -> np.ndarray:
    """Enedis' default key ("dynamique par défaut"): shares in proportion to consumption.

    ``a_i = P·C_i/ΣC`` when ``P < ΣC``, else ``a_i = C_i``.

    Parameters
    ----------
    production_wh : ndarray, shape (T,)
        Production per step, Wh, ≥ 0.
    consumption_wh : ndarray, shape (T, N)
        Consumption per step and participant, Wh, finite and ≥ 0.

    Returns
    -------
    ndarray, shape (T, N)
        Allocated energy, Wh.
    """
    total = consumption_wh @ np.ones(consumption_wh.shape[1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(production_wh < total, production_wh / total, 1.0)
    return np.multiply(consumption_wh, ratio[:, None], out=out)


def static(production_wh: np.ndarray, consumption_wh: np.ndarray,
           coefficients: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Static key ("statique"): a fixed coefficient per participant, ``a_i = min(C_i, k_i·P)``.

    What a capped participant leaves is not reallocated: it goes to SURPLUS.

    Parameters
    ----------
    production_wh : ndarray, shape (T,)
        Production per step, Wh.
    consumption_wh : ndarray, shape (T, N)
        Consumption, Wh, finite and ≥ 0.
    coefficients : ndarray, shape (N,) or (T, N)
        Coefficients ``k_i`` in [0, 1] with ``Σ k ≤ 1`` (per step for shape (T, N)).

    Returns
    -------
    ndarray, shape (T, N)
        Allocated energy, Wh.
    """
    out = np.multiply(coefficients, production_wh[:, None], out=out)
    return np.minimum(consumption_wh, out, out=out)


def custom(production_wh: np.ndarray, consumption_wh: np.ndarray,
           coefficients: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Per-step coefficients ("full dynamique", from a file): ``a = min(C, k_t·P)``.

    Parameters
    ----------
    coefficients : ndarray, shape (T, N)
        ``k_{t,i}`` in [0, 1], each row summing to at most 1.

    See Also
    --------
    static : the same rule with one coefficient per participant.
    """
    return static(production_wh, consumption_wh, coefficients, out=out)


def reallocated(production_wh: np.ndarray, consumption_wh: np.ndarray,
                coefficients: np.ndarray) -> np.ndarray:
    """Static key with reallocation (a "dynamique simple" key computed by the PMO, e.g.
    égalitaire or pondéré avec réaffectation).

    ``a_i = min(C_i, λ·k_i·P)`` with the smallest λ ≥ 1 that makes
    ``Σ a = min(P, Σ_{k_i>0} C_i)``: what a participant cannot use is handed to the others in
    proportion to their coefficients, until everyone is served or the production is used up.
    Exact water-filling (:func:`pvshare.allocation.waterfill.waterfill`).

    Parameters
    ----------
    production_wh : ndarray, shape (T,)
        Production per step, Wh.
    consumption_wh : ndarray, shape (T, N)
        Consumption, Wh, finite and ≥ 0.
    coefficients : ndarray, shape (N,) or (T, N)
        Coefficients ``k_i ≥ 0`` with ``Σ k ≤ 1``. A participant with ``k_i = 0`` gets nothing.

    Returns
    -------
    ndarray, shape (T, N)
        Allocated energy, Wh.
    """
    k = np.asarray(coefficients, dtype=float)
    shares = np.multiply(k, production_wh[:, None])
    if k.ndim == 1:                                 # fast path: one coefficient each
        eligible_demand = consumption_wh @ (k > 0).astype(float)
    else:
        eligible_demand = np.where(k > 0, consumption_wh, 0.0).sum(axis=1)
    target = np.minimum(production_wh, eligible_demand)
    return waterfill(shares, consumption_wh, target, out=shares)


def priority(production_wh: np.ndarray, consumption_wh: np.ndarray, ranks: np.ndarray,
             weights: np.ndarray | None = None) -> np.ndarray:
    """Priority ranks: rank 1 is served first by the whole production, what is left goes to
    rank 2, and so on. Within a rank, the production is shared by the weights with
    reallocation (as :func:`reallocated` with the weights normalised to sum to 1).

    Parameters
    ----------
    production_wh : ndarray, shape (T,)
        Production per step, Wh.
    consumption_wh : ndarray, shape (T, N)
        Consumption, Wh, finite and ≥ 0.
    ranks : ndarray of int, shape (N,)
        1 = served first. Ranks need not be contiguous.
    weights : ndarray, shape (N,), optional
        Weights within a rank (> 0); equal weights when omitted.

    Returns
    -------
    ndarray, shape (T, N)
        Allocated energy, Wh.
    """
    ranks = np.asarray(ranks)
    w = np.ones(ranks.shape) if weights is None else np.asarray(weights, dtype=float)
    # Group the columns of each rank together once, so every rank works on a contiguous
    # block (one copy of the array instead of a strided gather per rank).
    order = np.argsort(ranks, kind="stable")
    sorted_ranks = ranks[order]
    demand = consumption_wh[:, order] if (order != np.arange(order.size)).any() else consumption_wh
    allocated = np.empty_like(demand, dtype=float)
    remaining = np.asarray(production_wh, dtype=float).copy()
    bounds = np.flatnonzero(np.diff(sorted_ranks)) + 1
    for a, b in zip(np.r_[0, bounds], np.r_[bounds, order.size]):   # a handful of ranks
        wr = w[order[a:b]] / w[order[a:b]].sum()
        block = np.ascontiguousarray(demand[:, a:b])
        part = reallocated(remaining, block, wr)
        allocated[:, a:b] = part
        # A rank that could not be fully served used the whole rest: exactly nothing is left
        # for the next ranks (not a rounding crumb of 1e-13 Wh).
        served_in_full = remaining >= block @ (wr > 0).astype(float)
        remaining = np.where(served_in_full,
                             np.maximum(remaining - part.sum(axis=1), 0.0), 0.0)
    if demand is consumption_wh:
        return allocated
    out = np.empty_like(allocated)
    out[:, order] = allocated
    return out
