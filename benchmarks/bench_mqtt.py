"""MQTT ingest through a real mosquitto: messages decoded per second by the ``mqtt`` meter.

Target: at least 5,000 msg/s, 100 times a building of 48 Linky meters at 1 msg/s.

Method: N zigbee2mqtt ZLinky_TIC messages (48 topics) are published with QoS 1 while two
persistent sessions are offline, so that the broker queues them for both; then each
session reconnects and drains its queue:

- baseline: a bare paho client (same QoS 1, same MQTT 3.1.1 persistent session, same
  thread model) that only counts the messages it receives;
- the meter: :class:`pvshare.meters.mqtt.MqttMeter`, which decodes, checks and maps every
  message to a Reading handed to a sink (its default MQTT 3.1.1, and MQTT 5 for comparison).

Rates are taken from the first to the last message received. The ratio meter / baseline says
what decoding costs on top of paho's own receive path. The pure decode rate (no broker) is
printed too.
"""

from __future__ import annotations

import tempfile
import threading
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_MESSAGES = 30_000
TARGET_MSG_S = 5_000.0
TOPIC = "zigbee2mqtt/linky-{participant}"


def _messages(cfg, n):
    from pvshare_simulators.meters import adsc_of, zlinky_payloads
    ids = [p.id for p in cfg.participants]
    prms = [p.prm for p in cfg.participants]
    adscs = [adsc_of(p) for p in prms]
    out = []
    t0, k = 1748772000.0, 0
    while len(out) < n:
        idx = 1e7 + np.arange(len(ids)) * 1000.0 + k * 10
        for i, payload in enumerate(zlinky_payloads(t0 + k, idx, np.full(len(ids), 500.0),
                                                    prms, adscs)):
            out.append((TOPIC.replace("{participant}", ids[i]), payload))
        k += 1
    return out[:n]


class _Counter:
    def __init__(self, n):
        self.n, self.count, self.first, self.last = n, 0, None, None
        self.done = threading.Event()

    def hit(self, *_):
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.count += 1
        if self.count >= self.n:
            self.last = now
            self.done.set()

    def rate(self):
        return (self.count - 1) / (self.last - self.first) if self.last else 0.0


def _raw_client(broker, client_id, on_message=None):
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311,
                    clean_session=False)
    subscribed = threading.Event()
    c.on_connect = lambda cl, *_: cl.subscribe("zigbee2mqtt/+", qos=1)
    c.on_subscribe = lambda *_: subscribed.set()
    if on_message:
        c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.loop_start()
    subscribed.wait(10)
    return c


def _publish(broker, messages):
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    infos = [pub.publish(t, p, qos=1) for t, p in messages]
    for info in infos:
        info.wait_for_publish(60)
    pub.disconnect()
    pub.loop_stop()


def main() -> bool:
    from pvshare.config import parse_config
    from pvshare.meters import payloads
    from pvshare.meters.mqtt import MqttMeter, Options
    from tests.plugins.mosquitto import Mosquitto

    data = tomllib.loads((ROOT / "config" / "example.toml").read_text())
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        broker = Mosquitto(tmp).start()
        try:
            data["mqtt"] = {"host": broker.host, "port": broker.port, "client_id": "bench"}
            cfg = parse_config(data, str(ROOT / "config" / "example.toml"))
            messages = _messages(cfg, N_MESSAGES)

            # pure decoding, no broker
            t = time.perf_counter()
            for _, p in messages[:10_000]:
                payloads.decode("zlinky", p, 1748772000.0)
            decode_rate = 10_000 / (time.perf_counter() - t)
            from pvshare_simulators.meters import adsc_of, teleinfo_payloads
            prms = [p.prm for p in cfg.participants]
            tele = teleinfo_payloads(1748772000.0, 1e7 + np.arange(len(prms)) * 1000.0,
                                     np.full(len(prms), 500.0), prms,
                                     [adsc_of(p) for p in prms]) * 200
            t = time.perf_counter()
            for p in tele:
                payloads.decode("teleinfo2mqtt", p, 1748772000.0)
            tele_rate = len(tele) / (time.perf_counter() - t)

            # the simulator's cost: one tick = the 48 meters' messages (indices + payloads)
            from pvshare_simulators.meters import MeterSimulator
            sim = MeterSimulator(cfg, fmt="zlinky", start_s=1748772000.0)
            t = time.perf_counter()
            for k in range(500):
                sim.messages(sim.sim_time(k))
            tick_s = (time.perf_counter() - t) / 500

            # register both persistent sessions, then go offline
            raw = _raw_client(broker, "bench-raw")
            raw.disconnect()
            raw.loop_stop()
            counter, counter5 = _Counter(N_MESSAGES), _Counter(N_MESSAGES)
            meter = MqttMeter("linky-{participant}", Options(format="zlinky", topic=TOPIC), cfg,
                              sink=counter.hit)
            meter5 = MqttMeter("linky5-{participant}", Options(format="zlinky", topic=TOPIC,
                                                              protocol="5"), cfg,
                               sink=counter5.hit)
            for m in (meter, meter5):
                m.start()
                m.wait_connected(10)
                m.stop()

            t = time.perf_counter()
            _publish(broker, messages)
            publish_s = time.perf_counter() - t

            base = _Counter(N_MESSAGES)
            raw = _raw_client(broker, "bench-raw", on_message=base.hit)
            base.done.wait(120)
            raw.disconnect()
            raw.loop_stop()

            for m, c in ((meter, counter), (meter5, counter5)):
                m.start()
                c.done.wait(120)
                m.stop()
        finally:
            broker.stop()

    rate, base_rate = counter.rate(), base.rate()
    print(f"messages: {N_MESSAGES} ZLinky_TIC payloads over 48 topics, QoS 1, queued by "
          f"mosquitto for offline persistent sessions (published in {publish_s:.1f} s)")
    print(f"baseline, bare paho client (receive only): {base_rate:10,.0f} msg/s "
          f"({base.count} received)")
    print(f"mqtt meter (receive + decode + map):       {rate:10,.0f} msg/s "
          f"({counter.count} decoded, {meter.counters.get('decoded', 0)} counted)")
    print(f"ratio meter / baseline: {rate / base_rate if base_rate else 0:.2f}")
    print(f"mqtt meter with protocol = \"5\":           {counter5.rate():10,.0f} msg/s "
          f"(MQTT 5 properties cost paho's receive path; ratio to the 3.1.1 meter "
          f"{counter5.rate() / rate if rate else 0:.2f})")
    print(f"pure decode, no broker: {decode_rate:,.0f} msg/s (zlinky), "
          f"{tele_rate:,.0f} msg/s (teleinfo2mqtt, local DATE read in Europe/Paris)")
    print(f"simulator: one tick of 48 meters costs {tick_s * 1e6:,.0f} us to compute, "
          f"{tick_s * 100:.2f} % of a core at one message per meter per second")
    print(f"target >= {TARGET_MSG_S:,.0f} msg/s (100 x 48 meters at 1 msg/s): "
          f"{'met' if rate >= TARGET_MSG_S else 'MISSED'} ({rate / TARGET_MSG_S:.1f} x target)")
    return counter.count == N_MESSAGES and rate >= TARGET_MSG_S


if __name__ == "__main__":
    import sys
    sys.exit(0 if main() else 1)
