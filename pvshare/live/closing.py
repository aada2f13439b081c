"""Closing steps: stored readings → energy per step and meter → the allocation.

This is the deterministic heart of the daemon: :func:`close_steps` is a function of the
store's content and of ``now``; the daemon calls it when a step ends (plus a grace period
for late messages), tests and demos call it with a simulated clock.

Rules
-----
* A step ``[s, s + step)`` can be closed once ``now ≥ s + step + grace``.
* Every step never closed so far is closed, however old (a daemon that was down for a week
  catches up). Steps already closed are recomputed only within ``recompute_window`` and only
  when needed: incomplete, or their meters received readings since (late data).
* A gap in a meter's readings is filled from its index when the readings come back
  (``meters/energy.py``: the roof's by its clear-sky shape, a tenant's evenly), and the
  gap's steps are then closed and allocated (flagged interpolated).
* A step whose **production** is unknown is not allocated yet: it stays pending until the
  inverter's index is read again, at most ``horizon`` after the step's end; then it is
  closed **incomplete**, without production (nobody gets anything), and recomputed if the
  index comes back within the recompute window. While the sun is down the roof is known to
  produce nothing: an inverter asleep for the night leaves nothing pending.
  A step with an unknown **consumption** is allocated and flagged incomplete; it is
  recomputed when the missing data arrives.
* **Plausibility**: a step's energy above what the meter can measure (the array's peak
  power, or a flat's subscribed power, × the step × ``energy.PLAUSIBLE_MARGIN``) is kept in
  the store flagged implausible and never allocated: an implausible production closes the
  step incomplete without production, an implausible consumption is a missing one.
* The store only rewrites (and queues for InfluxDB) the steps whose results changed, so
  recomputing is harmless and a result is never doubled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pvshare.allocation.spec import KeySpec
from pvshare.errors import ConfigError
from pvshare.i18n import _
from pvshare.meters import energy
from pvshare.meters.ids import participant_meter_ids
from pvshare.timegrid import step_seconds

log = logging.getLogger("pvshare.live.closing")

#: The producer's energy is its export index; a participant's is its import index.
PRODUCER_INDEX = "export_wh"
CONSUMER_INDEX = "import_wh"
#: At most this many steps are handled per chunk (bounds memory when catching up).
CHUNK_STEPS = 7 * 48
#: Default horizon: a step still without production this long after its end is closed
#: incomplete (``[daemon] pending_horizon_h``), s.
HORIZON_S = 6 * 3600.0
#: See :attr:`SitePlan.dark_wh`.
DARK_SHARE = 0.01


@dataclass(frozen=True)
class SitePlan:
    """What closing needs from the configuration (derived once)."""

    step_s: int
    producer_meter: str
    participant_ids: tuple[str, ...]
    participant_meters: tuple[str, ...]
    key: KeySpec
    grace_s: float
    window_s: float
    #: Participants' periods, UTC Unix seconds (N,) each, start included, end excluded
    #: (``pvshare.allocation.periods``); None = everyone, always.
    period_starts_s: np.ndarray | None = None
    period_ends_s: np.ndarray | None = None
    #: The roof's clear-sky shape (:class:`pvshare.meters.clearsky.ArrayShape`): gaps in the
    #: inverter's index are spread by it, the night is known zero. None: spread evenly.
    producer_shape: Callable[[np.ndarray], np.ndarray] | None = None
    #: A step still without production this long after its end is closed incomplete, s.
    horizon_s: float = HORIZON_S
    #: Outside the inverter's readings, a part of a step where the array's clear-sky energy
    #: is at most this (the sun down, rising or setting) holds nothing, Wh: 1 % of what the
    #: array makes in a step at its peak (``DARK_SHARE``).
    dark_wh: float = energy.DARK_WH
    #: The most each meter (``meters`` order) can measure, W, margin included
    #: (:func:`pvshare.meters.energy.max_step_wh`); a step above ``max_w × step`` is
    #: implausible. None: no limit.
    max_w: tuple[float, ...] | None = None

    @property
    def meters(self) -> tuple[str, ...]:
        """Every meter closing reads: the producer's first, then the participants'."""
        return (self.producer_meter, *self.participant_meters)


def plan_from_config(cfg) -> SitePlan:
    """The :class:`SitePlan` of a validated configuration."""
    if not cfg.producer.meter:
        raise ConfigError(cfg.source or "<config>",
                          [_("producer.meter: the id of the meter that measures production "
                             "is required to run the daemon")])
    key = KeySpec.from_config(cfg)
    if not key.fixed:
        raise ConfigError(cfg.source or "<config>",
                          [_("key.type: 'custom' keys are computed from files "
                             "(pvshare allocate); the daemon needs prorata, static, "
                             "reallocated or priority")])
    from pvshare.meters.clearsky import ArrayShape
    kva = [p.subscribed_kva or cfg.tariffs.subscribed_kva for p in cfg.participants]
    return SitePlan(
        step_s=step_seconds(cfg.site.step),
        producer_meter=cfg.producer.meter,
        participant_ids=tuple(cfg.participant_ids),
        participant_meters=tuple(participant_meter_ids(cfg)),
        key=key,
        grace_s=cfg.daemon.grace_s,
        window_s=cfg.daemon.recompute_window_h * 3600.0,
        period_starts_s=cfg.participant_bounds()[0],
        period_ends_s=cfg.participant_bounds()[1],
        producer_shape=ArrayShape.from_config(cfg),
        horizon_s=cfg.daemon.pending_horizon_h * 3600.0,
        dark_wh=DARK_SHARE * cfg.array.kwp * 1000.0 * step_seconds(cfg.site.step) / 3600.0,
        max_w=tuple(energy.max_step_wh(x, 3600.0) for x in [cfg.array.kwp, *kva]),
    )


@dataclass
class CloseReport:
    """What one call of :func:`close_steps` did."""

    closable_until_s: int | None = None
    energy_steps: int = 0          # meter-steps whose energy was (re)computed
    changed_steps: int = 0         # steps whose allocation was written (new or changed)
    pending_steps: int = 0         # closable steps still without production (< horizon)
    incomplete_steps: int = 0      # steps written incomplete (a consumption or production
    #                                missing or implausible)
    unknown_steps: int = 0         # of which without production (past the horizon, or an
    #                                implausible production)
    new_unknown_steps: int = 0     # of which closed so by this call for the first time
    implausible_steps: int = 0     # steps whose energy this call found implausible
    errors: list[str] = field(default_factory=list)


def closable_until(now_s: float, plan: SitePlan) -> int:
    """End (exclusive) of the last closable step: every step starting before it has ended
    at least ``grace`` ago.
    """
    return int((now_s - plan.grace_s) // plan.step_s * plan.step_s)


def _meter_energy(store, meter_id: str, index: str, starts: np.ndarray, step_s: int,
                  shape=None, dark_wh: float = energy.DARK_WH):
    """Energy per step of one meter from its stored readings (index, else power)."""
    r = store.readings_around(meter_id, float(starts[0]), float(starts[-1] + step_s))
    values = getattr(r, index)
    if np.isfinite(values).sum() >= 2:
        return energy.step_energy(r.time_s, values, starts, step_s, shape=shape,
                                  dark_wh=dark_wh)
    if np.isfinite(r.power_w).sum() >= 2:
        return energy.integrate_power(r.time_s, np.abs(r.power_w), starts, step_s)
    return energy.StepEnergy(starts, np.full(starts.size, np.nan),
                             np.full(starts.size, energy.Flag.MISSING, dtype=np.int8))


def close_steps(store, plan: SitePlan, now_s: float, *, dirty_from_s: dict | None = None,
                full_window: bool = False) -> CloseReport:
    """Close every closable step that needs it (see the module docstring).

    Parameters
    ----------
    store : pvshare.store.Store
    plan : SitePlan
    now_s : float
        Current (possibly simulated) time, UTC Unix seconds.
    dirty_from_s : dict of str to float, optional
        Per meter, the oldest reading time stored since the previous call: the meter's
        steps from there (minus the interpolation reach) are recomputed.
    full_window : bool
        Recompute every step of the recompute window (after a restart: the in-memory
        ``dirty_from_s`` of the previous process is lost).
    """
    step = plan.step_s
    report = CloseReport()
    end = closable_until(now_s, plan)
    report.closable_until_s = end
    first = store.first_reading_time()
    if first is None:
        return report
    first_step = int(first // step * step)
    window_start = max(first_step, int((end - plan.window_s) // step * step))
    last = store.last_allocated_step()
    never_closed_from = first_step if last is None else last + step

    starts = np.arange(min(window_start, never_closed_from), end, step, dtype=np.int64)
    if starts.size == 0:
        return report
    done, incomplete = store.allocated_steps(int(starts[0]), end)
    complete = done[~incomplete]
    need_alloc = ~np.isin(starts, complete)
    if full_window:
        need_alloc |= starts >= window_start
    # a new reading changes the steps back to the reading before it (a gap it ends is
    # spread over all its steps), and at least MAX_GAP_S back (the interpolation's reach)
    dirty = {}
    for m, t in (dirty_from_s or {}).items():
        dirty[m] = t - energy.MAX_GAP_S
        if m in plan.meters:
            before = store.readings_around(m, t, t).time_s
            if before.size and before[0] < t:
                dirty[m] = min(dirty[m], float(before[0]))
    for m, t in dirty.items():
        if m in plan.meters:
            need_alloc |= (starts + step > t) & (starts >= window_start)
    if not need_alloc.any():
        return report
    todo = starts[np.flatnonzero(need_alloc)[0]:]
    for a in range(0, todo.size, CHUNK_STEPS):
        _close_chunk(store, plan, todo[a:a + CHUNK_STEPS], dirty, full_window, window_start,
                     report, now_s, done)
    return report


def _close_chunk(store, plan: SitePlan, starts: np.ndarray, dirty: dict, full_window: bool,
                 window_start: int, report: CloseReport, now_s: float,
                 closed_before: np.ndarray) -> None:
    step = plan.step_s
    a, b = int(starts[0]), int(starts[-1]) + step
    T = starts.size
    columns, implausible = [], []
    found = np.zeros(T, dtype=bool)
    for j, meter in enumerate(plan.meters):
        stored = store.step_energy(meter, a, b)
        e = np.full(T, np.nan)
        flags = np.full(T, energy.Flag.MISSING, dtype=np.int64)
        pos = np.searchsorted(starts, stored.step_starts_s)
        e[pos], flags[pos] = stored.energy_wh, stored.flags
        redo = flags == energy.Flag.MISSING
        if full_window:
            redo |= starts >= window_start
        if meter in dirty:
            redo |= starts + step > dirty[meter]
        if redo.any():
            lo, hi = np.flatnonzero(redo)[[0, -1]]
            span = starts[lo:hi + 1]
            index = PRODUCER_INDEX if j == 0 else CONSUMER_INDEX
            new = _meter_energy(store, meter, index, span, step,
                                plan.producer_shape if j == 0 else None, plan.dark_wh)
            new_flags = new.flags
            if plan.max_w is not None:
                new_flags = energy.flag_implausible(new.energy_wh, new.flags,
                                                    plan.max_w[j] * step / 3600.0)
            e[lo:hi + 1], flags[lo:hi + 1] = new.energy_wh, new_flags
            store.write_step_energy(meter, span, new.energy_wh, new_flags)
            report.energy_steps += span.size
            found[lo:hi + 1] |= new_flags == energy.Flag.IMPLAUSIBLE
        bad = flags == energy.Flag.IMPLAUSIBLE
        columns.append(np.where(bad, np.nan, e))      # kept in the store, never allocated
        implausible.append(bad)
    production = columns[0]
    consumption = np.column_stack(columns[1:])
    report.implausible_steps += int(found.sum())
    if plan.period_starts_s is not None and plan.period_ends_s is not None:
        # Outside its period a participant is absent: exactly zero, never missing.
        from pvshare.allocation.periods import absent_as_zero, active_mask
        active = active_mask(starts.astype("datetime64[s]"), plan.period_starts_s,
                             plan.period_ends_s)
        consumption = absent_as_zero(consumption, active)
    known = np.isfinite(production)
    # unknown production: pending until the horizon, then closed incomplete; an
    # implausible one will not get better: closed incomplete at once
    given_up = ~known & (implausible[0] | (starts + step + plan.horizon_s <= now_s))
    report.pending_steps += int((~known & ~given_up).sum())
    report.unknown_steps += int(given_up.sum())
    report.new_unknown_steps += int((given_up & ~np.isin(starts, closed_before)).sum())
    write = known | given_up
    if not write.any():
        return
    idx = np.flatnonzero(write)
    prod = production[idx]
    ok = np.isfinite(prod)
    allocated = np.zeros((idx.size, consumption.shape[1]))
    incomplete = np.ones(idx.size, dtype=bool)      # no production: nobody gets anything
    key = plan.key.name.value
    if ok.any():
        result = plan.key.allocate(np.maximum(prod[ok], 0.0), consumption[idx[ok]])
        prod[ok], allocated[ok], incomplete[ok] = (result.production, result.allocated,
                                                   result.incomplete)
        key = result.key
    report.incomplete_steps += int(incomplete.sum())
    report.changed_steps += store.write_allocation(
        starts[idx], list(plan.participant_ids), prod, consumption[idx], allocated, incomplete,
        key)
