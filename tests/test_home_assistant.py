"""pvshare's MQTT discovery checked by Home Assistant's own code (homeassistant 2024.3.3, in
its own venv: ``make ha-venv``; tests/ha_check.py runs there).

1. Every discovery payload passes the MQTT sensor platform's DISCOVERY_SCHEMA and the sensor
   rules on device class / state class / unit. The only key 2024.3.3 does not know is
   ``default_entity_id``, added in Home Assistant 2025.10 to replace ``object_id`` (removed in
   2026.4; https://www.home-assistant.io/integrations/sensor.mqtt/ lists it).
2. A Home Assistant core (mqtt, recorder, energy) started against a real mosquitto discovers
   the entities from pvshare's retained messages, shows the values, and the Energy
   dashboard's own validation accepts the totals (no issue).
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest

from pvshare.config import parse_config
from pvshare.live.publish import ResultsPublisher, abbreviate, discovery_messages

ROOT = Path(__file__).resolve().parents[1]
HA_PYTHON = ROOT / ".ha-venv" / "bin" / "python"
CONFIG = ROOT / "config" / "example.toml"


def _ha(*args: str, timeout: int = 240) -> dict:
    if not HA_PYTHON.exists():
        pytest.fail("Home Assistant's venv is missing: run `make ha-venv` (make test does)",
                    pytrace=False)
    done = subprocess.run([str(HA_PYTHON), str(ROOT / "tests" / "ha_check.py"), *args],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _retained(port: int, topic: str, timeout_s: float = 60.0) -> bytes | None:
    """The message retained on ``topic`` by the broker, once there (None after timeout_s)."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    got: list[bytes] = []
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pvshare-test-reader")
    c.on_message = lambda client, userdata, msg: (got.append(msg.payload), done.set())
    c.on_connect = lambda client, *a: client.subscribe(topic, qos=1)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        done.wait(timeout_s)
    finally:
        c.disconnect()
        c.loop_stop()
    return got[0] if got else None


def _cfg(tmp_path, port: int = 1883, participants: int | None = None):
    data = tomllib.loads(CONFIG.read_text())
    if participants:
        data["participants"] = data["participants"][:participants]
    data["mqtt"] = {"host": "127.0.0.1", "port": port, "client_id": "pvshare-ha"}
    return parse_config(data, str(tmp_path / "site.toml"))


def test_every_discovery_payload_passes_home_assistants_schema(tmp_path):
    cfg = _cfg(tmp_path)                                 # the 48-flat example building
    messages = discovery_messages(cfg)
    assert len(messages) == 7 + 6 * 48
    path = tmp_path / "messages.json"
    base = "pvshare/residence-plaine-ain"
    published = [abbreviate(p, base) for _, p in messages]
    path.write_text(json.dumps([[t, p, a] for (t, p), a in zip(messages, published)]))
    out = _ha("schema", str(path))
    # what is published expands, by Home Assistant's rules, to the full payload
    assert out["expanded_equal"] == len(messages)
    size = sum(len(json.dumps(a, separators=(",", ":"), ensure_ascii=False))
               for a in published)
    assert size < 0.75 * sum(len(json.dumps(p)) for _, p in messages)
    assert out["homeassistant"] == "2024.3.3"
    assert out["errors"] == []
    assert out["valid"] == len(messages)
    assert out["dropped_keys"] == {"default_entity_id": len(messages)}


def test_home_assistant_discovers_the_entities_and_its_energy_validation_accepts_them(
        mosquitto, tmp_path):
    from pvshare.store import Store
    cfg = _cfg(tmp_path, mosquitto.port, participants=3)
    ids = cfg.participant_ids
    with Store.open(tmp_path / "pvshare.db") as store:
        t = [1750500000, 1750501800]
        store.write_allocation(t, ids, [3000.0, 1000.0],
                               [[400.0, 500.0, 600.0], [700.0, 800.0, 900.0]],
                               [[400.0, 500.0, 600.0], [250.0, 350.0, 400.0]],
                               [False, False], "prorata")
        totals = store.allocation_totals()
    pub = ResultsPublisher(cfg)
    pub.start()
    # connected, and what it sends on connecting (discovery, then "online") is at the broker
    assert _retained(mosquitto.port, pub.topic("availability")) == b"online"
    pub.publish_totals(totals, t[-1])
    pub.publish_step(t[-1], ids, 1000.0, np.array([700.0, 800.0, 900.0]),
                     np.array([250.0, 350.0, 400.0]))
    # a last QoS 1 message, acknowledged once every message queued before it went out
    flushed = pub.client.publish("pvshare-test/flushed", b"", qos=1)
    flushed.wait_for_publish(60)
    assert flushed.is_published()
    pub.client.disconnect()          # leaves "online" retained, as a running daemon does
    pub.client.loop_stop()

    site = "pvshare_residence_plaine_ain"
    wanted = [f"{site}_production_kwh", f"{site}_self_consumed_kwh",
              f"{site}_consumption_kwh", f"{site}_surplus_kwh", f"{site}_production_w",
              f"{site}_a01_consumption_kwh", f"{site}_a01_self_consumed_kwh",
              f"{site}_a01_grid_kwh", f"{site}_a01_self_sufficiency_pct"]
    ha_dir = tmp_path / "ha"
    ha_dir.mkdir()
    out = _ha("live", str(ha_dir), str(mosquitto.port), *wanted)
    assert out["missing"] == []
    state = {u: float(v["state"]) for u, v in out["states"].items()}
    # by hand: production 3000 + 1000 Wh; self-consumed 1500 + 1000; consumption 1500 + 2400
    assert state[f"{site}_production_kwh"] == 4.0
    assert state[f"{site}_self_consumed_kwh"] == 2.5
    assert state[f"{site}_consumption_kwh"] == 3.9
    assert state[f"{site}_surplus_kwh"] == 1.5
    assert state[f"{site}_production_w"] == 2000.0       # 1000 Wh in 30 min
    assert state[f"{site}_a01_consumption_kwh"] == 1.1
    assert state[f"{site}_a01_self_consumed_kwh"] == 0.65
    assert state[f"{site}_a01_grid_kwh"] == 0.45
    assert state[f"{site}_a01_self_sufficiency_pct"] == round(100 * 250 / 700, 1)
    energy = out["states"][f"{site}_production_kwh"]["attributes"]
    assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == \
        ("energy", "total_increasing", "kWh")
    # the Energy dashboard's validation, with the totals as grid and solar sources
    assert out["issues"] == []
