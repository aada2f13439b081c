"""Closing steps (:func:`pvshare.live.closing.close_steps`) on a real SQLite store: readings are
written directly, ``now`` is given explicitly. Expected energies come from the readings'
own index differences (linear in these fixtures), never from the code under test."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.allocation.spec import KeyName, KeySpec
from pvshare.live.closing import SitePlan, close_steps
from pvshare.meters.base import Reading
from pvshare.meters.energy import Flag
from pvshare.store import Store

STEP = 1800
GRACE = 180.0
T0 = 1_750_000_000 // STEP * STEP          # a step start (June 2025)
IDS = ("A", "B", "C")


def plan(window_h: float = 48.0, key: str = "prorata") -> SitePlan:
    return SitePlan(step_s=STEP, producer_meter="inv", participant_ids=IDS,
                    participant_meters=tuple(f"m-{p}" for p in IDS),
                    key=KeySpec(KeyName(key)), grace_s=GRACE, window_s=window_h * 3600)


def linear(meter: str, times_s, rate_w: float, base_wh: float = 1000.0,
           export: bool = False) -> list[Reading]:
    """Readings of an index rising at ``rate_w`` (no rounding: interpolation is exact)."""
    out = []
    for t in times_s:
        v = base_wh + rate_w * (t - T0) / 3600.0
        out.append(Reading(meter, float(t), import_wh=None if export else v,
                           export_wh=v if export else None))
    return out


RATES = {"inv": 3000.0, "m-A": 400.0, "m-B": 800.0, "m-C": 1200.0}


def building(hours: float, every_s: float = 60.0, skip=()) -> list[Reading]:
    """Every meter read every ``every_s`` from T0 for ``hours``, except meters in ``skip``."""
    times = np.arange(T0, T0 + hours * 3600 + 1, every_s)
    out = []
    for m, rate in RATES.items():
        if m not in skip:
            out += linear(m, times, rate, export=(m == "inv"))
    return out


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "pvshare.db") as s:
        yield s


def drain_outbox(store) -> list:
    rows = []
    while True:
        a, b, batch = store.outbox_batch(10_000)
        if not batch:
            return rows
        rows += batch
        store.outbox_ack(a, b)


def test_a_step_closes_at_its_end_plus_grace_and_not_before(store):
    store.write_readings(building(3))
    end_first = T0 + STEP
    r = close_steps(store, plan(), end_first + GRACE - 1)
    assert r.changed_steps == 0
    assert len(store.allocated_steps(T0, T0 + 10 * STEP)[0]) == 0
    r = close_steps(store, plan(), end_first + GRACE)
    assert r.changed_steps == 1
    steps, incomplete = store.allocated_steps(T0, T0 + 10 * STEP)
    assert steps.tolist() == [T0] and not incomplete.any()
    a = store.allocation(T0, T0 + STEP)
    # production = 3000 W × 0.5 h, consumptions 200/400/600 Wh: all of it is shared
    assert a.production_wh[0] == pytest.approx(1500.0)
    np.testing.assert_allclose(a.consumption_wh[0], [200.0, 400.0, 600.0])
    np.testing.assert_allclose(a.allocated_wh[0], [200.0, 400.0, 600.0])


def test_every_step_is_closed_exactly_once_however_often_closing_runs(store):
    store.write_readings(building(6))
    written = 0
    for now in np.arange(T0, T0 + 6 * 3600 + 2 * GRACE, 37.0):
        written += close_steps(store, plan(), float(now)).changed_steps
    n_steps = (6 * 3600) // STEP            # the last reading is at the end of the 12th step
    steps, incomplete = store.allocated_steps(T0 - STEP, T0 + 100 * STEP)
    assert steps.tolist() == list(range(T0, T0 + n_steps * STEP, STEP))
    assert not incomplete.any()
    assert written == n_steps               # each step was written once, never again
    rows = drain_outbox(store)
    keys = [(m, tags, t) for m, tags, t, _ in rows]
    assert len(keys) == len(set(keys))      # one point per step and series
    times = sorted({t for _, _, t in keys})
    assert times == steps.tolist()
    per_step = len(keys) // n_steps
    assert per_step * n_steps == len(keys) and per_step >= 1 + len(IDS)


def test_late_data_after_a_gap_fills_it_and_rewrites_only_the_steps_it_completes(store):
    # m-B is silent from 2 h to 5 h (longer than the 2-h interpolation limit), and its
    # readings from 5 h on arrive late (a bridge's backlog)
    readings = building(8)
    gap = (T0 + 2 * 3600, T0 + 5 * 3600)
    held = [r for r in readings if r.meter_id == "m-B" and r.time_s > gap[0]]
    store.write_readings([r for r in readings
                          if not (r.meter_id == "m-B" and r.time_s > gap[0])])
    now = T0 + 8 * 3600 + GRACE
    close_steps(store, plan(), now)
    steps, incomplete = store.allocated_steps(T0, now)
    hole = steps[incomplete]
    assert hole.tolist() == list(range(gap[0], T0 + 8 * 3600, STEP))
    a = store.allocation(T0, now)
    b = a.participant_ids.index("B")
    assert np.isnan(a.consumption_wh[incomplete, b]).all()
    assert np.isfinite(np.delete(a.consumption_wh[incomplete], b, axis=1)).all()
    drain_outbox(store)

    late = [r for r in held if r.time_s >= gap[1]]        # the silence stays silent
    store.write_readings(late)
    r = close_steps(store, plan(), now + 60, dirty_from_s={"m-B": min(x.time_s for x in late)})
    steps2, incomplete2 = store.allocated_steps(T0, now)
    assert not incomplete2.any() and steps2.tolist() == steps.tolist()
    assert r.changed_steps == hole.size
    rewritten = sorted({t for _, _, t, _ in drain_outbox(store)})
    assert rewritten == hole.tolist()       # only the completed steps were queued again
    a = store.allocation(T0, now)
    np.testing.assert_allclose(a.consumption_wh[:, b], 400.0)   # the index spread evenly
    e = store.step_energy("m-B", *gap)
    assert (e.flags == Flag.INTERPOLATED).all() and e.energy_wh.sum() == 2400.0


def test_a_restart_recomputing_the_window_changes_nothing(store):
    store.write_readings(building(10))
    now = T0 + 10 * 3600 + GRACE
    close_steps(store, plan(), now)
    before = store.allocation(T0, now)
    drain_outbox(store)
    r = close_steps(store, plan(), now + 120, full_window=True)
    assert r.changed_steps == 0
    assert store.outbox_depth() == 0
    after = store.allocation(T0, now)
    np.testing.assert_array_equal(after.allocated_wh, before.allocated_wh)


def test_night_flat_inverter_index_across_a_10h_gap_is_a_zero_production(store):
    # inverter read up to 20:00-ish, asleep 10 h, awake again with the same index
    sleep = (T0 + 2 * 3600, T0 + 12 * 3600)
    inv = [Reading("inv", float(t), export_wh=5000.0)
           for t in np.r_[np.arange(T0, sleep[0] + 1, 60), np.arange(sleep[1], T0 + 14 * 3600, 60)]]
    cons = [r for r in building(14) if r.meter_id != "inv"]
    store.write_readings(inv + cons)
    now = T0 + 14 * 3600
    r = close_steps(store, plan(), now)
    steps, incomplete = store.allocated_steps(T0, now)
    n = int((now - GRACE - T0) // STEP)
    assert steps.tolist() == list(range(T0, T0 + n * STEP, STEP))
    assert r.pending_steps == 0 and not incomplete.any()
    a = store.allocation(T0, now)
    assert (a.production_wh == 0).all()
    assert (a.allocated_wh == 0).all()


def whole_wh(readings: list[Reading]) -> list[Reading]:
    """The same readings with whole-Wh indices, as meters give them."""
    return [Reading(r.meter_id, r.time_s,
                    import_wh=None if r.import_wh is None else float(np.floor(r.import_wh)),
                    export_wh=None if r.export_wh is None else float(np.floor(r.export_wh)))
            for r in readings]


def test_an_inverter_silent_4_hours_at_midday_its_gap_filled_from_its_index(store):
    # the inverter unreachable 10:00-14:00 UTC on a June day in Paris; its index came back
    from pvshare.meters.clearsky import ArrayShape
    day = 1_750_464_000                        # 2025-06-21T00:00Z
    shape = ArrayShape(48.85, 2.35, 30.0, 180.0, 36.0)
    t = np.arange(day + 4 * 3600, day + 18 * 3600 + 1, 60.0)
    p = shape(t) * 0.8
    index = 1e6 + np.floor(np.r_[0.0, np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(t) / 3600)])
    silent = (t > day + 10 * 3600) & (t < day + 14 * 3600)
    store.write_readings([Reading("inv", float(x), export_wh=float(v))
                          for x, v in zip(t[~silent], index[~silent])])
    times = np.arange(day + 4 * 3600, day + 18 * 3600 + 1, 60.0)
    store.write_readings([x for m, rate in RATES.items() if m != "inv"
                          for x in linear(m, times, rate)])
    sp = SitePlan(**{**plan().__dict__, "producer_shape": shape})
    r = close_steps(store, sp, day + 18 * 3600 + GRACE)
    assert r.pending_steps == 0 and r.unknown_steps == 0
    steps, incomplete = store.allocated_steps(day, day + 86400)
    assert steps.tolist() == list(range(day + 4 * 3600, day + 18 * 3600, STEP))
    assert not incomplete.any()
    e = store.step_energy("inv", day + 10 * 3600, day + 14 * 3600)
    assert (e.flags == Flag.INTERPOLATED).all()
    assert (e.energy_wh == np.round(e.energy_wh)).all()         # whole Wh
    # the gap's energy is the index difference, to the Wh
    assert e.energy_wh.sum() == index[t == day + 14 * 3600][0] - index[t == day + 10 * 3600][0]
    # spread by the clear sky: each step within 2 % of the truth (the same shape, here)
    truth = np.diff(np.interp(np.arange(day + 10 * 3600, day + 14 * 3600 + 1, STEP), t, index))
    np.testing.assert_allclose(e.energy_wh, truth, rtol=0.02)
    a = store.allocation(day + 10 * 3600, day + 14 * 3600)
    np.testing.assert_array_equal(a.production_wh, e.energy_wh)
    assert (a.allocated_wh.sum(axis=1) > 0).all()


def test_production_unknown_waits_until_the_horizon_then_closes_incomplete(store):
    # the inverter silent from 1 h on, its index not read again (yet)
    inv = linear("inv", np.arange(T0, T0 + 3600 + 1, 60), 3000.0, export=True)
    store.write_readings(inv + [r for r in building(13) if r.meter_id != "inv"])
    sp = SitePlan(**{**plan().__dict__, "horizon_s": 6 * 3600.0})
    r = close_steps(store, sp, T0 + 6 * 3600 + GRACE)
    steps, _ = store.allocated_steps(T0, T0 + 13 * 3600)
    assert steps.tolist() == [T0, T0 + STEP]
    assert r.pending_steps == 10 and r.unknown_steps == 0       # 1 h → 6 h: waiting
    now = T0 + 12 * 3600 + GRACE
    r = close_steps(store, sp, now)
    steps, incomplete = store.allocated_steps(T0, now)
    # past the horizon (6 h after their end): closed incomplete, nobody gets anything
    gave_up = np.arange(T0 + 3600, T0 + 6 * 3600, STEP)
    assert r.unknown_steps == gave_up.size and r.pending_steps == 22 - gave_up.size
    assert steps.tolist() == [T0, T0 + STEP, *gave_up.tolist()]
    assert incomplete[2:].all() and not incomplete[:2].any()
    a = store.allocation(T0 + 3600, now)
    assert np.isnan(a.production_wh).all() and (a.allocated_wh == 0).all()
    assert np.isfinite(a.consumption_wh).all()
    # the index comes back (within the recompute window): every step filled and allocated
    back = linear("inv", np.arange(T0 + 12 * 3600, T0 + 13 * 3600 + 1, 60), 3000.0, export=True)
    store.write_readings(back)
    now = T0 + 13 * 3600 + GRACE
    r = close_steps(store, sp, now, dirty_from_s={"inv": T0 + 12 * 3600})
    steps, incomplete = store.allocated_steps(T0, now)
    assert steps.tolist() == list(range(T0, T0 + 13 * 3600, STEP)) and not incomplete.any()
    assert r.pending_steps == 0 and r.unknown_steps == 0
    np.testing.assert_allclose(store.allocation(T0, now).production_wh, 1500.0)


def test_an_implausible_step_is_flagged_and_not_allocated(store):
    readings = building(4)
    # the inverter's index jumps by 30 kWh within the 2nd hour (a 3-kW roof: impossible);
    # m-A draws 20 kWh in one step (a 6-kVA flat: impossible)
    jump = {"inv": (T0 + 3600 + 600, 30_000.0), "m-A": (T0 + 2 * 3600 + 600, 20_000.0)}
    out = []
    for r in readings:
        if r.meter_id in jump and r.time_s >= jump[r.meter_id][0]:
            add = jump[r.meter_id][1]
            r = Reading(r.meter_id, r.time_s,
                        import_wh=None if r.import_wh is None else r.import_wh + add,
                        export_wh=None if r.export_wh is None else r.export_wh + add)
        out.append(r)
    store.write_readings(out)
    sp = SitePlan(**{**plan().__dict__, "max_w": (3000.0 * 1.25, 6000.0 * 1.25,
                                                  6000.0 * 1.25, 6000.0 * 1.25)})
    now = T0 + 4 * 3600 + GRACE
    r = close_steps(store, sp, now)
    assert r.implausible_steps == 2 and r.pending_steps == 0
    e = store.step_energy("inv", T0, now)
    bad = e.step_starts_s == T0 + 3600
    assert (e.flags[bad] == Flag.IMPLAUSIBLE).all() and (e.flags[~bad] == Flag.MEASURED).all()
    assert e.energy_wh[bad][0] == pytest.approx(31_500.0)       # kept for the record
    steps, incomplete = store.allocated_steps(T0, now)
    assert steps.size == 8 and incomplete.tolist() == [s in (T0 + 3600, T0 + 2 * 3600)
                                                      for s in steps.tolist()]
    a = store.allocation(T0, now)
    i = steps.tolist().index(T0 + 3600)
    assert np.isnan(a.production_wh[i]) and (a.allocated_wh[i] == 0).all()
    j = steps.tolist().index(T0 + 2 * 3600)
    col = a.participant_ids.index("A")
    assert np.isnan(a.consumption_wh[j, col]) and a.allocated_wh[j, col] == 0
    assert np.isfinite(a.production_wh[j]) and a.allocated_wh[j].sum() > 0


def test_a_meter_without_data_leaves_its_participant_nan_and_the_others_served(store):
    store.write_readings(building(3, skip=("m-C",)))
    now = T0 + 3 * 3600 + GRACE
    r = close_steps(store, plan(), now)
    steps, incomplete = store.allocated_steps(T0, now)
    assert steps.size == 6 and incomplete.all() and r.incomplete_steps == 6
    a = store.allocation(T0, now)
    c = a.participant_ids.index("C")
    assert np.isnan(a.consumption_wh[:, c]).all()
    others = [a.participant_ids.index(p) for p in ("A", "B")]
    np.testing.assert_allclose(a.consumption_wh[:, others], [[200.0, 400.0]] * 6)
    assert (a.allocated_wh[:, others] > 0).all()
    assert (np.nansum(a.allocated_wh, axis=1) <= a.production_wh + 1e-9).all()


# -- incremental closing = one closing at the end -------------------------------------------------
HOURS = 10


@st.composite
def schedules(draw):
    """Per meter: reading times (a period, jitter, and silent spans, some longer than the
    2-h interpolation limit), an index rising by a drawn rate per hour (some hours flat, as an
    inverter at night), and each reading's arrival delay (some late by hours)."""
    out = {}
    for m in RATES:
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        period = draw(st.sampled_from((60.0, 300.0, 900.0)))
        first = T0 - draw(st.sampled_from((0.0, 300.0, 4000.0)))
        times = np.arange(first, T0 + HOURS * 3600 + period, period)
        times = times + rng.uniform(0, 0.5 * period, times.size) * draw(st.booleans())
        for _ in range(draw(st.integers(0, 2))):
            a = T0 + draw(st.integers(0, HOURS)) * 3600.0 + rng.uniform(0, 3600)
            length = draw(st.sampled_from((1800.0, 5400.0, 9000.0, 36000.0)))
            times = times[(times < a) | (times > a + length)]
        times = np.r_[times[:-1][times[:-1] < T0 + HOURS * 3600], times[-1]]
        rates = np.asarray(draw(st.lists(st.sampled_from((0.0, 0.0, 150.0, 900.0, 4000.0)),
                                         min_size=HOURS + 3, max_size=HOURS + 3)))
        late = draw(st.sampled_from((0.0, 0.05, 0.3)))
        delays = np.where(rng.random(times.size) < late,
                          rng.choice([20.0, 900.0, 5 * 3600.0], times.size), 0.0)
        out[m] = (np.sort(times), rates, delays)
    return out


def _readings(sched) -> list[tuple[float, Reading]]:
    """(arrival time, reading) of every reading: whole-Wh indices, as meters give them."""
    out = []
    for m, (times, rates, delays) in sched.items():
        h = np.clip(((times - T0 + 7200) // 3600).astype(int), 0, len(rates) - 1)
        # energy of the index: integral of the hourly rate (piecewise linear in time)
        edges = T0 - 7200 + 3600.0 * np.arange(len(rates) + 1)
        cum = np.r_[0.0, np.cumsum(rates)]
        index = 10_000.0 + cum[h] + rates[h] * (times - edges[h]) / 3600.0
        index = np.floor(index)
        for t, v, d in zip(times, index, delays):
            r = Reading(m, float(t), export_wh=float(v)) if m == "inv" else \
                Reading(m, float(t), import_wh=float(v))
            out.append((float(t) + float(d), r))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sched=schedules())
def test_closing_tick_by_tick_equals_one_closing_at_the_end(sched):
    arrivals = sorted(_readings(sched), key=lambda x: x[0])
    end = max(a for a, _ in arrivals) + GRACE + STEP
    with tempfile.TemporaryDirectory() as tmp:
        with Store.open(Path(tmp) / "inc.db") as inc, Store.open(Path(tmp) / "once.db") as once:
            i = 0
            for now in np.arange(T0, end + 600, 600.0):
                new = []
                while i < len(arrivals) and arrivals[i][0] <= now:
                    new.append(arrivals[i][1])
                    i += 1
                inc.write_readings(new)
                dirty = {}
                for r in new:
                    dirty[r.meter_id] = min(dirty.get(r.meter_id, np.inf), r.time_s)
                close_steps(inc, plan(), float(now), dirty_from_s=dirty)
            once.write_readings([r for _, r in arrivals])
            close_steps(once, plan(), float(now))
            a, b = inc.allocation(0, 2**40), once.allocation(0, 2**40)
    np.testing.assert_array_equal(a.step_starts_s, b.step_starts_s)
    np.testing.assert_array_equal(a.incomplete, b.incomplete)
    np.testing.assert_allclose(a.production_wh, b.production_wh, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.consumption_wh, b.consumption_wh, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.allocated_wh, b.allocated_wh, rtol=0, atol=1e-9)
