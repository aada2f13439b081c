"""Exact water-filling: the level λ of a "static key with reallocation".

Every participant i receives ``a_i = min(C_i, λ·w_i)`` where ``w_i = k_i·P`` is its static
share, and λ ≥ 1 is the smallest level at which ``Σ a_i`` reaches the target
``min(P, Σ_{w_i > 0} C_i)``. What a capped participant cannot use is thus handed to the
others in proportion to their coefficients.

The solver is exact (a finite number of steps, no tolerance). For a level λ let
``S(λ) = {i : C_i ≤ λ·w_i}`` be the saturated participants; the level that serves the
target with ``S`` saturated is ``λ' = (target − Σ_S C) / Σ_{not S} w``. Starting from λ = 1,
λ' ≥ λ and ``S(λ') ⊇ S(λ)``: the saturated set only grows, so the loop ends after at most N
rounds (2–4 in practice) when ``S`` stops growing, and then ``a = min(C, λ'·w)`` sums to the
target exactly (up to floating-point rounding). Each round is vectorised over the steps
that have not converged yet; converged steps drop out of the work arrays. Steps that need
no search (no production, or enough for everyone) never enter the loop.
"""

from __future__ import annotations

import numpy as np


def waterfill(shares_wh: np.ndarray, demand_wh: np.ndarray, target_wh: np.ndarray,
              out: np.ndarray | None = None) -> np.ndarray:
    """Allocate ``min(demand, λ·share)`` per step with the smallest λ ≥ 1 reaching ``target``.

    Parameters
    ----------
    shares_wh : ndarray, shape (T, N)
        Static share of each participant ``k_i·P`` (Wh, ≥ 0). A zero share gets nothing.
    demand_wh : ndarray, shape (T, N)
        Consumption ``C_i`` (Wh, finite, ≥ 0).
    target_wh : ndarray, shape (T,)
        What must be allocated in total, ``min(P, Σ_{share>0} C)`` (Wh).
    out : ndarray, shape (T, N), optional
        Where to write the result (may be ``shares_wh`` itself, to save memory).

    Returns
    -------
    ndarray, shape (T, N)
        Allocated energy (Wh): ``0 ≤ a ≤ C``, ``a = 0`` where the share is 0, and
        ``Σ a = target`` up to floating-point rounding.
    """
    shares = np.asarray(shares_wh, dtype=float)
    demand = np.asarray(demand_wh, dtype=float)
    target = np.asarray(target_wh, dtype=float)
    T = shares.shape[0]
    total_share = shares.sum(axis=1)
    eligible_demand = np.where(shares > 0, demand, 0.0).sum(axis=1)
    # Everyone eligible is served in full when the production covers their demand.
    full = (target >= eligible_demand) & (eligible_demand > 0)
    search = np.flatnonzero((target > 0) & ~full & (total_share > 0))

    level = np.ones(T)
    rows = search
    prev_count = np.full(rows.size, -1)
    while rows.size:
        sh, de = shares[rows], demand[rows]
        lam = level[rows]
        sat = de <= lam[:, None] * sh
        count = sat.sum(axis=1)
        grew = count != prev_count
        taken = np.einsum("ij,ij->i", de, sat)
        free = np.einsum("ij,ij->i", sh, ~sat)       # not total − Σ_sat: no cancellation
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(free > 0, (target[rows] - taken) / free, lam)
        level[rows] = np.maximum(new, lam)
        rows, prev_count = rows[grew], count[grew]

    result = np.multiply(shares, level[:, None], out=out)
    np.minimum(result, demand, out=result)
    if full.any():
        idx = np.flatnonzero(full)
        result[idx] = np.where(shares[idx] > 0, demand[idx], 0.0)
    return result
