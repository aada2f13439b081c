"""The daemon against the building simulators and a real mosquitto.

* in-process: :class:`pvshare.live.daemon.Daemon` driven by ``tick(now)`` on a fast simulated
  clock, with :class:`simulators.building.Building` (a SunSpec inverter on Modbus TCP and
  Linky meters over MQTT): step energies are checked against the simulators' own models;
* ``pvshare run`` as a subprocess: SIGTERM flushes what is buffered and writes the status
  file; ``pvshare status`` then names every meter and the outbox depth.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np
import pytest

from pvshare.config import load_config
from pvshare.live.daemon import Daemon, status_path
from pvshare_simulators.building import Building, BuildingOptions
from pvshare_simulators.clock import SimClock
from tests import daemon_support as ds

pytestmark = pytest.mark.timeout(180)

STEP = 1800


def test_a_few_hours_close_complete_steps_matching_the_simulators(mosquitto, tmp_path):
    start_s = ds.parse_iso("2025-06-21T04:00:00+00:00")      # 06:00 in Paris, sunrise past
    hours = 4
    speed = 1200.0
    # The clock stands ten simulated minutes before the start while everything is set up
    # (held until its origin file is written): the daemon's first poll and a reading of
    # every meter are there, before the first step, however slow the set-up.
    go_file = tmp_path / "clock-origin"
    clock = SimClock(start_s - 600, speed, origin_file=go_file)
    building = Building(load_config(ds.EXAMPLE), clock,
                        BuildingOptions(meter_interval_s=0.05, night_sleep=False),
                        broker=(mosquitto.host, mosquitto.port))
    with building:
        building.start(meters=False)
        path = ds.write_config(tmp_path, broker_port=mosquitto.port,
                               inverter_port=building.inverter_port, participants=6,
                               poll_interval_s=30, flush_interval_s=60)
        cfg = load_config(path)
        # the meter simulator follows the config it is given: the same 6 participants
        building.cfg = cfg
        daemon = Daemon(cfg, clock=clock.now, forecast=False, create_store=True,
                        speed=clock.speed)
        daemon.start()
        try:
            assert all(m.wait_connected(60) for m in daemon.pushed)
            building.start_meters()
            ids = [cfg.producer.meter, *[f"linky-{p.id}" for p in cfg.participants]]

            def heard_all():
                daemon.tick(clock.now())
                return {r.meter_id for r in list(daemon._buffer)} | \
                    set(daemon.store.latest_reading_times()) >= set(ids)
            ds.wait_for(heard_all, 60, what="a reading of every meter before the start")
            go_file.write_text(repr(time.time()))
            end_s = start_s + hours * 3600
            stop_at = end_s + cfg.daemon.grace_s + 60
            while (now := clock.now()) < stop_at:
                daemon.tick(now)
                time.sleep(0.01)
            # on a loaded machine the meter simulator's messages may lag the clock: go on
            # until every meter has a reading past the end (the step's end must be read)

            def covered():
                daemon.tick(clock.now())
                daemon.flush(clock.now())
                latest = daemon.store.latest_reading_times()
                return all(latest.get(m, 0) > end_s for m in ids)
            ds.wait_for(covered, 120, what="readings past the end from every meter")
            daemon.close(clock.now())
        finally:
            daemon.stop()

    with ds.open_store(path) as store:
        a = store.allocation(int(start_s), int(end_s))
        samples = store.readings(cfg.producer.meter, start_s - 3600, end_s + 3600)
    steps = np.arange(start_s, end_s, STEP).astype(np.int64)
    assert a.step_starts_s.tolist() == steps.tolist()
    assert not a.incomplete.any(), (a.consumption_wh, daemon.counters, daemon.last_error)
    assert a.participant_ids == [p.id for p in cfg.participants]

    # production: the inverter model's energy over each step (its register counts ∫P dt)
    from pvshare_simulators.inverter import model_day
    curve = model_day(cfg)(float(start_s // 86400 * 86400))
    expected_prod = np.array([curve.energy_at(s + STEP) - curve.energy_at(s) for s in steps])
    assert expected_prod.max() > 1000             # a morning with sun: the check means something
    # the daemon samples the register every 30 simulated s (whole Wh) and interpolates the
    # step boundaries between two samples. What it cannot know is allowed, computed from the
    # model: the curve's bend between the two samples around a boundary, and each sample's
    # lag (a reading is stamped when the poll starts; the register is read a few ms later,
    # which at x1200 on a loaded machine is up to a minute: 100 Wh at noon).
    t = samples.time_s
    truth = np.array([curve.energy_at(x) for x in t])
    lag = samples.export_wh - truth
    lag -= np.median(lag)                       # the register's start value
    # most samples are on time: the values the daemon stored are the register's
    assert np.median(np.abs(lag)) <= 5.0, np.percentile(lag, [0, 50, 100])

    def budget(b: float) -> float:
        k = int(np.searchsorted(t, b))           # t[k - 1] < b <= t[k]
        e0, e1 = truth[k - 1], truth[k]
        bend = abs(e0 + (e1 - e0) * (b - t[k - 1]) / (t[k] - t[k - 1]) - curve.energy_at(b))
        return bend + max(abs(lag[k - 1]), abs(lag[k]))

    allowed = 0.01 * expected_prod + 5.0 + np.array([budget(s) + budget(s + STEP)
                                                      for s in steps])
    assert (np.abs(a.production_wh - expected_prod) <= allowed).all(), (
        a.production_wh, expected_prod, allowed)

    # consumption: the Linky fleet's index differences over each step
    from pvshare_simulators.meters import fleet_from_sample_year
    fleet = fleet_from_sample_year(cfg.participants, seed=0)
    idx = np.array([fleet.index_wh(float(s)) for s in np.r_[steps, steps[-1] + STEP]])
    expected_cons = np.diff(idx, axis=0)
    assert (expected_cons > 0).any()
    # whole-Wh indices: a boundary interpolated between two readings is within 1 Wh
    np.testing.assert_allclose(a.consumption_wh, expected_cons, rtol=0, atol=2.0)
    assert np.nansum(a.allocated_wh, axis=1) == pytest.approx(
        np.minimum(a.production_wh, a.consumption_wh.sum(axis=1)), abs=1e-6)


def test_sigterm_flushes_what_is_buffered_writes_the_status_and_exits_0(mosquitto_factory,
                                                                        tmp_path):
    """The production path (APScheduler on the real clock, as under systemd): nothing is
    flushed for an hour and the next close is a minute away, so the readings received are
    only in memory when SIGTERM comes; they must all be in the store afterwards."""
    mosquitto = mosquitto_factory(log_type="debug")    # its log shows the daemon's PUBACKs
    path = ds.write_config(tmp_path, broker_port=mosquitto.port, inverter_port=ds.free_port(),
                           participants=6, poll_interval_s=3600, flush_interval_s=3600)
    timeline = ds.Timeline(start=ds.iso(time.time()), speed=1.0)
    ds.init_store(path)
    daemon = ds.Proc(ds.pvshare_cmd("run", "--config", path, "--no-forecast"),
                     tmp_path / "daemon.log")
    try:
        ds.wait_daemon_ready(path, daemon)      # subscribed; its first close is behind it
        from pvshare_simulators.meters import MeterSimulator
        cfg = load_config(path)
        sim = MeterSimulator(cfg, "127.0.0.1", mosquitto.port, "zlinky", interval_s=0.05,
                             start_s=timeline.now(), speed=1.0)
        sim.connect()
        sim.run(count=5)
        sim.close()
        published = sim.stats["published"]
        assert published == 5 * 6
        # delivered to the daemon: it acknowledged each message (QoS 1) once handled
        client_id = "pvshare-test-linky"
        ds.wait_for(lambda: mosquitto.log_text().count(f"Received PUBACK from {client_id}")
                    >= published, 60, what="the daemon to acknowledge every message")
        with ds.open_store(path) as store:
            before = sum(store.readings(f"linky-{p.id}", 0, 2**40).time_s.size
                         for p in cfg.participants)
        assert before == 0                      # still in memory only
        rc = daemon.terminate()
    finally:
        daemon.kill()
    assert rc == 0, daemon.log()[-3000:]
    with ds.open_store(path) as store:
        stored = sum(store.readings(f"linky-{p.id}", 0, 2**40).time_s.size
                     for p in cfg.participants)
    assert stored == published
    status = json.loads(status_path(cfg).read_text())
    assert status["pid"] == daemon.pid
    assert status["counters"]["readings"] == published
    assert "shutting down" in daemon.log() and "stopped" in daemon.log()


def test_status_names_every_meter_and_the_outbox_depth(mosquitto, tmp_path):
    path = ds.write_config(tmp_path, broker_port=mosquitto.port, inverter_port=ds.free_port(),
                           participants=6)
    cfg = load_config(path)
    from pvshare.meters.base import Reading
    from pvshare.store import Store
    t0 = ds.parse_iso("2025-06-21T10:00:00+00:00")
    with Store.from_config(cfg) as store:           # two steps of readings, one step closed
        rs = [Reading("inverter", t0 + 60 * k, export_wh=1e6 + 100 * k) for k in range(61)]
        rs += [Reading(f"linky-{p.id}", t0 + 60 * k, import_wh=5000 + 10 * k)
               for p in cfg.participants[:5] for k in range(61)]
        store.write_readings(rs)
        from pvshare.live.closing import close_steps, plan_from_config
        close_steps(store, plan_from_config(cfg), t0 + 3600 + 180)
        depth = store.outbox_depth()
    assert depth > 0
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ds.ROOT)}
    out = subprocess.run(ds.pvshare_cmd("status", "--config", path), capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 3, out.stderr           # a stale meter (issue 13: exit codes)
    assert "stale meter" in out.stderr
    text = out.stdout
    for m in ["inverter", *[f"linky-{p.id}" for p in cfg.participants]]:
        assert m in text
    assert f"{depth} point(s)" in text
    assert "silent" in text                          # linky-A06 never reported
    js = subprocess.run(ds.pvshare_cmd("status", "--config", path, "--json"),
                        capture_output=True, text=True, env=env, timeout=60)
    s = json.loads(js.stdout)
    assert js.returncode == 3 and s["exit_code"] == 3
    assert s["outbox_depth"] == depth
    assert s["meters"]["linky-A06"] is None
    assert s["reason"].startswith("stale meter(s)")
    assert s["last_step_s"] == t0 + 1800
    assert "2025-06-21 10:30 UTC" in text
