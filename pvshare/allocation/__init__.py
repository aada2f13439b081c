"""Allocation of the production among participants, step by step (docs/design.md §2).

>>> import numpy as np
>>> from pvshare.allocation import allocate
>>> production = np.array([900.0])                 # Wh in one step
>>> consumption = np.array([[100.0, 500.0, 600.0]])  # three tenants, Wh
>>> allocate(production, consumption, "reallocated").allocated
array([[100., 400., 400.]])

Keys: ``prorata`` (Enedis' default), ``static``, ``reallocated`` (static with reallocation),
``priority`` (ranks), ``custom`` (per-step coefficients from a file). All are vectorised
over steps and participants. A key with its coefficients, built from the config or from
command-line options, is a :class:`~pvshare.allocation.spec.KeySpec`.
"""

from __future__ import annotations

import numpy as np

from pvshare.allocation import keys
from pvshare.allocation.result import AllocationResult
from pvshare.allocation.spec import KeyName, KeySpec
from pvshare.i18n import _

#: The key names (see :class:`pvshare.allocation.spec.KeyName`).
KEYS = tuple(k.value for k in KeyName)
#: Tolerance on "coefficients sum to at most 1" (floating-point sums of 1/N shares).
SUM_TOLERANCE = 1e-9

__all__ = ["KEYS", "AllocationResult", "KeyName", "KeySpec", "allocate", "keys"]


def allocate(production, consumption, key: str, coefficients=None, ranks=None) -> AllocationResult:
    """Share the production of each step among the participants with the given key.

    Parameters
    ----------
    production : array_like, shape (T,)
        Production per step, Wh. Must be finite and ≥ 0.
    consumption : array_like, shape (T, N)
        Consumption per step and participant, Wh, ≥ 0. NaN = not measured: that participant
        gets nothing for the step and the step is reported incomplete.
    key : {'prorata', 'static', 'reallocated', 'priority', 'custom'}
        The allocation key.
    coefficients : array_like, optional
        (N,) coefficients for ``static`` and ``reallocated`` (Σ ≤ 1; equal shares 1/N when
        omitted), weights within a rank for ``priority`` (equal when omitted);
        (T, N) per-step coefficients for ``custom`` (each row Σ ≤ 1, required).
    ranks : array_like of int, shape (N,), optional
        For ``priority``: 1 = served first (required).

    Returns
    -------
    AllocationResult
        ``.allocated`` (T, N) Wh, with ``.surplus``, ``.complement``, ``.incomplete``.

    Raises
    ------
    ValueError
        On shapes that do not match, negative or non-finite production, negative
        consumption, or coefficients out of range.
    """
    if key not in KEYS:
        raise ValueError(_("unknown key {key!r}: use one of {keys}").format(
            key=key, keys=', '.join(KEYS)))
    production = np.asarray(production, dtype=float)
    consumption = np.asarray(consumption, dtype=float)
    if production.ndim != 1:
        raise ValueError(_("production must have shape (T,), got {shape}").format(
            shape=production.shape))
    if consumption.ndim != 2 or consumption.shape[0] != production.shape[0]:
        raise ValueError(_("consumption must have shape (T, N) = ({t}, N), got {shape}")
                         .format(t=production.shape[0], shape=consumption.shape))
    T, N = consumption.shape
    bad = ~np.isfinite(production) | (production < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(_("production must be finite and >= 0: step {step} is {value!r} "
                           "({n} bad step(s))").format(step=i, value=float(production[i]),
                                                      n=int(bad.sum())))
    # A missing value (NaN) becomes a demand of 0, so its participant gets nothing.
    demand = _demand(consumption, 0)

    if key == "prorata":
        allocated = _by_blocks(keys.prorata, production, demand)
    elif key in ("static", "reallocated"):
        # An unmeasured participant has demand 0 here, so it gets nothing; under "static"
        # its share goes to the surplus, under "reallocated" to the others.
        k = _coefficients(coefficients, N, key)
        allocated = _by_blocks(getattr(keys, key), production, demand, k)
    elif key == "priority":
        if ranks is None:
            raise ValueError(_("key 'priority' needs ranks (1 = served first) for each "
                               "participant"))
        r = np.asarray(ranks)
        if r.shape != (N,) or not np.issubdtype(r.dtype, np.integer) or (r < 1).any():
            raise ValueError(_("ranks must be N={n} integers >= 1, got {ranks!r}").format(
                n=N, ranks=r))
        w = None if coefficients is None else np.asarray(coefficients, dtype=float)
        if w is not None:
            if w.shape != (N,) or not np.isfinite(w).all() or (w < 0).any():
                raise ValueError(_("priority weights must be N={n} numbers >= 0").format(n=N))
            for rank in np.unique(r):
                if w[r == rank].sum() <= 0:
                    raise ValueError(_("priority weights of rank {rank} are all zero").format(
                        rank=rank))
        allocated = _by_blocks(keys.priority, production, demand, r, w)
    else:  # custom
        if coefficients is None:
            raise ValueError(_("key 'custom' needs per-step coefficients, shape (T, N)"))
        k = np.asarray(coefficients, dtype=float)
        if k.shape != (T, N):
            raise ValueError(_("custom coefficients must have shape (T, N) = ({t}, {n}), got "
                               "{shape}").format(t=T, n=N, shape=k.shape))
        _check_range(k, "custom")
        over = k.sum(axis=1) > 1 + SUM_TOLERANCE
        if over.any():
            t = int(np.flatnonzero(over)[0])
            raise ValueError(_("custom coefficients of step {step} sum to {total:.10g}, must "
                               "be at most 1").format(step=t, total=float(k[t].sum())))
        allocated = _by_blocks(keys.custom, production, demand, k, per_step=True)

    return AllocationResult(allocated=allocated, production=production,
                            consumption=consumption, key=key)


#: Cells per block of steps: every key treats steps independently, so large arrays are
#: processed a block of rows at a time, each block's temporaries staying in the CPU cache.
BLOCK_CELLS = 1 << 16


def _by_blocks(key_fn, production, demand, *args, per_step: bool = False) -> np.ndarray:
    """``key_fn(production, demand, *args)`` over blocks of steps, into one output array.
    With ``per_step``, the first extra argument has one row per step and is sliced too.
    """
    T, N = demand.shape
    rows = max(1, BLOCK_CELLS // max(N, 1))
    if T <= rows:
        return key_fn(production, demand, *args)
    out = np.empty((T, N))
    direct = key_fn in (keys.prorata, keys.static, keys.custom)   # they can write in place
    for a in range(0, T, rows):                    # blocks of steps, not steps
        sl = slice(a, a + rows)
        extra = (args[0][sl], *args[1:]) if per_step else args
        if direct:
            key_fn(production[sl], demand[sl], *extra, out=out[sl])
        else:
            out[sl] = key_fn(production[sl], demand[sl], *extra)
    return out


def _demand(consumption: np.ndarray, first_step: int) -> np.ndarray:
    """The consumption with missing values (NaN) as 0; rejects negative or infinite values
    (naming the step, counted from ``first_step``). Two fast passes when nothing is missing.
    """
    low, high = consumption.min(initial=0.0), consumption.max(initial=0.0)
    missing = None
    if np.isnan(low) or np.isnan(high):
        missing = np.isnan(consumption)
        low = np.min(consumption, initial=0.0, where=~missing)
        high = np.max(consumption, initial=0.0, where=~missing)
    if low < 0 or np.isinf(high):
        t, i = np.argwhere(np.isinf(consumption) | (consumption < 0))[0]
        raise ValueError(_("consumption must be >= 0 and finite (or NaN if missing): step "
                           "{step}, participant {participant} is {value!r}").format(
                             step=t + first_step, participant=i,
                             value=float(consumption[t, i])))
    return consumption if missing is None else np.where(missing, 0.0, consumption)


def _check_range(k: np.ndarray, key: str) -> None:
    bad = ~np.isfinite(k) | (k < 0) | (k > 1)
    if bad.any():
        idx = tuple(int(x) for x in np.argwhere(bad)[0])
        raise ValueError(_("{key} coefficients must be between 0 and 1: {value!r} at index "
                           "{index}").format(key=key, value=float(k[idx]), index=idx))


def _coefficients(coefficients, n: int, key: str) -> np.ndarray:
    if coefficients is None:
        return np.full(n, 1.0 / n)
    k = np.asarray(coefficients, dtype=float)
    if k.shape != (n,):
        raise ValueError(_("{key} coefficients must have shape (N,) = ({n},), got {shape}")
                         .format(key=key, n=n, shape=k.shape))
    _check_range(k, key)
    if k.sum() > 1 + SUM_TOLERANCE:
        raise ValueError(_("{key} coefficients sum to {total:.10g}, must be at most 1").format(
            key=key, total=float(k.sum())))
    return k
