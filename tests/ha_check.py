"""Checks pvshare's MQTT discovery with Home Assistant's own code. Runs in the Home Assistant
venv (``make ha-venv``: homeassistant 2024.3.3, the newest release for Python 3.11), not in
pvshare's; tests/test_home_assistant.py drives it and reads its JSON answer.

``python tests/ha_check.py schema MESSAGES.json``
    expands each published (abbreviated) payload with Home Assistant's abbreviation tables
    and ``~`` rule, as homeassistant/components/mqtt/discovery.py does on receipt, checks it
    gives the full payload, and validates it with the MQTT sensor platform's DISCOVERY_SCHEMA
    (homeassistant/components/mqtt/sensor.py) and the sensor's own rules on device class,
    state class and unit (homeassistant/components/sensor/const.py: DEVICE_CLASS_UNITS,
    DEVICE_CLASS_STATE_CLASSES); reports the keys the schema dropped as unknown.

``python tests/ha_check.py live CONFIG_DIR BROKER_PORT UNIQUE_ID...``
    starts Home Assistant's core with the mqtt, recorder and energy integrations against the
    broker, waits for the entities discovered from pvshare's retained messages, compiles the
    statistics once, puts the entities in the Energy dashboard's preferences and runs the
    Energy dashboard's own validation (homeassistant/components/energy/validate.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


def expand(payload: dict) -> dict:
    """Home Assistant's expansion of a discovery payload (discovery.py, async_start)."""
    from homeassistant.components.mqtt.abbreviations import (
        ABBREVIATIONS,
        DEVICE_ABBREVIATIONS,
        ORIGIN_ABBREVIATIONS,
    )
    out = {ABBREVIATIONS.get(k, k): v for k, v in payload.items()}
    if "device" in out:
        out["device"] = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in out["device"].items()}
    if "origin" in out:
        out["origin"] = {ORIGIN_ABBREVIATIONS.get(k, k): v for k, v in out["origin"].items()}
    if "~" in out:
        base = out.pop("~")
        for key, value in out.items():
            if isinstance(value, str) and value and key.endswith("topic"):
                if value[0] == "~":
                    out[key] = f"{base}{value[1:]}"
                if value[-1] == "~":
                    out[key] = f"{value[:-1]}{base}"
    return out


def check_schema(path: str) -> dict:
    import voluptuous as vol
    from homeassistant.components.mqtt.sensor import DISCOVERY_SCHEMA
    from homeassistant.components.sensor.const import (
        DEVICE_CLASS_STATE_CLASSES,
        DEVICE_CLASS_UNITS,
        SensorDeviceClass,
        SensorStateClass,
    )
    messages = json.load(open(path))
    out = {"valid": 0, "errors": [], "dropped_keys": {}, "expanded_equal": 0}
    for topic, payload, published in messages:
        try:
            if DISCOVERY_SCHEMA(expand(published)) == DISCOVERY_SCHEMA(dict(payload)):
                out["expanded_equal"] += 1
            conf = DISCOVERY_SCHEMA(dict(payload))
        except vol.Invalid as exc:
            out["errors"].append(f"{topic}: {exc}")
            continue
        for key in set(payload) - set(conf):
            out["dropped_keys"].setdefault(key, 0)
            out["dropped_keys"][key] += 1
        dc, sc = conf.get("device_class"), conf.get("state_class")
        unit = conf.get("unit_of_measurement")
        if dc is not None:
            dc = SensorDeviceClass(dc)
            if sc is not None and SensorStateClass(sc) not in DEVICE_CLASS_STATE_CLASSES[dc]:
                out["errors"].append(f"{topic}: state_class {sc} impossible for {dc}")
                continue
            if unit not in DEVICE_CLASS_UNITS[dc]:
                out["errors"].append(f"{topic}: unit {unit} not allowed for {dc}")
                continue
        out["valid"] += 1
    return out


async def run_live(config_dir: str, port: int, unique_ids: list[str]) -> dict:
    from pathlib import Path

    from homeassistant import bootstrap, config_entries, core, loader
    from homeassistant import config as conf_util
    from homeassistant.components.energy import data as energy_data
    from homeassistant.components.energy import validate
    from homeassistant.components.recorder import get_instance
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.setup import async_setup_component
    from homeassistant.util import dt as dt_util
    Path(config_dir, "configuration.yaml").write_text("")
    hass = core.HomeAssistant(config_dir)
    hass.config.skip_pip = True
    loader.async_setup(hass)
    hass.config_entries = config_entries.ConfigEntries(hass, {})
    await bootstrap.async_load_base_functionality(hass)
    from homeassistant.helpers import recorder as recorder_helper
    recorder_helper.async_initialize_recorder(hass)      # as bootstrap does before stage 1
    for domain in ("homeassistant", "persistent_notification"):
        assert await async_setup_component(hass, domain, {})
    await conf_util.async_process_ha_core_config(hass, {
        "time_zone": "UTC", "unit_system": "metric", "latitude": 46.2, "longitude": 5.2,
        "elevation": 250, "currency": "EUR", "country": "FR"})
    assert await async_setup_component(hass, "recorder",
                                       {"recorder": {"db_url": f"sqlite:///{config_dir}/rec.db",
                                                     "commit_interval": 0}})
    entry = ConfigEntry(version=1, minor_version=1, domain="mqtt", title="test broker",
                        data={"broker": "127.0.0.1", "port": port, "discovery": True},
                        source="user", options={})
    await hass.config_entries.async_add(entry)
    assert await async_setup_component(hass, "energy", {})
    await hass.async_start()
    await hass.async_block_till_done()

    from homeassistant.helpers import entity_registry as er
    registry = er.async_get(hass)
    deadline = time.monotonic() + 60
    ids: dict[str, str | None] = {}
    missing = list(unique_ids)
    while missing and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        ids = {u: registry.async_get_entity_id("sensor", "mqtt", u) for u in unique_ids}
        missing = [u for u, e in ids.items() if e is None or hass.states.get(e) is None
                   or hass.states.get(e).state in ("unknown", "unavailable")]
    states = {u: (None if e is None or hass.states.get(e) is None else
                  {"entity_id": e, "state": hass.states.get(e).state,
                   "attributes": {k: v for k, v in hass.states.get(e).attributes.items()
                                  if isinstance(v, str | int | float | None)}})
              for u, e in ids.items()}
    entity_ids = [e for e in ids.values() if e]
    # statistics compiled once (every 5 min in a running Home Assistant)
    from homeassistant.components.recorder.tasks import StatisticsTask
    now = dt_util.utcnow()
    get_instance(hass).queue_task(StatisticsTask(
        now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0), True))
    await hass.async_block_till_done()
    await get_instance(hass).async_block_till_done()

    manager = await energy_data.async_get_manager(hass)
    grid = [e for e in entity_ids if e.endswith("self_consumed_kwh") or
            e.endswith("consumption_kwh")]
    solar = [e for e in entity_ids if e.endswith("production_kwh")]
    await manager.async_update({"energy_sources": [
        {"type": "grid", "flow_from": [{"stat_energy_from": e, "stat_cost": None,
                                        "entity_energy_price": None,
                                        "number_energy_price": None} for e in grid],
         "flow_to": [], "cost_adjustment_day": 0.0},
        *({"type": "solar", "stat_energy_from": e, "config_entry_solar_forecast": None}
          for e in solar)],
        "device_consumption": []})
    result = (await validate.async_validate(hass)).as_dict()
    issues = [i for source in result["energy_sources"] for i in source]
    await hass.async_stop()
    return {"version": core.__version__ if hasattr(core, "__version__") else None,
            "missing": missing, "states": states, "issues": issues}


def main() -> int:
    from homeassistant.const import __version__
    if sys.argv[1] == "schema":
        out = check_schema(sys.argv[2])
    else:
        out = asyncio.run(run_live(sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
    out["homeassistant"] = __version__
    json.dump(out, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
