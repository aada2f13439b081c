"""Load-curve import: both Enedis export layouts and the plain CSV, clock changes, bad input."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.enedis.loadcurve import parse_load_curve, read_load_curve
from pvshare.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "enedis"
PREAMBLE = FIX / "enedis_preamble_2024-03.csv"
ROWS = FIX / "enedis_rows_2023-10.csv"
PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def _steps_per_local_day(lc) -> dict[str, int]:
    # Independent of pvshare.timegrid: zoneinfo on every step start.
    out: dict[str, int] = {}
    for t in lc.times.astype("datetime64[s]").astype(object):
        d = t.replace(tzinfo=UTC).astimezone(PARIS).date().isoformat()
        out[d] = out.get(d, 0) + 1
    return out


def test_preamble_layout_spring_change():
    lc = read_load_curve(PREAMBLE)
    assert lc.layout == "enedis-preamble" and lc.prm == "09990000000042" and lc.step_s == 1800
    counts = _steps_per_local_day(lc)
    assert counts["2024-03-31"] == 46
    assert all(c == 48 for d, c in counts.items() if d != "2024-03-31")
    lines = PREAMBLE.read_text().splitlines()[4:]
    values = [float(ln.split(";")[1]) for ln in lines]
    assert lc.energy_wh.sum() == pytest.approx(sum(values) * 0.5)
    # First value is the interval ending 00:30 local (UTC+1): it starts at 23:00 UTC.
    assert str(lc.times[0]) == "2024-03-24T23:00:00"
    # 2024-03-31T03:00:00+02:00 ends the step that started at 00:30 UTC.
    k = next(i for i, ln in enumerate(lines) if ln.startswith("2024-03-31T03:00:00+02:00"))
    assert str(lc.times[k]) == "2024-03-31T00:30:00"
    assert lc.energy_wh[k] == values[k] * 0.5
    assert np.all(np.diff(lc.times.astype(np.int64)) == 1800)


def test_rows_layout_autumn_change_from_row_order():
    lc = read_load_curve(ROWS)
    assert lc.layout == "enedis-rows" and lc.prm == "09990000000042"
    counts = _steps_per_local_day(lc)
    assert counts["2023-10-29"] == 50
    with ROWS.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    # The two rows labelled 02:00 are one hour apart in UTC, in file order.
    idx = [i for i, r in enumerate(rows) if r["Horodate"] == "2023-10-29 02:00:00"]
    assert len(idx) == 2
    starts = lc.times.astype(np.int64)
    assert starts[idx[1]] - starts[idx[0]] == 3600
    assert str(lc.times[idx[0]]) == "2023-10-28T23:30:00"   # ends 02:00 CEST = 00:00 UTC
    assert lc.energy_wh[idx[1]] == float(rows[idx[1]]["Valeur"]) * 0.5
    assert lc.energy_wh.sum() == pytest.approx(sum(float(r["Valeur"]) for r in rows) * 0.5)


def test_plain_csv_with_offsets_and_naive_local(tmp_path):
    p = tmp_path / "plain.csv"
    p.write_text("time,power_w\n2024-06-01T00:30:00+02:00,100\n2024-06-01T01:00:00+02:00,300.5\n"
                 "2024-06-01T01:30:00+02:00,0\n")
    lc = read_load_curve(p)
    assert lc.layout == "csv" and lc.step_s == 1800
    assert str(lc.times[0]) == "2024-05-31T22:00:00"
    assert lc.energy_wh.tolist() == [50.0, 150.25, 0.0]
    q = tmp_path / "naive.csv"
    q.write_text("time;power_w\n2024-06-01 00:30:00;100\n2024-06-01 01:00:00;300,5\n"
                 "2024-06-01 01:30:00;0\n")
    assert read_load_curve(q).energy_wh.tolist() == lc.energy_wh.tolist()
    assert read_load_curve(q).times.tolist() == lc.times.tolist()


def _rewrite(src: Path, dst: Path, drop=(), replace=None) -> Path:
    lines = src.read_text(encoding="utf-8").splitlines()
    out = []
    for i, ln in enumerate(lines, start=1):
        if i in drop:
            continue
        if replace and i in replace:
            ln = replace[i]
        out.append(ln)
    dst.write_text("\n".join(out) + "\n", encoding="utf-8")
    return dst


def test_gap_is_named_with_file_and_line(tmp_path):
    bad = _rewrite(PREAMBLE, tmp_path / "gap.csv", drop={100, 101, 102})
    with pytest.raises(InputError) as e:
        read_load_curve(bad)
    msg = str(e.value)
    assert "gap.csv, line 100" in msg and "3 missing step(s)" in msg
    lc = read_load_curve(bad, allow_gaps=True)
    assert lc.missing_steps == 3 and lc.times.size == read_load_curve(PREAMBLE).times.size


def test_october_day_without_its_repeated_hour(tmp_path):
    lines = ROWS.read_text(encoding="utf-8").splitlines()
    second = [i for i, ln in enumerate(lines, 1) if ";2023-10-29 02:00:00;" in ln][1]
    bad = _rewrite(ROWS, tmp_path / "dst.csv", drop={second, second + 1})
    with pytest.raises(InputError) as e:
        read_load_curve(bad)
    assert "dst.csv, line" in str(e.value) and "clock change" in str(e.value)


def test_spring_time_that_does_not_exist(tmp_path):
    lines = ROWS.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("2023-10-23 00:30:00", "2024-03-31 02:30:00")
    p = tmp_path / "spring.csv"
    p.write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(InputError) as e:
        read_load_curve(p)
    assert "line 2" in str(e.value) and "does not exist" in str(e.value)


def test_spring_day_with_48_values_is_refused(tmp_path):
    # Someone wrote 48 local labels for 2024-03-31, as if there were no clock change.
    rows = ["time,power_w"]
    t = dt.datetime(2024, 3, 31, 0, 30)
    for k in range(48):
        rows.append(f"{(t + dt.timedelta(minutes=30 * k)):%Y-%m-%d %H:%M:%S},100")
    p = tmp_path / "march.csv"
    p.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError) as e:
        read_load_curve(p)
    assert "line 5" in str(e.value) and "02:00" in str(e.value) and "does not exist" in str(e.value)


@pytest.mark.parametrize("text, expect", [
    ("PRM;kWh\n2024-01-01;3\n", "unknown file layout"),
    ("date;consommation\n2024-01-01;3\n", "pas une courbe de charge"),
    ("", "empty"),
    ("time,energy_kwh\n2024-01-01T00:30:00Z,1\n", "pas une courbe de charge"),
    ("time,power_in_kw\n2024-01-01T00:30:00Z,1\n", "power_w"),
    ("time,power_w\n2024-01-01T00:30:00Z,abc\n2024-01-01T01:00:00Z,1\n", "line 2"),
    ("time,power_w\n2024-01-01T00:30:00Z,-5\n2024-01-01T01:00:00Z,1\n", "≥ 0"),
    ("time,power_w\n2024-01-01T00:30:00Z,5\n2024-01-01T00:30:00Z,1\n", "is repeated"),
    ("time,power_w\n2024-01-01T00:30:00Z,5\n2024-01-01T00:31:00Z,1\n2024-01-01T00:32:00Z,1\n",
     "cannot tell the step"),
    ("time,power_w\n2024-02-30T00:30:00Z,5\n2024-01-01T00:30:00Z,1\n", "does not exist"),
    ("time,power_w\nyesterday,5\n", "cannot read the time"),
])
def test_bad_input_messages(text, expect):
    with pytest.raises(InputError) as e:
        parse_load_curve(text, source="x.csv")
    assert expect in str(e.value) and str(e.value).startswith("x.csv")


def test_two_meters_in_one_export(tmp_path):
    lines = ROWS.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace("09990000000042", "09990000000043", 1)
    p = tmp_path / "two.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"two.csv, line 6.*second meter"):
        read_load_curve(p)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start_h=st.integers(0, 24 * 400), powers=st.lists(st.integers(0, 9000), min_size=2,
                                                          max_size=200))
def test_plain_csv_round_trip(start_h, powers):
    t0 = dt.datetime(2023, 1, 1, tzinfo=UTC) + dt.timedelta(hours=start_h)
    lines = ["time,power_w"]
    for k, p in enumerate(powers):
        end = (t0 + dt.timedelta(minutes=30 * (k + 1))).astimezone(PARIS)
        lines.append(f"{end.replace(tzinfo=None):%Y-%m-%d %H:%M:%S},{p}")
    lc = parse_load_curve("\n".join(lines))
    assert lc.energy_wh.tolist() == [p * 0.5 for p in powers]
    assert int(lc.times[0].astype(np.int64)) == int(t0.timestamp())


_SAMPLE = PREAMBLE.read_text().splitlines()[:40]
_ROWS_SAMPLE = ROWS.read_text(encoding="utf-8").splitlines()[:40]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 39), st.one_of(st.just(""), st.just("\n"),
                                                       st.text(max_size=12))), max_size=6),
       st.sampled_from(["csv", "preamble", "rows"]))
def test_fuzz_parser_only_raises_input_error(edits, kind):
    if kind == "rows":
        lines = list(_ROWS_SAMPLE)
    else:
        lines = list(_SAMPLE) if kind == "preamble" else \
            ["time,power_w"] + [ln.replace(";", ",") for ln in _SAMPLE[4:]]
    for i, txt in edits:
        i %= len(lines)
        if txt == "":
            del lines[i]                        # a line lost
        elif txt == "\n":
            lines.insert(i, lines[i])            # a line doubled
        else:
            cut = len(lines[i]) // 2 if len(txt) % 2 else 0
            lines[i] = lines[i][:cut] + txt + lines[i][cut + len(txt):]
        if not lines:
            lines = [""]
    try:
        lc = parse_load_curve("\n".join(lines), source="f.csv")
    except InputError as e:
        assert str(e).startswith("f.csv")
    else:
        assert lc.times.size == lc.energy_wh.size >= 1


def test_rows_layout_mixed_quantities_and_a_third_repeat(tmp_path):
    lines = ROWS.read_text(encoding="utf-8").splitlines()
    mixed = list(lines)
    mixed[7] = mixed[7].replace(";PA;", ";PRI;")
    p = tmp_path / "mixed.csv"
    p.write_text("\n".join(mixed) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"mixed.csv, line 8, column 'Grandeur physique'"):
        read_load_curve(p)
    # The October 02:00 label a third time.
    k = [i for i, ln in enumerate(lines) if ";2023-10-29 02:00:00;" in ln][1]
    thrice = lines[:k + 1] + [lines[k]] + lines[k + 1:]
    q = tmp_path / "thrice.csv"
    q.write_text("\n".join(thrice) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"thrice.csv, line {k + 2}.*more than twice"):
        read_load_curve(q)


def _last_sunday(year: int, month: int) -> dt.date:
    d = dt.date(year, month, 31)
    return d - dt.timedelta(days=(d.weekday() + 1) % 7)


@pytest.mark.parametrize("year", [2019, 2022, 2025, 2026, 2030])
@pytest.mark.parametrize("month, steps", [(3, 46), (10, 50)])
@pytest.mark.parametrize("step_min", [30, 15])
def test_clock_change_days_of_several_years(year, month, steps, step_min):
    """Naive local labels in row order (like the Enedis row layout) around each change."""
    day = _last_sunday(year, month)
    t0 = dt.datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC) \
        - dt.timedelta(days=1)
    n = (3 * 24 + (1 if month == 10 else -1)) * 60 // step_min
    lines = ["time,power_w"]
    for k in range(n):
        end = (t0 + dt.timedelta(minutes=step_min * (k + 1))).astimezone(PARIS)
        lines.append(f"{end.replace(tzinfo=None):%Y-%m-%d %H:%M:%S},{k}")
    lc = parse_load_curve("\n".join(lines))
    assert lc.step_s == step_min * 60 and lc.times.size == n
    assert _steps_per_local_day(lc)[day.isoformat()] == steps * 30 // step_min
    assert int(lc.times[0].astype(np.int64)) == int(t0.timestamp())
    assert lc.energy_wh.tolist() == [k * step_min / 60 for k in range(n)]
