"""One month of an operation, from pvshare's store or from Enedis's files, and its bills."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.billing.bill import (
    COLUMNS,
    Bills,
    Quantity,
    quantities_from_steps,
)
from pvshare.billing.figures import MonthFigures, Terms, month_figures
from pvshare.billing.prices import Price, local_seconds, month_bounds, price_index
from pvshare.errors import InputError, PvshareError
from pvshare.i18n import _
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
    month_steps : int or None
        Steps of the whole month when ``times`` is only its first part (the web page's
        month so far): the monthly fee is shared by it. None = ``len(times)``.
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
    month_steps: int | None = None


def month_from_store(cfg, month: str, store=None, upto_s: int | None = None) -> Month:
    """Read a month's allocation from ``store`` (an open :class:`pvshare.store.Store`, e.g.
    the daemon's), or from the store named in the config (opened read-only).

    ``upto_s``: only the steps starting before it (UTC Unix seconds), e.g. a month so far.
    """
    a, b = _bounds(month, cfg.site.timezone)
    if store is not None:
        alloc = store.allocation(a, b)
    else:
        from pvshare.store.db import Store
        with Store.from_config(cfg, create=False, readonly=True) as own:
            alloc = own.allocation(a, b)
    return month_from_allocation(Terms.from_config(cfg), month, alloc, upto_s)


def month_from_allocation(terms: Terms, month: str, alloc, upto_s: int | None = None) -> Month:
    """A :class:`Month` of the steps of ``alloc`` (a :class:`pvshare.store.db.Allocation` of
    the month) on the terms' participants; ``upto_s`` cuts the month (the steps starting
    before it are kept, the fee is shared over the whole month's steps).
    """
    a, b = _bounds(month, terms.timezone)
    whole = step_range(np.datetime64(a, "s"), np.datetime64(b, "s"), terms.step)
    times = whole if upto_s is None else whole[whole.astype(np.int64) < int(upto_s)]
    ids = list(terms.participants)
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
    active = terms.active(times)
    cons = np.where(active, cons, 0.0)
    got = np.where(active, got, 0.0)
    return Month(month, times, stored, prod, cons, got, active, ids, list(terms.prms),
                 len(whole))


def _prices(cfg) -> list[Price]:
    prices = list(Terms.from_config(cfg).prices)
    if not prices:
        raise InputError(_("no [[prices]] in the config: bills need the PMO's prices"),
                         source=cfg.source, field="prices")
    return prices


def _quantities_from_enedis(data, m: Month, prices: list[Price], tz: str) -> list[Quantity]:
    """Enedis's AUTOCONS per PRM → quantities. Per-step files split the PRM's energy among
    the participants of that PRM by their periods; R15 totals (one figure per PRM and time
    class) need one participant per PRM that month and one price. Enedis's figures are the
    settled ones: their lines count as complete.
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
            raise InputError(_("no AUTOCONS for PRM {prm} ({participant}) in Enedis's files")
                             .format(prm=prm, participant=m.participants[i]),
                             source=", ".join(data.sources))
    quantities = [q for q in quantities_from_steps(m.times, autocons, m.active, prices,
                                                   month_steps, tz)
                  if q.participant not in totals_only]
    pidx = price_index(m.times, prices, tz)
    for i in totals_only:
        prm = m.prms[i]
        sharing = [j for j, p in enumerate(m.prms) if p == prm and m.active[:, j].any()]
        ks = np.unique(pidx[m.active[:, i]])
        if len(sharing) > 1 or len(ks) != 1 or ks[0] < 0:
            raise InputError(_("PRM {prm}: Enedis's R15 gives one monthly figure; it cannot be "
                               "split between two tenants or two prices of the month (use the "
                               "per-step file)").format(prm=prm),
                             source=", ".join(data.sources))
        k = int(ks[0])
        price = prices[k]
        by = {c: wh for (meas, p, c), wh in data.by_class.items()
              if meas == "AUTOCONS" and p == prm}
        if price.flat:
            wh_peak, wh_off = sum(by.values()), 0.0
        else:
            if set(by) - {"HP", "HC"}:
                raise InputError(_("PRM {prm}: time classes {classes} cannot be priced "
                                   "peak/off-peak (HP and HC expected)").format(
                                       prm=prm, classes=sorted(by)),
                                 source=", ".join(data.sources))
            wh_peak, wh_off = by.get("HP", 0.0), by.get("HC", 0.0)
        local_days = (local_seconds(m.times[m.active[:, i]], tz) // 86400).astype("datetime64[D]")
        steps = int(m.active[:, i].sum())
        quantities.append(Quantity(i, k, wh_peak, wh_off, steps / month_steps,
                                   local_days.min().item(), local_days.max().item(),
                                   steps, steps))
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


def figures_for_month(cfg, month: str, enedis_files: list[Path] | None = None, *,
                      m: Month | None = None, need_prices: bool = False) -> MonthFigures:
    """The month's figures of every participant (:func:`pvshare.billing.figures.month_figures`).

    From pvshare's data: ``m`` when given (e.g. :func:`month_from_data`), else the store.
    With ``enedis_files``, the bill amounts are computed on Enedis's AUTOCONS (the energies
    stay pvshare's, from the store when there is one). This is the one computation behind
    ``pvshare bill``, the statements, the building report and ``pvshare export --what
    figures``.

    Raises
    ------
    InputError
        No ``[[prices]]`` (with ``need_prices`` or Enedis's files), no data for the month,
        a step before the first price, or an Enedis file that cannot be used.
    """
    tz = cfg.site.timezone
    terms = Terms.from_config(cfg)
    if need_prices or enedis_files:
        _prices(cfg)
    quantities = None
    source = "pvshare"
    if enedis_files:
        from pvshare.enedis.acc import read_enedis_files
        if m is None:
            m = _store_month_or_empty(cfg, month)
        data = read_enedis_files(enedis_files, tz)
        quantities = _quantities_from_enedis(data, m, list(terms.prices), tz)
        source = "enedis"
    else:
        if m is None:
            m = month_from_store(cfg, month)
        if not m.stored.any():
            raise InputError(_("the store has no allocation for {month}").format(month=month),
                             field="--month")
    try:
        return month_figures(terms, m, quantities=quantities, source=source)
    except ValueError as exc:
        raise InputError(str(exc), source=cfg.source, field="prices") from None


def _store_month_or_empty(cfg, month: str) -> Month:
    """The store's month, or a month with nothing stored when there is no store."""
    from pvshare.store import StoreError
    try:
        return month_from_store(cfg, month)
    except StoreError:
        a, b = _bounds(month, cfg.site.timezone)
        times = step_range(np.datetime64(a, "s"), np.datetime64(b, "s"), cfg.site.step)
        active = cfg.active(times)
        return Month(month, times, np.zeros(len(times), bool), np.full(len(times), np.nan),
                     np.zeros(active.shape), np.zeros(active.shape), active,
                     cfg.participant_ids, [p.prm for p in cfg.participants])


def month_bills(cfg, month: str, enedis_files: list[Path] | None = None, *,
                m: Month | None = None) -> Bills:
    """The month's bills (the ``bills`` of :func:`figures_for_month`; needs prices)."""
    bills = figures_for_month(cfg, month, enedis_files, m=m, need_prices=True).bills
    assert bills is not None
    return bills


def unmeasured(fig: MonthFigures) -> list[tuple[str, int, int]]:
    """The participants whose billed steps are not all measured: ``(id, steps missing,
    steps)``. For pvshare's figures, the steps of the store; Enedis's figures are settled
    (none missing).
    """
    out = []
    for p in fig.taking_part():
        if p.bill is None:
            steps, measured = p.steps, p.measured_steps
        else:
            steps = sum(line["steps"] for line in p.bill.lines)
            measured = sum(line["measured_steps"] for line in p.bill.lines)
        if measured < steps:
            out.append((p.participant, steps - measured, steps))
    return out


def missing_share(missing: int, steps: int) -> str:
    """The share of steps missing, one decimal, never shown as 0.0 or 100.0 unless it is."""
    pct = round(100.0 * missing / steps, 1)
    if 0 < missing:
        pct = max(pct, 0.1)
    if missing < steps:
        pct = min(pct, 99.9)
    return f"{pct:.1f}"


class IncompleteMonth(PvshareError):
    """A month whose steps are not all measured, billed without ``--allow-incomplete``."""


def bill_month(cfg, month: str, out: Path, enedis_files: list[Path] | None = None, *,
               allow_incomplete: bool = False) -> MonthFigures:
    """Compute the month's figures and bills (:func:`figures_for_month`) and write the bills
    to ``out`` (CSV, atomically, private). The ``source`` column says whose figures they come
    from, ``completeness_percent`` the share of each line's steps measured.

    Raises
    ------
    IncompleteMonth
        Some steps are not measured and ``allow_incomplete`` is False (nothing written).
    """
    from pvshare.files.csvio import write_rows_csv
    from pvshare.i18n import _
    fig = figures_for_month(cfg, month, enedis_files, need_prices=True)
    missing = unmeasured(fig)
    if missing and not allow_incomplete:
        shown = ", ".join(_("{participant} {percent} % missing ({missing} of {steps} steps)")
                          .format(participant=pid, percent=missing_share(k, n), missing=k,
                                  steps=n) for pid, k, n in missing[:20])
        more = len(missing) - 20
        raise IncompleteMonth(_(
            "{month}: not every step is measured ({n} participant(s): {list}{more}); the "
            "bills would charge less than was consumed. Wait for the data (or import "
            "Enedis's with --enedis), or bill anyway with --allow-incomplete: each line then "
            "carries its completeness").format(
            month=month, n=len(missing), list=shown,
            more=_(" and {n} more").format(n=more) if more > 0 else ""))
    assert fig.bills is not None
    write_rows_csv(out, COLUMNS, [{k: line[k] for k in COLUMNS} for line in fig.bills.lines])
    return fig


def _bounds(month: str, tz: str) -> tuple[int, int]:
    try:
        return month_bounds(month, tz)
    except ValueError as exc:
        raise InputError(str(exc), field="--month") from None
