"""Reading production and weather files: clear errors naming file, line and column."""

import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.errors import InputError
from pvshare.forecast.files import read_production, read_production_wh, read_weather


def _write(tmp_path, text, name="p.csv"):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_power_and_energy_files(tmp_path):
    f = _write(tmp_path, "time,ac_power_w\n2026-06-01T10:00:00Z,1000\n"
                         "2026-06-01T10:30:00Z,\n2026-06-01T11:00:00+00:00,3000\n")
    p, step = read_production(f)
    assert step == 1800
    assert p.iloc[0] == 1000 and np.isnan(p.iloc[1]) and p.iloc[2] == 3000
    g = _write(tmp_path, "time,production_wh\n2026-06-01 12:00:00+02:00,500\n"
                         "2026-06-01 12:15:00+02:00,250\n", "e.csv")
    p, step = read_production(g)
    assert step == 900
    assert p.index[0].hour == 10 and p.iloc[0] == 2000.0 and p.iloc[1] == 1000.0
    # quarter-hours summed onto the 30-min step
    e = read_production_wh(g, 1800)
    assert e.iloc[0] == 750.0


def test_gzip_file(tmp_path):
    f = tmp_path / "p.csv.gz"
    with gzip.open(f, "wt") as fh:
        fh.write("time,ac_power_w\n2026-06-01T10:00:00Z,1\n2026-06-01T10:30:00Z,2\n")
    assert read_production(f)[0].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("text, where, what", [
    ("time,power\n2026-06-01T10:00Z,1\n", "line 1", "need one of the columns"),
    ("time,ac_power_w\n2026-06-01T10:00Z,1\n2026-06-01T10:30Z,abc\n", "line 3, column 'ac_power_w'",
     "not a number"),
    ("time,ac_power_w\n2026-06-01T10:00Z,1\nyesterday,2\n", "line 3, column 'time'",
     "not an ISO 8601 time"),
    ("time,ac_power_w\n2026-06-01T10:00Z,1\n2026-06-01T10:00Z,2\n", "line 3, column 'time'",
     "not after the previous row"),
    ("time,ac_power_w\n2026-06-01T10:00Z,1\n2026-06-01T10:30Z,-5\n", "line 3", "negative"),
    ("time,ac_power_w\n2026-06-01T10:00Z,1\n2026-06-01T10:30Z\n", "line 3", "fields"),
    ("time,ac_power_w\n2026-06-01T10:00Z,1\n2026-06-01T10:17Z,2\n", "column 'time'",
     "regular grid"),
    ("time,ac_power_w\n2026-06-01T10:00Z,1\n", "p.csv", "at least 2 data rows"),
    ("", "line 1", "empty file"),
])
def test_bad_production_files_name_file_and_line(tmp_path, text, where, what):
    f = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_production(f)
    msg = str(err.value)
    assert str(f) in msg and where in msg and what in msg


def test_bad_weather_files(tmp_path):
    f = _write(tmp_path, "time,temp_air\n2026-06-01T10:00Z,1\n2026-06-01T11:00Z,2\n", "w.csv")
    with pytest.raises(InputError, match="missing column 'ghi'"):
        read_weather(f)
    f = _write(tmp_path, "time,ghi\n2026-06-01T10:00Z,100\n2026-06-01T11:00Z,2500\n", "w.csv")
    with pytest.raises(InputError, match=r"line 3, column 'ghi': ghi 2500"):
        read_weather(f)
    f = _write(tmp_path, "time,ghi,wind_speed\n2026-06-01T10:00Z,100,2\n2026-06-01T11:00Z,0,\n",
               "w.csv")
    w = read_weather(f)
    assert w.columns.tolist() == ["ghi", "wind_speed"] and np.isnan(w["wind_speed"].iloc[1])
    with pytest.raises(InputError, match="file not found"):
        read_weather(tmp_path / "nope.csv")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_fuzz_only_input_errors(tmp_path, data):
    f = tmp_path / "fuzz.csv"
    f.write_bytes(b"time,ac_power_w\n" + data)
    try:
        p, step = read_production(f)
    except InputError:
        return
    assert step > 0 and len(p) >= 2
