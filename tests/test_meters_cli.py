"""``pvshare meters decode`` and ``pvshare meters probe`` as an installer runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pvshare.meters import sunspec_models as sm
from pvshare.meters.profiles import load_profile, names
from pvshare_simulators.inverter import ServerThread
from pvshare_simulators.profile_device import profile_server

FIXTURES = Path(__file__).parent / "fixtures"


def pvshare(*args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pvshare.cli", *args], input=stdin,
                          capture_output=True, timeout=60)


def test_decode_zlinky_file_one_json_object_per_line():
    done = pvshare("meters", "decode", "--format", "zlinky",
                   str(FIXTURES / "zigbee2mqtt" / "zlinky-payloads.jsonl"),
                   "--received-at", "2025-01-01T00:00:00Z")
    assert done.returncode == 0, done.stderr
    out = [json.loads(x) for x in done.stdout.splitlines()]
    assert len(out) == 5
    # line 1: camelCase, Wh, last_seen 2021: far in the past of --received-at, still trusted
    assert out[0] == {"time": "2021-12-24T11:33:18.695Z", "import_wh": 4571435.0,
                      "export_wh": None, "power_w": None, "time_from_payload": True}
    # line 3: no last_seen: the receive time
    assert out[2]["time"] == "2025-01-01T00:00:00Z" and not out[2]["time_from_payload"]
    assert out[2]["import_wh"] == 12_667_900.0 and out[2]["power_w"] == 400


def test_decode_teleinfo2mqtt_from_stdin_with_rejections():
    lines = (FIXTURES / "teleinfo2mqtt" / "payloads.jsonl").read_bytes() + b"not json\n"
    done = pvshare("meters", "decode", "--format", "teleinfo2mqtt", "-", stdin=lines)
    assert done.returncode == 0, done.stderr
    out = [json.loads(x) for x in done.stdout.splitlines()]
    assert out[0] == {"time": "2022-10-16T16:15:02Z", "import_wh": 20966534.0,
                      "export_wh": None, "power_w": 417.0, "time_from_payload": True}
    assert out[1:] == [{"rejected": "non_numeric"}, {"rejected": "unknown_fields"},
                       {"rejected": "bad_json"}]
    assert b"bad_json: not JSON" in done.stderr


def test_decode_errors_name_what_is_wrong(tmp_path):
    done = pvshare("meters", "decode", "--format", "zlinky", str(tmp_path / "none.jsonl"))
    assert done.returncode == 2 and b"none.jsonl: no such file" in done.stderr
    done = pvshare("meters", "decode", "--format", "zlinky", "-", "--received-at",
                   "2025-01-01 10:00", stdin=b"{}\n")
    assert done.returncode == 2 and b"--received-at" in done.stderr
    done = pvshare("meters", "decode", "--format", "linky", "-", stdin=b"{}\n")
    assert done.returncode == 2 and b"linky" in done.stderr


def test_probe_of_a_device_without_sunspec_names_what_was_found():
    with ServerThread(profile_server("sdm630", {"power_w": 100.0})) as srv:
        done = pvshare("meters", "probe", "--host", "127.0.0.1", "--port", str(srv.port))
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert b"no SunSpec map found (40000:" in done.stderr


# -- fuzz of the register decoders: any words give a value or None, never an exception ----
@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(sm.MODELS)), st.lists(st.integers(0, 0xFFFF), max_size=160))
def test_fuzz_sunspec_models(model_id, words):
    values = sm.decode_model(sm.MODELS[model_id], words)
    assert set(values) <= {p.name for p in sm.MODELS[model_id].points}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(names()), st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4))
def test_fuzz_profile_registers(name, words):
    for r in load_profile(name).registers:
        v = r.decode(words)
        assert v is None or abs(v) < float("inf")
