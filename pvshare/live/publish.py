"""Publishing each closed step's results back to MQTT, with Home Assistant discovery.

Topics (retained, QoS 1), ``<prefix>`` = ``[mqtt] topic_prefix`` (``pvshare``)::

    <prefix>/<site>/step/state                     {"time": ..., "production_wh": ..., ...}
    <prefix>/<site>/forecast/green_hours           {"issued": ..., "now": true|false,
                                                    "next": [{"start": ..., "end": ...}, ...]}
    <prefix>/<site>/participant/<id>/state         {"time": ..., "consumption_wh": ...,
                                                    "allocated_wh": ..., "complement_wh": ...,
                                                    "self_sufficiency_pct": ...}
    homeassistant/sensor/<unique id>/config        discovery, one per sensor

so that a tenant's display or Home Assistant can show "your solar share now". Each tenant's
topic carries only its own values; restrict who reads what with the broker's ACL (a
mosquitto ``pattern read pvshare/+/participant/%u/#`` line gives each tenant's login its own).
"""

from __future__ import annotations

import json
import logging
import ssl

import numpy as np

from pvshare.timegrid import format_utc

log = logging.getLogger("pvshare.live.publish")

DISCOVERY_PREFIX = "homeassistant"


def make_client(mqtt_cfg, client_id: str, config=None):
    """A paho client for ``[mqtt]`` (user, password, TLS), not yet connected."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                    clean_session=True)
    if mqtt_cfg.username:
        c.username_pw_set(mqtt_cfg.username, mqtt_cfg.password.get_secret_value()
                          if mqtt_cfg.password else None)
    if mqtt_cfg.tls:
        ca = config.relative(mqtt_cfg.ca_file) if config is not None else mqtt_cfg.ca_file
        c.tls_set(ca_certs=str(ca) if ca else None, cert_reqs=ssl.CERT_REQUIRED)
    c.reconnect_delay_set(min_delay=1, max_delay=60)
    return c


class ResultsPublisher:
    """Publishes step results; connects in the background and never blocks the daemon."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.site = cfg.site.name
        self.prefix = cfg.mqtt.topic_prefix.rstrip("/")
        self.client = make_client(cfg.mqtt, f"{cfg.mqtt.client_id}-results", cfg)
        self.client.on_connect = self._on_connect
        self.published = 0

    def start(self) -> None:
        self.client.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=60)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            self.publish_discovery()

    def topic(self, *parts: str) -> str:
        return "/".join([self.prefix, self.site, *parts])

    def publish_discovery(self) -> None:
        """Home Assistant MQTT discovery: one device for the building, sensors per tenant."""
        device = {"identifiers": [f"pvshare_{self.site}"], "name": f"pvshare {self.site}",
                  "manufacturer": "pvshare", "model": "ACC"}
        sensors = [("step", "production_wh", "Production du toit")]
        sensors += [("step", "autoprod_wh", "Autoconsommé")]
        for p in self.cfg.participants:
            sensors += [(f"participant/{p.id}", "allocated_wh", f"{p.id} part solaire"),
                        (f"participant/{p.id}", "self_sufficiency_pct", f"{p.id} autonomie")]
        for path, field, name in sensors:
            uid = f"pvshare_{self.site}_{path.replace('/', '_')}_{field}"
            pct = field.endswith("_pct")
            payload = {"name": name, "unique_id": uid, "object_id": uid,
                       "state_topic": self.topic(*path.split("/"), "state"),
                       "value_template": f"{{{{ value_json.{field} }}}}",
                       "unit_of_measurement": "%" if pct else "Wh",
                       "state_class": "measurement", "device": device}
            if not pct:
                payload["device_class"] = "energy"
            self.client.publish(f"{DISCOVERY_PREFIX}/sensor/{uid}/config", json.dumps(payload),
                                qos=1, retain=True)

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
        self.client.publish(self.topic("step", "state"), json.dumps({
            "time": when, "production_wh": round(float(production_wh), 3),
            "autoprod_wh": round(auto, 3),
            "surplus_wh": round(max(float(production_wh) - auto, 0.0), 3)}), qos=1, retain=True)
        for pid, c, a in zip(participant_ids, cons.tolist(), alloc.tolist()):
            known = c == c
            self.client.publish(self.topic("participant", pid, "state"), json.dumps({
                "time": when,
                "consumption_wh": round(c, 3) if known else None,
                "allocated_wh": round(a, 3),
                "complement_wh": round(c - a, 3) if known else None,
                "self_sufficiency_pct": round(100 * a / c, 1) if known and c > 0 else None,
            }), qos=1, retain=True)
        self.published += 1
