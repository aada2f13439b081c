"""Results published back to MQTT (retained), with Home Assistant discovery, through a real
mosquitto broker."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pvshare.live.publish import ResultsPublisher

CONFIG = "config/example.toml"  # the example building


def _cfg(port: int, tmp_path):
    import tomllib
    from pathlib import Path

    from pvshare.config import parse_config
    data = tomllib.loads(Path(CONFIG).read_text())
    data["mqtt"] = {"host": "127.0.0.1", "port": port, "client_id": "pvshare-test"}
    return parse_config(data, str(tmp_path / "site.toml"))


def _collect(port: int, topic: str, want: int, timeout_s: float = 60.0) -> dict[str, dict]:
    """Subscribe (after the fact: retained messages) and gather ``want`` messages."""
    got: dict[str, dict] = {}
    done = threading.Event()

    def on_message(client, userdata, msg):
        try:
            got[msg.topic] = json.loads(msg.payload)
        except ValueError:                              # availability: plain text
            got[msg.topic] = msg.payload.decode()
        if len(got) >= want:
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="reader")
    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    done.wait(timeout_s)
    c.loop_stop()
    c.disconnect()
    return got


def _flush(pub) -> None:
    """Until the publisher is connected, has sent what it sends on connecting, and every
    message it queued so far is acknowledged by the broker (a last QoS 1 message is)."""
    online = _collect(pub.cfg.mqtt.port, pub.topic("availability"), 1)
    assert online == {pub.topic("availability"): "online"}
    flushed = pub.client.publish("pvshare-test/flushed", b"", qos=1)
    flushed.wait_for_publish(60)
    assert flushed.is_published()


def test_step_results_and_discovery_are_retained(mosquitto, tmp_path):
    cfg = _cfg(mosquitto.port, tmp_path)
    # a sensor of pvshare 0.1 (energy per step as a measurement) retained in the broker
    old = "homeassistant/sensor/pvshare_residence-plaine-ain_participant_A01_allocated_wh/config"
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="old")
    c.connect("127.0.0.1", mosquitto.port)
    c.loop_start()
    c.publish(old, json.dumps({"state_class": "measurement", "device_class": "energy"}),
              qos=1, retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()
    pub = ResultsPublisher(cfg)
    pub.start()
    deadline = time.monotonic() + 60
    while not pub.client.is_connected():
        assert time.monotonic() < deadline, "the publisher did not connect"
        time.sleep(0.05)
    n = len(cfg.participants)
    cons = np.linspace(100, 200, n)
    cons[3] = np.nan                                   # a silent meter
    alloc = np.where(np.isnan(cons), 0.0, cons / 2)
    pub.publish_step(1750500000, cfg.participant_ids, 5000.0, cons, alloc)
    pub.publish_green_hours(1750500000, np.arange(1750500000, 1750500000 + 6 * 1800, 1800),
                            [False, True, True, False, True, False], 1800, 1750500000)
    _flush(pub)
    pub.stop()

    states = _collect(mosquitto.port, "pvshare/residence-plaine-ain/#", n + 3)
    a01 = states["pvshare/residence-plaine-ain/participant/A01/state"]
    assert a01 == {"time": "2025-06-21T10:00:00+00:00", "consumption_wh": 100.0,
                   "allocated_wh": 50.0, "complement_wh": 50.0, "self_sufficiency_pct": 50.0,
                   # mean power over the 30-min step: Wh x 2
                   "consumption_w": 200.0, "allocated_w": 100.0}
    silent = states[f"pvshare/residence-plaine-ain/participant/{cfg.participant_ids[3]}/state"]
    assert silent["consumption_wh"] is None and silent["allocated_wh"] == 0
    step = states["pvshare/residence-plaine-ain/step/state"]
    assert step["production_wh"] == 5000.0 and step["production_w"] == 10000.0
    # a clean stop says offline (retained): Home Assistant shows the entities unavailable
    assert states["pvshare/residence-plaine-ain/availability"] == "offline"
    assert step["autoprod_wh"] == round(float(np.nansum(alloc)), 3)
    assert step["surplus_wh"] == round(5000.0 - float(np.nansum(alloc)), 3)
    green = states["pvshare/residence-plaine-ain/forecast/green_hours"]
    assert green["now"] is False
    assert green["next"] == [{"start": "2025-06-21T10:30:00+00:00", "end": "2025-06-21T11:30:00+00:00"},
                             {"start": "2025-06-21T12:00:00+00:00", "end": "2025-06-21T12:30:00+00:00"}]

    disc = _collect(mosquitto.port, "homeassistant/sensor/#", 8 + 6 * n, timeout_s=3.0)
    assert len(disc) == 7 + 6 * n                # every retained config, and no other
    assert old not in disc                       # deleted: its entity leaves Home Assistant
    # published with Home Assistant's documented abbreviations and the "~" topic base
    sensor = disc["homeassistant/sensor/pvshare_residence_plaine_ain_a01_self_consumed_kwh/config"]
    assert sensor["~"] == "pvshare/residence-plaine-ain"
    assert sensor["stat_t"] == "~/participant/A01/totals"
    assert sensor["default_entity_id"] == "sensor.pvshare_residence_plaine_ain_a01_self_consumed_kwh"
    assert "object_id" not in sensor and "obj_id" not in sensor
    assert (sensor["dev_cla"], sensor["stat_cla"], sensor["unit_of_meas"]) == \
        ("energy", "total_increasing", "kWh")
    assert sensor["avty_t"] == "~/availability"
    assert sensor["dev"] == {"ids": ["pvshare_residence_plaine_ain_a01"], "name": "A01"}
    first = disc["homeassistant/sensor/pvshare_residence_plaine_ain_a01_consumption_kwh/config"]
    assert first["dev"]["via_device"] == "pvshare_residence_plaine_ain"   # once per device
    # no energy sensor is a measurement (Home Assistant refuses that combination)
    for payload in disc.values():
        if payload.get("dev_cla") == "energy":
            assert payload["stat_cla"] == "total_increasing"
    # Each tenant's own topic carries only its own figures.
    assert all(set(v) == set(a01) for k, v in states.items() if k.endswith("/state")
               and "/participant/" in k)


def test_a_step_closed_without_production_publishes_null_never_nan(mosquitto, tmp_path):
    cfg = _cfg(mosquitto.port, tmp_path)
    pub = ResultsPublisher(cfg)
    pub.start()
    deadline = time.monotonic() + 10
    while not pub.client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    n = len(cfg.participants)
    # past the daemon's horizon: production unknown, nobody got anything (issue 18)
    pub.publish_step(1750500000, cfg.participant_ids, float("nan"), np.full(n, 100.0),
                     np.zeros(n))
    time.sleep(0.5)
    pub.stop()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-reader")
    raw: dict[str, bytes] = {}
    c.on_message = lambda client, userdata, msg: raw.setdefault(msg.topic, msg.payload)
    c.connect("127.0.0.1", mosquitto.port)
    c.subscribe("pvshare/residence-plaine-ain/step/state", qos=1)
    c.loop_start()
    deadline = time.monotonic() + 10
    while not raw and time.monotonic() < deadline:
        time.sleep(0.05)
    c.loop_stop()
    c.disconnect()
    payload = raw["pvshare/residence-plaine-ain/step/state"]
    assert b"NaN" not in payload                        # strict JSON for every reader
    step = json.loads(payload)
    assert step["production_wh"] is None and step["surplus_wh"] is None
    assert step["autoprod_wh"] == 0.0


def test_last_will_marks_the_daemon_offline(mosquitto, tmp_path):
    """A daemon killed without a clean stop: the broker publishes its retained last will."""
    import os
    import signal
    import subprocess
    import sys
    cfg_path = tmp_path / "site.toml"
    code = f"""
import sys, time, tomllib
from pathlib import Path
from pvshare.config import parse_config
from pvshare.live.publish import ResultsPublisher
data = tomllib.loads(Path({CONFIG!r}).read_text())
data["mqtt"] = {{"host": "127.0.0.1", "port": {mosquitto.port}, "client_id": "pvshare-will"}}
pub = ResultsPublisher(parse_config(data, {str(cfg_path)!r}))
pub.start()
while not pub.client.is_connected():
    time.sleep(0.02)
print("connected", flush=True)
time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "connected"
        online = _collect(mosquitto.port, "pvshare/residence-plaine-ain/availability", 1)
        assert online == {"pvshare/residence-plaine-ain/availability": "online"}
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 60
    got = {}
    while time.monotonic() < deadline:
        got = _collect(mosquitto.port, "pvshare/residence-plaine-ain/availability", 1, 1.0)
        if got.get("pvshare/residence-plaine-ain/availability") == "offline":
            break
    assert got == {"pvshare/residence-plaine-ain/availability": "offline"}


def test_totals_come_from_the_store_never_decrease_and_survive_restarts(mosquitto, tmp_path):
    from pvshare.store import Store
    cfg = _cfg(mosquitto.port, tmp_path)
    ids = cfg.participant_ids[:2]
    store = Store.open(tmp_path / "pvshare.db")
    t = np.array([1750500000, 1750501800])
    # two steps, two tenants: production 1000 and 3000 Wh
    cons = np.array([[400.0, 600.0], [500.0, np.nan]])
    alloc = np.array([[400.0, 600.0], [500.0, 0.0]])
    store.write_allocation(t, ids, [1000.0, 3000.0], cons, alloc, [False, True], "prorata")
    totals = store.allocation_totals()
    # by hand: production 4000 Wh; self-consumed 400+600+500+0 = 1500; consumption 1500
    assert totals["production_wh"] == 4000.0 and totals["self_consumed_wh"] == 1500.0
    assert totals["consumption_wh"] == 1500.0 and totals["steps"] == 2
    assert totals["participants"][ids[1]] == {"consumption_wh": 600.0,
                                              "self_consumed_wh": 600.0}

    pub = ResultsPublisher(cfg)
    pub.start()
    b = pub.publish_totals(totals, int(t[-1]))
    assert b["production_kwh"] == 4.0 and b["surplus_kwh"] == 2.5
    # a recomputed step lowers tenant 0's share: what is published does not go down
    store.write_allocation(t[:1], ids, [1000.0], [[400.0, 600.0]], [[300.0, 600.0]], [False],
                           "prorata")
    lower = store.allocation_totals()
    assert lower["self_consumed_wh"] == 1400.0
    pub.publish_totals(lower, int(t[-1]))
    _flush(pub)
    pub.stop()
    # a restarted daemon (new publisher, same store) publishes the same, not less
    pub2 = ResultsPublisher(cfg)
    b2 = pub2.publish_totals(store.allocation_totals())
    assert b2["self_consumed_kwh"] == 1.5 and b2["production_kwh"] == 4.0
    got = _collect(mosquitto.port, "pvshare/residence-plaine-ain/participant/+/totals", 2)
    assert got[f"pvshare/residence-plaine-ain/participant/{ids[0]}/totals"][
        "self_consumed_kwh"] == 0.9
    store.close()


def test_running_totals_are_incremental_and_equal_the_full_sum(tmp_path):
    """The cached sum of final steps plus the window equals a full sum, after the window
    moves, after a step recomputed inside it, and after a late step closed before it.
    """
    from pvshare.live.publish import RunningTotals
    from pvshare.store import Store
    ids = ["A", "B", "C"]
    rng = np.random.default_rng(3)
    store = Store.open(tmp_path / "t.db")
    totals = RunningTotals(window_s=4 * 1800)
    t0 = 1750500000

    def write(steps):
        t = t0 + 1800 * np.asarray(steps)
        c = rng.uniform(0, 500, (len(t), 3))
        store.write_allocation(t, ids, rng.uniform(0, 900, len(t)), c, c / 2,
                               np.zeros(len(t), bool), "prorata")

    def check():
        got = totals.compute(store, store.last_allocated_step())
        want = store.allocation_totals()
        assert got["steps"] == want["steps"]
        for k in ("production_wh", "self_consumed_wh", "consumption_wh"):
            assert abs(got[k] - want[k]) < 1e-6
        for pid in ids:
            for k in ("consumption_wh", "self_consumed_wh"):
                assert abs(got["participants"][pid][k] - want["participants"][pid][k]) < 1e-6

    for k in range(0, 30):                      # steps closed one by one
        write([k + 10])
        check()
    write([38])                                 # a step inside the window recomputed
    check()
    write([2])                                  # a step closed late, long before the window
    check()
    store.close()
