"""Real payloads and frames published by other projects (tests/fixtures/*/README.md give
each source and licence): every value asserted here was derived by hand from the raw groups,
and the same meter read over the serial TIC and over both MQTT bridges gives the same index.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvshare.meters import payloads
from pvshare.meters.payloads import Decoded, Rejection, decode
from pvshare.meters.tic import decode as tic_decode
from pvshare.meters.tic import local_paris_to_utc_s, reading_from_frame
from pvshare_simulators.tic_encode import encode_frame, make_horodate

FIXTURES = Path(__file__).parent / "fixtures"
UTC = dt.UTC


def utc(*args) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()


def lines(path: Path) -> list[bytes]:
    return [x for x in path.read_bytes().splitlines() if x.strip()]


def wire(path: Path) -> bytes:
    """A frame's text lines (label SEP data SEP checksum) as the TIC sends them."""
    return b"\x02" + b"".join(b"\n" + x + b"\r" for x in lines(path)) + b"\x03"


# -- what the bridges would publish for a frame, after their own code ---------------------
def as_teleinfo2mqtt(groups: list[tuple]) -> bytes:
    """teleinfo2mqtt's message for a frame: {"LABEL": {"raw", "value"[, "timestamp"]}}.

    app/teleinfo/TicMode.js ``parseFrameItem``: ``value`` is parseInt of the raw text when
    numeric; a horodate becomes ``{"dst": "winter" if H else "summer", "date":
    Date.UTC(local fields).toISOString()}``.
    """
    out = {}
    for label, data, *h in groups:
        item: dict = {"raw": data}
        try:
            item["value"] = int(data)
        except ValueError:
            item["value"] = data
        if h and h[0]:
            s = h[0]
            item["timestamp"] = {"dst": "winter" if s[0] == "H" else "summer",
                                 "date": f"20{s[1:3]}-{s[3:5]}-{s[5:7]}T{s[7:9]}:{s[9:11]}:"
                                         f"{s[11:13]}.000Z"}
        out[label] = item
    return json.dumps(out).encode()


#: lixee.ts (zigbee-herdsman-converters df72005): TIC label -> zigbee2mqtt property.
ZLINKY_OF = {"EAST": "current_summ_delivered", "BASE": "current_summ_delivered",
             "EAIT": "current_summ_received",
             **{f"EASF{i:02d}": f"current_tier{i}_summ_delivered" for i in range(1, 11)},
             **{lab: f"current_tier{i}_summ_delivered" for i, lab in enumerate(
                 ("BBRHCJB", "BBRHPJB", "BBRHCJW", "BBRHPJW", "BBRHCJR", "BBRHPJR"), 1)},
             "HCHC": "current_tier1_summ_delivered", "HCHP": "current_tier2_summ_delivered",
             "EJPHN": "current_tier1_summ_delivered", "EJPHPM": "current_tier2_summ_delivered",
             "SINSTS1": "apparent_power", "SINSTS2": "apparent_power_ph_b",
             "SINSTS3": "apparent_power_ph_c", "SINSTI": "injected_v_a", "PAPP": "apparent_power"}


def as_zlinky(groups: list[tuple], three_phase: bool, precision: int = 3) -> bytes:
    """zigbee2mqtt's ZLinky_TIC state for a frame (lixee.ts): energies Wh/1000 rounded to
    ``kWh_precision``; SINSTS is ``total_apparent_power`` on a three-phase meter,
    ``apparent_power`` otherwise; current_summ_delivered set to tier1 + tier2 when it is 0
    (lines 514-522).
    """
    out: dict = {"current_summ_delivered": 0}
    for label, data, *_ in groups:
        if label == "SINSTS":
            out["total_apparent_power" if three_phase else "apparent_power"] = int(data)
        elif label in ZLINKY_OF:
            name = ZLINKY_OF[label]
            v = int(data)
            out[name] = round(v / 1000, precision) if name.startswith("current_") else v
    if out["current_summ_delivered"] == 0 and (out.get("current_tier1_summ_delivered", 0) > 0
                                               or out.get("current_tier2_summ_delivered", 0) > 0):
        out["current_summ_delivered"] = out["current_tier1_summ_delivered"] + \
            out["current_tier2_summ_delivered"]
    return json.dumps(out).encode()


def groups_of(path: Path) -> list[tuple]:
    (frame,), _ = tic_decode(wire(path))
    return [(g.label, g.data, g.horodate) for g in frame.groups]


# -- one meter, three paths -----------------------------------------------------------------
STANDARD_TEMPO = FIXTURES / "openhab-teleinfo" / "linky-standard-three-phase-prod-tempo.txt"


def test_standard_tempo_producer_same_values_on_every_path():
    """openHAB's capture of a three-phase producer on Tempo (real checksums)."""
    (frame,), counters = tic_decode(wire(STANDARD_TEMPO))
    assert counters.rejected == 0 and len(frame) == 63
    serial = reading_from_frame(frame, 0.0)
    # by hand from the groups: EAST 011604109 = EASF01..06 (2741488 + 5905500 + 624053 +
    # 1070566 + 524151 + 738351), EAIT 000671631, SINSTS 00018 - SINSTI 00000,
    # DATE E210414082627 = 08:26:27 UTC+2
    assert serial.import_wh == 11_604_109 == 2741488 + 5905500 + 624053 + 1070566 + 524151 \
        + 738351
    assert serial.export_wh == 671_631 and serial.power_w == 18
    assert serial.time_s == utc(2021, 4, 14, 6, 26, 27)
    groups = groups_of(STANDARD_TEMPO)
    received = utc(2021, 4, 14, 6, 26, 29)
    t2m = decode("teleinfo2mqtt", as_teleinfo2mqtt(groups), received)
    assert (t2m.import_wh, t2m.export_wh, t2m.power_va) == (11_604_109, 671_631, 18)
    assert t2m.time_s == serial.time_s and t2m.time_from_payload and t2m.prm == "12345678901234"
    z = decode("zlinky", as_zlinky(groups, three_phase=True), received)
    assert z.import_wh == pytest.approx(11_604_109, abs=1e-6)
    assert z.export_wh == pytest.approx(671_631, abs=1e-6) and z.power_va == 18
    # the default kWh_precision (2) moves the index by at most 5 Wh
    z2 = decode("zlinky", as_zlinky(groups, three_phase=True, precision=2), received)
    assert abs(z2.import_wh - 11_604_109) <= 5


#: openHAB TeleinfoInputStreamTest.testReadNextFrameCbemmEvoIccTempo1: the values its real
#: capture cbemm-evo-icc-tempo-option-1.raw holds (a historique Tempo meter).
HISTORIQUE_TEMPO = [("ADCO", "XXXXXXXXXXXX"), ("OPTARIF", "BBR("), ("ISOUSC", "45"),
                    ("BBRHCJB", "002697099"), ("BBRHPJB", "003494559"),
                    ("BBRHCJW", "000041241"), ("BBRHPJW", "000194168"),
                    ("BBRHCJR", "000000000"), ("BBRHPJR", "000089736"), ("PTEC", "HPJR"),
                    ("DEMAIN", "----"), ("IINST", "003"), ("IMAX", "037"), ("PAPP", "00620"),
                    ("HHPHC", "Y"), ("MOTDETAT", "000000")]
TEMPO_TOTAL = 2697099 + 3494559 + 41241 + 194168 + 0 + 89736   # 6,516,803 Wh


def test_historique_tempo_keeps_white_and_red_days_on_every_path():
    (frame,), counters = tic_decode(encode_frame(HISTORIQUE_TEMPO, mode="historique"))
    received = utc(2024, 1, 15, 12, 0, 0)
    serial = reading_from_frame(frame, received)
    assert serial.import_wh == TEMPO_TOTAL == 6_516_803 and serial.power_w == 620
    t2m = decode("teleinfo2mqtt", as_teleinfo2mqtt(HISTORIQUE_TEMPO), received)
    assert t2m.import_wh == TEMPO_TOTAL and t2m.power_va == 620
    zl = json.loads(as_zlinky(HISTORIQUE_TEMPO, three_phase=False))
    # the converter's own total is blue days only (tier1 + tier2): 11 % of this meter lost
    assert zl["current_summ_delivered"] == pytest.approx((2697099 + 3494559) / 1000)
    z = decode("zlinky", json.dumps(zl).encode(), received)
    assert z.import_wh == pytest.approx(TEMPO_TOTAL, abs=1e-6) and z.power_va == 620


def test_historique_ejp_three_phase_from_openhab_capture():
    path = FIXTURES / "openhab-teleinfo" / "cbetm-historique-ejp.txt"
    (frame,), counters = tic_decode(wire(path))
    assert counters.rejected == 0
    r = reading_from_frame(frame, 1e9)
    assert r.import_wh == 1_111_111 + 2_222_222 and r.power_w == 5800   # EJPHN + EJPHPM, PAPP
    t2m = decode("teleinfo2mqtt", as_teleinfo2mqtt(groups_of(path)), 1.7e9)
    assert t2m.import_wh == 3_333_333 and t2m.power_va == 5800


# -- zigbee2mqtt payloads from issue threads ----------------------------------------------------
ZLINKY_EXPECTED = [
    # (import_wh, export_wh, power_va, prm, time from last_seen or None)
    (4_571_435, None, None, None, utc(2021, 12, 24, 11, 33, 18, 695000)),  # camelCase, Wh
    (4_096_000, None, 1670, "21337337086612", utc(2022, 11, 21, 18, 58, 6, 560000)),
    ((12175.8 + 492.1) * 1000, None, 400, None, None),                      # Tempo, 2 tiers
    (7_828_158 + 7_452_224, None, 550, None, None),                         # HC, total 0
    (3_933_638 + 3_358_982, 0, 2127, None, utc(2024, 10, 4, 17, 32, 13, 283000)),
]


@pytest.mark.parametrize("i", range(len(ZLINKY_EXPECTED)))
def test_zlinky_payloads_from_issue_threads(i):
    payload = lines(FIXTURES / "zigbee2mqtt" / "zlinky-payloads.jsonl")[i]
    imp, exp, power, prm, t = ZLINKY_EXPECTED[i]
    received = (t or utc(2025, 1, 1)) + 2.0
    d = decode("zlinky", payload, received)
    assert isinstance(d, Decoded), d
    assert d.import_wh == pytest.approx(imp, abs=1e-6)
    assert d.export_wh == exp and d.power_va == power and d.prm == prm
    assert d.time_s == pytest.approx(t if t else received) and d.time_from_payload == bool(t)


def test_zlinky_three_phase_power_is_the_sum_of_the_phases():
    msg = {"current_summ_delivered": 10.0, "apparent_power": 1200, "apparent_power_ph_b": 300,
           "apparent_power_ph_c": 450}
    assert decode("zlinky", json.dumps(msg).encode(), 1.7e9).power_va == 1950
    msg["total_apparent_power"] = 1948          # SINSTS, when the meter gives it, wins
    assert decode("zlinky", json.dumps(msg).encode(), 1.7e9).power_va == 1948
    msg["injected_v_a"] = 2500                  # SINSTI: a producer's net is negative
    assert decode("zlinky", json.dumps(msg).encode(), 1.7e9).power_va == 1948 - 2500


def test_unconfigured_zlinky_is_refused_with_its_own_reason():
    msg = {"current_summ_delivered": 0, "current_tier1_summ_delivered": 0,
           "current_tier2_summ_delivered": 0, "apparent_power": 0, "linkquality": 120}
    res = decode("zlinky", json.dumps(msg).encode(), 1.7e9)
    assert isinstance(res, Rejection) and res.reason == payloads.UNCONFIGURED


# -- teleinfo2mqtt ------------------------------------------------------------------------------
def test_teleinfo2mqtt_payloads_from_its_docs_and_issues():
    p = lines(FIXTURES / "teleinfo2mqtt" / "payloads.jsonl")
    # issue #36: a three-phase standard meter, DATE "2022-10-16T18:15:02.000Z" "summer" is
    # 18:15:02 French summer time = 16:15:02Z; a live message, received 3 s later
    d = decode("teleinfo2mqtt", p[0], utc(2022, 10, 16, 16, 15, 5))
    assert (d.import_wh, d.export_wh, d.power_va) == (20_966_534, None, 417)
    assert d.time_from_payload and d.time_s == utc(2022, 10, 16, 16, 15, 2)
    # the same message held back by the broker for two days keeps its own time
    late = decode("teleinfo2mqtt", p[0], utc(2022, 10, 18, 16, 15, 5))
    assert late.time_s == d.time_s
    # docs/mqtt/README.md, history mode: a second "PAPP" key ("A", HHPHC's value) overrides
    # the first in any JSON parser: refused (counted), never a wrong power
    res = decode("teleinfo2mqtt", p[1], 1.7e9)
    assert isinstance(res, Rejection) and res.reason == payloads.NON_NUMERIC
    # docs/mqtt/README.md, standard mode: a fragment without EAST is no reading
    res = decode("teleinfo2mqtt", p[2], 1.7e9)
    assert isinstance(res, Rejection) and res.reason == payloads.UNKNOWN_FIELDS


def date_item(date: str, dst: str) -> bytes:
    return json.dumps({"EAST": {"raw": "000001000", "value": 1000},
                       "DATE": {"raw": "", "value": "",
                                "timestamp": {"dst": dst, "date": date}}}).encode()


@pytest.mark.parametrize("date,dst,true_utc", [
    # StandardTicMode.test.js: "DATE\tE220609060531" -> "2022-06-09T06:05:31.000Z" summer
    ("2022-06-09T06:05:31.000Z", "summer", utc(2022, 6, 9, 4, 5, 31)),
    # TicMode.test.js: "H081225223518" -> "2008-12-25T22:35:18.000Z" winter (2017 here: the
    # decoder trusts no Linky time before 2015)
    ("2017-12-25T22:35:18.000Z", "winter", utc(2017, 12, 25, 21, 35, 18)),
    # TicMode.test.js: a blank season gives "summer"; in February Paris is UTC+1
    ("2023-02-14T06:00:00.000Z", "summer", utc(2023, 2, 14, 5, 0, 0)),
    # autumn change, 2024-10-27: 02:30 local happens twice, the flag tells which
    ("2024-10-27T02:30:00.000Z", "summer", utc(2024, 10, 27, 0, 30)),
    ("2024-10-27T02:30:00.000Z", "winter", utc(2024, 10, 27, 1, 30)),
    # spring change, 2025-03-30: 01:59:59 winter then 03:00:00 summer, one second apart
    ("2025-03-30T01:59:59.000Z", "winter", utc(2025, 3, 30, 0, 59, 59)),
    ("2025-03-30T03:00:00.000Z", "summer", utc(2025, 3, 30, 1, 0, 0)),
])
def test_teleinfo2mqtt_local_dates_in_both_seasons(date, dst, true_utc):
    d = decode("teleinfo2mqtt", date_item(date, dst), true_utc + 1)
    assert d.time_from_payload and d.time_s == true_utc


@settings(max_examples=300, deadline=None)
@given(st.integers(utc(2015, 1, 1), utc(2037, 1, 1)))
def test_teleinfo2mqtt_time_equals_the_serial_horodate_every_second(t):
    h = make_horodate(t)                       # what the meter writes
    serial = reading_from_frame(tic_decode(encode_frame(
        [("ADSC", "041876543210"), ("DATE", "", h), ("EAST", "000001000")]))[0][0], 0.0)
    d = decode("teleinfo2mqtt", as_teleinfo2mqtt([("DATE", "", h),
                                                  ("EAST", "000001000")]), t + 5)
    assert serial.time_s == d.time_s == t


def test_local_paris_time_rules():
    assert local_paris_to_utc_s(dt.datetime(2024, 7, 1, 12)) == utc(2024, 7, 1, 10)
    assert local_paris_to_utc_s(dt.datetime(2024, 7, 1, 12), summer=False) == \
        utc(2024, 7, 1, 10)  # outside the changes Paris' rules win over a wrong flag


# -- fuzz: any bytes give a reading or a counted rejection ------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(payloads.FORMATS))
def test_fuzz_every_mqtt_decoder(data, fmt):
    res = decode(fmt, data, 1.7e9)
    assert isinstance(res, Decoded) or res.reason in payloads.REASONS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_tic_decoder_any_bytes(data):
    frames, counters = tic_decode(data)
    for f in frames:
        r = reading_from_frame(f, 1.7e9)
        assert r is None or isinstance(r.time_s, float)
    assert counters.frames == len(frames)


def test_teleinfo2mqtt_raw_horodate_wins_when_a_version_publishes_it():
    msg = json.dumps({"EAST": {"raw": "000001000", "value": 1000},
                      "DATE": {"raw": "E220609060531", "value": "",
                               "timestamp": {"dst": "summer",   # a different time: the
                                             "date": "2022-06-09T07:00:00.000Z"}}}).encode()
    d = decode("teleinfo2mqtt", msg, utc(2022, 6, 9, 4, 6, 0))   # raw one is exact
    assert d.time_s == utc(2022, 6, 9, 4, 5, 31) and d.time_from_payload
