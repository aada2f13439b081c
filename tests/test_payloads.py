"""The pure MQTT payload decoders: real bridge payload shapes, every bad-input reason, fuzz."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvshare.meters import payloads
from pvshare.meters.payloads import Decoded, Rejection, decode

RECEIVED_S = 1717236000.0  # 2024-06-01T10:00:00Z

# A ZLinky_TIC state as zigbee2mqtt publishes it (standard mode, kWh_precision 3,
# last_seen ISO_8601), property names from zigbee-herdsman-converters' lixee.ts.
ZLINKY = {
    "apparent_power": 1234,
    "available_power": 6,
    "current_summ_delivered": 10345.678,
    "current_summ_received": 0,
    "current_tarif": "BASE",
    "current_tier1_summ_delivered": 10345.678,
    "linkquality": 120,
    "meter_serial_number": "021728123456",
    "rms_current": 5,
    "rms_voltage": 236,
    "site_id": "25460000000001",
    "last_seen": "2024-06-01T11:59:30+02:00",
}

# A standard-mode frame as teleinfo2mqtt publishes it (docs/mqtt/README.md). Its DATE is
# the meter's local time written as if it were UTC (TicMode.js, Date.UTC): 11:59:45 French
# summer time is 09:59:45Z.
TELEINFO = {
    "ADSC": {"raw": "021728123456", "value": 21728123456},
    "VTIC": {"raw": "02", "value": 2},
    "DATE": {"raw": "", "value": "", "timestamp": {"date": "2024-06-01T11:59:45.000Z",
                                                    "dst": "summer"}},
    "NGTF": {"raw": "      BASE      ", "value": "BASE"},
    "EAST": {"raw": "010345678", "value": 10345678},
    "EASF01": {"raw": "010345678", "value": 10345678},
    "EAIT": {"raw": "000001234", "value": 1234},
    "SINSTS": {"raw": "01234", "value": 1234},
    "PRM": {"raw": "25460000000001", "value": 25460000000001},
}

HISTORIQUE = {
    "ADCO": {"raw": "031762120123", "value": 31762120123},
    "OPTARIF": {"raw": "HC..", "value": "HC"},
    "HCHC": {"raw": "009058688", "value": 9058688},
    "HCHP": {"raw": "009752846", "value": 9752846},
    "PAPP": {"raw": "04110", "value": 4110},
}


def enc(obj) -> bytes:
    return json.dumps(obj).encode()


def test_zlinky_kwh_to_wh_and_last_seen_time():
    d = decode("zlinky", enc(ZLINKY), RECEIVED_S)
    assert isinstance(d, Decoded)
    assert d.import_wh == pytest.approx(10_345_678)
    assert d.export_wh == 0
    assert d.power_va == 1234
    assert d.prm == "25460000000001"
    assert d.time_from_payload and d.time_s == RECEIVED_S - 30


def test_zlinky_last_seen_epoch_ms():
    d = decode("zlinky", enc({**ZLINKY, "last_seen": 1717235990123}), RECEIVED_S)
    assert d.time_s == pytest.approx(1717235990.123)


def test_zlinky_without_trustworthy_time_uses_receive_time():
    for last_seen in (None, "2024-06-01T11:59:30", "2003-01-01T00:00:00Z", "garbage",
                      RECEIVED_S * 1000 + 86400e3):  # naive, before Linky, junk, future
        d = decode("zlinky", enc({**ZLINKY, "last_seen": last_seen}), RECEIVED_S)
        assert d.time_s == RECEIVED_S and not d.time_from_payload, last_seen


def test_zlinky_historique_tiers_when_total_is_zero():
    # the converter publishes current_summ_delivered 0 for HC/HP contracts
    msg = {"current_summ_delivered": 0, "current_tier1_summ_delivered": 9058.688,
           "current_tier2_summ_delivered": 9752.846, "apparent_power": 4110}
    d = decode("zlinky", enc(msg), RECEIVED_S)
    assert d.import_wh == pytest.approx(9058688 + 9752846)


def test_zlinky_power_only_message():
    d = decode("zlinky", enc({"apparent_power": 300, "linkquality": 90}), RECEIVED_S)
    assert d.import_wh is None and d.power_va == 300


def test_teleinfo_standard_uses_raw_and_meter_date():
    d = decode("teleinfo2mqtt", enc(TELEINFO), RECEIVED_S)
    assert isinstance(d, Decoded)
    assert d.import_wh == 10_345_678 and d.export_wh == 1234 and d.power_va == 1234
    assert d.prm == "25460000000001"
    assert d.time_from_payload and d.time_s == RECEIVED_S - 15


def test_teleinfo_historique_hchc_plus_hchp():
    d = decode("teleinfo2mqtt", enc(HISTORIQUE), RECEIVED_S)
    assert d.import_wh == 9058688 + 9752846 and d.power_va == 4110
    assert d.time_s == RECEIVED_S and not d.time_from_payload
    d = decode("teleinfo2mqtt", enc({"BASE": {"raw": "000012345", "value": 12345}}), RECEIVED_S)
    assert d.import_wh == 12345


def test_prm_leading_zeros_kept():
    msg = {**TELEINFO, "PRM": {"raw": "01234567890123", "value": 1234567890123}}
    assert decode("teleinfo2mqtt", enc(msg), RECEIVED_S).prm == "01234567890123"


BAD = [
    ("zlinky", b"{not json", payloads.BAD_JSON),
    ("zlinky", b"\xff\xfe\x00garbage", payloads.BAD_JSON),
    ("zlinky", b"", payloads.BAD_JSON),
    ("zlinky", b"[1, 2, 3]", payloads.NOT_OBJECT),
    ("zlinky", b'"EAST"', payloads.NOT_OBJECT),
    ("zlinky", enc({"linkquality": 87, "state": "ON"}), payloads.UNKNOWN_FIELDS),
    ("zlinky", enc({"current_summ_delivered": "lots"}), payloads.NON_NUMERIC),
    ("zlinky", enc({"current_summ_delivered": True}), payloads.NON_NUMERIC),
    ("zlinky", enc({"current_summ_delivered": [1]}), payloads.NON_NUMERIC),
    ("zlinky", b'{"current_summ_delivered": NaN}', payloads.NON_NUMERIC),
    ("zlinky", b'{"current_summ_delivered": 1e999}', payloads.NON_NUMERIC),
    ("zlinky", enc({"current_summ_delivered": -3.2}), payloads.NEGATIVE_INDEX),
    ("zlinky", enc({"current_summ_delivered": 1e12}), payloads.IMPLAUSIBLE_INDEX),
    ("zlinky", enc({**ZLINKY, "apparent_power": 250_000}), payloads.IMPLAUSIBLE_POWER),
    ("zlinky", enc({**ZLINKY, "apparent_power": -5}), payloads.IMPLAUSIBLE_POWER),
    ("teleinfo2mqtt", enc({"ADSC": {"raw": "021728123456"}}), payloads.UNKNOWN_FIELDS),
    ("teleinfo2mqtt", enc({"EAST": [12345]}), payloads.NON_NUMERIC),
    # other scripts' digits and Python's digit separators (float() takes both)
    ("teleinfo2mqtt", enc({"EAST": {"raw": "١٢٣", "value": "١٢٣"}}), payloads.NON_NUMERIC),
    ("teleinfo2mqtt", enc({"EAST": {"raw": "1_000", "value": "1_000"}}), payloads.NON_NUMERIC),
    ("zlinky", enc({"current_summ_delivered": "１２３"}), payloads.NON_NUMERIC),
    ("zlinky", enc({"current_summ_delivered": "1_000"}), payloads.NON_NUMERIC),
    # part of a tariff option's indices is not the index
    ("teleinfo2mqtt", enc({"HCHC": {"raw": "009058688", "value": 9058688}}),
     payloads.INCOMPLETE),
    ("tasmota", enc({"TIC": {"ADCO": "031961257463", "HCHP": 9752846}}), payloads.INCOMPLETE),
    # numbers that are no time
    ("zlinky", b'{"current_summ_delivered": 1.5, "last_seen": 1' + b"0" * 400 + b"}",
     payloads.BAD_TIME),
    ("zlinky", enc({**ZLINKY, "last_seen": 1e300}), payloads.BAD_TIME),
    ("zlinky", enc({**ZLINKY, "last_seen": -1e15}), payloads.BAD_TIME),
    ("zlinky", enc({**ZLINKY, "last_seen": "0001-01-01T00:00:00Z"}), payloads.BAD_TIME),
    ("zlinky", enc({**ZLINKY, "last_seen": "9999-12-31T23:59:59+01:00"}), payloads.BAD_TIME),
    ("teleinfo2mqtt", enc({**TELEINFO, "DATE": {"raw": "", "value": "", "timestamp": {
        "date": "0001-01-01T00:00:00.000Z", "dst": "winter"}}}), payloads.BAD_TIME),
    ("teleinfo2mqtt", enc({**TELEINFO, "DATE": {"raw": "", "value": "", "timestamp": {
        "date": "2150-06-01T10:00:00.000Z", "dst": "summer"}}}), payloads.BAD_TIME),
    ("zlinky", b'{"current_summ_delivered": 1' + b"0" * 400 + b"}", payloads.NON_NUMERIC),
    ("tasmota", enc({"TIC": [1, 2]}), payloads.NOT_OBJECT),
    ("teleinfo2mqtt", enc({"EAST": {"raw": "0A1234567", "value": "0A1234567"}}),
     payloads.NON_NUMERIC),
    ("teleinfo2mqtt", enc({"EAST": {"raw": "-00000012"}}), payloads.NEGATIVE_INDEX),
    ("teleinfo2mqtt", enc({**TELEINFO, "SINSTS": {"raw": "99999", "value": 99999}}),
     payloads.IMPLAUSIBLE_POWER),
]


@pytest.mark.parametrize("fmt,payload,reason", BAD)
def test_bad_input_rejected_with_reason(fmt, payload, reason):
    res = decode(fmt, payload, RECEIVED_S)
    assert isinstance(res, Rejection), res
    assert res.reason == reason and res.detail


def test_limits_are_settable():
    limits = payloads.Limits(max_power_va=1000)
    assert decode("zlinky", enc(ZLINKY), RECEIVED_S, limits).reason == payloads.IMPLAUSIBLE_POWER


def test_excerpt_is_short_and_printable():
    text = payloads.excerpt(b"\x00\x01" + b"A" * 500)
    assert len(text) < 100 and "\x00" not in text and text.endswith("…")


# -- fuzz: any payload gives a Decoded or a counted Rejection, never an exception ---------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=10), children, max_size=4),
    max_leaves=12)
zlinky_keys = st.sampled_from(["current_summ_delivered", "current_summ_received",
                               "apparent_power", "site_id", "last_seen",
                               "current_tier1_summ_delivered", "current_tier2_summ_delivered",
                               "current_tier3_summ_delivered", "current_tier6_summ_delivered",
                               "apparent_power_ph_b", "total_apparent_power", "injected_v_a",
                               "currentSummDelivered", "apparentPower", "linkquality"])
teleinfo_keys = st.sampled_from(["EAST", "EAIT", "BASE", "HCHC", "HCHP", "SINSTS", "SINSTI",
                                 "PAPP", "BBRHCJB", "BBRHPJR", "EJPHN", "PRM", "DATE", "ADSC"])
teleinfo_items = st.one_of(json_values, st.fixed_dictionaries(
    {"raw": json_values, "value": json_values},
    optional={"timestamp": st.one_of(json_values, st.fixed_dictionaries(
        {"date": json_values}, optional={"dst": st.sampled_from(["summer", "winter", 3])}))}))


def _check(res):
    assert isinstance(res, (Decoded, Rejection))
    if isinstance(res, Rejection):
        assert res.reason in payloads.REASONS
    else:
        for v in (res.import_wh, res.export_wh):
            assert v is None or 0 <= v <= payloads.DEFAULT_LIMITS.max_index_wh
        max_va = payloads.DEFAULT_LIMITS.max_power_va
        assert res.power_va is None or -max_va <= res.power_va <= max_va
        assert (res.import_wh, res.export_wh, res.power_va) != (None, None, None)
        assert payloads.MIN_TIME_S <= res.time_s <= RECEIVED_S + 3600


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(payloads.FORMATS))
def test_fuzz_any_bytes(data, fmt):
    _check(decode(fmt, data, RECEIVED_S))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(zlinky_keys, json_values, max_size=6))
def test_fuzz_zlinky_structured(obj):
    _check(decode("zlinky", json.dumps(obj).encode(), RECEIVED_S))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(teleinfo_keys, teleinfo_items, max_size=6))
def test_fuzz_teleinfo_structured(obj):
    _check(decode("teleinfo2mqtt", json.dumps(obj).encode(), RECEIVED_S))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["zigbee2mqtt/linky-A01", "zigbee2mqtt/linky-Z9",
                                           "zigbee2mqtt/other", "zigbee2mqtt/linky-",
                                           "elsewhere/linky-A01"]),
                          st.one_of(st.binary(max_size=80),
                                    st.dictionaries(zlinky_keys, json_values, max_size=5)
                                    .map(lambda d: json.dumps(d).encode()))),
                max_size=20))
def test_fuzz_meter_message_path_counts_everything(messages):
    """The meter's whole message path (topic mapping + decoding), with no broker: every
    message ends in exactly one counter and nothing raises."""
    import tomllib
    from pathlib import Path

    from pvshare.config import parse_config
    from pvshare.meters.mqtt import MqttMeter, Options

    example = Path(__file__).resolve().parents[1] / "config" / "example.toml"
    cfg = parse_config(tomllib.loads(example.read_text()), str(example))
    meter = MqttMeter("linky-{participant}",
                      Options(format="zlinky", topic="zigbee2mqtt/linky-{participant}"), cfg,
                      clock=lambda: RECEIVED_S)
    for topic, payload in messages:
        meter.handle(topic, payload)
    s = meter.counters
    outcomes = s["decoded"] + s["duplicate"] + s["ignored_topic"] + s["unknown_topic"] + sum(
        s[r] for r in payloads.REASONS)
    assert s["received"] == len(messages) == outcomes
    assert len(meter.read()) == s["decoded"]


def test_flat_labels_are_read_as_numbers():
    """A label's value given directly (Tasmota's TIC object; a flat bridge) is read as the
    number it is, not refused as non_numeric."""
    d = decode("teleinfo2mqtt", enc({"EAST": 12345, "SINSTS": 300}), RECEIVED_S)
    assert (d.import_wh, d.power_va) == (12345, 300)


def test_tasmota_tic_payload():
    """Tasmota's Teleinfo raw frame, as xnrg_15_teleinfo.ino publishes it on
    tele/<topic>/SENSOR (historique, option HC); ADCO stays a string."""
    msg = {"TIC": {"ADCO": "031961257463", "OPTARIF": "HC..", "ISOUSC": 30,
                   "HCHC": 9058688, "HCHP": 9752846, "PTEC": "HP..", "IINST": 1,
                   "IMAX": 90, "PAPP": 230, "HHPHC": "A", "MOTDETAT": "000000"}}
    d = decode("tasmota", enc(msg), RECEIVED_S)
    assert (d.import_wh, d.power_va) == (9058688 + 9752846, 230)
    assert not d.time_from_payload
    # a PRM sent as a number lost its leading zeros: not used, never compared
    d = decode("tasmota", enc({"TIC": {"EAST": 1, "PRM": 1234567890123}}), RECEIVED_S)
    assert d.prm is None


def test_zlinky_single_phase_drawn_and_injected_are_two_instants():
    """zigbee2mqtt merges apparent_power (SINSTS) and injected_v_a (SINSTI), reported
    apart, into one state: both non-zero on one phase is two instants, no power; the
    index is kept."""
    d = decode("zlinky", enc({**ZLINKY, "apparent_power": 1130, "injected_v_a": 1770}),
               RECEIVED_S)
    assert d.power_va is None and d.import_wh == ZLINKY["current_summ_delivered"] * 1000
    d = decode("zlinky", enc({**ZLINKY, "apparent_power": 0, "injected_v_a": 1770}),
               RECEIVED_S)
    assert d.power_va == -1770
    d = decode("zlinky", enc({"apparent_power": 1130, "injected_v_a": 1770}), RECEIVED_S)
    assert isinstance(d, Rejection) and d.reason == payloads.INCOMPLETE
