"""One month of an operation, from pvshare's store or from Enedis's files, and its bills."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.billing.bill import COLUMNS, Bills, Quantity, compute_bills, quantities_from_steps
from pvshare.billing.prices import (
    Price,
    local_seconds,
    month_bounds,
    price_index,
    prices_from_config,
)
from pvshare.errors import InputError
from pvshare.timegrid import step_range


@dataclass(frozen=True)
class Month:
    """pvshare's figures for one local month, on the config's participants.

    Attributes
    ----------
    times : ndarray of datetime64[s], shape (T,)
        Every step of the month (UTC starts), stored or not.
    stored : ndarray of bool, shape (T,)
        Steps the store has an allocation for.
    production_wh : ndarray, shape (T,)
        NaN where not stored.
    consumption_wh, allocated_wh : ndarray, shape (T, N)
        NaN where not stored or missing; 0 where the participant is absent.
    active : ndarray of bool, shape (T, N)
        Participation (the config's periods).
    """

    month: str
    times: np.ndarray
    stored: np.ndarray
    production_wh: np.ndarray
    consumption_wh: np.ndarray
    allocated_wh: np.ndarray
    active: np.ndarray
    participants: list[str]
    prms: list[str]


def month_from_store(cfg, month: str, store=None) -> Month:
    """Read a month's allocation from ``store`` (an open :class:`pvshare.store.Store`, e.g.
    the daemon's), or from the store named in the config (opened read-only).
    """
    tz = cfg.site.timezone
    a, b = _bounds(month, tz)
    times = step_range(np.datetime64(a, "s"), np.datetime64(b, "s"), cfg.site.step)
    ids = cfg.participant_ids
    if store is not None:
        alloc = store.allocation(a, b)
    else:
        from pvshare.store.db import Store
        with Store.from_config(cfg, create=False, readonly=True) as own:
            alloc = own.allocation(a, b)
    t_count, n = len(times), len(ids)
    prod = np.full(t_count, np.nan)
    cons = np.full((t_count, n), np.nan)
    got = np.full((t_count, n), np.nan)
    secs = times.astype(np.int64)
    ti = np.searchsorted(secs, alloc.step_starts_s)
    ok = (ti < t_count) & (secs[np.minimum(ti, t_count - 1)] == alloc.step_starts_s)
    stored = np.zeros(t_count, dtype=bool)
    stored[ti[ok]] = True
    prod[ti[ok]] = alloc.production_wh[ok]
    for j, pid in enumerate(alloc.participant_ids):
        if pid in ids:
            i = ids.index(pid)
            cons[ti[ok], i] = alloc.consumption_wh[ok, j]
            got[ti[ok], i] = alloc.allocated_wh[ok, j]
    active = cfg.active(times)
    cons = np.where(active, cons, 0.0)
    got = np.where(active, got, 0.0)
    return Month(month, times, stored, prod, cons, got, active, ids,
                 [p.prm for p in cfg.participants])


def _prices(cfg) -> list[Price]:
    prices = prices_from_config(cfg.prices)
    if not prices:
        raise InputError("no [[prices]] in the config: bills need the PMO's prices",
                         source=cfg.source, field="prices")
    return prices


def _quantities_from_enedis(data, m: Month, prices: list[Price], tz: str) -> list[Quantity]:
    """Enedis's AUTOCONS per PRM → quantities. Per-step files split the PRM's energy among
    the participants of that PRM by their periods; R15 totals (one figure per PRM and time
    class) need one participant per PRM that month and one price.
    """
    month_steps = len(m.times)
    t_secs = m.times.astype(np.int64)
    autocons = np.zeros((len(m.times), len(m.participants)))
    totals_only = []
    for i, prm in enumerate(m.prms):
        if not m.active[:, i].any():
            continue
        if ("AUTOCONS", prm) in data.steps:
            st, wh = data.steps[("AUTOCONS", prm)]
            idx = np.searchsorted(t_secs, st.astype(np.int64))
            ok = (idx < len(t_secs)) & (t_secs[np.minimum(idx, len(t_secs) - 1)]
                                        == st.astype(np.int64))
            col = np.zeros(len(m.times))
            col[idx[ok]] = wh[ok]
            autocons[:, i] = np.where(m.active[:, i], col, 0.0)
        elif ("AUTOCONS", prm) in data.totals:
            totals_only.append(i)
        else:
            raise InputError(f"no AUTOCONS for PRM {prm} ({m.participants[i]}) in Enedis's "
                             f"files", source=", ".join(data.sources))
    quantities = [q for q in quantities_from_steps(m.times, autocons, m.active, prices,
                                                   month_steps, tz)
                  if q.participant not in totals_only]
    pidx = price_index(m.times, prices, tz)
    for i in totals_only:
        prm = m.prms[i]
        sharing = [j for j, p in enumerate(m.prms) if p == prm and m.active[:, j].any()]
        ks = np.unique(pidx[m.active[:, i]])
        if len(sharing) > 1 or len(ks) != 1 or ks[0] < 0:
            raise InputError(f"PRM {prm}: Enedis's R15 gives one monthly figure; it cannot be "
                             f"split between two tenants or two prices of the month (use the "
                             f"per-step file)", source=", ".join(data.sources))
        k = int(ks[0])
        price = prices[k]
        by = {c: wh for (meas, p, c), wh in data.by_class.items()
              if meas == "AUTOCONS" and p == prm}
        if price.flat:
            wh_peak, wh_off = sum(by.values()), 0.0
        else:
            if set(by) - {"HP", "HC"}:
                raise InputError(f"PRM {prm}: time classes {sorted(by)} cannot be priced "
                                 f"peak/off-peak (HP and HC expected)",
                                 source=", ".join(data.sources))
            wh_peak, wh_off = by.get("HP", 0.0), by.get("HC", 0.0)
        local_days = (local_seconds(m.times[m.active[:, i]], tz) // 86400).astype("datetime64[D]")
        quantities.append(Quantity(i, k, wh_peak, wh_off, m.active[:, i].sum() / month_steps,
                                   local_days.min().item(), local_days.max().item()))
    quantities.sort(key=lambda q: (q.participant, q.first_day))
    return quantities


def month_from_data(cfg, month: str, times, production_wh, consumption_wh, allocated_wh
                    ) -> Month:
    """A month cut from arrays on a step grid (the reports' bundled sample year).

    ``times`` (T,) UTC step starts; ``production_wh`` (T,); the others (T, N) in the
    config's participant order.
    """
    tz = cfg.site.timezone
    a, b = _bounds(month, tz)
    grid = step_range(np.datetime64(a, "s"), np.datetime64(b, "s"), cfg.site.step)
    secs = np.asarray(times, dtype="datetime64[s]").astype(np.int64)
    g = grid.astype(np.int64)
    ti = np.searchsorted(g, secs)
    ok = (ti < len(g)) & (g[np.minimum(ti, len(g) - 1)] == secs)
    n = len(cfg.participant_ids)
    stored = np.zeros(len(g), dtype=bool)
    stored[ti[ok]] = True
    prod = np.full(len(g), np.nan)
    cons = np.full((len(g), n), np.nan)
    got = np.full((len(g), n), np.nan)
    prod[ti[ok]] = np.asarray(production_wh, dtype=float)[ok]
    cons[ti[ok]] = np.asarray(consumption_wh, dtype=float)[ok]
    got[ti[ok]] = np.asarray(allocated_wh, dtype=float)[ok]
    active = cfg.active(grid)
    return Month(month, grid, stored, prod, np.where(active, cons, 0.0),
                 np.where(active, got, 0.0), active, cfg.participant_ids,
                 [p.prm for p in cfg.participants])


def has_prices(cfg) -> bool:
    """True when the config has ``[[prices]]`` (bills can be computed)."""
    return bool(cfg.prices)


def month_bills(cfg, month: str, enedis_files: list[Path] | None = None, *,
                m: Month | None = None) -> Bills:
    """The month's bills, one line per participant and price period (not written).

    From Enedis's figures when ``enedis_files`` are given (their AUTOCONS), else from
    pvshare's: ``m`` when given (e.g. :func:`month_from_data`), else the store. This is the
    one computation behind ``pvshare bill`` and the tenants' statements.

    Raises
    ------
    InputError
        No ``[[prices]]``, no data for the month, a step before the first price, or an
        Enedis file that cannot be used.
    """
    tz = cfg.site.timezone
    prices = _prices(cfg)
    if enedis_files:
        from pvshare.enedis.acc import read_enedis_files
        a, b = _bounds(month, tz)
        times = step_range(np.datetime64(a, "s"), np.datetime64(b, "s"), cfg.site.step)
        active = cfg.active(times)
        m = Month(month, times, np.ones(len(times), bool), np.zeros(len(times)),
                  np.zeros(active.shape), np.zeros(active.shape), active, cfg.participant_ids,
                  [p.prm for p in cfg.participants])
        data = read_enedis_files(enedis_files, tz)
        quantities = _quantities_from_enedis(data, m, prices, tz)
        source = "enedis"
    else:
        if m is None:
            m = month_from_store(cfg, month)
        if not m.stored.any():
            raise InputError(f"the store has no allocation for {month}", field="--month")
        try:
            quantities = quantities_from_steps(m.times, m.allocated_wh, m.active, prices,
                                               len(m.times), tz)
        except ValueError as exc:
            raise InputError(str(exc), source=cfg.source, field="prices") from None
        source = "pvshare"
    return compute_bills(quantities, prices, m.participants, m.prms, source)


def bill_month(cfg, month: str, out: Path, enedis_files: list[Path] | None = None) -> Bills:
    """Compute the month's bills (:func:`month_bills`) and write them to ``out`` (CSV,
    atomically, private). The ``source`` column says whose figures they come from.
    """
    from pvshare.files.csvio import write_rows_csv
    bills = month_bills(cfg, month, enedis_files)
    write_rows_csv(out, COLUMNS, bills.lines)
    return bills


def _bounds(month: str, tz: str) -> tuple[int, int]:
    try:
        return month_bounds(month, tz)
    except ValueError as exc:
        raise InputError(str(exc), field="--month") from None
