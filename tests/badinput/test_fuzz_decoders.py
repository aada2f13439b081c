"""Fuzz every device decoder with bytes and with JSON full of extreme numbers (10**400,
NaN, infinity, -0, years 0001 and 9999): each gives a value or its documented rejection
(a reason it names and counts), never an exception.

Decoders: the MQTT payloads (zlinky, teleinfo2mqtt, tasmota), the TIC frame decoder and
its readings, the SunSpec model decoder and the counter guard, the Modbus profile
registers, and the template meter (a JSON file).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.meters import counters, payloads, tic, tic_labels
from pvshare.meters import sunspec_models as sm
from pvshare.meters.profiles import load_profile, names
from pvshare.meters.tic_serial import TicReader

FUZZ = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
RECEIVED_S = 1_750_000_000.0

#: Numbers that break naive code: overflow, non-finite, signs, huge exponents.
EXTREME = st.sampled_from([
    10 ** 400, -(10 ** 400), 2 ** 63, 2 ** 64, -(2 ** 63) - 1, 2 ** 31, 2 ** 32 - 1,
    1e308, -1e308, 5e-324, -0.0, float("nan"), float("inf"), float("-inf"), 0, -1,
    9_999_999_999, 1e15, 253402300799999, -62135596800000])
TEXT_NUMBERS = st.sampled_from([
    "١٢٣", "1_000", "１２３", "0x10", "1e400", "-1e400", "nan", "inf", "Infinity", " 12 ",
    "12,5", "", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00",
    "2025-06-01T10:00:00+00:00", "E250601120000", "H991231235959", "E000000000000"])
NUMBERS = st.one_of(EXTREME, TEXT_NUMBERS, st.integers(), st.floats(allow_nan=True),
                    st.booleans(), st.none())
VALUES = st.recursive(NUMBERS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["raw", "value", "timestamp", "date", "dst"]), inner, max_size=3)), max_leaves=6)

ZLINKY_KEYS = st.sampled_from([
    "current_summ_delivered", "current_summ_received", "current_tier1_summ_delivered",
    "current_tier2_summ_delivered", "current_tier6_summ_delivered", "apparent_power",
    "apparent_power_ph_b", "total_apparent_power", "injected_v_a", "last_seen", "site_id",
    "currentSummDelivered"])
TIC_KEYS = st.sampled_from(["EAST", "EAIT", "BASE", "HCHC", "HCHP", "EJPHN", "EJPHPM",
                            "BBRHCJB", "BBRHPJR", "SINSTS", "SINSTI", "PAPP", "PRM", "DATE",
                            "ADSC", "ADCO", "TIC"])


def _dumps(obj) -> bytes:
    return json.dumps(obj, allow_nan=True, default=str).encode()


def _check(res) -> None:
    assert isinstance(res, (payloads.Decoded, payloads.Rejection))
    if isinstance(res, payloads.Rejection):
        assert res.reason in payloads.REASONS and res.reason != payloads.UNREADABLE, res
        assert len(res.detail) < 300
        return
    for v in (res.import_wh, res.export_wh, res.power_va, res.time_s):
        assert v is None or math.isfinite(v)
    assert 0 <= res.time_s < 4_102_444_800  # 1970..2100


@FUZZ
@given(st.sampled_from(payloads.FORMATS), st.binary(max_size=400))
def test_payload_bytes(fmt, data):
    _check(payloads.decode(fmt, data, RECEIVED_S))


@FUZZ
@given(st.dictionaries(ZLINKY_KEYS, VALUES, max_size=8))
def test_zlinky_extreme_numbers(obj):
    _check(payloads.decode("zlinky", _dumps(obj), RECEIVED_S))


TIC_ITEMS = st.one_of(VALUES, st.fixed_dictionaries(
    {"raw": NUMBERS, "value": NUMBERS},
    optional={"timestamp": st.fixed_dictionaries(
        {"date": NUMBERS, "dst": st.sampled_from(["summer", "winter", None])})}))


@FUZZ
@given(st.sampled_from(["teleinfo2mqtt", "tasmota"]),
       st.dictionaries(TIC_KEYS, st.one_of(TIC_ITEMS, st.dictionaries(TIC_KEYS, TIC_ITEMS,
                                                                      max_size=4)),
                       max_size=8))
def test_teleinfo_and_tasmota_extreme_numbers(fmt, obj):
    _check(payloads.decode(fmt, _dumps(obj), RECEIVED_S))


@FUZZ
@given(st.integers(min_value=-(10 ** 30), max_value=10 ** 30) | EXTREME)
def test_payload_huge_integer_text(n):
    """Integers written as JSON text, any size (Python's json reads 10**400 as an int)."""
    body = b'{"current_summ_delivered": %d, "last_seen": %d}' % (
        n if isinstance(n, int) else 1, n if isinstance(n, int) else 1)
    _check(payloads.decode("zlinky", body, RECEIVED_S))


# -- TIC -----------------------------------------------------------------------------------
def _group(label: str, data: str, mode: str) -> bytes:
    if mode == "standard":
        body = f"{label}\t{data}\t".encode()
        return b"\n" + body + bytes([tic.checksum(body)]) + b"\r"
    body = f"{label} {data}".encode()
    return b"\n" + body + b" " + bytes([tic.checksum(body)]) + b"\r"


@FUZZ
@given(st.sampled_from(["standard", "historique"]),
       st.lists(st.tuples(st.sampled_from(["EAST", "EAIT", "BASE", "HCHC", "HCHP", "SINSTS",
                                           "SINSTI", "PAPP", "ADSC", "ADCO", "DATE"]),
                          st.one_of(st.integers(0, 10 ** 12).map(str),
                                    st.text(alphabet="0123456789EH ", max_size=14))),
                min_size=1, max_size=8))
def test_tic_frames_to_readings(mode, groups):
    data = b"\x02" + b"".join(_group(lab, d, mode) for lab, d in groups) + b"\x03"
    frames, _ = tic.decode(data + b"\x02")
    reader = TicReader("m")
    for r in reader.feed(data + b"\x02", RECEIVED_S):
        for v in (r.import_wh, r.export_wh, r.power_w, r.time_s):
            assert v is None or math.isfinite(v)
    for f in frames:
        tic.frame_to_json(f)
        if tic_labels.incomplete_tariff(f.value) is None:
            tic.reading_from_frame(f, RECEIVED_S)
        else:
            assert tic_labels.import_wh(f.value) is None


# -- SunSpec, counters, Modbus profiles, template --------------------------------------------
WORD = st.one_of(st.integers(0, 0xFFFF), st.sampled_from([0, 0x7FFF, 0x8000, 0xFFFF]))


@FUZZ
@given(st.sampled_from(sorted(sm.MODELS)), st.data())
def test_sunspec_models_any_words(model_id, data):
    model = sm.MODELS[model_id]
    words = data.draw(st.lists(WORD, min_size=model.length, max_size=model.length))
    sm.decode_model(model, words)   # no exception (a scale factor of 32767 included)
    sm.decode_raw(model, words)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["import_wh", "export_wh"]),
                          st.one_of(st.none(), st.floats(0, 1e12)), st.booleans()),
                max_size=40))
def test_counter_guard_never_stores_a_fall(seq):
    """Whatever the sequence, a kept value is never below the last kept value of its
    counter, except a confirmed replacement; a sign-bit value above 2**31 Wh is never kept."""
    g = counters.CounterGuard()
    last: dict[str, float] = {}
    for name, v, sign in seq:
        kept, reason = g.check(name, v, sign_bit=sign)
        if kept is None:
            continue
        if sign:
            assert kept < counters.SIGN_BIT_WH
        if reason != counters.REPLACED and name in last:
            assert kept >= last[name]
        last[name] = kept


@FUZZ
@given(st.sampled_from(names()), st.data())
def test_profile_registers_any_words(name, data):
    for spec in load_profile(name).registers:
        words = data.draw(st.lists(WORD, min_size=spec.count, max_size=spec.count))
        v = spec.decode(words)
        assert v is None or math.isfinite(v)


_TMP = Path(tempfile.mkdtemp(prefix="pvshare-fuzz-template-"))


@FUZZ
@given(st.dictionaries(st.sampled_from(["import_wh", "export_wh", "power_w"]), VALUES,
                       max_size=3) | st.binary(max_size=100))
def test_template_meter_file(obj):
    from pvshare.meters.template import JsonFileMeter, Options

    f = _TMP / "meter.json"
    f.write_bytes(obj if isinstance(obj, bytes) else _dumps(obj))
    m = JsonFileMeter("t", Options(path=str(f)))
    for r in m.read(RECEIVED_S):
        for v in (r.import_wh, r.export_wh, r.power_w):
            assert v is None or math.isfinite(v)
    assert m.counters["polls"] == 1
