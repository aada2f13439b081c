"""``pvshare simulate meters``: the fleet's indices, the faults, and the simulator end to end
through a real mosquitto into the ``mqtt`` meter."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from pvshare.config import load_config, parse_config
from pvshare.data.sample import load_sample_year
from pvshare.meters import payloads
from pvshare.meters.mqtt import MqttMeter, Options
from pvshare_simulators.meters import (
    FaultInjector,
    Faults,
    LinkyFleet,
    MeterSimulator,
    default_config_path,
    fleet_from_sample_year,
    teleinfo_payloads,
    zlinky_payloads,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.toml"
START = "2025-03-10T06:00:00+00:00"
START_S = 1741586400.0


@pytest.fixture(scope="module")
def sample():
    return load_sample_year()


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


def expected_index(sample, t_s, col, initial_wh):
    """Independent computation: initial + cumulative consumption interpolated at t_s."""
    t_steps = sample.times.astype("datetime64[s]").astype(np.int64).astype(float)
    edges = np.append(t_steps, t_steps[-1] + sample.step_s)
    cum = np.concatenate([[0.0], np.cumsum(sample.consumption_wh[:, col])])
    return initial_wh + np.interp(t_s, edges, cum)


def test_default_config_is_the_bundled_example():
    assert default_config_path().resolve() == EXAMPLE.resolve()


def test_fleet_follows_sample_year(sample, cfg):
    fleet = fleet_from_sample_year(cfg.participants, seed=4, sample=sample)
    assert fleet.n == 48
    assert np.all((fleet.initial_wh >= 5e6) & (fleet.initial_wh <= 3e7))
    cols = [sample.participants.index(p.id) for p in cfg.participants]
    for t_s in (START_S, START_S + 17 * 60 + 3.5, START_S + 86400 * 100):
        got = fleet.index_wh(t_s)
        for n in (0, 17, 47):
            exp = expected_index(sample, t_s, cols[n], fleet.initial_wh[n])
            assert got[n] == np.floor(exp)


def test_fleet_wraps_a_year_adding_its_total(sample, cfg):
    fleet = fleet_from_sample_year(cfg.participants[:3], sample=sample)
    year_s = len(sample.times) * sample.step_s
    a, b = fleet.index_wh(START_S), fleet.index_wh(START_S + year_s)
    np.testing.assert_allclose(b - a, np.nansum(sample.consumption_wh[:, :3], axis=0), atol=1)


def test_fleet_power_is_mean_power_of_the_step(sample, cfg):
    fleet = fleet_from_sample_year(cfg.participants[:2], sample=sample)
    k = int((START_S - sample.times[0].astype(np.int64)) // sample.step_s)
    np.testing.assert_allclose(fleet.power_w(START_S + 60),
                               sample.consumption_wh[k, :2] * 3600 / sample.step_s)


def test_replacement_resets_index_then_it_grows_again():
    fleet = LinkyFleet(0.0, 1800, np.full((48, 2), 100.0), np.array([1e6, 2e6]))
    fleet.replacements.append((1, 3600.0, 20.0))
    before, at, after = (fleet.index_wh(t) for t in (3599.0, 3600.0, 5400.0))
    assert before[1] > 2e6 and at[1] == 20 and after[1] == 120
    assert after[0] - at[0] == 100  # the other meter is untouched


@pytest.mark.parametrize("fmt", ["zlinky", "teleinfo2mqtt"])
def test_payloads_decode_back_to_the_index(fmt):
    idx = np.array([12_345_678.0, 9.0])
    pw = np.array([1234.4, 0.0])
    prms, adscs = ["25460000000001", "00460000000002"], ["021700000001", "021700000002"]
    fn = zlinky_payloads if fmt == "zlinky" else teleinfo_payloads
    for payload, e, p, prm in zip(fn(START_S, idx, pw, prms, adscs), idx, pw, prms):
        d = payloads.decode(fmt, payload, START_S + 1)
        assert isinstance(d, payloads.Decoded), d
        assert (d.import_wh, d.power_va, d.prm, d.time_s) == (e, round(p), prm, START_S)


def _messages(n):
    return [(f"t/{i}", f'{{"i":{i}}}'.encode()) for i in range(n)]


def test_faults_drop_duplicate_and_reorder():
    assert FaultInjector(Faults(drop=1), "zlinky", 0, "x").apply(_messages(5)) == []
    assert FaultInjector(Faults(duplicate=1), "zlinky", 0, "x").apply(_messages(3)) == \
        [m for m in _messages(3) for _ in range(2)]
    inj = FaultInjector(Faults(reorder=0.5), "zlinky", 7, "x")
    sent = []
    ticks = [[(t, p + b"%d" % k) for t, p in _messages(4)] for k in range(30)]
    for msgs in ticks:
        sent += inj.apply(msgs)
    sent += inj.flush()
    assert sorted(sent) == sorted(m for msgs in ticks for m in msgs)  # nothing lost
    assert sent != [m for msgs in ticks for m in msgs] and inj.stats["reordered"] > 0


def test_faults_garbage_is_always_rejected(cfg):
    sim_msgs = MeterSimulator(cfg, fmt="zlinky", start_s=START_S).messages(START_S)
    inj = FaultInjector(Faults(garbage=1), "zlinky", 3, "zigbee2mqtt/linky-UNKNOWN")
    out = inj.apply(sim_msgs * 5)
    assert len(out) == 240
    for topic, payload in out:
        res = payloads.decode("zlinky", payload, START_S)
        assert isinstance(res, payloads.Rejection) or topic.endswith("UNKNOWN")
    assert sum(v for k, v in inj.stats.items() if k.startswith("garbage.")) == 240


def test_faults_are_deterministic_with_seed():
    def run(seed):
        inj = FaultInjector(Faults(0.1, 0.1, 0.1, 0.1), "zlinky", seed, "x")
        return [inj.apply([(t, b'{"current_summ_delivered": 1}') for t, _ in _messages(48)])
                for _ in range(5)]
    assert run(1) == run(1) and run(1) != run(2)


def test_bad_fault_probability():
    with pytest.raises(ValueError, match="--drop"):
        Faults(drop=1.5)


# -- end to end: simulator process -> mosquitto -> meter -------------------------------------
def simulate(broker, *args, timeout=60):
    cmd = [sys.executable, "-m", "pvshare.cli", "simulate", "meters",
           "--broker", f"127.0.0.1:{broker.port}", "--start", START, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def meter_for(broker, fmt, topic):
    data = tomllib.loads(EXAMPLE.read_text())
    data["mqtt"] = {"host": broker.host, "port": broker.port,
                    "client_id": f"e2e-{time.monotonic_ns()}"}
    cfg = parse_config(data, str(EXAMPLE))
    got = []
    m = MqttMeter("linky-{participant}", Options(format=fmt, topic=topic), cfg, sink=got.append)
    m.start()
    assert m.wait_connected(60)
    return m, got


def wait_for(cond, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("fmt,topic", [("zlinky", "zigbee2mqtt/linky-{participant}"),
                                       ("teleinfo2mqtt", "teleinfo/{adsc}")])
def test_simulator_to_meter_end_to_end(mosquitto, sample, cfg, fmt, topic):
    meter, got = meter_for(mosquitto, fmt, topic)
    try:
        stats, err = simulate(mosquitto, "--format", fmt, "--count", "4", "--interval", "0.05",
                              "--speed", "6000", "--seed", "5")
        assert stats["published"] == 4 * 48 and "publishing 48 Linky meters" in err
        assert wait_for(lambda: len(got) == 4 * 48), dict(meter.counters)
    finally:
        meter.stop()
    assert meter.counters["decoded"] == 192 and meter.counters["time_from_receipt"] == 0
    fleet = fleet_from_sample_year(cfg.participants, seed=5, sample=sample)
    times = START_S + np.arange(4) * 0.05 * 6000
    cols = {p.id: sample.participants.index(p.id) for p in cfg.participants}
    for n, p in enumerate(cfg.participants):
        mine = sorted((r for r in got if r.meter_id == f"linky-{p.id}"), key=lambda r: r.time_s)
        assert [r.time_s for r in mine] == list(times)
        exp = np.floor(expected_index(sample, times, cols[p.id], fleet.initial_wh[n]))
        assert [r.import_wh for r in mine] == list(exp)


def test_simulator_faults_end_to_end(mosquitto):
    meter, got = meter_for(mosquitto, "zlinky", "zigbee2mqtt/linky-{participant}")
    try:
        stats, _ = simulate(mosquitto, "--count", "10", "--interval", "0.02", "--speed", "600",
                            "--seed", "11", "--drop", "0.1", "--garbage", "0.1",
                            "--duplicate", "0.1", "--reorder", "0.1",
                            "--replace-meter", "B07@2025-03-10T06:01:00")
        assert wait_for(lambda: meter.counters["received"] == stats["published"]), \
            (dict(meter.counters), stats)
    finally:
        meter.stop()
    s = meter.counters
    rejected = sum(s[r] for r in (*payloads.REASONS, "unknown_topic"))
    garbage = sum(v for k, v in stats.items() if k.startswith("garbage."))
    assert stats["dropped"] > 0 and stats["duplicated"] > 0 and stats["reordered"] > 0
    assert garbage <= rejected <= garbage + stats["duplicated"]
    assert s["decoded"] + s["duplicate"] + rejected == stats["published"]
    assert s["decoded"] <= 480 - stats["dropped"] - garbage + stats["duplicated"]
    by_meter: dict[str, list] = {}
    for r in got:
        by_meter.setdefault(r.meter_id, []).append(r)
    for mid, rs in by_meter.items():
        rs.sort(key=lambda r: r.time_s)
        steps = np.diff([r.import_wh for r in rs])
        if mid == "linky-B07":
            after = [r.import_wh for r in rs if r.time_s >= START_S + 60]
            assert after and max(after) < 1000  # the new meter starts near zero
            assert (steps < 0).sum() <= 1
        else:
            assert np.all(steps >= 0), mid  # reordered messages do not break the index
    assert len(by_meter) == 48  # every meter still heard


@pytest.mark.parametrize("args,message", [
    (["--broker", "127.0.0.1:notaport"], "host:port"),
    (["--replace-meter", "A01"], "ID@ISO"),
    (["--replace-meter", "Z42@2025-01-01T00:00"], "unknown participant"),
    (["--format", "json"], "zlinky"),
    (["--drop", "2"], "between 0 and 1"),
])
def test_cli_bad_options(args, message):
    r = subprocess.run([sys.executable, "-m", "pvshare.cli", "simulate", "meters", *args],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_cli_unreachable_broker():
    from tests.plugins.mosquitto import free_port
    r = subprocess.run([sys.executable, "-m", "pvshare.cli", "simulate", "meters", "--broker",
                        f"127.0.0.1:{free_port()}", "--count", "1"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2 and "cannot reach the MQTT broker" in r.stderr
