"""The SunSpec inverter simulator: its physics (pvlib model, real weather, energy counter),
its night sleep, and its command line, read by pysunspec2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from pvshare.config import load_config
from pvshare.meters.sunspec import SunSpecMeter, SunSpecOptions
from pvshare_simulators.inverter import (
    DAY_S,
    DayCurve,
    Faults,
    Production,
    ServerThread,
    build,
    default_config_path,
    model_day,
)

NOON_JUNE_S = 1750507200.0          # 2025-06-21T12:00:00Z
MIDNIGHT_JUNE_S = NOON_JUNE_S - 12 * 3600
ROOT = Path(__file__).resolve().parent.parent


class FixedClock:
    def __init__(self, t: float):
        self.t = float(t)

    def now(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def cfg():
    return load_config(default_config_path())


@pytest.fixture(scope="module")
def day(cfg):
    return model_day(cfg)


# --- pure parts ------------------------------------------------------------------------------
powers = st.lists(st.floats(0, 40000), min_size=2, max_size=80).map(
    lambda knots: np.interp(np.linspace(0, 1, 1441), np.linspace(0, 1, len(knots)), knots))


@settings(max_examples=30, deadline=None)
@given(powers, st.floats(0, DAY_S), st.floats(0, DAY_S))
def test_day_energy_is_the_integral_of_power(p, a, b):
    """energy_at(b) - energy_at(a) is the integral of the piecewise-linear power_at
    (trapezoids between a, every whole minute in between, and b: exact)."""
    c = DayCurve.from_power(0.0, p, np.ones(1441, bool))
    a, b = sorted((a, b))
    ts = np.unique(np.concatenate([[a, b], np.arange(0, DAY_S + 1, 60.0)]))
    ts = ts[(ts >= a) & (ts <= b)]
    ps = np.array([c.power_at(t) for t in ts])
    exact = float(np.sum((ps[1:] + ps[:-1]) / 2 * np.diff(ts))) / 3600
    got = c.energy_at(b) - c.energy_at(a)
    assert got == pytest.approx(exact, rel=1e-9, abs=1e-6)
    assert got >= -1e-9


def _flat_day(power_w):
    return lambda start: DayCurve.from_power(start, np.full(1441, float(power_w)),
                                             np.ones(1441, bool))


@given(st.lists(st.floats(0, 3 * DAY_S), min_size=1, max_size=20))
def test_counter_only_moves_forward_and_adds_up(times):
    """Constant 1 kW: the counter gains exactly 1 Wh per 3.6 s, whatever the reading times."""
    prod = Production(_flat_day(1000.0), 5000.0, 0.0)
    last = 5000.0
    t_max = 0.0
    for t in times:
        e = prod.energy_wh(t)
        t_max = max(t_max, t)
        assert e == pytest.approx(5000.0 + t_max / 3.6, rel=1e-9, abs=1e-6)
        assert e >= last - 1e-9
        last = e


# --- the real model of the example building ---------------------------------------------------
def test_power_follows_the_sun_and_the_counter_integrates_it(day, cfg):
    prod = Production(day, 1e6, MIDNIGHT_JUNE_S)
    assert prod.power_w(MIDNIGHT_JUNE_S + 3600) == 0.0
    assert not prod.is_up(MIDNIGHT_JUNE_S + 3600)
    noon = prod.power_w(NOON_JUNE_S)
    assert 0 < noon <= cfg.array.inverter_kw * 1000
    assert prod.is_up(NOON_JUNE_S)
    c = prod.curve(NOON_JUNE_S)
    daily_kwh = c.energy_wh[-1] / 1000
    # a June day of a 36 kWp roof in the Ain: between an overcast and a perfect day
    assert 20 < daily_kwh < 8 * cfg.array.kwp
    assert prod.energy_wh(MIDNIGHT_JUNE_S + DAY_S) - 1e6 == pytest.approx(c.energy_wh[-1])


def test_winter_day_is_shorter_and_smaller(day):
    june = day(MIDNIGHT_JUNE_S)
    december = day(MIDNIGHT_JUNE_S + 183 * DAY_S)
    assert december.up.sum() < june.up.sum() - 300          # minutes of daylight
    assert december.energy_wh[-1] < june.energy_wh[-1]


def test_simulator_serves_the_model_read_by_our_reader_and_pysunspec2(cfg, day):
    clock = FixedClock(NOON_JUNE_S - 3600)
    sim = build(cfg, clock, day=day, energy0_wh=5_000_000)
    with ServerThread(sim) as srv:
        m = SunSpecMeter("inverter", SunSpecOptions(host="127.0.0.1", port=srv.port))
        (r1,) = m.read(clock.now())
        clock.t += 1800
        (r2,) = m.read(clock.now())
        d = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=srv.port,
                                         timeout=2)
        d.scan()
        inv = d.models[103][0]
        inv.read()
        d.disconnect()
    prod = sim.image.production
    assert r2.power_w == inv.W.cvalue == round(prod.power_w(clock.t))
    assert r2.export_wh == inv.WH.cvalue
    assert inv.St.value == m.last_values["St"]
    gained = r2.export_wh - r1.export_wh
    c = prod.curve(clock.t)
    exact = c.energy_at(clock.t) - c.energy_at(clock.t - 1800)    # WH is whole Wh
    assert gained == pytest.approx(exact, abs=1.0) and gained > 0
    assert sim.stats.writes == 0


def test_night_sleep_refuses_connections_until_sunrise(cfg, day):
    clock = FixedClock(MIDNIGHT_JUNE_S + 3600)     # 01:00 UTC
    sim = build(cfg, clock, day=day, faults=Faults(night_sleep=True))
    with ServerThread(sim) as srv:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
        clock.t = NOON_JUNE_S
        deadline = time.monotonic() + 60
        while not sim.listening and time.monotonic() < deadline:
            time.sleep(0.02)
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
        clock.t = MIDNIGHT_JUNE_S + DAY_S + 3600       # the next night
        deadline = time.monotonic() + 60
        while sim.listening and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


# --- the command line ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_runs_with_no_config_and_pysunspec2_reads_it():
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pvshare.cli", "simulate", "inverter", "--port", str(port),
         "--start", "2025-06-21T11:00:00Z", "--speed", "60", "--duration", "600",
         "--status-every", "0.5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120      # (the test stops it when done)
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        d = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port,
                                         timeout=2)
        d.scan()
        inv = d.models[103][0]
        inv.read()
        w1, wh1 = inv.W.cvalue, inv.WH.cvalue
        time.sleep(1.5)                    # 90 simulated seconds at x60
        inv.read()
        wh2 = inv.WH.cvalue
        d.disconnect()
        assert d.common[0].Mn.value == "pvshare"
        assert w1 > 1000 and inv.St.value in (4, 5)
        assert wh2 > wh1
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert f"SunSpec inverter on 127.0.0.1:{port}" in err
    assert "W=" in err and "writes=0" in err


def test_cli_rejects_a_bad_base_address():
    proc = subprocess.run([sys.executable, "-m", "pvshare.cli", "simulate", "inverter",
                           "--base", "123"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "--base" in proc.stderr and "40000, 0 or 50000" in proc.stderr
