"""A slow, obviously-correct reference of every allocation key (docs/design.md §2).

Written independently of :mod:`pvshare.allocation`: one step at a time, one participant at a
time, in exact rational arithmetic (:class:`fractions.Fraction`; every float converts to a
Fraction exactly), and with a different algorithm for the water-filling: the saturation
thresholds ``C_i / (k_i·P)`` are sorted and the piecewise-linear equation
``Σ_i min(C_i, λ·k_i·P) = target`` is solved exactly on the segment that holds the root.
The production code instead iterates on the saturated set.

Missing consumption (NaN) is handled here as the law and the issue say: the participant is
absent from the step (it gets nothing, and the others are served as if it were not there).

Only for the tests: it is far too slow for real data.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def _q(x) -> Fraction:
    """Exact rational value of a finite float (or int, or Fraction)."""
    return x if isinstance(x, Fraction) else Fraction(float(x))


def waterfill_step(p, c: list, k: list) -> list[Fraction]:
    """One step of a static key with reallocation, exactly.

    ``a_i = min(C_i, λ·k_i·P)`` with the smallest λ ≥ 1 such that
    ``Σ a = min(P, Σ_{k_i>0} C_i)``.

    Parameters
    ----------
    p : number
        Production of the step (Wh, ≥ 0).
    c : list of numbers
        Consumption of each participant (Wh, ≥ 0).
    k : list of numbers
        Coefficients (≥ 0, Σ ≤ 1).

    Returns
    -------
    list of Fraction
        The allocated energy of each participant.
    """
    p = _q(p)
    c = [_q(x) for x in c]
    k = [_q(x) for x in k]
    eligible = [i for i in range(len(c)) if k[i] > 0]
    demand = sum((c[i] for i in eligible), Fraction(0))
    target = min(p, demand)
    a = [Fraction(0)] * len(c)
    if target == demand:                     # everyone eligible is served in full
        for i in eligible:
            a[i] = c[i]
        return a
    # Here 0 ≤ target = P < demand. If P = 0 nothing is shared.
    if p == 0:
        return a
    # Saturation thresholds: participant i is capped at C_i once λ ≥ C_i / (k_i·P).
    order = sorted(eligible, key=lambda i: c[i] / (k[i] * p))
    saturated_c = Fraction(0)                 # Σ C over participants capped so far
    free_k = sum((k[i] for i in eligible), Fraction(0))   # Σ k over the others
    lam = None
    for i in order:
        threshold = c[i] / (k[i] * p)
        # On the segment below this threshold: Σa(λ) = saturated_c + λ·P·free_k.
        candidate = (target - saturated_c) / (p * free_k)
        if candidate <= threshold:
            lam = candidate
            break
        saturated_c += c[i]
        free_k -= k[i]
    assert lam is not None, "target < demand, so some participant stays unsaturated"
    assert lam >= 1, "at λ = 1 at most Σ min(C, kP) ≤ target is allocated"
    for i in eligible:
        a[i] = min(c[i], lam * k[i] * p)
    assert sum(a, Fraction(0)) == target
    return a


def _rows(production, consumption):
    production = np.asarray(production, dtype=float)
    consumption = np.asarray(consumption, dtype=float)
    T, N = consumption.shape
    for t in range(T):
        present = [i for i in range(N) if not math.isnan(consumption[t, i])]
        yield t, float(production[t]), present, consumption[t]


def _to_array(rows: list[list[Fraction]]) -> np.ndarray:
    return np.array([[float(x) for x in row] for row in rows], dtype=float).reshape(len(rows), -1)


def prorata(production, consumption) -> np.ndarray:
    """Enedis' default key: ``a_i = P·C_i/ΣC`` if ``P < ΣC`` else ``C_i``."""
    out = []
    for _t, p, present, c in _rows(production, consumption):
        a = [Fraction(0)] * len(c)
        p = _q(p)
        total = sum((_q(c[i]) for i in present), Fraction(0))
        for i in present:
            a[i] = p * _q(c[i]) / total if p < total else _q(c[i])
        out.append(a)
    return _to_array(out)


def static(production, consumption, coefficients) -> np.ndarray:
    """``a_i = min(C_i, k_i·P)``; coefficients (N,) or per step (T, N)."""
    k = np.asarray(coefficients, dtype=float)
    out = []
    for t, p, present, c in _rows(production, consumption):
        kt = k[t] if k.ndim == 2 else k
        a = [Fraction(0)] * len(c)
        for i in present:
            a[i] = min(_q(c[i]), _q(kt[i]) * _q(p))
        out.append(a)
    return _to_array(out)


custom = static


def reallocated(production, consumption, coefficients) -> np.ndarray:
    """Static key with reallocation, by exact water-filling on each step."""
    k = np.asarray(coefficients, dtype=float)
    out = []
    for _t, p, present, c in _rows(production, consumption):
        a = [Fraction(0)] * len(c)
        part = waterfill_step(p, [c[i] for i in present], [k[i] for i in present])
        for i, x in zip(present, part):
            a[i] = x
        out.append(a)
    return _to_array(out)


def priority(production, consumption, ranks, weights=None) -> np.ndarray:
    """Ranks served in order, each by what the previous ones left; within a rank, the
    weights (normalised to sum to 1) with reallocation."""
    ranks = [int(r) for r in np.asarray(ranks)]
    n = len(ranks)
    w = [Fraction(1)] * n if weights is None else [_q(x) for x in np.asarray(weights, dtype=float)]
    out = []
    for _t, p, present, c in _rows(production, consumption):
        a = [Fraction(0)] * len(c)
        remaining = _q(p)
        for rank in sorted(set(ranks)):
            members = [i for i in range(n) if ranks[i] == rank]
            total_w = sum((w[i] for i in members), Fraction(0))
            served = [i for i in members if i in present]
            part = waterfill_step(remaining, [c[i] for i in served],
                                  [w[i] / total_w for i in served])
            for i, x in zip(served, part):
                a[i] = x
            remaining -= sum(part, Fraction(0))
            assert remaining >= 0
        out.append(a)
    return _to_array(out)
