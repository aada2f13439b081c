"""Device profiles as data: each bundled profile checked against its vendor's register list
and read through a real Modbus TCP server built from the same profile; the raw registers are
decoded independently here (by hand, from the vendor's definitions).
"""

from __future__ import annotations

import json
import struct

import pytest
from pymodbus.client import ModbusTcpClient
from typer.testing import CliRunner

from pvshare.cli import app
from pvshare.errors import InputError
from pvshare.meters import profiles
from pvshare.meters.modbus import ModbusMeter, ModbusOptions
from pvshare_simulators.inverter import ServerThread
from pvshare_simulators.profile_device import profile_server

#: From the vendors' register lists (cited in each profile): field -> (function, protocol
#: address, type, unit of the raw value after scale).
VENDOR = {
    "sdm630": {"power_w": ("input", 30053 - 30001, "float32", 1.0),
               "import_wh": ("input", 30073 - 30001, "float32", 1000.0),
               "export_wh": ("input", 30075 - 30001, "float32", 1000.0)},
    "sdm120": {"power_w": ("input", 30013 - 30001, "float32", 1.0),
               "import_wh": ("input", 30073 - 30001, "float32", 1000.0),
               "export_wh": ("input", 30075 - 30001, "float32", 1000.0)},
    # Huawei: 32080 I32 kW gain 1000 (raw = W); 32106 U32 kWh gain 100 (raw = 10 Wh)
    "huawei_sun2000": {"power_w": ("holding", 32080, "int32", 1.0),
                       "export_wh": ("holding", 32106, "uint32", 10.0)},
    # hybrid with LUNA2000: 32064 Input power I32 W (DC, the strings); 32108 Total DC input
    # energy U32 kWh gain 100 (raw = 10 Wh)
    "huawei_sun2000_hybrid": {"power_w": ("holding", 32064, "int32", 1.0),
                              "export_wh": ("holding", 32108, "uint32", 10.0)},
    # Growatt V1.24: 35-36 Pac 0.1 W; 55-56 Eac total 0.1 kWh (raw = 100 Wh)
    "growatt": {"power_w": ("input", 35, "uint32", 0.1),
                "export_wh": ("input", 55, "uint32", 100.0)},
    # Growatt protocol 3.xx: 11-12 Pac 0.1 W; 28-29 Eac total 0.1 kWh
    "growatt_v3": {"power_w": ("input", 11, "uint32", 0.1),
                   "export_wh": ("input", 28, "uint32", 100.0)},
}
VALUES = {"power_w": 2345.0, "import_wh": 8_765_250.0, "export_wh": 321_500.0}


def test_every_bundled_profile_is_checked():
    assert profiles.names() == sorted(VENDOR)


@pytest.mark.parametrize("name", sorted(VENDOR))
def test_profile_matches_the_vendor_register_list(name):
    prof = profiles.load_profile(name)
    ours = {r.field: (r.function, r.address, r.type) for r in prof.registers}
    assert ours == {f: v[:3] for f, v in VENDOR[name].items()}
    assert prof.sources and all(s.strip() for s in prof.sources)


def raw_value(port, function, address, type_):
    """The raw register value, read with pymodbus and decoded by hand (big-endian words)."""
    c = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
    c.connect()
    read = c.read_input_registers if function == "input" else c.read_holding_registers
    words = read(address, count=2, device_id=1).registers
    c.close()
    data = words[0].to_bytes(2, "big") + words[1].to_bytes(2, "big")
    return struct.unpack({"float32": ">f", "int32": ">i", "uint32": ">I"}[type_], data)[0]


@pytest.mark.parametrize("name", sorted(VENDOR))
def test_profile_device_on_a_real_modbus_server(name):
    prof = profiles.load_profile(name)
    values = {f: VALUES[f] for f in VENDOR[name]}
    with ServerThread(profile_server(prof, values)) as srv:
        role = "production" if prof.kind == "inverter" else "consumption"
        m = ModbusMeter("dev", ModbusOptions(host="127.0.0.1", port=srv.port, profile=name,
                                             role=role, timeout_s=1.0))
        (r,) = m.read(1.7e9)
        m.close()
        by_hand = {f: raw_value(srv.port, fn, addr, t) * factor
                   for f, (fn, addr, t, factor) in VENDOR[name].items()}
    for f, v in values.items():
        assert by_hand[f] == pytest.approx(v, rel=1e-6), f
        assert getattr(r, f) == pytest.approx(v, rel=1e-6), f
    assert r.power_w > 0      # a meter importing, or an inverter producing: positive


def test_probe_with_a_profile_prints_one_json_object():
    with ServerThread(profile_server("huawei_sun2000", {"power_w": 4200,
                                                        "export_wh": 12_345_670})) as srv:
        res = CliRunner().invoke(app, ["meters", "probe", "--host", "127.0.0.1", "--port",
                                       str(srv.port), "--profile", "huawei_sun2000",
                                       "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert set(obj) == {"models", "reading"}
    assert obj["reading"] == {"power_w": 4200.0, "import_wh": None, "export_wh": 12_345_670.0}
    assert obj["models"] == [{"profile": "huawei_sun2000",
                              "device": "SUN2000 inverter without battery (SDongle)"}]


def test_a_profile_file_of_ones_own_and_its_errors(tmp_path):
    f = tmp_path / "my_meter.toml"
    f.write_text('name = "my_meter"\nmanufacturer = "X"\ndevice = "Y"\nkind = "meter"\n'
                 'sources = ["doc p. 3"]\n[[registers]]\nfield = "import_wh"\n'
                 'address = 0x10\ntype = "uint32"\nunit = "Wh"\n')
    opts = ModbusOptions(host="h", profile=str(f))
    assert [r.address for r in opts.register_map()] == [16]
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nmanufacturer = "X"\ndevice = "Y"\nkind = "meter"\n'
                   'sources = ["s"]\n[[registers]]\nfield = "import_wh"\naddress = 1\n'
                   'type = "float32"\nunit = "W"\n')
    with pytest.raises(InputError, match="bad.toml.*does not fit field 'import_wh'"):
        profiles.load_profile(str(bad))
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        ModbusOptions(host="h", profile="nope")


@pytest.mark.parametrize("name,check,raw,advice", [
    ("growatt", 88, 315, "growatt_v3"),        # a protocol 3.15 inverter read as V1.24
    ("growatt_v3", 73, 124, '"growatt"'),      # a V1.24 inverter read as 3.xx
    ("huawei_sun2000", 47000, 2, "huawei_sun2000_hybrid"),   # LUNA2000 on unit 1
    ("huawei_sun2000", 47089, 2, "huawei_sun2000_hybrid"),   # LUNA2000 on unit 2
])
def test_profile_refuses_a_device_that_does_not_speak_it(name, check, raw, advice):
    """A device whose protocol version (Growatt) or battery (Huawei) does not fit the
    profile gives no reading, counted wrong_device, and probe says which profile to use."""
    values = {"power_w": 2000.0, "export_wh": 321_500.0}
    with ServerThread(profile_server(name, values, checks={check: raw})) as srv:
        m = ModbusMeter("dev", ModbusOptions(host="127.0.0.1", port=srv.port, profile=name,
                                             role="production", timeout_s=1.0))
        assert m.read(1.7e9) == [] and m.read(1.7e9 + 10) == []
        m.close()
        res = CliRunner().invoke(app, ["meters", "probe", "--host", "127.0.0.1", "--port",
                                       str(srv.port), "--profile", name])
    assert m.counters["wrong_device"] == 2
    assert advice in m.refused["device"] and str(raw) in m.refused["device"]
    assert res.exit_code != 0 and advice in str(res.exception), res.output
