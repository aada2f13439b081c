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


def _collect(port: int, topic: str, want: int, timeout_s: float = 10.0) -> dict[str, dict]:
    """Subscribe (after the fact: retained messages) and gather ``want`` messages."""
    got: dict[str, dict] = {}
    done = threading.Event()

    def on_message(client, userdata, msg):
        got[msg.topic] = json.loads(msg.payload)
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


def test_step_results_and_discovery_are_retained(mosquitto, tmp_path):
    cfg = _cfg(mosquitto.port, tmp_path)
    pub = ResultsPublisher(cfg)
    pub.start()
    deadline = time.monotonic() + 10
    while not pub.client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    n = len(cfg.participants)
    cons = np.linspace(100, 200, n)
    cons[3] = np.nan                                   # a silent meter
    alloc = np.where(np.isnan(cons), 0.0, cons / 2)
    pub.publish_step(1750500000, cfg.participant_ids, 5000.0, cons, alloc)
    pub.publish_green_hours(1750500000, np.arange(1750500000, 1750500000 + 6 * 1800, 1800),
                            [False, True, True, False, True, False], 1800, 1750500000)
    time.sleep(0.5)
    pub.stop()

    states = _collect(mosquitto.port, "pvshare/residence-plaine-ain/#", n + 2)
    a01 = states["pvshare/residence-plaine-ain/participant/A01/state"]
    assert a01 == {"time": "2025-06-21T10:00:00+00:00", "consumption_wh": 100.0,
                   "allocated_wh": 50.0, "complement_wh": 50.0, "self_sufficiency_pct": 50.0}
    silent = states[f"pvshare/residence-plaine-ain/participant/{cfg.participant_ids[3]}/state"]
    assert silent["consumption_wh"] is None and silent["allocated_wh"] == 0
    step = states["pvshare/residence-plaine-ain/step/state"]
    assert step["production_wh"] == 5000.0
    assert step["autoprod_wh"] == round(float(np.nansum(alloc)), 3)
    assert step["surplus_wh"] == round(5000.0 - float(np.nansum(alloc)), 3)
    green = states["pvshare/residence-plaine-ain/forecast/green_hours"]
    assert green["now"] is False
    assert green["next"] == [{"start": "2025-06-21T10:30:00+00:00", "end": "2025-06-21T11:30:00+00:00"},
                             {"start": "2025-06-21T12:00:00+00:00", "end": "2025-06-21T12:30:00+00:00"}]

    disc = _collect(mosquitto.port, "homeassistant/sensor/#", 2 + 2 * n)
    sensor = disc["homeassistant/sensor/pvshare_residence-plaine-ain_participant_A01_allocated_wh/config"]
    assert sensor["state_topic"] == "pvshare/residence-plaine-ain/participant/A01/state"
    assert sensor["unit_of_measurement"] == "Wh" and sensor["device_class"] == "energy"
    # Each tenant's own topic carries only its own figures.
    assert all(set(v) == set(a01) for k, v in states.items() if "/participant/" in k)

