"""Fault tolerance of ``pvshare run`` (issue 5): a real mosquitto, a real victoria-metrics,
``pvshare simulate building`` and ``pvshare run`` as subprocesses on one accelerated
simulated clock (``--start/--speed/--clock-origin``), a small building (6 flats: the point
does not need 48).

Expected values never come from the daemon: they come from the simulators' models (the
inverter's energy curve, the Linky fleet's indices) or from a run without the fault.
"""

from __future__ import annotations

import random
import sqlite3
import time

import numpy as np
import pytest

from pvshare.config import load_config
from tests import daemon_support as ds

pytestmark = pytest.mark.timeout(300)

STEP = 1800
N_FLATS = 6


class Rig:
    """A broker, the building simulator and any number of daemons on one timeline."""

    def __init__(self, tmp_path, broker, *, start: str, speed: float, lead_s: float = 3.0,
                 **building):
        self.dir = tmp_path
        self.broker = broker
        self.inverter_port = ds.free_port()
        # simulated time reaches ``start`` lead_s after now: the set-up happens before it
        self.timeline = ds.Timeline(start=start, speed=speed, origin=time.time() + lead_s)
        self.base = ds.write_config(tmp_path / "sim", broker_port=broker.port,
                                    inverter_port=self.inverter_port, participants=N_FLATS)
        self.building = ds.start_building(self.base, self.timeline, broker.port,
                                          self.inverter_port, tmp_path / "building.log",
                                          **building)
        self.procs: list[ds.Proc] = []

    def config(self, name: str, **kw):
        kw.setdefault("poll_interval_s", 60.0)
        kw.setdefault("flush_interval_s", 60.0)
        return ds.write_config(self.dir / name, broker_port=self.broker.port,
                               inverter_port=self.inverter_port, participants=N_FLATS,
                               client_id=f"pvshare-{name}", **kw)

    def daemon(self, config, name: str, **kw) -> ds.Proc:
        p = ds.start_daemon(config, self.timeline, self.dir / f"{name}.log", **kw)
        self.procs.append(p)
        return p

    def stop(self) -> None:
        for p in self.procs:
            if p.alive():
                p.kill()
        self.building.terminate()


@pytest.fixture
def rigs(tmp_path):
    made = []
    yield made
    for r in made:
        r.stop()


def allocation(config, from_s: float, to_s: float):
    with ds.open_store(config) as store:
        return store.allocation(int(from_s), int(to_s))


def wait_closed(config, until_s: float, timeout_s: float = 60.0) -> None:
    """Until every step before ``until_s`` is stored."""
    def done():
        try:
            with ds.open_store(config) as store:
                last = store.last_allocated_step()
        except Exception:                                  # noqa: BLE001 - not created yet
            return False
        return last is not None and last + STEP >= until_s
    ds.wait_for(done, timeout_s, every_s=0.2, what=f"steps closed up to {ds.iso(until_s)}")


def fleet_energy(cfg, steps: np.ndarray) -> np.ndarray:
    """(T, N) consumption of each step from the Linky simulator's own model."""
    from simulators.meters import fleet_from_sample_year
    fleet = fleet_from_sample_year(cfg.participants, seed=0)
    idx = np.array([fleet.index_wh(float(s)) for s in np.r_[steps, steps[-1] + STEP]])
    return np.diff(idx, axis=0)


def model_production(cfg, steps: np.ndarray) -> np.ndarray:
    """(T,) production of each step from the inverter simulator's own energy curve."""
    from simulators.inverter import model_day
    day = model_day(cfg)
    out = []
    for s in steps:
        c0 = day(float(s // 86400 * 86400))
        c1 = c0 if (s + STEP) // 86400 == s // 86400 else day(float((s + STEP) // 86400 * 86400))
        e1 = c1.energy_at(s + STEP) if c1 is c0 else c1.energy_at(s + STEP) + c0.energy_wh[-1]
        out.append(e1 - c0.energy_at(s))
    return np.asarray(out)


# -- the broker restarts ---------------------------------------------------------------------------
def test_broker_restart_mid_day_every_step_complete(mosquitto, tmp_path, rigs):
    start = ds.parse_iso("2025-06-21T06:00:00+00:00")
    end = start + 6 * 3600
    rig = Rig(tmp_path, mosquitto, start=ds.iso(start), speed=1200)
    rigs.append(rig)
    cfg_path = rig.config("d")
    d = rig.daemon(cfg_path, "d")
    rig.timeline.wait_until(start + 2.5 * 3600)
    mosquitto.stop()
    time.sleep(1.5)                                   # 30 simulated minutes without a broker
    mosquitto.start()
    wait_closed(cfg_path, end, timeout_s=60)
    assert d.alive(), d.log()[-3000:]
    assert d.terminate() == 0
    cfg = load_config(cfg_path)
    a = allocation(cfg_path, start, end)
    steps = np.arange(start, end, STEP).astype(np.int64)
    assert a.step_starts_s.tolist() == steps.tolist()
    assert not a.incomplete.any()
    assert np.isfinite(a.consumption_wh).all()
    # the indices bridged the outage: the window's consumption is the fleet's, to the Wh
    expected = fleet_energy(cfg, steps)
    np.testing.assert_allclose(a.consumption_wh.sum(axis=0), expected.sum(axis=0), atol=2.0)
    # the daemon saw the broker go and come back, and its session was kept by the broker
    log = d.log()
    assert "MQTT disconnected" in log
    assert log.count("MQTT connected") >= 2 and "(session resumed)" in log


# -- kill -9 ---------------------------------------------------------------------------------------
def computed_sim_s(config, timeline, from_s, to_s) -> np.ndarray:
    """When each step's stored result was (last) written, on the simulated clock."""
    cfg = load_config(config)
    con = sqlite3.connect(cfg.relative(cfg.store.path))
    try:
        rows = con.execute("SELECT step_s, computed_s FROM allocation_step WHERE step_s >= ? "
                           "AND step_s < ? ORDER BY step_s", (int(from_s), int(to_s))).fetchall()
    finally:
        con.close()
    wall = np.array([r[1] for r in rows])
    return np.array([r[0] for r in rows]), timeline.start_s + (wall - timeline.origin) * \
        timeline.speed


def test_kill_9_at_10_moments_of_a_day_each_step_closed_once_results_as_uninterrupted(
        mosquitto, tmp_path, rigs):
    start = ds.parse_iso(ds.DAY_START)                 # local midnight
    end = start + 86400
    rig = Rig(tmp_path, mosquitto, start=ds.DAY_START, speed=1800)
    rigs.append(rig)
    ref_cfg, cfg_path = rig.config("reference"), rig.config("killed")
    rig.daemon(ref_cfg, "reference")
    d = rig.daemon(cfg_path, "killed")
    moments = sorted(random.Random(5).sample(range(int(start) + 3600, int(end) - 3600, 600), 10))
    downtime = []
    for k, t in enumerate(moments):
        ds.wait_for(lambda: "started:" in d.log(), 30, what="the daemon to start")
        rig.timeline.wait_until(t)
        killed_at = rig.timeline.now()
        d.kill()
        d = rig.daemon(cfg_path, f"killed-{k + 1}")      # same config, same clock origin
        ds.wait_for(lambda: "started:" in d.log(), 30, what="the daemon to restart")
        downtime.append((killed_at, rig.timeline.now()))
    for c in (ref_cfg, cfg_path):
        wait_closed(c, end, timeout_s=90)
    for p in rig.procs:
        if p.alive():
            assert p.terminate() == 0
    assert len(rig.procs) == 2 + 10

    steps = np.arange(start, end, STEP).astype(np.int64)
    ref, got = allocation(ref_cfg, start, end), allocation(cfg_path, start, end)
    for a in (ref, got):
        assert a.step_starts_s.tolist() == steps.tolist()
        assert not a.incomplete.any()
    longest_down = max(b - a for a, b in downtime)
    assert longest_down < 1800                         # each outage is shorter than a step

    # Each step was written once: when it closed (grace 3 min, close job every minute), or,
    # if the daemon was down then, right after the restart; never rewritten later by a
    # restart's recomputation of the window (that would change a closed result).
    t, sim_written = computed_sim_s(cfg_path, rig.timeline, start, end)
    late = sim_written - (t + STEP + 180)
    assert late.max() < longest_down + 600, [(ds.iso(s), lt) for s, lt in zip(t, late)
                                             if lt >= longest_down + 600]

    # Consumption (MQTT, persistent session: the broker kept what came while the daemon was
    # down). Readings buffered in memory when kill -9 landed (at most flush_interval_s of
    # them, already acknowledged to the broker) are lost: the cumulative index bridges them,
    # so a step next to a kill may move a few Wh to its neighbour, and every participant's
    # day adds up to the same energy.
    kills = np.array([a for a, _ in downtime])
    near_kill = (np.abs(steps[:, None] + STEP - kills[None, :]) < 2 * STEP).any(axis=1) | \
        (np.abs(steps[:, None] - kills[None, :]) < 2 * STEP).any(axis=1)
    dc = np.abs(got.consumption_wh - ref.consumption_wh)
    assert (dc[~near_kill] == 0).all()
    assert dc.max() <= 20.0
    np.testing.assert_allclose(got.consumption_wh.sum(axis=0), ref.consumption_wh.sum(axis=0),
                               rtol=0, atol=1e-6)
    # Production (the inverter, polled): each daemon samples the register at its own
    # instants, so two runs, killed or not, interpolate step boundaries between different
    # samples; a killed daemon reads nothing while it is down. Per step they agree to the
    # sampling error; over the day (its ends at night) to the Wh.
    truth = model_production(load_config(cfg_path), steps)
    assert truth.sum() > 50_000
    np.testing.assert_allclose(got.production_wh, ref.production_wh, rtol=0.03, atol=30.0)
    np.testing.assert_allclose(got.production_wh, truth, rtol=0.03, atol=30.0)
    assert got.production_wh.sum() == pytest.approx(ref.production_wh.sum(), abs=1.0)
    print("downtime (sim min):", [round((b - a) / 60) for a, b in downtime])
    print("consumption: %d values differ, max %.1f Wh" % (np.count_nonzero(dc), dc.max()))
    dp = np.abs(got.production_wh - ref.production_wh)
    print("production: %d steps differ, max %.1f Wh (reference vs model: max %.1f Wh)"
          % (np.count_nonzero(dp), dp.max(), np.abs(ref.production_wh - truth).max()))
