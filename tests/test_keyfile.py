"""The Enedis key files: one per local month, named and laid out like the public sample."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvshare.allocation import allocate
from pvshare.enedis.keyfile import (
    build_key_files,
    coefficients_permille,
    file_name,
    format_key_file,
    format_times,
    monthly_key_files,
    parse_key_file,
)
from pvshare.enedis.rounding import optimal_units
from pvshare.timegrid import local_day_steps, step_range

SAMPLE = Path(__file__).parent / "fixtures" / "enedis_pmo" / "ACC00000001_15_01112024_30112024.txt"


def test_floor_not_round_former_rule():
    # 1/3 each → 33,3 (floored) and the row sums to 99,9, not 100,0.
    p = np.array([300.0, 1000.0, 0.0])
    a = np.array([[100.0, 100, 100], [123.99, 876.01, 0], [0, 0, 0]])
    assert coefficients_permille(a, p).tolist() == [[333, 333, 333], [123, 876, 0], [0, 0, 0]]


def test_public_sample_layout_is_what_we_write():
    # The sample (vrogeon/RepartKey): 15-min steps from 01/11/2024 00:00 local (UTC+1), two
    # PRMs at 50,81 % and 39,86 %. Written again from the same numbers, the rows match it.
    raw = SAMPLE.read_text(encoding="utf-8")
    labels, prms, pct = parse_key_file(raw)
    assert prms == ["10101010101023", "10101010101024"]
    assert labels[0] == "01/11/2024 00:00" and labels[-1] == "01/11/2024 01:00"
    assert pct[0].tolist() == [50.81, 39.86]
    times = np.arange(np.datetime64("2024-10-31T23:00:00"), np.datetime64("2024-11-01T00:15:00"),
                      np.timedelta64(15, "m"))
    units = np.tile([[5081, 3986]], (len(times), 1))
    text = format_key_file(times, prms, units, decimals=2, time_style="local")
    assert text.rstrip("\n") == raw.rstrip("\n")
    assert file_name("00000001", 15, np.datetime64("2024-11-01"),
                     np.datetime64("2024-11-30")) == SAMPLE.name


def test_local_labels_repeat_the_october_hour_in_time_order():
    times = local_day_steps(dt.date(2025, 10, 26))
    assert len(times) == 50
    labels = format_times(times, "local").tolist()
    # 02:00 and 02:30 appear twice (first in summer time, then in winter time), in order.
    assert labels[4:8] == ["26/10/2025 02:00", "26/10/2025 02:30",
                           "26/10/2025 02:00", "26/10/2025 02:30"]
    assert labels[0] == "26/10/2025 00:00" and labels[-1] == "26/10/2025 23:30"
    iso = format_times(times, "iso").tolist()
    assert "2025-10-26T02:00:00+02:00" in iso and "2025-10-26T02:00:00+01:00" in iso
    assert len(set(iso)) == 50
    # March: 02:00 and 02:30 do not exist.
    march = format_times(local_day_steps(dt.date(2025, 3, 30)), "local").tolist()
    assert len(march) == 46 and "30/03/2025 02:00" not in march


def test_one_decimal_and_leading_zeros():
    times = local_day_steps(dt.date(2025, 6, 1))[:1]
    text = format_key_file(times, ["00000000000001", "00000000000002"],
                           np.array([[125, 875]]), decimals=1, time_style="iso")
    assert text.splitlines() == ["Horodate;00000000000001;00000000000002",
                                 "2025-06-01T00:00:00+02:00;12,5;87,5"]


def test_monthly_files_follow_local_months_and_active_prms():
    # 2025-03-31T21:30Z is 23:30 local on 31 March; 22:00Z is 00:00 local on 1 April.
    times = step_range(np.datetime64("2025-03-31T21:00:00"), np.datetime64("2025-04-01T00:00:00"))
    units = np.array([[100, 200, 300]] * len(times))
    active = np.ones_like(units, dtype=bool)
    active[:, 1] = times < np.datetime64("2025-03-31T22:00:00")      # leaves at April 1st
    prms = ["11111111111111", "22222222222222", "33333333333333"]
    files = monthly_key_files(times, prms, units, operation="ACC00000042", step_s=1800,
                              active=active, decimals=1)
    assert [f.name for f in files] == ["ACC00000042_30_31032025_31032025.txt",
                                       "ACC00000042_30_01042025_01042025.txt"]
    assert files[0].prms == prms and files[0].steps == 2
    assert files[1].prms == ["11111111111111", "33333333333333"] and files[1].steps == 4
    assert files[1].text.splitlines()[1] == "01/04/2025 00:00;10,0;30,0"


def test_same_prm_two_tenants_one_column():
    times = step_range(np.datetime64("2025-06-01T00:00:00"), np.datetime64("2025-06-01T02:00:00"))
    units = np.array([[500, 0, 100]] * 2 + [[0, 400, 100]] * 2)
    files = monthly_key_files(times, ["11111111111111", "11111111111111", "22222222222222"],
                              units, operation="7", step_s=1800, decimals=1,
                              active=units > 0)
    labels, prms, pct = parse_key_file(files[0].text)
    assert prms == ["11111111111111", "22222222222222"]
    assert pct[:, 0].tolist() == [50.0, 50.0, 40.0, 40.0]


def test_parse_errors_name_the_line():
    with pytest.raises(ValueError, match="line 3"):
        parse_key_file("Horodate;1;2\n01/11/2024 00:00;1,0;2,0\n01/11/2024 00:15;1,0\n")
    with pytest.raises(ValueError, match="Horodate"):
        parse_key_file("time;1\n")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2]), st.sampled_from(["local", "iso"]))
def test_files_read_back_and_applied_like_enedis_give_the_optimum(seed, decimals, style):
    # Three days across the October change and a month end; random production and
    # consumption; the files are parsed back and Enedis's formula min(C, k·P) applied to
    # what they say: the result equals the optimum of the grid computed in memory.
    rng = np.random.default_rng(seed)
    times = step_range(np.datetime64("2025-10-25T22:00:00"), np.datetime64("2025-11-01T23:00:00"))
    p = rng.uniform(0, 5000, len(times)) * (rng.random(len(times)) > 0.3)
    c = rng.uniform(0, 1500, (len(times), 4))
    res = allocate(p, c, "prorata")
    prms = [f"{30000000000000 + i:014d}" for i in range(4)]
    keys = build_key_files(times, prms, res.allocated, p, c, operation="1", step_s=1800,
                           decimals=decimals, time_style=style)
    assert [f.name.split("_")[2] for f in keys.files] == ["26102025", "01112025"]
    pct = np.vstack([parse_key_file(f.text)[2] for f in keys.files])
    assert len(pct) == len(times) and (pct.sum(axis=1) <= 100 + 1e-9).all()
    enedis = np.minimum(c, pct / 100 * p[:, None])
    assert enedis.sum(axis=0) == pytest.approx(keys.enedis_wh, abs=1e-6)
    grid = 10 ** (decimals + 2)
    best = np.minimum(res.allocated, optimal_units(res.allocated, p, grid) * p[:, None] / grid)
    assert enedis.sum() >= best.sum() - 1e-6


def test_subnormal_production_gives_zero_coefficients_not_two_hundreds():
    """Regression: a production of 5e-324 Wh (a subnormal float) split by the prorata key
    gave the whole of it to several participants, i.e. rows of 100 % + 100 %. Below 1e-9 Wh
    a production is none: the row is all zeros, like a night step."""
    times = step_range(np.datetime64("2025-11-03T10:00:00"), np.datetime64("2025-11-03T11:00:00"))
    p = np.array([5e-324, 1000.0])
    c = np.array([[5e-324, 5e-324, 0.625, 0.625], [250.0, 250.0, 250.0, 250.0]])
    res = allocate(p, c, "prorata")
    prms = [f"{30000000000000 + i:014d}" for i in range(4)]
    for decimals in (1, 2):
        keys = build_key_files(times[:2], prms, res.allocated, p, c, operation="1",
                               step_s=1800, decimals=decimals)
        pct = parse_key_file(keys.files[0].text)[2]
        assert pct.tolist() == [[0.0] * 4, [25.0] * 4]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="Horodate;0123456789,./: \n-T+", max_size=300))
def test_parse_key_file_fuzz_only_clear_errors(text):
    try:
        parse_key_file(text)
    except ValueError as exc:
        assert str(exc)
