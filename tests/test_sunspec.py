"""The SunSpec reader, against the official model definitions and a real pymodbus server
(the inverter simulator), cross-checked with pysunspec2 as an independent client."""

from __future__ import annotations

import json
import logging
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import sunspec2
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP
from typer.testing import CliRunner

from pvshare.cli import app
from pvshare.config import parse_config
from pvshare.errors import ConfigError
from pvshare.meters import registry
from pvshare.meters import sunspec_models as sm
from pvshare.meters.base import Quality
from pvshare.meters.modbus_client import DeviceExceptionResponse, ModbusConnection
from pvshare.meters.sunspec import SunSpecMeter, SunSpecOptions
from pvshare_simulators.inverter import (
    DayCurve,
    Faults,
    InverterSimulator,
    Production,
    ServerThread,
    StaticImage,
    SunSpecImage,
)

JSON_DIR = Path(sunspec2.__file__).parent / "models" / "json"
NOON_S = 1750507200.0          # 2025-06-21T12:00:00Z
DAY0_S = NOON_S - 12 * 3600


class FixedClock:
    """Simulated time that moves only when the test says so."""

    def __init__(self, t: float):
        self.t = float(t)

    def now(self) -> float:
        return self.t


def bell_day(peak_w: float = 20000.0):
    """A clear-sky-like day: sunrise 05:00, sunset 19:00 UTC, sine power."""
    def day(start_s: float) -> DayCurve:
        h = np.arange(1441) / 60.0
        p = np.clip(np.sin((h - 5) / 14 * np.pi), 0, None) * peak_w
        return DayCurve.from_power(start_s, p, (h > 5) & (h < 19))
    return day


def make_sim(t=NOON_S, energy0_wh=12_345_678.0, base=40000, faults=None, peak_w=20000.0):
    clock = FixedClock(t)
    image = SunSpecImage(Production(bell_day(peak_w), energy0_wh, clock.now()), base=base)
    return InverterSimulator(image, clock, faults or Faults()), clock


def meter(port, **kw) -> SunSpecMeter:
    kw.setdefault("timeout_s", 1.0)
    return SunSpecMeter("inverter", SunSpecOptions(host="127.0.0.1", port=port, **kw))


def sunspec2_read(port, model_id):
    d = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port, timeout=2)
    try:
        d.scan()
        m = d.models[model_id][0]
        m.read()
        return d, m
    finally:
        d.close() if hasattr(d, "close") else d.disconnect()


# --- the register tables against the official definitions --------------------------------
@pytest.mark.parametrize("model_id", sorted(sm.MODELS))
def test_tables_match_official_model_definitions(model_id):
    """Every point: same offset (0-based after ID and L), type, scale factor, unit, size."""
    group = json.loads((JSON_DIR / f"model_{model_id}.json").read_text())["group"]
    points = group["points"]
    assert [p["name"] for p in points[:2]] == ["ID", "L"]
    official = {}
    offset = 0
    for p in points[2:]:
        official[p["name"]] = (offset, p["type"], p.get("sf"), p.get("units"), p["size"])
        offset += p["size"]
    model = sm.MODELS[model_id]
    assert model.length == offset
    ours = {p.name: (p.offset, p.type, p.sf, p.unit, p.words) for p in model.points}
    assert ours == official


def test_every_model_encodes_to_its_length():
    for model in sm.MODELS.values():
        words = sm.encode_model(model, {})
        assert words[:2] == [model.id, model.length]
        assert len(words) == model.length + 2


# --- decoding of register words (property tests) -------------------------------------------
@given(st.integers(-32767, 32767))
def test_int16_round_trip(v):
    r = sm.Int16("W", 0)
    assert r.decode(r.encode(v)) == v


SENTINELS = [(sm.Int16, [0x8000]), (sm.UInt16, [0xFFFF]), (sm.Acc16, [0]),
             (sm.Enum16, [0xFFFF]), (sm.Bitfield16, [0xFFFF]), (sm.Acc32, [0, 0]),
             (sm.UInt32, [0xFFFF, 0xFFFF]), (sm.Int32, [0x8000, 0]),
             (sm.Bitfield32, [0xFFFF, 0xFFFF])]


@given(st.sampled_from(SENTINELS), st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2))
def test_none_exactly_for_the_sentinel_and_round_trip_otherwise(kind_sentinel, words):
    kind, sentinel = kind_sentinel
    reg = kind("x", 0)
    words = words[:reg.size]
    value = reg.decode(words)
    if words == sentinel:
        assert value is None
    else:
        assert value is not None and reg.encode(value) == words
    assert reg.decode(reg.encode(None)) is None


def test_sentinels_are_none():
    assert sm.Int16("x", 0).decode([0x8000]) is None
    assert sm.UInt16("x", 0).decode([0xFFFF]) is None
    assert sm.Acc32("x", 0).decode([0, 0]) is None
    assert sm.UInt32("x", 0).decode([0xFFFF, 0xFFFF]) is None
    assert sm.Int32("x", 0).decode([0x8000, 0]) is None
    assert sm.Float32("x", 0).decode([0x7FC0, 0]) is None
    assert sm.Enum16("x", 0).decode([0xFFFF]) is None
    assert sm.Bitfield32("x", 0).decode([0xFFFF, 0xFFFF]) is None
    assert sm.SunSSF("x", 0).decode([0x8000]) is None
    assert sm.String("x", 0, length=2).decode([0, 0]) is None
    # ...and their neighbours are values
    assert sm.Int16("x", 0).decode([0x8001]) == -32767
    assert sm.UInt16("x", 0).decode([0xFFFE]) == 65534
    assert sm.Acc32("x", 0).decode([0, 1]) == 1
    assert sm.Acc32("x", 0).decode([0xFFFF, 0xFFFF]) == 0xFFFFFFFF


@given(st.integers(0, 0xFFFF))
def test_scale_factor_is_signed_int16(w):
    sf = sm.SunSSF("W_SF", 0).decode([w])
    signed = w - 0x10000 if w & 0x8000 else w
    assert sf == (signed if -10 <= signed <= 10 else None)


@given(st.integers(-(2**31), 2**32), st.integers(-10, 10))
def test_apply_scale_is_exact(raw, sf):
    assert sm.apply_scale(raw, sf) == float(Decimal(raw).scaleb(sf))


@given(st.lists(st.integers(0, 0xFFFF), min_size=50, max_size=50))
def test_decode_any_words_never_fails(words):
    values = sm.decode_model(sm.MODELS[103], words)
    raw = sm.decode_raw(sm.MODELS[103], words)
    w, sf = raw["W"], raw["W_SF"]
    if w is None or sf is None:
        assert values["W"] is None
    else:
        assert values["W"] == float(Decimal(w).scaleb(sf))
    for v in values.values():
        assert v is None or isinstance(v, (int, float, str))


@given(st.integers(1, 2**32 - 1), st.lists(st.integers(0, 2**31 - 1), max_size=30))
def test_acc32_roll_over_keeps_counting(start, steps):
    """Raw counters taken modulo 2**32 and unwrapped give back the true counter."""
    wraps, prev = 0, None
    true = start
    for inc in [0] + steps:
        true += inc
        raw = true % 2**32
        wraps = sm.acc32_wraps(prev, raw, wraps)
        prev = raw
        assert raw + wraps * 2**32 == true


def test_acc32_small_backward_step_is_not_a_roll_over():
    assert sm.acc32_wraps(1_000_000, 999_000, 0) == 0
    assert sm.acc32_wraps(0xFFFFFF00, 0x100, 0) == 1


# --- options ----------------------------------------------------------------------------------
def test_options_are_checked_in_the_config():
    base = {"site": {"name": "t", "latitude": 45, "longitude": 5},
            "producer": {"prm": "00000000000001"},
            "array": {"kwp": 3, "tilt_deg": 30, "azimuth_deg": 180},
            "participants": [{"id": "A", "prm": "00000000000002"}]}
    cfg = parse_config({**base, "meters": [{"id": "inv", "type": "sunspec", "host": "127.0.0.1",
                                            "port": 5020}]})
    m = registry.create(cfg.meters[0], cfg)
    assert isinstance(m, SunSpecMeter) and m.options.unit == 1
    with pytest.raises(ConfigError) as err:
        parse_config({**base, "meters": [{"id": "inv", "type": "sunspec", "host": "h",
                                          "prot": 502, "role": "both", "timeout_s": 0}]})
    text = str(err.value)
    assert "meters[0].prot: unknown field" in text
    assert "meters[0].role" in text and "meters[0].timeout_s" in text


# --- against the simulator (a real pymodbus TCP server) -----------------------------------
def test_our_reader_and_pysunspec2_agree_on_w_wh_st():
    sim, clock = make_sim()
    with ServerThread(sim) as srv:
        m = meter(srv.port)
        readings = m.read(clock.now())
        _, inv = sunspec2_read(srv.port, 103)
    assert len(readings) == 1
    r = readings[0]
    truth = sim.image.last
    assert r.power_w == pytest.approx(truth["W"], abs=1) and r.power_w > 15000
    assert r.export_wh == inv.WH.cvalue == math.floor(truth["WH"])
    assert r.power_w == inv.W.cvalue
    assert m.last_values["St"] == inv.St.value == 4 and m.state == "MPPT"
    assert r.import_wh is None and r.quality is Quality.GOOD
    assert m.common["Mn"] == "pvshare" and m.common["DA"] == 1
    # Values the inverter does not implement are None for both clients.
    for name in ("PPVphAB", "VA", "VAr", "PF", "StVnd", "EvtVnd1", "DCA"):
        assert m.last_values[name] is None
        assert getattr(inv, name).cvalue is None


@pytest.mark.parametrize("base", [0, 50000])
def test_map_found_at_other_bases(base):
    sim, clock = make_sim(base=base)
    with ServerThread(sim) as srv:
        m = meter(srv.port)
        (r,) = m.read(clock.now())
        d, inv = sunspec2_read(srv.port, 103)
    assert m.map.base == base == d.base_addr
    assert [x.id for x in m.map.models] == [1, 103]
    assert m.map.models[1].address == base + 2 + 68
    assert r.power_w == inv.W.cvalue


def test_no_sunspec_map_is_counted_and_logged_once(caplog):
    sim = InverterSimulator(StaticImage([1, 2, 3, 4], base=40000), FixedClock(NOON_S))
    with ServerThread(sim) as srv, caplog.at_level(logging.WARNING):
        m = meter(srv.port)
        for i in range(5):
            assert m.read(NOON_S + i) == []
    assert m.counters["map_errors"] == 5
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "no SunSpec map" in warnings[0].getMessage()


def test_scale_factor_changing_between_polls():
    sim, clock = make_sim(faults=Faults(sf_change=True))
    seen_sf = set()
    with ServerThread(sim) as srv:
        m = meter(srv.port)
        first_sf = None
        for _i in range(6):
            clock.t += 300
            (r,) = m.read(clock.now())
            truth = sim.image.last
            seen_sf.add(m.last_values["W_SF"])
            res_w = 10 ** truth["W_SF"]
            assert r.power_w == pytest.approx(truth["W"], abs=res_w / 2 + 1e-9)
            assert r.export_wh == pytest.approx(truth["WH"], abs=10 ** truth["WH_SF"])
            if first_sf is None:
                first_sf = truth["W_SF"]
            elif truth["W_SF"] != first_sf:
                # a reader that cached the first scale factor would be 10x off here
                stale = truth["W_raw"] * 10 ** first_sf
                assert abs(stale - truth["W"]) > 1000
    assert seen_sf == {0, 1}


def test_acc32_counter_past_its_sign_bit_in_wh_is_refused_not_stored():
    """An acc32 in Wh (scale factor 0) past 2**31 Wh (2.1 GWh) is no building's counter:
    the sign bit of an unsigned register (meters/counters.py). The readings keep their
    power; the counter is refused and counted, never stored as energy, including after the
    register rolls over (4.3 GWh).
    """
    sim, clock = make_sim(energy0_wh=2**31 - 2000.0)
    with ServerThread(sim) as srv:
        m = meter(srv.port)
        values, powers = [], []
        for _i in range(4):
            (r,) = m.read(clock.now())
            values.append(r.export_wh)
            powers.append(r.power_w)
            clock.t += 300   # ~20 kW x 5 min = 1.7 kWh
    assert values[0] == pytest.approx(2**31 - 2000.0, abs=1)
    assert values[-1] is None and all(v is None or v < 2**31 for v in values)
    assert all(p is not None and p > 0 for p in powers)
    assert m.counters["sign_bit"] == values.count(None) >= 2
    assert "sign_bit" in m.refused["export_wh"]


def test_reader_never_writes():
    sim, clock = make_sim(faults=Faults(sf_change=True))
    with ServerThread(sim) as srv:
        m = meter(srv.port)
        for _i in range(5):
            clock.t += 60
            m.read(clock.now())
        assert sim.stats.writes == 0
        assert set(sim.stats.requests) == {3}
        # the counter does see writes (so the assertion above could fail)
        c = ModbusTcpClient("127.0.0.1", port=srv.port, timeout=2)
        c.connect()
        rr = c.write_register(40000 + 70 + 2 + 12, 1, device_id=1)
        c.close()
        assert rr.isError()
        assert sim.stats.writes == 1


def test_modbus_exception_is_counted_and_reader_keeps_running(caplog):
    sim, clock = make_sim()
    with ServerThread(sim) as srv, caplog.at_level(logging.WARNING):
        conn = ModbusConnection("127.0.0.1", srv.port, 1, 1.0, name="probe")
        for i in range(3):
            with pytest.raises(DeviceExceptionResponse) as exc:
                conn.read_registers(41000, 10, NOON_S + i)
            assert exc.value.code == 2
        assert conn.stats.exceptions[2] == 3
        assert len(conn.read_registers(40000, 2, NOON_S)) == 2   # same connection still works
        conn.close()
        # a reader pointed at the wrong base address: counted, no exception raised
        m = meter(srv.port, base_address=30000)
        assert m.read(NOON_S) == []
        assert m.counters["map_errors"] == 1
    assert sim.stats.exceptions >= 4
    assert sum("Modbus exception 2" in r.getMessage() for r in caplog.records) == 1


def test_inverter_asleep_then_awake_reconnects_with_backoff_and_no_log_storm(caplog):
    """Night: connection refused; hundreds of polls cost a few attempts and one warning."""
    sim, clock = make_sim(t=DAY0_S + 2 * 3600, faults=Faults(night_sleep=True))   # 02:00
    with ServerThread(sim) as srv, caplog.at_level(logging.DEBUG):
        m = meter(srv.port, backoff_max_s=300)
        now = 0.0
        for _ in range(600):                 # 600 polls, 10 s apart: 100 min of night
            now += 10
            assert m.read(now) == []
        assert m.counters["unreachable"] == 600
        attempts = m.conn.stats.connect_attempts
        # 1, 2, 4 ... 256 s apart (9 attempts, 511 s), then every 300 s: about 28 in 6000 s
        assert 6000 // 300 - 2 <= attempts <= 10 + 6000 // 300 + 1
        clock.t = DAY0_S + 9 * 3600          # morning: the simulator reopens its port
        for _ in range(100):
            import time
            time.sleep(0.02)
            if sim.listening:
                break
        assert sim.listening
        got = []
        for _ in range(40):                  # within one backoff period (<= 300 s)
            now += 10
            got += m.read(now)
            if got:
                break
        assert got and got[0].power_w > 0
    warn = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warn) == 1 and "not reachable" in warn[0].getMessage()
    assert sum("connected again" in r.getMessage() for r in caplog.records) == 1


def test_slow_replies_time_out_and_reader_recovers(caplog):
    sim, clock = make_sim(faults=Faults(slow_reply_s=0.6))
    with ServerThread(sim) as srv, caplog.at_level(logging.WARNING):
        m = meter(srv.port, timeout_s=0.2)
        for i in range(3):
            assert m.read(NOON_S + i) == []
        assert m.counters["timeouts"] == 3
        sim.faults.slow_reply_s = 0.0
        got = []
        for i in range(5):        # a loaded machine may still miss the 0.2 s once
            got += m.read(NOON_S + 10 + i)
            if got:
                break
        assert got and got[0].power_w > 0
    ours = [r for r in caplog.records if r.name.startswith("pvshare")
            and r.levelno >= logging.WARNING]
    assert len(ours) == 1 and "no reply within" in ours[0].getMessage()   # throttled


# --- float model 113 and meter model 203, served as static images --------------------------
def image(*models: tuple[sm.Model, dict]) -> list[int]:
    words = list(sm.SUNS_MARKER)
    for model, raw in models:
        words += sm.encode_model(model, raw)
    return words + [sm.END_MODEL_ID, 0]


def test_float_inverter_model_113():
    words = image((sm.COMMON, {"Mn": "X"}),
                  (sm.MODELS[113], {"W": 1234.5, "WH": 9876543.0, "St": 4, "VA": math.nan}))
    sim = InverterSimulator(StaticImage(words, base=40000), FixedClock(NOON_S))
    with ServerThread(sim) as srv:
        m = meter(srv.port)
        (r,) = m.read(NOON_S)
        _, inv = sunspec2_read(srv.port, 113)
    assert r.power_w == inv.W.cvalue == 1234.5
    assert r.export_wh == inv.WH.cvalue == 9876543.0
    assert m.last_values["VA"] is None and m.last_values["St"] == inv.St.value == 4


@pytest.mark.parametrize("role,sign", [("consumption", 1), ("production", -1)])
def test_meter_model_203(role, sign):
    words = image((sm.COMMON, {}), (sm.MODELS[203], {
        "W": -4321, "W_SF": -1, "TotWhExp": 150_000, "TotWhImp": 2_500_000, "TotWh_SF": 1,
        "Hz": 5001, "Hz_SF": -2}))
    sim = InverterSimulator(StaticImage(words, base=40000), FixedClock(NOON_S))
    with ServerThread(sim) as srv:
        m = meter(srv.port, role=role)
        (r,) = m.read(NOON_S)
        _, mm = sunspec2_read(srv.port, 203)
    assert mm.W.cvalue == pytest.approx(-432.1)
    assert r.power_w == pytest.approx(sign * -432.1)
    assert r.import_wh == mm.TotWhImp.cvalue == 25_000_000
    assert r.export_wh == mm.TotWhExp.cvalue == 1_500_000
    assert m.last_values["WphA"] is None


KOSTAL = json.loads((Path(__file__).parent / "fixtures" / "sunspec" /
                     "kostal_203_negative_totwhexp.json").read_text())


def _kostal_raw() -> int:
    hi, lo = (int(w, 16) for w in KOSTAL["points"]["TotWhExp"])
    return hi << 16 | lo


def test_kostal_negative_export_in_an_unsigned_counter_is_refused(capsys):
    """The real Kostal sample: TotWhExp = 0xFFB6D9FD (-4,793,859 written into an unsigned
    acc32). Never stored as 4,290,173,437 Wh of export: refused, counted sign_bit, said by
    probe; the import counter and the power of the same reading are kept."""
    raw = _kostal_raw()
    assert raw == KOSTAL["as_acc32_wh"] and raw - 2**32 == KOSTAL["as_int32"]
    words = image((sm.COMMON, {"Mn": "KOSTAL"}), (sm.MODELS[203], {
        "W": 1200, "W_SF": 0, "TotWhExp": raw, "TotWhImp": 8_000_000,
        "TotWh_SF": KOSTAL["points"]["TotWh_SF"], "Hz": 5000, "Hz_SF": -2}))
    sim = InverterSimulator(StaticImage(words, base=40000), FixedClock(NOON_S))
    with ServerThread(sim) as srv:
        m = meter(srv.port, role="consumption")
        (r,) = m.read(NOON_S)
        res = CliRunner().invoke(app, ["meters", "probe", "--host", "127.0.0.1", "--port",
                                       str(srv.port), "--role", "consumption", "--json"])
    assert r.export_wh is None and r.import_wh == 8_000_000 and r.power_w == 1200
    assert m.counters["sign_bit"] == 1 and "sign_bit" in m.refused["export_wh"]
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["reading"]["export_wh"] is None
    assert out["refused"]["export_wh"].startswith("sign_bit: export_wh = 4290173437 Wh")


def test_counter_going_backwards_is_refused_and_a_replacement_is_kept():
    """A counter that falls (what a device writing minus the export does with a finer unit)
    is refused and counted; a drop that stays for 3 readings is a meter replacement, kept
    and counted."""
    values = [150_000, 149_990, 149_000, 151_000, 20, 25, 30, 40]
    img = StaticImage(image((sm.COMMON, {}), (sm.MODELS[203], {
        "W": 100, "W_SF": 0, "TotWhExp": values[0], "TotWhImp": 1, "TotWh_SF": 0})),
        base=40000)
    sim = InverterSimulator(img, FixedClock(NOON_S))
    got = []
    with ServerThread(sim) as srv:
        m = meter(srv.port, role="consumption")
        for v in values:
            img.words = image((sm.COMMON, {}), (sm.MODELS[203], {
                "W": 100, "W_SF": 0, "TotWhExp": v, "TotWhImp": 1, "TotWh_SF": 0}))
            (r,) = m.read(NOON_S)
            got.append(r.export_wh)
    assert got == [150_000, None, None, 151_000, None, None, 30, 40]
    assert m.counters["backwards"] == 4 and m.counters["replaced"] == 1


def test_consumption_role_needs_a_meter_model(caplog):
    sim, clock = make_sim()
    with ServerThread(sim) as srv, caplog.at_level(logging.WARNING):
        m = meter(srv.port, role="consumption")
        assert m.read(NOON_S) == []
    assert m.counters["map_errors"] == 1
    assert any("needs a meter model (201-204, 211-214)" in r.getMessage() for r in caplog.records)


def test_energy_counter_not_implemented_gives_power_only():
    words = image((sm.COMMON, {}), (sm.MODELS[103], {"W": 500, "W_SF": 0, "WH": 0,
                                                     "WH_SF": 0, "St": 4}))
    sim = InverterSimulator(StaticImage(words, base=40000), FixedClock(NOON_S))
    with ServerThread(sim) as srv:
        (r,) = meter(srv.port).read(NOON_S)
    assert r.export_wh is None and r.power_w == 500 and r.quality is Quality.POWER_ONLY


def test_implausible_values_are_rejected_and_counted():
    words = image((sm.COMMON, {}), (sm.MODELS[103], {"W": 30000, "W_SF": 3, "WH": 5,
                                                     "WH_SF": 0, "St": 4}))
    sim = InverterSimulator(StaticImage(words, base=40000), FixedClock(NOON_S))
    with ServerThread(sim) as srv:
        m = meter(srv.port)
        assert m.read(NOON_S) == []
        assert m.counters["implausible"] == 1
        sim.image.words = image((sm.COMMON, {}), (sm.MODELS[103], {
            "W": 3000, "W_SF": 0, "WH": 5, "WH_SF": 0, "St": 4}))
        (r,) = m.read(NOON_S + 10)
    assert r.power_w == 3000


def test_probe_prints_the_models_and_one_reading():
    import subprocess
    import sys

    from typer.testing import CliRunner

    from pvshare.cli import app
    sim, clock = make_sim()
    with ServerThread(sim) as srv:
        res = CliRunner().invoke(app, ["meters", "probe", "--host", "127.0.0.1", "--port",
                                       str(srv.port), "--json"])
        text = CliRunner().invoke(app, ["meters", "probe", "--host", "127.0.0.1", "--port",
                                        str(srv.port)])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert [(m["id"], m["address"]) for m in obj["models"]] == [(1, 40002), (103, 40070)]
    assert set(obj) == {"models", "reading"}
    assert obj["models"][0]["Mn"] == "pvshare" and obj["models"][0]["Md"] == "SimInverter"
    assert obj["reading"]["export_wh"] == 12345678.0 and obj["reading"]["import_wh"] is None
    assert obj["reading"]["power_w"] >= 0
    assert "model id=103" in text.stdout and "export_wh=12345678.0" in text.stdout
    # nothing listening any more: a clear message and exit code 2, no traceback
    done = subprocess.run([sys.executable, "-m", "pvshare.cli", "meters", "probe", "--host",
                           "127.0.0.1", "--port", str(srv.port)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"127.0.0.1:{srv.port} unit 1" in done.stderr


def test_wrong_unit_id_is_an_exception_response_not_a_crash():
    sim, clock = make_sim()
    with ServerThread(sim) as srv:
        m = meter(srv.port, unit=7)
        assert m.read(NOON_S) == [] and m.read(NOON_S + 1) == []
        assert m.counters["map_errors"] + m.counters["exceptions"] == 2
        (r,) = meter(srv.port, unit=1).read(NOON_S)
    assert r.power_w > 0
