"""The ``mqtt`` meter against a real mosquitto: decoding, persistent session, broker restart,
bad input, authentication and TLS."""

from __future__ import annotations

import json
import logging
import time
import tomllib
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from pvshare.config import parse_config
from pvshare.errors import ConfigError
from pvshare.meters import registry
from pvshare.meters.base import Meter, Reading
from pvshare.meters.mqtt import MqttMeter

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "example.toml"
T0 = 1748772000.0  # 2025-06-01T10:00:00Z


def site(broker, fmt="zlinky", topic="zigbee2mqtt/linky-{participant}", mqtt=None, **options):
    data = tomllib.loads(EXAMPLE.read_text())
    data["mqtt"] = {"host": broker.host, "port": broker.port, "client_id": "pvshare-test",
                    **(mqtt or {})}
    data["meters"] = [{"id": "linky-{participant}", "type": "mqtt", "format": fmt,
                       "topic": topic, **options}]
    return parse_config(data, str(EXAMPLE))


def make_meter(cfg, **kw) -> MqttMeter:
    section = cfg.meters[0]
    mtype = registry.lookup(section.type)
    opts = mtype.options.model_validate({k: v for k, v in section.model_dump().items()
                                         if k not in ("id", "type")})
    return mtype.factory(section.id, opts, cfg, **kw)


def zlinky(index_kwh, t_s, power=500, prm=None):
    msg = {"current_summ_delivered": index_kwh, "apparent_power": power, "linkquality": 100,
           "last_seen": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_s)) + ".000Z"}
    if prm:
        msg["site_id"] = prm
    return json.dumps(msg).encode()


class Publisher:
    """A plain paho client publishing QoS 1 messages and waiting for their PUBACKs."""

    def __init__(self, broker, username=None, password=None):
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
        if username:
            self.c.username_pw_set(username, password)
        if broker.tls:
            self.c.tls_set(ca_certs=broker.ca_file)
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()

    def send(self, messages, qos=1):
        infos = [self.c.publish(t, p, qos=qos) for t, p in messages]
        for info in infos:
            info.wait_for_publish(10)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def wait_for(cond, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def started():
    meters = []

    def start(meter):
        meters.append(meter)
        meter.start()
        assert meter.wait_connected(60), meter.last_error
        return meter

    yield start
    for m in meters:
        m.stop()


def test_zlinky_readings_through_broker(mosquitto, started):
    got: list[Reading] = []
    meter = started(make_meter(site(mosquitto), sink=got.append))
    pub = Publisher(mosquitto)
    pub.send([(f"zigbee2mqtt/linky-A0{i}", zlinky(1000 + i, T0 + i, prm=f"2546000000000{i}"))
              for i in range(1, 6)])
    pub.close()
    assert wait_for(lambda: len(got) == 5)
    assert [r.meter_id for r in got] == [f"linky-A0{i}" for i in range(1, 6)]
    assert [r.import_wh for r in got] == [1_000_000 + 1000 * i for i in range(1, 6)]
    assert [r.time_s for r in got] == [T0 + i for i in range(1, 6)]
    assert all(r.power_w == 500 for r in got)
    assert isinstance(meter, Meter) and meter.read() == []  # readings went to the sink


def test_teleinfo_adsc_map_and_prm_fallback(mosquitto, started):
    cfg = site(mosquitto, fmt="teleinfo2mqtt", topic="teleinfo/{adsc}",
               adsc={"021728000001": "B03"})
    meter = started(make_meter(cfg))

    def frame(adsc, east, prm=None):
        f = {"ADSC": {"raw": adsc, "value": int(adsc)}, "EAST": {"raw": f"{east:09d}",
             "value": east}, "SINSTS": {"raw": "00420", "value": 420}}
        if prm:
            f["PRM"] = {"raw": prm, "value": int(prm)}
        return json.dumps(f).encode()

    pub = Publisher(mosquitto)
    pub.send([("teleinfo/021728000001", frame("021728000001", 1234)),            # by the map
              ("teleinfo/021799999999", frame("021799999999", 5678, "25460000000030")),  # PRM
              ("teleinfo/021700000000", frame("021700000000", 1))])             # unknown
    pub.close()
    assert wait_for(lambda: meter.counters["received"] == 3)
    readings = meter.read()
    assert [(r.meter_id, r.import_wh, r.power_w) for r in readings] == [
        ("linky-B03", 1234, 420), ("linky-B06", 5678, 420)]
    assert meter.counters["unknown_topic"] == 1


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_persistent_session_queues_while_daemon_is_down(mosquitto, started, protocol):
    cfg = site(mosquitto, protocol=protocol)
    first = started(make_meter(cfg))
    first.stop()  # the daemon stops; the broker keeps its session
    pub = Publisher(mosquitto)
    pub.send([(f"zigbee2mqtt/linky-A{i:02d}", zlinky(10 + i, T0 + i)) for i in range(1, 21)])
    pub.close()
    got = []
    second = started(make_meter(cfg, sink=got.append))  # same fixed client id
    assert second.client_id == first.client_id
    assert wait_for(lambda: len(got) == 20), dict(second.counters)
    assert sorted(r.meter_id for r in got) == sorted(f"linky-A{i:02d}" for i in range(1, 21))


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_broker_restart_meter_reconnects_by_itself(mosquitto, started, protocol):
    got = []
    meter = started(make_meter(site(mosquitto, protocol=protocol), sink=got.append))
    pub = Publisher(mosquitto)
    pub.send([("zigbee2mqtt/linky-A01", zlinky(1, T0))])
    pub.close()
    assert wait_for(lambda: len(got) == 1)
    mosquitto.restart()  # same port, same persistence file
    assert wait_for(lambda: meter.counters["connects"] == 2 and meter.connected.is_set(), 60), \
        (dict(meter.counters), meter.last_error)
    pub = Publisher(mosquitto)
    pub.send([("zigbee2mqtt/linky-A01", zlinky(2, T0 + 60)),
              ("zigbee2mqtt/linky-A02", zlinky(3, T0 + 60))])
    pub.close()
    assert wait_for(lambda: len(got) == 3)
    assert [r.import_wh for r in got] == [1000, 2000, 3000]
    assert meter.counters["disconnects"] >= 1


def test_every_bad_input_counted_and_good_messages_around_them_decoded(mosquitto, started,
                                                                        caplog):
    meter = started(make_meter(site(mosquitto)))
    good = [zlinky(100 + i, T0 + i) for i in range(7)]
    bad = [
        ("zigbee2mqtt/linky-A01", b"{\"current_summ_delivered\": 12", "bad_json"),
        ("zigbee2mqtt/linky-A01", b"\x00\xff garbage", "bad_json"),
        ("zigbee2mqtt/linky-A01", b"[1, 2]", "not_object"),
        ("zigbee2mqtt/linky-A01", b'{"linkquality": 30, "state": "ON"}', "unknown_fields"),
        ("zigbee2mqtt/linky-A01", b'{"current_summ_delivered": "12,5"}', "non_numeric"),
        ("zigbee2mqtt/linky-A01", b'{"current_summ_delivered": -1}', "negative_index"),
        ("zigbee2mqtt/linky-A01", b'{"current_summ_delivered": 1, "apparent_power": 1e6}',
         "implausible_power"),
        ("zigbee2mqtt/linky-Z99", good[0], "unknown_topic"),
        ("zigbee2mqtt/linky-A01", zlinky(5, T0, prm="25460000000002"), "prm_mismatch"),
    ]
    messages = []
    for i, (topic, payload, _) in enumerate(bad):
        messages += [("zigbee2mqtt/linky-A01", zlinky(100 + i, T0 + i)), (topic, payload)]
    messages += [("zigbee2mqtt/other-device", b'{"state": "ON"}'),  # not a meter topic
                 ("zigbee2mqtt/linky-A01", zlinky(200, T0 + 100))]
    with caplog.at_level(logging.WARNING, logger="pvshare.meters.mqtt"):
        pub = Publisher(mosquitto)
        pub.send(messages)
        pub.close()
        assert wait_for(lambda: meter.counters["received"] == len(messages))
    readings = meter.read()
    assert [r.import_wh for r in readings] == [1000 * (100 + i) for i in range(len(bad))] + [200e3]
    expected = {}
    for _, _, reason in bad:
        expected[reason] = expected.get(reason, 0) + 1
    for reason, n in expected.items():
        assert meter.counters[reason] == n, reason
    assert meter.counters["ignored_topic"] == 1
    assert meter.counters["decoded"] == len(bad) + 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("linky-Z99" in w and "unknown_topic" in w for w in warnings)
    assert all(len(w) < 600 for w in warnings)  # an excerpt, never a payload dump


def test_warnings_are_rate_limited_but_all_counted(mosquitto, started, caplog):
    meter = started(make_meter(site(mosquitto)))
    with caplog.at_level(logging.WARNING, logger="pvshare.meters.mqtt"):
        pub = Publisher(mosquitto)
        pub.send([("zigbee2mqtt/linky-A01", b"not json")] * 200)
        pub.close()
        assert wait_for(lambda: meter.counters["received"] == 200)
    assert meter.counters["bad_json"] == 200
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_numbers_that_break_decoders_counted_and_rate_limited(mosquitto, started, caplog):
    """Issue 18's flood: 300 ZLinky messages with last_seen = 10**400 and 300 with a year
    0001, through a real broker: each refused and counted bad_time, no traceback, at most 2
    warning lines per kind; a good message after them is still decoded."""
    meter = started(make_meter(site(mosquitto)))
    huge = b'{"current_summ_delivered": 12.5, "last_seen": 1' + b"0" * 400 + b"}"
    year1 = b'{"current_summ_delivered": 12.5, "last_seen": "0001-01-01T00:00:00Z"}'
    with caplog.at_level(logging.DEBUG, logger="pvshare.meters.mqtt"):
        pub = Publisher(mosquitto)
        pub.send([("zigbee2mqtt/linky-A01", huge)] * 300 + [("zigbee2mqtt/linky-A01", year1)]
                 * 300 + [("zigbee2mqtt/linky-A01", zlinky(13, T0))])
        pub.close()
        assert wait_for(lambda: meter.counters["received"] == 601)
    assert meter.counters["bad_time"] == 600 and meter.counters["decoded"] == 1
    assert meter.counters["internal_error"] == 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert 1 <= len(warnings) <= 2, [r.getMessage() for r in warnings]
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_internal_errors_are_rate_limited(mosquitto, started, caplog):
    """A sink that fails on every message: 300 messages, every one counted internal_error,
    at most 2 warning lines (the traceback only at DEBUG)."""
    def sink(reading):
        raise RuntimeError("store full")

    meter = started(make_meter(site(mosquitto), sink=sink))
    with caplog.at_level(logging.INFO, logger="pvshare.meters.mqtt"):
        pub = Publisher(mosquitto)
        pub.send([("zigbee2mqtt/linky-A01", zlinky(1 + i, T0 + i)) for i in range(300)])
        pub.close()
        assert wait_for(lambda: meter.counters["received"] == 300)
    assert meter.counters["internal_error"] == 300
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert 1 <= len(lines) <= 2 and "RuntimeError" in lines[0].getMessage()
    assert not any(r.exc_info for r in lines)


def test_duplicate_message_is_counted_once(mosquitto, started):
    meter = started(make_meter(site(mosquitto)))
    pub = Publisher(mosquitto)
    pub.send([("zigbee2mqtt/linky-A01", zlinky(1, T0))] * 3)
    pub.close()
    assert wait_for(lambda: meter.counters["received"] == 3)
    assert len(meter.read()) == 1 and meter.counters["duplicate"] == 2


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_username_password(mosquitto_factory, started, caplog, protocol):
    broker = mosquitto_factory(users={"pvshare": "s3cret-Pa55", "bridge": "other"})
    cfg = site(broker, mqtt={"username": "pvshare", "password": "s3cret-Pa55"},
               protocol=protocol)
    with caplog.at_level(logging.DEBUG):
        meter = started(make_meter(cfg))
        pub = Publisher(broker, "bridge", "other")
        pub.send([("zigbee2mqtt/linky-A01", zlinky(7, T0))])
        pub.close()
        assert wait_for(lambda: meter.counters["decoded"] == 1)
        bad = make_meter(site(broker, mqtt={"username": "pvshare", "password": "wrong",
                                            "client_id": "intruder"}, protocol=protocol))
        bad.start()
        try:
            assert wait_for(lambda: bad.counters["auth_failed"] >= 1)
            assert not bad.connected.is_set()
        finally:
            bad.stop()
    assert "s3cret-Pa55" not in caplog.text and "wrong" not in caplog.text
    assert any("username" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)


def test_tls_with_self_signed_ca(mosquitto_factory, started):
    broker = mosquitto_factory(tls=True)
    cfg = site(broker, mqtt={"tls": True, "ca_file": broker.ca_file})
    meter = started(make_meter(cfg))
    pub = Publisher(broker)
    pub.send([("zigbee2mqtt/linky-A01", zlinky(9, T0))])
    pub.close()
    assert wait_for(lambda: meter.counters["decoded"] == 1)
    assert "127.0.0.1" in broker.log_text()


@pytest.mark.parametrize("options,message", [
    ({"format": "zlinky", "topic": "zigbee2mqtt/linky"}, "meters[0].topic: must hold exactly"),
    ({"format": "zlinky", "topic": "zigbee2mqtt/+/{participant}"}, "wildcards"),
    ({"format": "xml", "topic": "a/{participant}"}, "meters[0].format"),
    ({"format": "zlinky", "topic": "a/{participant}", "colour": "red"},
     "meters[0].colour: unknown field"),
    ({"format": "zlinky", "topic": "a/{participant}", "adsc": {"1": "A01"}}, "adsc"),
])
def test_options_validated_in_config(options, message):
    data = tomllib.loads(EXAMPLE.read_text())
    data["meters"] = [{"id": "linky", "type": "mqtt", **options}]
    with pytest.raises(ConfigError) as err:
        parse_config(data, "site.toml")
    assert message in str(err.value)


def test_meter_started_before_the_broker_connects_when_it_comes_up(tmp_path):
    from tests.plugins.mosquitto import Mosquitto, require_mosquitto
    require_mosquitto()
    broker = Mosquitto(tmp_path / "late")  # port chosen, not started yet
    got = []
    meter = make_meter(site(broker), sink=got.append)
    meter.start()
    try:
        assert wait_for(lambda: meter.last_error, timeout_s=60)   # it tried, and says why
        assert not meter.connected.is_set()
        broker.start()
        assert meter.wait_connected(60), meter.last_error
        pub = Publisher(broker)
        pub.send([("zigbee2mqtt/linky-A01", zlinky(3, T0))])
        pub.close()
        assert wait_for(lambda: len(got) == 1)
    finally:
        meter.stop()
        broker.stop()


def test_a_failing_sink_does_not_stop_the_reader(mosquitto, started, caplog):
    got = []

    def sink(reading):
        if reading.import_wh == 1000:
            raise RuntimeError("store full")
        got.append(reading)

    meter = started(make_meter(site(mosquitto), sink=sink))
    pub = Publisher(mosquitto)
    pub.send([("zigbee2mqtt/linky-A01", zlinky(1, T0)),
              ("zigbee2mqtt/linky-A01", zlinky(2, T0 + 1))])
    pub.close()
    assert wait_for(lambda: len(got) == 1)
    assert got[0].import_wh == 2000 and meter.counters["internal_error"] == 1


def test_onsite_check_command(mosquitto, tmp_path):
    import subprocess
    import sys
    # the example's own meters (linky-{participant}: ZLinky on zigbee2mqtt), on this broker
    text = EXAMPLE.read_text() + (
        f'\n[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\nclient_id = "check"\n')
    conf = tmp_path / "site.toml"
    conf.write_text(text)
    proc = subprocess.Popen([sys.executable, "-m", "pvshare.cli", "meters", "listen",
                             "--config", str(conf), "--seconds", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    mosquitto.wait_subscribed("check")         # its 4 s count from its subscription
    pub = Publisher(mosquitto)
    pub.send([("zigbee2mqtt/linky-B02", zlinky(42.5, T0)),
              ("zigbee2mqtt/linky-B02", b"oops")])
    pub.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "2025-06-01T10:00:00Z linky-B02 import_wh=42500.0" in out
    assert "'bad_json': 1" in out and "'decoded': 1" in out
    assert "rejected (bad_json) on zigbee2mqtt/linky-B02" in err
