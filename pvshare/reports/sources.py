"""Where the building's figures come from: the store (normal case) or the sample year.

Both give a :class:`BuildingData` on a full UTC step grid over the requested window (steps
absent from the store are NaN, so that reports show them as missing data), with the
participants in the configuration's order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pvshare.errors import PvshareError
from pvshare.i18n import _
from pvshare.timegrid import from_epoch_seconds, step_seconds, to_epoch_seconds


@dataclass
class BuildingData:
    """Production, consumption and allocation over a window (Wh per step).

    Attributes
    ----------
    times : datetime64[s] (T,)
        UTC step starts, every step of the window.
    production_wh : (T,)
    consumption_wh, allocated_wh : (T, N)
        NaN = not measured.
    participant_ids : list of str (N,)
    step_s : int
    forecast_wh : (T,) or None
        Forecast production per step, when one is stored.
    origin : str
        Where it came from, for the report's footnote.
    """

    times: np.ndarray
    production_wh: np.ndarray
    consumption_wh: np.ndarray
    allocated_wh: np.ndarray
    participant_ids: list
    step_s: int
    forecast_wh: np.ndarray | None
    origin: str


def _grid(from_s: int, to_s: int, step_s: int) -> np.ndarray:
    return np.arange(from_s - from_s % step_s, to_s, step_s, dtype=np.int64)


def from_store(cfg, from_s: int, to_s: int) -> BuildingData:
    """Read the allocation results (and the forecast, if any) of ``[from_s, to_s)``."""
    from pvshare.store import Store
    step_s = step_seconds(cfg.site.step)
    path = cfg.relative(cfg.store.path)
    if not path.exists():
        raise PvshareError(_("{path}: no pvshare store yet (it is filled by the daemon; to "
                             "try the reports without one, add --sample-year)").format(
                                 path=path))
    with Store.from_config(cfg, create=False, readonly=True) as store:
        al = store.allocation(int(from_s), int(to_s))
        fc = None
        for kind in ("dayahead", "intraday"):
            f = store.forecast(int(from_s), int(to_s), kind)
            if len(f.step_starts_s):
                fc = f
                break
    grid = _grid(int(from_s), int(to_s), step_s)
    ids = cfg.participant_ids
    T, N = grid.size, len(ids)
    prod = np.full(T, np.nan)
    cons = np.full((T, N), np.nan)
    alloc = np.full((T, N), np.nan)
    ti = np.searchsorted(grid, al.step_starts_s)
    ok = (ti < T) & (grid[np.minimum(ti, T - 1)] == al.step_starts_s)
    prod[ti[ok]] = al.production_wh[ok]
    col = {p: i for i, p in enumerate(al.participant_ids)}
    for j, pid in enumerate(ids):
        if pid in col:
            cons[ti[ok], j] = al.consumption_wh[ok, col[pid]]
            alloc[ti[ok], j] = al.allocated_wh[ok, col[pid]]
    forecast = None
    if fc is not None:
        forecast = np.full(T, np.nan)
        fi = np.searchsorted(grid, fc.step_starts_s)
        fok = (fi < T) & (grid[np.minimum(fi, T - 1)] == fc.step_starts_s)
        forecast[fi[fok]] = fc.p50_w[fok] * step_s / 3600.0
    return BuildingData(from_epoch_seconds(grid), prod, cons, alloc, list(ids), step_s,
                        forecast, f"base de données {path.name}")


def from_sample_year(cfg, from_s: int | None = None, to_s: int | None = None) -> BuildingData:
    """The bundled sample year, allocated with the configuration's key."""
    from pvshare.allocation.spec import KeySpec
    from pvshare.data.sample import load_sample_year
    s = load_sample_year()
    ids = cfg.participant_ids
    missing = [p for p in ids if p not in s.participants]
    if missing:
        raise PvshareError(_("the sample year is the example building's (flats {first} to "
                             "{last}): it has no participant {missing} of this config; use "
                             "it with config/example.toml, or leave out --sample-year to "
                             "read the store").format(
                                 first=s.participants[0], last=s.participants[-1],
                                 missing=", ".join(missing[:5]) + ("…" if len(missing) > 5
                                                                   else "")))
    key = KeySpec.from_config(cfg)
    if not key.fixed:
        raise PvshareError(_("the sample year cannot be used with key.type = 'custom'"))
    cols = [s.participants.index(p) for p in ids]
    cons = s.consumption_wh[:, cols]
    res = key.allocate(s.production_wh, cons)
    secs = to_epoch_seconds(s.times)
    sel = np.ones(secs.size, dtype=bool)
    if from_s is not None:
        sel &= secs >= from_s
    if to_s is not None:
        sel &= secs < to_s
    return BuildingData(s.times[sel], s.production_wh[sel], cons[sel], res.allocated[sel],
                        list(ids), s.step_s, None, "année d'exemple fournie avec pvshare")
