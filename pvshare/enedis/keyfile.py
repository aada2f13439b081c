"""The Enedis key file a PMO sends for dynamic keys (docs/design.md §2).

A ``;``-separated CSV: header ``Horodate;<PRM 1>;<PRM 2>…``, one row per step, each
coefficient in percent with one decimal and a comma (``12,3``), each **floored** to 0.1 % so
that a row sums to at most 100. The coefficient of a participant is what it was allocated
divided by the production of the step; a step with no production writes zeros.

``Horodate`` is the step start in local time (Europe/Paris) with its UTC offset
(``2025-03-30T03:00:00+02:00``), unambiguous across the October change.
"""

from __future__ import annotations

import numpy as np

from pvshare.timegrid import format_local

#: Guard against floating-point noise just below a tenth (e.g. 12.299999999 → 12,3).
_EPS = 1e-9


def coefficients_permille(allocated_wh: np.ndarray, production_wh: np.ndarray) -> np.ndarray:
    """Each participant's share of each step's production, in tenths of a percent, floored.

    Parameters
    ----------
    allocated_wh : ndarray, shape (T, N)
        Allocated energy (AUTOCONS), Wh.
    production_wh : ndarray, shape (T,)
        Production, Wh.

    Returns
    -------
    ndarray of int64, shape (T, N)
        ``floor(1000 · a / P)`` (0 where ``P = 0``); every row sums to at most 1000.
    """
    p = np.asarray(production_wh, dtype=float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p > 0, np.asarray(allocated_wh, dtype=float) / p, 0.0)
    permille = np.floor(ratio * 1000.0 + _EPS).astype(np.int64)
    np.clip(permille, 0, 1000, out=permille)
    # Σa ≤ P holds, so Σ floor ≤ 1000 unless rounding noise crept in: take it back from the
    # largest coefficient of such a row (never happens with exact inputs).
    over = permille.sum(axis=1) - 1000
    for t in np.flatnonzero(over > 0):
        permille[t, np.argmax(permille[t])] -= over[t]
    return permille


def format_key_file(times, prms: list[str], permille: np.ndarray, tz: str = "Europe/Paris") -> str:
    r"""The key file's text (``\\r\\n`` line ends are not required; ``\\n`` is written)."""
    permille = np.asarray(permille, dtype=np.int64)
    whole, tenth = np.divmod(permille, 10)
    cells = np.char.add(np.char.add(whole.astype(str), ","), tenth.astype(str))
    stamps = np.asarray(format_local(times, tz), dtype=str)
    rows = np.column_stack([stamps, cells]) if cells.size else stamps[:, None]
    lines = [";".join(["Horodate", *prms])]
    lines += [";".join(r) for r in rows.tolist()]
    return "\n".join(lines) + "\n"


def write_key_file(path, times, prms: list[str], allocated_wh: np.ndarray,
                   production_wh: np.ndarray, tz: str = "Europe/Paris") -> None:
    """Write the key file for an allocation (see the module docstring)."""
    text = format_key_file(times, prms, coefficients_permille(allocated_wh, production_wh), tz)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
