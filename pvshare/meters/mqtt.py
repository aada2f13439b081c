"""``type = "mqtt"``: Linky meters read through an MQTT bridge (zigbee2mqtt ZLinky_TIC or
teleinfo2mqtt), one ``[[meters]]`` entry for the whole building.

Example::

    [mqtt]                       # the building's broker
    host = "localhost"
    port = 1883
    client_id = "pvshare"        # fixed: the broker keeps this client's session

    [[meters]]
    id = "linky-{participant}"   # one meter id per participant: linky-A01, linky-A02, ...
    type = "mqtt"
    format = "zlinky"            # or "teleinfo2mqtt"
    topic = "zigbee2mqtt/linky-{participant}"

The ``topic`` pattern holds one placeholder naming what the topic level tells:
``{participant}`` (a participant id), ``{meter}`` (a meter id given in a participant's
``meter`` field), ``{prm}`` (a participant's PRM) or ``{adsc}`` (the meter's serial number,
as teleinfo2mqtt publishes on ``teleinfo/<ADSC>``: mapped to participants by the ``adsc``
table, else by the PRM inside the payload).

The client subscribes with QoS 1 and a persistent session (MQTT 3.1.1 with ``clean_session``
False by default, or MQTT 5 with ``clean_start`` False and a session expiry when ``protocol =
"5"``), under a fixed client id, so that the broker queues the messages that
arrive while the daemon restarts. The network loop runs in paho's own thread and reconnects
by itself with a capped backoff. Each decoded :class:`~pvshare.meters.base.Reading` goes to
the ``sink`` callable given by the caller, or, without one, waits in a queue that
:meth:`MqttMeter.read` drains.

Bad input never stops the reader: every refused message is counted in :attr:`MqttMeter.counters`
under its reason (see :mod:`pvshare.meters.payloads`, plus ``unknown_topic``) and logged at
WARNING, at most once per reason every ``warn_interval_s`` (300 s: at most 2 lines per kind
in 10 minutes, each saying how many were left out), with its topic and a short excerpt of
the payload. An unexpected error while handling a message is counted ``internal_error`` and
rate-limited the same way (its traceback only at DEBUG). The password is never logged.
"""

from __future__ import annotations

import collections
import logging
import queue
import re
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pvshare.logs import RateLimitedLog
from pvshare.meters import payloads
from pvshare.meters.base import Quality, Reading
from pvshare.meters.ids import participant_meter_id
from pvshare.meters.registry import register

log = logging.getLogger(__name__)

PLACEHOLDERS = ("participant", "meter", "prm", "adsc")
UNKNOWN_TOPIC = "unknown_topic"
_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")


class Options(BaseModel):
    """Options of a ``type = "mqtt"`` meter entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["zlinky", "teleinfo2mqtt", "tasmota"]
    topic: str = Field(min_length=1, description="topic pattern with one placeholder, e.g. "
                       "zigbee2mqtt/linky-{participant} or teleinfo/{adsc}")
    adsc: dict[str, str] = Field(default_factory=dict,
                                 description="meter serial number (ADSC/ADCO) -> participant id")
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = Field(default=None, description="default: [mqtt].client_id-<id>")
    protocol: Literal["3.1.1", "5"] = Field(
        default="3.1.1", description="MQTT version; paho receives 3.1.1 about twice as fast")
    session_expiry_s: int = Field(default=7 * 86400, ge=0,
                                  description="MQTT 5 only: how long the broker keeps the "
                                  "session while pvshare is away (3.1.1: until the broker's "
                                  "persistent_client_expiration)")
    max_power_va: float = Field(default=payloads.DEFAULT_LIMITS.max_power_va, gt=0)
    max_index_wh: float = Field(default=payloads.DEFAULT_LIMITS.max_index_wh, gt=0)
    warn_interval_s: float = Field(
        default=300.0, ge=0, description="least time between two log lines of one kind of "
        "refused message, s (300: at most 2 lines per kind in 10 minutes)")

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        names = _PLACEHOLDER_RE.findall(v)
        if len(names) != 1 or names[0] not in PLACEHOLDERS:
            raise ValueError("must hold exactly one of "
                             + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + f", got {v!r}")
        if any(c in v for c in "+#"):
            raise ValueError(f"must not hold MQTT wildcards (+ or #), got {v!r}")
        if "{" in _PLACEHOLDER_RE.sub("", v) or "}" in _PLACEHOLDER_RE.sub("", v):
            raise ValueError(f"has a stray brace, got {v!r}")
        return v

    @model_validator(mode="after")
    def _adsc(self) -> Options:
        if self.adsc and self.placeholder != "adsc":
            raise ValueError("adsc: only used with a topic holding {adsc}")
        return self

    @property
    def placeholder(self) -> str:
        """The placeholder of the topic pattern (``participant``, ``adsc``...)."""
        return _PLACEHOLDER_RE.findall(self.topic)[0]


def subscription(pattern: str) -> str:
    """The MQTT subscription of a topic pattern: its placeholder's level becomes ``+``."""
    return "/".join("+" if _PLACEHOLDER_RE.search(level) else level
                    for level in pattern.split("/"))


def topic_regex(pattern: str) -> re.Pattern:
    """A regex matching the topics of a pattern, capturing the placeholder as ``key``."""
    head, _, tail = _PLACEHOLDER_RE.split(pattern)[0:3]
    return re.compile("^" + re.escape(head) + "(?P<key>[^/+#]+)" + re.escape(tail) + "$")


class MqttMeter:
    """Linky meters of many participants read from one MQTT broker.

    Parameters
    ----------
    meter_id : str
        The ``[[meters]]`` id, possibly a template holding ``{participant}``.
    options : Options
        The validated options.
    config : pvshare.config.Config
        The site configuration: participants and the ``[mqtt]`` section.
    sink : callable, optional
        Called with each :class:`Reading`, from the network thread. Without it readings are
        queued and returned by :meth:`read`.
    clock : callable, optional
        UTC Unix seconds now (the receive time); default :func:`time.time`. The demo passes
        the simulated clock.

    Attributes
    ----------
    counters : collections.Counter
        ``received``, ``decoded``, ``duplicate``, ``ignored_topic`` (not ours),
        ``time_from_receipt`` (no trustworthy payload time), ``connects``, ``disconnects``,
        ``auth_failed``, and one counter per rejection reason.
    """

    def __init__(self, meter_id: str, options: Options, config,
                 sink: Callable[[Reading], None] | None = None,
                 clock: Callable[[], float] | None = None):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from pvshare.config import Mqtt

        self.id = meter_id
        self.options = options
        self.mqtt = config.mqtt or Mqtt()
        self.format = options.format
        self.limits = payloads.Limits(max_power_va=options.max_power_va,
                                      max_index_wh=options.max_index_wh)
        self.clock = clock or time.time
        self.counters: collections.Counter = collections.Counter()
        self.connected = threading.Event()
        self.last_error: str | None = None
        self._queue: queue.SimpleQueue[Reading] = queue.SimpleQueue()
        self._sink = sink or self._queue.put
        self._warnings = RateLimitedLog(log, options.warn_interval_s)
        self._last_time: dict[str, float] = {}

        # topic key -> (meter id, participant PRM)
        self.meter_ids: dict[str, str] = {}
        self._by_key: dict[str, tuple[str, str]] = {}
        self._by_prm: dict[str, tuple[str, str]] = {}
        for p in config.participants:
            mid = participant_meter_id(self.id, p)
            self.meter_ids[p.id] = mid
            self._by_prm[p.prm] = (mid, p.prm)
            key = {"participant": p.id, "meter": p.meter, "prm": p.prm}.get(options.placeholder)
            if key is not None:
                self._by_key[key] = (mid, p.prm)
        if options.placeholder == "adsc":
            by_id = {p.id: p for p in config.participants}
            for adsc, pid in options.adsc.items():
                if pid not in by_id:
                    raise ValueError(f"meters {meter_id!r}: adsc {adsc!r} names an unknown "
                                     f"participant {pid!r}")
                self._by_key[adsc] = (self.meter_ids[pid], by_id[pid].prm)

        self.subscription = subscription(options.topic)
        self._topic_re = topic_regex(options.topic)
        self.client_id = options.client_id or f"{self.mqtt.client_id}-{_slug(meter_id)}"

        if options.protocol == "5":
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                            protocol=mqtt.MQTTv5)
        else:  # a persistent session: clean_session False
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                            protocol=mqtt.MQTTv311, clean_session=False)
        if self.mqtt.username:
            base = Path(config.source).parent if config.source else None
            c.username_pw_set(self.mqtt.username, self.mqtt.resolved_password(base))
        if self.mqtt.tls:
            ca_file = config.relative(self.mqtt.ca_file)  # None: the system's CAs
            c.tls_set(ca_certs=str(ca_file) if ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_connect_fail = self._on_connect_fail
        self._connect_props = None
        if options.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = options.session_expiry_s
            self._connect_props = props
        self.client = c
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, sink: Callable[[Reading], None] | None = None) -> None:
        """Connect in the background (retrying until the broker answers) and start the
        network thread; readings go to ``sink`` when given (else to the one given at
        construction, else to the queue that :meth:`read` drains).
        """
        if sink is not None:
            self._sink = sink
        if self._started:
            return
        self._started = True
        if self.options.protocol == "5":
            self.client.connect_async(self.mqtt.host, self.mqtt.port, keepalive=30,
                                      clean_start=False, properties=self._connect_props)
        else:
            self.client.connect_async(self.mqtt.host, self.mqtt.port, keepalive=30)
        self.client.loop_start()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        """Wait until connected and subscribed; True when so."""
        return self.connected.wait(timeout_s)

    def stop(self) -> None:
        """Disconnect cleanly (the broker keeps the session) and stop the network thread."""
        if not self._started:
            return
        self._started = False
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    close = stop

    def read(self, now_s: float | None = None) -> list[Reading]:
        """The readings queued since the last call (when no ``sink`` was given)."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    # -- paho callbacks (network thread) ----------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            if reason_code.value in (0x86, 0x87, 0x8C):  # bad user name or password, not authorized
                self.counters["auth_failed"] += 1
                self._warnings.warning("auth", "MQTT %s:%s refused %s: %s (check [mqtt] username "
                                    "and password)", self.mqtt.host, self.mqtt.port,
                                    self.client_id, reason_code)
            else:
                self._warnings.warning("connect", "MQTT %s:%s refused %s: %s", self.mqtt.host,
                                    self.mqtt.port, self.client_id, reason_code)
            return
        self.counters["connects"] += 1
        self.last_error = None
        log.info("MQTT connected to %s:%s as %s (session %s), subscribing to %s",
                 self.mqtt.host, self.mqtt.port, self.client_id,
                 "resumed" if flags.session_present else "new", self.subscription)
        client.subscribe(self.subscription, qos=self.options.qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            self.last_error = f"broker refused the subscription to {self.subscription}: {failed[0]}"
            self._warnings.warning("subscribe", "MQTT %s:%s refused the subscription to %s: %s "
                                "(check the broker's access rules)", self.mqtt.host,
                                self.mqtt.port, self.subscription, failed[0])
            return
        log.info("MQTT subscribed to %s", self.subscription)
        self.connected.set()  # connected *and* subscribed: messages now reach us

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.counters["disconnects"] += 1
        if self._started:
            log.info("MQTT disconnected from %s:%s (%s), reconnecting", self.mqtt.host,
                     self.mqtt.port, reason_code)

    def _on_connect_fail(self, client, userdata) -> None:
        self.last_error = f"cannot connect to {self.mqtt.host}:{self.mqtt.port}"
        self._warnings.warning("connect", "MQTT cannot connect to %s:%s, retrying",
                            self.mqtt.host, self.mqtt.port)

    def _on_message(self, client, userdata, msg) -> None:
        try:
            self.handle(msg.topic, msg.payload)
        except Exception as exc:  # a bug must not kill the network thread, nor flood the log
            self.counters["internal_error"] += 1
            self._warnings.warning(f"internal_error:{type(exc).__name__}",
                                   "MQTT message on %s could not be handled: %s: %s; payload: "
                                   "%s", msg.topic[:120], type(exc).__name__, str(exc)[:160],
                                   payloads.excerpt(msg.payload))
            log.debug("MQTT message on %s could not be handled", msg.topic, exc_info=True)

    # -- the message path -------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes, received_s: float | None = None) -> Reading | None:
        """Decode one message and hand its reading to the sink; None when refused."""
        stats = self.counters
        stats["received"] += 1
        m = self._topic_re.match(topic)
        if m is None:
            stats["ignored_topic"] += 1
            return None
        key = m.group("key")
        received_s = self.clock() if received_s is None else received_s
        res = payloads.decode(self.format, payload, received_s, self.limits)
        if isinstance(res, payloads.Rejection):
            return self._reject(res.reason, topic, payload, res.detail)
        target = self._by_key.get(key)
        if target is None and self.options.placeholder == "adsc" and res.prm:
            target = self._by_prm.get(res.prm)
        if target is None:
            return self._reject(UNKNOWN_TOPIC, topic, payload,
                                f"{key!r} is no known {self.options.placeholder}")
        meter_id, prm = target
        if res.prm is not None and res.prm != prm:
            return self._reject(payloads.PRM_MISMATCH, topic, payload,
                                f"payload PRM {res.prm[:20]!r} is not {prm} of {meter_id}")
        if not res.time_from_payload:
            stats["time_from_receipt"] += 1
        elif self._last_time.get(meter_id) == res.time_s:
            stats["duplicate"] += 1
            return None
        self._last_time[meter_id] = res.time_s
        reading = Reading(meter_id, res.time_s, res.import_wh, res.export_wh, res.power_va,
                          Quality.GOOD)
        stats["decoded"] += 1
        self._sink(reading)
        return reading

    def _reject(self, reason: str, topic: str, payload: bytes, detail: str) -> None:
        self.counters[reason] += 1
        self._warnings.warning(reason, "MQTT message rejected (%s) on %s: %s; payload: %s",
                            reason, topic[:120], detail[:160], payloads.excerpt(payload))
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "", text.replace("{", "").replace("}", "")) or "meter"


def create(meter_id: str, options: Options, config, *, sink: Callable[[Reading], None] | None = None,
           clock: Callable[[], float] | None = None) -> MqttMeter:
    """Registry factory: the meter, not yet started (call ``start(sink)``)."""
    return MqttMeter(meter_id, options, config, sink=sink, clock=clock)


register("mqtt", Options, create, kind="push")

