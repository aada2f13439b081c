"""Gaps filled from the index with the real daemon (issue 18): ``pvshare run`` against the
building simulator (SunSpec inverter, Linky meters over a real mosquitto) on an accelerated
simulated clock. The inverter is unreachable for 2 h at noon, then the daemon is frozen
(SIGSTOP) for 3 h: every step of both gaps is closed and allocated, and the roof's energy
over each gap is its index difference.

Every fault is timed from what the processes show (the inverter's port closed, the
daemon's readings), never from a guess of how long a wall-clock sleep is: on a loaded
machine the simulated time runs on while the test waits, so the gaps' true bounds are read
back from the store's readings.
"""

from __future__ import annotations

import json
import os
import signal
import socket

import numpy as np
import pytest

from pvshare.config import load_config
from pvshare.live.daemon import status_path
from pvshare.meters.clearsky import ArrayShape
from pvshare.meters.energy import Flag
from tests import daemon_support as ds
from tests.test_daemon_faults import STEP, Rig, allocation, go, model_energy, wait_closed

pytestmark = pytest.mark.timeout(300)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def readings_gap(config, meter: str, after_s: float, before_s: float) -> tuple[float, float]:
    """The longest silence of ``meter`` between ``after_s`` and ``before_s``: its last
    reading before and first after, from the store."""
    with ds.open_store(config) as store:
        t = store.readings(meter, after_s, before_s).time_s
    k = int(np.argmax(np.diff(t)))
    return float(t[k]), float(t[k + 1])


def dense_boundary(times_s: np.ndarray, candidates: np.ndarray) -> float:
    """The first of ``candidates`` (step boundaries) between two readings at most 5 min
    apart: there the daemon's index is the readings' linear interpolation (a longer gap is
    spread by the clear sky), so the test can compute it independently."""
    k = np.searchsorted(times_s, candidates)
    ok = (k > 0) & (k < times_s.size)
    k = np.clip(k, 1, times_s.size - 1)
    ok &= times_s[k] - times_s[k - 1] <= 300.0
    assert ok.any(), "no step boundary between two close readings"
    return float(candidates[np.argmax(ok)])


def test_inverter_unreachable_2h_and_daemon_frozen_3h_every_step_closed_energy_exact(
        mosquitto, tmp_path, rigs):
    t0 = ds.parse_iso("2025-06-21T04:00:00+00:00")         # 06:00 in Paris
    end = t0 + 14 * 3600
    rig = Rig(tmp_path, mosquitto, start=ds.iso(t0), speed=1200)
    rigs.append(rig)
    cfg_path = rig.config("d")
    d = rig.daemon(cfg_path, "d")
    go(rig)                  # held timeline: runs once all are ready
    ds.wait_for(lambda: "started:" in d.log(), 60, what="the daemon to start")

    def first_reading():
        try:
            with ds.open_store(cfg_path) as store:
                t = store.readings("inverter", 0, 2**40).time_s
        except Exception:                                  # noqa: BLE001 - not created yet
            return None
        return float(t[0]) if t.size else None
    # the period checked starts at the first step after the inverter's first reading (on a
    # loaded machine the daemon may start some simulated time after ``start``)
    first = ds.wait_for(first_reading, 60, what="the inverter's first reading")
    start = (first // STEP + 1) * STEP
    assert start < ds.parse_iso("2025-06-21T09:00:00+00:00"), "the daemon started too late"

    # 1. the inverter unreachable for (at least) 2 simulated hours from noon in Paris
    rig.timeline.wait_until(t0 + 6 * 3600)                # noon in Paris
    os.kill(rig.building.pid, signal.SIGUSR1)
    ds.wait_for(lambda: not port_open(rig.inverter_port), 30, what="the inverter's port closed")
    closed_at = rig.timeline.now()
    rig.timeline.wait_until(closed_at + 2 * 3600 + 60)
    os.kill(rig.building.pid, signal.SIGUSR1)
    ds.wait_for(lambda: port_open(rig.inverter_port), 30, what="the inverter's port open")
    reopened_at = rig.timeline.now()

    # 2. the daemon frozen for (at least) 3 simulated hours, an hour later
    rig.timeline.wait_until(reopened_at + 3600)
    os.kill(d.pid, signal.SIGSTOP)
    frozen_at = rig.timeline.now()
    rig.timeline.wait_until(frozen_at + 3 * 3600 + 60)
    os.kill(d.pid, signal.SIGCONT)
    assert frozen_at + 3 * 3600 < end - 3600, "the machine is too slow for this timeline"

    wait_closed(cfg_path, end, timeout_s=120, complete_from=start)
    assert d.alive(), d.log()[-3000:]
    assert d.terminate() == 0
    status = json.loads(status_path(load_config(cfg_path)).read_text())

    cfg = load_config(cfg_path)
    shape = ArrayShape.from_config(cfg)
    steps = np.arange(start, end, STEP).astype(np.int64)
    a = allocation(cfg_path, start, end)
    assert a.step_starts_s.tolist() == steps.tolist()        # every step closed and allocated
    assert not a.incomplete.any() and np.isfinite(a.production_wh).all()
    with ds.open_store(cfg_path) as store:
        e = store.step_energy("inverter", int(start), int(end))
        r = store.readings("inverter", start - 3600, end + 3600)
    assert e.step_starts_s.tolist() == steps.tolist()
    np.testing.assert_array_equal(a.production_wh, e.energy_wh)

    gaps = [readings_gap(cfg_path, "inverter", t0 + 5 * 3600, reopened_at + 1800),
            readings_gap(cfg_path, "inverter", reopened_at + 1800, end)]
    assert gaps[0][1] - gaps[0][0] >= 2 * 3600 and gaps[1][1] - gaps[1][0] >= 3 * 3600, gaps
    report = []
    for ta, tb in gaps:
        # the steps around the gap, from a boundary before it to one after it where the
        # inverter was read closely enough for the index to be the readings' (linear)
        a0 = dense_boundary(r.time_s, ta // STEP * STEP - STEP * np.arange(8))
        b0 = dense_boundary(r.time_s, (tb // STEP + 1) * STEP + STEP * np.arange(8))
        around = (e.step_starts_s >= a0) & (e.step_starts_s < b0)
        inside = (e.step_starts_s >= ta) & (e.step_starts_s + STEP <= tb)
        assert inside.sum() >= 3
        assert (e.flags[inside] == Flag.INTERPOLATED).all()
        assert (e.energy_wh[inside] == np.round(e.energy_wh[inside])).all()   # whole Wh
        index = np.interp([a0, b0], r.time_s, r.export_wh)
        got, want = e.energy_wh[around].sum(), index[1] - index[0]
        assert abs(got - want) <= 1.0, (ds.iso(ta), ds.iso(tb), got, want)
        # spread by the array's clear-sky power: each whole step's energy over its clear-sky
        # energy is the same (the model's clouds are not known to the daemon)
        x = e.step_starts_s[inside][:, None] + np.arange(0, STEP + 1, 60.0)[None, :]
        clear = np.trapezoid(shape(x), dx=60.0, axis=1)
        ratio = e.energy_wh[inside] / clear
        np.testing.assert_allclose(ratio, np.median(ratio), rtol=0.01)
        truth = model_energy(cfg, e.step_starts_s[inside], e.step_starts_s[inside] + STEP)
        report.append((ds.iso(ta), ds.iso(tb), got, want, inside.sum(),
                       e.energy_wh[inside].sum(), truth.sum()))
    # over the whole period too, to the Wh
    a0 = dense_boundary(r.time_s, start + STEP * np.arange(8))
    b0 = dense_boundary(r.time_s, end - STEP * np.arange(8))
    index = np.interp([a0, b0], r.time_s, r.export_wh)
    span = (e.step_starts_s >= a0) & (e.step_starts_s < b0)
    period = (e.energy_wh[span].sum(), index[1] - index[0])
    assert abs(period[0] - period[1]) <= 1.0, period
    last = status["last_close"]
    assert last["pending_steps"] == 0, last
    with ds.open_store(cfg_path) as store:   # closed without production: only before `first`
        everything = store.allocation(0, 2**40)
    unknown = everything.step_starts_s[np.isnan(everything.production_wh)]
    assert (unknown < first).all(), [ds.iso(x) for x in unknown]
    for ta, tb, got, want, n, whole, truth in report:
        print(f"gap {ta} → {tb}: steps around it {got:.0f} Wh, index difference {want:.1f} Wh;"
              f" its {n} whole steps {whole:.0f} Wh (the simulator's model: {truth:.0f} Wh)")
    print(f"{ds.iso(a0)} → {ds.iso(b0)}: {period[0]:.0f} Wh, index difference "
          f"{period[1]:.1f} Wh")
    print(f"pending at the end: {last['pending_steps']}; closed without production: "
          f"{unknown.size} step(s), before the inverter's first reading at {ds.iso(first)}")
