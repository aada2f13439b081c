"""The generic register-map Modbus meter, reading an SDM630-like map from a real pymodbus
TCP server."""

from __future__ import annotations

import logging
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pvshare.config import parse_config
from pvshare.errors import ConfigError
from pvshare.meters import registry
from pvshare.meters.base import Quality
from pvshare.meters.modbus import (
    PROFILES,
    ModbusMeter,
    ModbusOptions,
    RegisterSpec,
    decode_register,
    plan_reads,
)
from pvshare_simulators.inverter import InverterSimulator, ServerThread, StaticImage

T0 = 1750507200.0


class FixedClock:
    def now(self) -> float:
        return T0


def f32(value: float) -> list[int]:
    b = struct.pack(">f", value)
    return [int.from_bytes(b[:2], "big"), int.from_bytes(b[2:], "big")]


def sdm630_words(power_w=-1234.5, import_kwh=8765.25, export_kwh=321.5) -> list[int]:
    """Input registers 0x0000..0x004B of an SDM630: voltages, then power, then energies."""
    words = [0] * 0x4C
    for i, v in enumerate((230.1, 229.8, 231.0)):          # phase voltages at 0, 2, 4
        words[2 * i:2 * i + 2] = f32(v)
    words[0x34:0x36] = f32(power_w)
    words[0x48:0x4A] = f32(import_kwh)
    words[0x4A:0x4C] = f32(export_kwh)
    return words


def server(words):
    return InverterSimulator(StaticImage(words, base=0), FixedClock())


def meter(port, **kw) -> ModbusMeter:
    kw.setdefault("timeout_s", 1.0)
    kw.setdefault("profile", "sdm630")
    return ModbusMeter("sdm630", ModbusOptions(host="127.0.0.1", port=port, **kw))


@pytest.mark.parametrize("role,sign", [("consumption", 1), ("production", -1)])
def test_sdm630_profile(role, sign):
    sim = server(sdm630_words())
    with ServerThread(sim) as srv:
        m = meter(srv.port, role=role)
        (r,) = m.read(T0)
    assert r.time_s == T0 and r.meter_id == "sdm630"
    assert r.import_wh == pytest.approx(8765.25 * 1000)
    assert r.export_wh == pytest.approx(321.5 * 1000)
    assert r.power_w == pytest.approx(sign * -1234.5)
    assert r.quality is Quality.GOOD
    assert len(m.blocks) == 1                    # power and energies in one read
    assert sim.stats.writes == 0 and set(sim.stats.requests) == {4}   # input registers only


def test_registers_from_the_config_replace_the_profile():
    words = sdm630_words()
    words += [0] * (0x120 - len(words))
    hi, lo = divmod(123_456_789, 0x10000)
    words[0x110:0x112] = [lo, hi]                    # little word order uint32, in 0.1 Wh
    sim = server(words)
    with ServerThread(sim) as srv:
        m = meter(srv.port, registers=[
            {"field": "import_wh", "address": 0x110, "type": "uint32", "word_order": "little",
             "scale": 0.1, "unit": "Wh", "function": "holding"}])
        (r,) = m.read(T0)
    assert r.import_wh == pytest.approx(12_345_678.9)
    assert r.export_wh == pytest.approx(321.5 * 1000)   # still from the profile
    assert sim.stats.requests[3] == 1 and sim.stats.requests[4] == 1


def test_power_only_map_is_flagged():
    sim = server(sdm630_words(power_w=500.0))
    with ServerThread(sim) as srv:
        m = ModbusMeter("m", ModbusOptions(host="127.0.0.1", port=srv.port, registers=[
            {"field": "power_w", "address": 0x34, "type": "float32", "unit": "kW",
             "function": "input"}]))
        (r,) = m.read(T0)
    assert r.power_w == pytest.approx(500_000.0) and r.quality is Quality.POWER_ONLY


def test_nan_and_implausible_values_are_rejected_and_counted(caplog):
    sim = server(sdm630_words(import_kwh=math.nan, export_kwh=math.nan, power_w=math.nan))
    with ServerThread(sim) as srv, caplog.at_level(logging.WARNING):
        m = meter(srv.port)
        assert m.read(T0) == []
        assert m.counters["empty"] == 1
        sim.image.words = sdm630_words(import_kwh=-5.0)
        assert m.read(T0 + 1) == [] and m.read(T0 + 2) == []
        assert m.counters["implausible"] == 2
        sim.image.words = sdm630_words()
        (r,) = m.read(T0 + 3)
    assert r.import_wh > 0
    assert sum("implausible" in r.getMessage() for r in caplog.records) == 1


def test_exception_response_and_unreachable_device_are_counted(caplog):
    sim = server(sdm630_words())
    with ServerThread(sim) as srv, caplog.at_level(logging.WARNING):
        port = srv.port
        m = ModbusMeter("m", ModbusOptions(host="127.0.0.1", port=port, timeout_s=1, registers=[
            {"field": "import_wh", "address": 0x500, "type": "float32", "unit": "kWh"}]))
        for i in range(3):
            assert m.read(T0 + i) == []
        assert m.counters["exceptions"] == 3
        assert m.conn.stats.exceptions[2] == 3
    # the server is gone: counted, backed off, one warning
    m2 = meter(port)
    for i in range(50):
        assert m2.read(T0 + 10 * i) == []
    assert m2.counters["unreachable"] == 50
    assert m2.conn.stats.connect_attempts < 15
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("Modbus exception 2" in w for w in warnings) == 1
    assert sum("not reachable" in w for w in warnings) == 1


# --- the register map as data --------------------------------------------------------------
def test_bundled_profile_addresses():
    """SDM630 input registers 30053, 30073, 30075 are protocol addresses 52, 72, 74."""
    regs = {r.field: r for r in PROFILES["sdm630"]}
    assert (regs["power_w"].address, regs["import_wh"].address, regs["export_wh"].address) \
        == (30053 - 30001, 30073 - 30001, 30075 - 30001)
    assert all(r.function == "input" and r.type == "float32" for r in regs.values())


BASE = {"site": {"name": "t", "latitude": 45, "longitude": 5},
        "producer": {"prm": "00000000000001"},
        "array": {"kwp": 3, "tilt_deg": 30, "azimuth_deg": 180},
        "participants": [{"id": "A", "prm": "00000000000002"}]}


def test_config_entry_builds_the_meter():
    cfg = parse_config({**BASE, "meters": [{"id": "sub", "type": "modbus", "host": "127.0.0.1",
                                            "profile": "sdm630", "unit": 3}]})
    m = registry.create(cfg.meters[0], cfg)
    assert isinstance(m, ModbusMeter) and m.options.unit == 3 and len(m.registers) == 3


@pytest.mark.parametrize("entry,expected", [
    ({"profile": "sdm999"}, "meters[0].profile: unknown profile 'sdm999'"),
    ({}, "give a profile"),
    ({"registers": [{"field": "import_wh", "address": 1, "type": "float32", "unit": "W"}]},
     "unit 'W' does not fit field 'import_wh'"),
    ({"registers": [{"field": "import_wh", "adress": 1, "type": "float32", "unit": "Wh"}]},
     "meters[0].registers[0].adress: unknown field"),
    ({"registers": [{"field": "import_wh", "address": 70000, "type": "float32", "unit": "Wh"}]},
     "meters[0].registers[0].address"),
    ({"profile": "sdm630", "registers": [
        {"field": "power_w", "address": 1, "type": "int16", "unit": "W"},
        {"field": "power_w", "address": 2, "type": "int16", "unit": "W"}]},
     "field 'power_w' is given 2 times"),
])
def test_bad_register_maps_are_named(entry, expected):
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "meters": [{"id": "sub", "type": "modbus", "host": "h", **entry}]})
    assert expected.replace("Value error, ", "") in str(err.value)


@given(st.lists(st.tuples(st.integers(0, 65530), st.sampled_from(["int16", "float32", "uint64"]),
                          st.sampled_from(["holding", "input"])), max_size=40))
def test_plan_reads_covers_every_register_once(items):
    regs = [RegisterSpec(field="power_w", address=a, type=t, function=f, unit="W")
            for a, t, f in items]
    blocks = plan_reads(regs)
    seen = []
    for b in blocks:
        assert 1 <= b.count <= 125
        for r in b.registers:
            assert r.function == b.function
            assert b.address <= r.address and r.address + r.count <= b.address + b.count
            seen.append(r)
    assert sorted(map(id, seen)) == sorted(map(id, regs))


@given(st.sampled_from(["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64",
                        "float64"]),
       st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4),
       st.sampled_from(["big", "little"]))
def test_decode_any_words(typ, words, order):
    spec = RegisterSpec(field="import_wh", address=0, type=typ, word_order=order, unit="kWh")
    v = decode_register(spec, words)
    assert v is None or (isinstance(v, float) and math.isfinite(v))
    if typ == "uint16":
        assert v == words[0] * 1000.0
    if typ == "int32" and order == "big":
        raw = (words[0] << 16) | words[1]
        assert v == (raw - (1 << 32) if raw >= 1 << 31 else raw) * 1000.0
