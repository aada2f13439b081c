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
* A step whose **production** is unknown is not allocated yet (it stays pending: for
  example the night, while the inverter sleeps, until its index is read again in the
  morning). A step with an unknown **consumption** is allocated and flagged incomplete; it
  is recomputed when the missing data arrives.
* The store only rewrites (and queues for InfluxDB) the steps whose results changed, so
  recomputing is harmless and a result is never doubled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from pvshare.allocation.spec import KeySpec
from pvshare.errors import ConfigError
from pvshare.meters import energy
from pvshare.meters.ids import participant_meter_ids
from pvshare.timegrid import step_seconds

log = logging.getLogger("pvshare.live.closing")

#: The producer's energy is its export index; a participant's is its import index.
PRODUCER_INDEX = "export_wh"
CONSUMER_INDEX = "import_wh"
#: At most this many steps are handled per chunk (bounds memory when catching up).
CHUNK_STEPS = 7 * 48


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

    @property
    def meters(self) -> tuple[str, ...]:
        """Every meter closing reads: the producer's first, then the participants'."""
        return (self.producer_meter, *self.participant_meters)


def plan_from_config(cfg) -> SitePlan:
    """The :class:`SitePlan` of a validated configuration."""
    if not cfg.producer.meter:
        raise ConfigError(cfg.source or "<config>",
                          ["producer.meter: the id of the meter that measures production "
                           "is required to run the daemon"])
    key = KeySpec.from_config(cfg)
    if not key.fixed:
        raise ConfigError(cfg.source or "<config>",
                          ["key.type: 'custom' keys are computed from files "
                           "(pvshare allocate); the daemon needs prorata, static, "
                           "reallocated or priority"])
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
    )


@dataclass
class CloseReport:
    """What one call of :func:`close_steps` did."""

    closable_until_s: int | None = None
    energy_steps: int = 0          # meter-steps whose energy was (re)computed
    changed_steps: int = 0         # steps whose allocation was written (new or changed)
    pending_steps: int = 0         # closable steps still without production
    incomplete_steps: int = 0      # allocated steps with a missing consumption
    errors: list[str] = field(default_factory=list)


def closable_until(now_s: float, plan: SitePlan) -> int:
    """End (exclusive) of the last closable step: every step starting before it has ended
    at least ``grace`` ago.
    """
    return int((now_s - plan.grace_s) // plan.step_s * plan.step_s)


def _meter_energy(store, meter_id: str, index: str, starts: np.ndarray, step_s: int):
    """Energy per step of one meter from its stored readings (index, else power)."""
    r = store.readings_around(meter_id, float(starts[0]), float(starts[-1] + step_s))
    values = getattr(r, index)
    if np.isfinite(values).sum() >= 2:
        return energy.step_energy(r.time_s, values, starts, step_s)
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
    reach = energy.MAX_GAP_S
    dirty = {m: t - reach for m, t in (dirty_from_s or {}).items()}
    for m, t in dirty.items():
        if m in plan.meters:
            need_alloc |= (starts + step > t) & (starts >= window_start)
    if not need_alloc.any():
        return report
    todo = starts[np.flatnonzero(need_alloc)[0]:]
    for a in range(0, todo.size, CHUNK_STEPS):
        _close_chunk(store, plan, todo[a:a + CHUNK_STEPS], dirty, full_window, window_start,
                     report)
    return report


def _close_chunk(store, plan: SitePlan, starts: np.ndarray, dirty: dict, full_window: bool,
                 window_start: int, report: CloseReport) -> None:
    step = plan.step_s
    a, b = int(starts[0]), int(starts[-1]) + step
    T = starts.size
    columns = []
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
            new = _meter_energy(store, meter, index, span, step)
            e[lo:hi + 1], flags[lo:hi + 1] = new.energy_wh, new.flags
            store.write_step_energy(meter, span, new.energy_wh, new.flags)
            report.energy_steps += span.size
        columns.append(e)
    production = columns[0]
    consumption = np.column_stack(columns[1:])
    if plan.period_starts_s is not None and plan.period_ends_s is not None:
        # Outside its period a participant is absent: exactly zero, never missing.
        from pvshare.allocation.periods import absent_as_zero, active_mask
        active = active_mask(starts.astype("datetime64[s]"), plan.period_starts_s,
                             plan.period_ends_s)
        consumption = absent_as_zero(consumption, active)
    known = np.isfinite(production)
    report.pending_steps += int((~known).sum())
    if not known.any():
        return
    idx = np.flatnonzero(known)
    result = plan.key.allocate(np.maximum(production[idx], 0.0), consumption[idx])
    report.incomplete_steps += int(result.incomplete.sum())
    report.changed_steps += store.write_allocation(
        starts[idx], list(plan.participant_ids), result.production, consumption[idx],
        result.allocated, result.incomplete, result.key)
