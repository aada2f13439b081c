"""SunSpec meters 201-204 and 211-214, the DER model 701 and several inverters behind one
gateway, each read by pvshare and cross-checked with pysunspec2 (an independent client that
reads the official model definitions it ships) on the same real Modbus TCP server.
"""

from __future__ import annotations

import pytest
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from pvshare.meters import sunspec_models as sm
from pvshare.meters.base import Quality
from pvshare.meters.sunspec import SunSpecMeter, SunSpecOptions
from pvshare_simulators.inverter import InverterSimulator, ServerThread, StaticImage

NOON_S = 1_750_000_000.0


class FixedClock:
    def now(self) -> float:
        return NOON_S


def image(*models: tuple[sm.Model, dict]) -> list[int]:
    words = list(sm.SUNS_MARKER)
    for model, raw in models:
        words += sm.encode_model(model, raw)
    return words + [sm.END_MODEL_ID, 0]


def sunspec2_model(port: int, model_id: int, unit: int = 1):
    d = SunSpecModbusClientDeviceTCP(slave_id=unit, ipaddr="127.0.0.1", ipport=port, timeout=2)
    try:
        d.scan()
        m = d.models[model_id][0]
        m.read()
        return m
    finally:
        d.close() if hasattr(d, "close") else d.disconnect()


def read_one(port: int, **kw):
    m = SunSpecMeter("dev", SunSpecOptions(host="127.0.0.1", port=port, timeout_s=1.0, **kw))
    try:
        return m, m.read(NOON_S)
    finally:
        m.close()


@pytest.mark.parametrize("model_id", [201, 202, 203, 204])
def test_integer_meter_models(model_id):
    raw = {"W": -2150, "W_SF": 0, "TotWhExp": 987_654, "TotWhImp": 1_234_567, "TotWh_SF": 0,
           "Hz": 5000, "Hz_SF": -2}
    sim = InverterSimulator(StaticImage(image((sm.COMMON, {}), (sm.MODELS[model_id], raw)),
                                        base=40000), FixedClock())
    with ServerThread(sim) as srv:
        m, (r,) = read_one(srv.port, role="consumption")
        ref = sunspec2_model(srv.port, model_id)
    assert r.power_w == ref.W.cvalue == -2150            # a meter: + when importing
    assert r.import_wh == ref.TotWhImp.cvalue == 1_234_567
    assert r.export_wh == ref.TotWhExp.cvalue == 987_654


@pytest.mark.parametrize("model_id", [211, 212, 213, 214])
def test_float_meter_models_as_a_fronius_smart_meter_gives_them(model_id):
    raw = {"W": 1532.25, "TotWhExp": 4_016_384.0, "TotWhImp": 12_582_912.0, "Hz": 50.0}
    sim = InverterSimulator(StaticImage(image((sm.COMMON, {"Mn": "Fronius"}),
                                              (sm.MODELS[model_id], raw)), base=40000),
                            FixedClock())
    with ServerThread(sim) as srv:
        m, (r,) = read_one(srv.port, role="production")
        ref = sunspec2_model(srv.port, model_id)
    assert ref.W.cvalue == 1532.25 and r.power_w == -1532.25   # production: sign turned
    assert r.import_wh == ref.TotWhImp.cvalue == 12_582_912.0
    assert r.export_wh == ref.TotWhExp.cvalue == 4_016_384.0


def test_der_model_701():
    raw = {"W": 4321, "W_SF": 0, "TotWhInj": 123_456_789_012, "TotWhAbs": 5_000,
           "TotWh_SF": 0, "St": 1, "InvSt": 4, "MnAlrmInfo": "none"}
    sim = InverterSimulator(StaticImage(image((sm.COMMON, {}), (sm.MODELS[701], raw)),
                                        base=40000), FixedClock())
    with ServerThread(sim) as srv:
        m, (r,) = read_one(srv.port)
        ref = sunspec2_model(srv.port, 701)
    assert r.power_w == ref.W.cvalue == 4321                   # + while generating
    assert r.export_wh == ref.TotWhInj.cvalue == 123_456_789_012
    assert r.import_wh == ref.TotWhAbs.cvalue == 5_000


def gateway():
    """Three inverters behind one gateway: units 1 (model 103), 2 (113) and 3 (701)."""
    return InverterSimulator(
        StaticImage(image((sm.COMMON, {}), (sm.MODELS[103], {
            "W": 1000, "W_SF": 0, "WH": 10_000, "WH_SF": 0, "St": 4})), base=40000, unit=1),
        FixedClock(),
        more=[StaticImage(image((sm.COMMON, {}), (sm.MODELS[113], {
                  "W": 2000.5, "WH": 20_000.0, "St": 4})), base=40000, unit=2),
              StaticImage(image((sm.COMMON, {}), (sm.MODELS[701], {
                  "W": 300, "W_SF": 1, "TotWhInj": 30_000, "TotWh_SF": 0})), base=40000,
                  unit=3)])


def test_several_inverters_on_one_gateway_are_summed():
    with ServerThread(gateway()) as srv:
        m, (r,) = read_one(srv.port, units=[1, 2, 3])
        assert [sunspec2_model(srv.port, 103, unit=1).WH.cvalue,
                sunspec2_model(srv.port, 113, unit=2).WH.cvalue,
                sunspec2_model(srv.port, 701, unit=3).TotWhInj.cvalue] == [10_000, 20_000, 30_000]
    assert r.power_w == 1000 + 2000.5 + 3000 and r.export_wh == 60_000
    assert r.import_wh is None            # models 103/113 give no absorbed energy
    assert r.quality == Quality.GOOD and m.counters["readings"] == 1


def test_a_missing_inverter_gives_no_partial_sum():
    with ServerThread(gateway()) as srv:
        m, readings = read_one(srv.port, units=[1, 2, 9])
    assert readings == [] and m.counters["partial"] == 1 and m.counters["readings"] == 0


def test_units_are_checked():
    with pytest.raises(ValueError, match="listed twice"):
        SunSpecOptions(host="h", units=[1, 1])
    with pytest.raises(ValueError):
        SunSpecOptions(host="h", units=[])
