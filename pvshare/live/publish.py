"""Publishing each closed step's results back to MQTT, with Home Assistant discovery.

Topics (retained, QoS 1), ``<prefix>`` = ``[mqtt] topic_prefix`` (``pvshare``)::

    <prefix>/<site>/availability                   "online" / "offline" (MQTT last will)
    <prefix>/<site>/step/state                     {"time": ..., "production_wh": ...,
                                                    "production_w": ..., ...}
    <prefix>/<site>/totals/state                   {"time": ..., "production_kwh": ...,
                                                    "self_consumed_kwh": ...,
                                                    "consumption_kwh": ..., "surplus_kwh": ...}
    <prefix>/<site>/forecast/green_hours           {"issued": ..., "now": true|false,
                                                    "next": [{"start": ..., "end": ...}, ...]}
    <prefix>/<site>/participant/<id>/state         {"time": ..., "consumption_wh": ...,
                                                    "allocated_wh": ..., "complement_wh": ...,
                                                    "self_sufficiency_pct": ...,
                                                    "consumption_w": ..., "allocated_w": ...}
    <prefix>/<site>/participant/<id>/totals        {"consumption_kwh": ...,
                                                    "self_consumed_kwh": ..., "grid_kwh": ...}
    homeassistant/sensor/<unique id>/config        discovery, one per sensor

so that a tenant's display or Home Assistant can show "your solar share now". Each tenant's
topics carry only its own values; restrict who reads what with the broker's ACL (a
mosquitto ``pattern read pvshare/+/participant/%u/#`` line gives each tenant's login its own).

Home Assistant (see docs/install.md): one device for the building (its totals and the
current step), one device per tenant linked to it (``via_device``). The running totals are
``device_class: energy``, ``state_class: total_increasing`` in kWh: the Energy dashboard takes
them. They are sums over every closed step in the store, so a restarted daemon publishes the
same totals; a step recomputed after late data may lower a sum a little, so what is
published never goes below what was published before (kept in a small file beside the
store): Home Assistant would read a decrease as a meter reset and count the whole total
again. The current step's values are average powers over the step (``device_class: power``,
``state_class: measurement``, W): an energy per step is neither a total nor a measurement
Home Assistant accepts. The availability topic (retained, with the client's last will) marks
every entity unavailable when the daemon dies.
"""

from __future__ import annotations

import json
import logging
import ssl
from pathlib import Path

import numpy as np

from pvshare.files.atomic import private_mode, write_atomic
from pvshare.timegrid import format_utc, step_seconds

log = logging.getLogger("pvshare.live.publish")

DISCOVERY_PREFIX = "homeassistant"
ONLINE, OFFLINE = "online", "offline"

#: (field, name, kind) of the building's sensors; kind: total (kWh), power (W).
BUILDING_SENSORS = [
    ("totals", "production_kwh", "Production", "total"),
    ("totals", "self_consumed_kwh", "Autoconsommation", "total"),
    ("totals", "consumption_kwh", "Consommation", "total"),
    ("totals", "surplus_kwh", "Surplus injecté", "total"),
    ("step", "production_w", "Production (pas en cours)", "power"),
    ("step", "autoprod_w", "Autoconsommation (pas en cours)", "power"),
    ("step", "surplus_w", "Surplus (pas en cours)", "power"),
]
#: The same for each tenant; pct: a percentage measurement.
TENANT_SENSORS = [
    ("totals", "consumption_kwh", "Consommation", "total"),
    ("totals", "self_consumed_kwh", "Part solaire", "total"),
    ("totals", "grid_kwh", "Complément réseau", "total"),
    ("state", "consumption_w", "Consommation (pas en cours)", "power"),
    ("state", "allocated_w", "Part solaire (pas en cours)", "power"),
    ("state", "self_sufficiency_pct", "Autonomie (pas en cours)", "pct"),
]
_KINDS = {
    "total": {"device_class": "energy", "state_class": "total_increasing",
              "unit_of_measurement": "kWh", "suggested_display_precision": 2},
    "power": {"device_class": "power", "state_class": "measurement",
              "unit_of_measurement": "W", "suggested_display_precision": 0},
    "pct": {"state_class": "measurement", "unit_of_measurement": "%",
            "suggested_display_precision": 0},
}


#: Home Assistant's documented abbreviations of the discovery keys pvshare uses
#: (https://www.home-assistant.io/integrations/mqtt/#supported-abbreviations-in-mqtt-discovery-messages):
#: 295 messages for 48 tenants, so their size counts in the daemon's memory at connection.
ABBREVIATIONS = {"unique_id": "uniq_id", "state_topic": "stat_t", "value_template": "val_tpl",
                 "device_class": "dev_cla", "state_class": "stat_cla",
                 "unit_of_measurement": "unit_of_meas",
                 "suggested_display_precision": "sug_dsp_prc", "availability_topic": "avty_t",
                 "device": "dev", "origin": "o"}
DEVICE_ABBREVIATIONS = {"identifiers": "ids", "manufacturer": "mf", "model": "mdl",
                        "sw_version": "sw"}
ORIGIN_ABBREVIATIONS = {"sw_version": "sw"}


def abbreviate(payload: dict, base: str) -> dict:
    """The payload as published: documented abbreviations, topics under ``~`` = ``base``,
    default availability payloads left out. Home Assistant expands it back to ``payload``
    (tests/test_home_assistant.py checks it with Home Assistant's own tables).
    """
    out: dict = {"~": base}
    for key, value in payload.items():
        if key in ("payload_available", "payload_not_available") and \
                value == {"payload_available": ONLINE}.get(key, OFFLINE):
            continue
        if key.endswith("_topic") and isinstance(value, str) and value.startswith(base + "/"):
            value = "~" + value[len(base):]
        if key == "device":
            value = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in value.items()}
        elif key == "origin":
            value = {ORIGIN_ABBREVIATIONS.get(k, k): v for k, v in value.items()}
        out[ABBREVIATIONS.get(key, key)] = value
    return out


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_")


def add_totals(a: dict, b: dict) -> dict:
    """The sum of two :meth:`pvshare.store.Store.allocation_totals` answers."""
    keys = ("production_wh", "self_consumed_wh", "consumption_wh", "steps")
    per = {k: dict(v) for k, v in a["participants"].items()}
    for pid, v in b["participants"].items():
        mine = per.setdefault(pid, {"consumption_wh": 0.0, "self_consumed_wh": 0.0})
        for k in ("consumption_wh", "self_consumed_wh"):
            mine[k] += v[k]
    return {**{k: a[k] + b[k] for k in keys}, "participants": per}


class RunningTotals:
    """Sums over all closed steps, kept incrementally (a full sum grows with years of data).

    Steps older than the recompute window are final (closing recomputes only within it), so
    their sum is cached and extended as the window moves; the window is summed each time. A
    step closed late before the cached horizon (after a long outage) changes the count of
    steps there, and the cache is rebuilt.

    Parameters
    ----------
    window_s : float
        The daemon's recompute window, s.
    """

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.horizon_s: int | None = None
        self.final: dict | None = None

    def compute(self, store, last_step_s: int | None) -> dict:
        """The totals of every stored step (see :meth:`pvshare.store.Store.allocation_totals`)."""
        if last_step_s is None:
            return store.allocation_totals()
        horizon = int(last_step_s - self.window_s)
        if self.final is None or self.horizon_s is None or horizon < self.horizon_s:
            self.final = store.allocation_totals(None, horizon)
        elif horizon > self.horizon_s:
            self.final = add_totals(self.final, store.allocation_totals(self.horizon_s, horizon))
        self.horizon_s = horizon
        if store.allocated_step_count(horizon) != self.final["steps"]:   # closed late
            self.final = store.allocation_totals(None, horizon)
        return add_totals(self.final, store.allocation_totals(horizon, None))


def make_client(mqtt_cfg, client_id: str, config=None, will: str | None = None):
    """A paho client for ``[mqtt]`` (user, password, TLS), not yet connected; ``will``: a
    topic on which the broker publishes ``offline`` (retained) if the client dies.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                    clean_session=True)
    if mqtt_cfg.username:
        base = Path(config.source).parent if config is not None and config.source else None
        c.username_pw_set(mqtt_cfg.username, mqtt_cfg.resolved_password(base))
    if mqtt_cfg.tls:
        ca = config.relative(mqtt_cfg.ca_file) if config is not None else mqtt_cfg.ca_file
        c.tls_set(ca_certs=str(ca) if ca else None, cert_reqs=ssl.CERT_REQUIRED)
    if will:
        c.will_set(will, OFFLINE, qos=1, retain=True)
    c.reconnect_delay_set(min_delay=1, max_delay=60)
    return c


def discovery_messages(cfg) -> list[tuple[str, dict]]:
    """Home Assistant MQTT discovery: ``(topic, payload)`` of every sensor.

    One device for the building, one per tenant linked to it by ``via_device``; keys as
    documented in https://www.home-assistant.io/integrations/sensor.mqtt/ (checked against
    Home Assistant's own schema by tests/test_home_assistant.py).
    """
    from pvshare import __version__
    site = cfg.site.name
    prefix = cfg.mqtt.topic_prefix.rstrip("/")
    base = f"pvshare_{_slug(site)}"
    building = {"identifiers": [base], "name": f"pvshare {site}", "manufacturer": "pvshare",
                "model": "ACC (autoconsommation collective)", "sw_version": __version__}
    origin = {"name": "pvshare", "sw_version": __version__}
    availability = f"{prefix}/{site}/availability"
    out = []
    described: set[str] = set()

    def add(device, path, field, name, kind):
        uid = f"{device['identifiers'][0]}_{field}"
        if device["identifiers"][0] in described:   # the device's details: once is enough
            device = {"identifiers": device["identifiers"], "name": device["name"]}
        described.add(device["identifiers"][0])
        payload = {"name": name, "unique_id": uid, "default_entity_id": f"sensor.{uid}",
                   "state_topic": f"{prefix}/{site}/{path}",
                   "value_template": f"{{{{ value_json.{field} }}}}",
                   **_KINDS[kind], "availability_topic": availability,
                   "payload_available": ONLINE, "payload_not_available": OFFLINE,
                   "device": device, "origin": origin}
        out.append((f"{DISCOVERY_PREFIX}/sensor/{uid}/config", payload))

    for path, field, name, kind in BUILDING_SENSORS:
        add(building, f"{path}/state", field, name, kind)
    for p in cfg.participants:
        tenant = {"identifiers": [f"{base}_{_slug(p.id)}"], "name": f"{p.id}",
                  "manufacturer": "pvshare", "model": "participant", "via_device": base}
        for path, field, name, kind in TENANT_SENSORS:
            add(tenant, f"participant/{p.id}/{path}", field, name, kind)
    return out


class ResultsPublisher:
    """Publishes step results; connects in the background and never blocks the daemon."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.site = cfg.site.name
        self.prefix = cfg.mqtt.topic_prefix.rstrip("/")
        self.step_s = step_seconds(cfg.site.step)
        self.client = make_client(cfg.mqtt, f"{cfg.mqtt.client_id}-results", cfg,
                                  will=self.topic("availability"))
        self.client.on_connect = self._on_connect
        self.published = 0
        db = cfg.relative(cfg.store.path)
        self.totals_file = db.with_name(db.name + ".totals.json")
        self._floor = self._read_floor()
        self._last_totals: list[tuple[str, str]] = []

    def start(self) -> None:
        """Connect in the background (discovery, ``online`` and totals on each connect)."""
        self.client.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=60)
        self.client.loop_start()

    def stop(self) -> None:
        """Say ``offline`` (a clean disconnect does not fire the last will), disconnect."""
        if self.client.is_connected():
            self.client.publish(self.topic("availability"), OFFLINE, qos=1,
                                retain=True).wait_for_publish(2.0)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            self.publish_discovery()
            client.publish(self.topic("availability"), ONLINE, qos=1, retain=True)
            for topic, payload in self._last_totals:     # after a reconnect
                client.publish(topic, payload, qos=1, retain=True)

    def topic(self, *parts: str) -> str:
        """``<prefix>/<site>/<parts...>``."""
        return "/".join([self.prefix, self.site, *parts])

    def legacy_discovery_topics(self) -> list[str]:
        """Discovery topics of pvshare 0.1's sensors (per-step energies as measurements,
        which Home Assistant refuses): emptied so that their entities go away.
        """
        uid = f"pvshare_{self.site}"
        out = [f"{uid}_step_production_wh", f"{uid}_step_autoprod_wh"]
        for p in self.cfg.participants:
            out += [f"{uid}_participant_{p.id}_allocated_wh",
                    f"{uid}_participant_{p.id}_self_sufficiency_pct"]
        return [f"{DISCOVERY_PREFIX}/sensor/{u}/config" for u in out]

    def publish_discovery(self) -> None:
        """Home Assistant MQTT discovery (see :func:`discovery_messages`)."""
        for topic in self.legacy_discovery_topics():   # an empty retained message deletes
            self.client.publish(topic, b"", qos=1, retain=True)
        base = self.topic()
        for topic, payload in discovery_messages(self.cfg):
            self.client.publish(topic, json.dumps(abbreviate(payload, base),
                                                  separators=(",", ":"), ensure_ascii=False),
                                qos=1, retain=True)

    # -- running totals -------------------------------------------------------------------
    def _read_floor(self) -> dict[str, float]:
        try:
            return {k: float(v) for k, v in json.loads(self.totals_file.read_text()).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _monotonic(self, key: str, kwh: float) -> float:
        value = max(round(kwh, 3), self._floor.get(key, 0.0))
        self._floor[key] = value
        return value

    def publish_totals(self, totals: dict, when_s: int | None = None) -> dict:
        """Publish the running totals (kWh) from :meth:`pvshare.store.Store.allocation_totals`.

        Never below what was published before (see the module docstring). Returns the
        building's totals as published.
        """
        when = None if when_s is None else format_utc([np.datetime64(int(when_s), "s")])[0]
        prod, auto = totals["production_wh"] / 1000, totals["self_consumed_wh"] / 1000
        building = {"time": when,
                    "production_kwh": self._monotonic("production", prod),
                    "self_consumed_kwh": self._monotonic("self_consumed", auto),
                    "consumption_kwh": self._monotonic("consumption",
                                                       totals["consumption_wh"] / 1000),
                    "surplus_kwh": self._monotonic("surplus", max(prod - auto, 0.0))}
        messages = [(self.topic("totals", "state"), json.dumps(building))]
        for pid, v in totals["participants"].items():
            c, a = v["consumption_wh"] / 1000, v["self_consumed_wh"] / 1000
            messages.append((self.topic("participant", pid, "totals"), json.dumps({
                "time": when,
                "consumption_kwh": self._monotonic(f"{pid}/consumption", c),
                "self_consumed_kwh": self._monotonic(f"{pid}/self_consumed", a),
                "grid_kwh": self._monotonic(f"{pid}/grid", max(c - a, 0.0))})))
        group = getattr(self.cfg.store, "group", None)
        try:                       # the floor first: a crash after it publishes no less
            # private like the store (each tenant's kWh); never re-creates a vanished folder
            write_atomic(self.totals_file, json.dumps(self._floor),
                         mode=private_mode(group), group=group, parents=False)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.totals_file, exc)
        self._last_totals = messages
        for topic, payload in messages:
            self.client.publish(topic, payload, qos=1, retain=True)
        return building

    def publish_green_hours(self, issued_s: float, step_starts_s, green, step_s: int,
                            now_s: float) -> None:
        """The tenants' "run your washing machine now" signal: the coming periods when the
        roof is expected to produce more than the building consumes (from the forecast).
        """
        t = np.asarray(step_starts_s, dtype=np.int64)
        g = np.asarray(green, dtype=bool)
        periods = []
        for i in np.flatnonzero(g):
            if periods and periods[-1][1] == t[i]:
                periods[-1][1] = int(t[i]) + step_s
            else:
                periods.append([int(t[i]), int(t[i]) + step_s])
        stamp = lambda x: format_utc([np.datetime64(int(x), "s")])[0]  # noqa: E731
        now = any(a <= now_s < b for a, b in periods)
        self.client.publish(self.topic("forecast", "green_hours"), json.dumps({
            "issued": stamp(issued_s), "now": now,
            "next": [{"start": stamp(a), "end": stamp(b)} for a, b in periods if b > now_s],
        }), qos=1, retain=True)

    def publish_step(self, step_start_s: int, participant_ids, production_wh: float,
                     consumption_wh: np.ndarray, allocated_wh: np.ndarray) -> None:
        """Publish the results of one step (the latest closed one)."""
        when = format_utc([np.datetime64(int(step_start_s), "s")])[0]
        cons = np.asarray(consumption_wh, dtype=float)
        alloc = np.asarray(allocated_wh, dtype=float)
        auto = float(np.nansum(alloc))
        to_w = 3600.0 / self.step_s            # Wh per step -> mean W over the step
        p = float(production_wh)
        known_p = p == p                       # unknown past the horizon: null, never NaN
        self.client.publish(self.topic("step", "state"), json.dumps({
            "time": when, "production_wh": round(p, 3) if known_p else None,
            "autoprod_wh": round(auto, 3),
            "surplus_wh": round(max(p - auto, 0.0), 3) if known_p else None,
            "production_w": round(p * to_w, 1) if known_p else None,
            "autoprod_w": round(auto * to_w, 1),
            "surplus_w": round(max(p - auto, 0.0) * to_w, 1) if known_p else None}),
            qos=1, retain=True)
        for pid, c, a in zip(participant_ids, cons.tolist(), alloc.tolist()):
            known = c == c
            self.client.publish(self.topic("participant", pid, "state"), json.dumps({
                "time": when,
                "consumption_wh": round(c, 3) if known else None,
                "allocated_wh": round(a, 3),
                "complement_wh": round(c - a, 3) if known else None,
                "self_sufficiency_pct": round(100 * a / c, 1) if known and c > 0 else None,
                "consumption_w": round(c * to_w, 1) if known else None,
                "allocated_w": round(a * to_w, 1),
            }), qos=1, retain=True)
        self.published += 1
