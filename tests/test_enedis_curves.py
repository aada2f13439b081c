"""``pvshare enedis curves``: real households' load curves → ``pvshare allocate``, end to end."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pvshare.enedis.curves import curves_to_consumption
from pvshare.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "enedis"
R63 = FIX / "r63_autumn_change_2023-10.csv"          # PRM 09990000000063, 98 half-hours
ROWS = FIX / "enedis_rows_2023-10.csv"                # PRM 09990000000042, 2023-10-23..11-05
HDM = FIX / "sge_hdm_c5_cdc_60_then_30min.csv"        # PRM 09111642617347, 60 then 30 min


def _pvshare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pvshare.cli", *args], capture_output=True,
                          text=True, timeout=120)


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_curves_then_allocate(tmp_path):
    cons = tmp_path / "consumption.csv"
    r = _pvshare("enedis", "curves", str(R63), str(ROWS), "--out", str(cons))
    assert r.returncode == 0, r.stderr
    assert "09990000000063  r63_autumn_change_2023-10.csv" in r.stdout
    assert f"written: {cons}" in r.stdout
    table = _read(cons)
    assert list(table[0]) == ["time", "09990000000063", "09990000000042"]
    # By hand from the raw rows: the 2023-10-29 second "02:00" row of the R63 file is the
    # step 2023-10-29T00:30Z; its value in W times half an hour.
    with R63.open(encoding="utf-8") as f:
        r63 = list(csv.DictReader(f, delimiter=";"))
    k = [i for i, row in enumerate(r63) if row["Horodate"] == "2023-10-29 02:00:00"][1]
    line = next(row for row in table if row["time"] == "2023-10-29T00:30:00+00:00")
    assert float(line["09990000000063"]) == float(r63[k]["Valeur"]) / 2
    # The union of both periods, 30 minutes apart, empty where a meter has no value.
    times = [dt.datetime.fromisoformat(row["time"]) for row in table]
    assert all(b - a == dt.timedelta(minutes=30) for a, b in zip(times, times[1:]))
    assert table[0]["09990000000063"] == "" and table[0]["09990000000042"] != ""
    assert sum(row["09990000000063"] != "" for row in table) == 98
    # The whole R63 column is its rows' energy.
    total = sum(float(row["09990000000063"]) for row in table if row["09990000000063"])
    assert total == pytest.approx(sum(float(row["Valeur"]) / 2 for row in r63))

    # A production file on the same steps, then `pvshare allocate` reads the table as is.
    prod = tmp_path / "production.csv"
    prod.write_text("time,production_wh\n" + "".join(f"{row['time']},400\n" for row in table))
    alloc = tmp_path / "allocation.csv"
    r = _pvshare("allocate", "--production", str(prod), "--consumption", str(cons), "--key",
                 "prorata", "--out", str(alloc))
    assert r.returncode == 0, r.stderr
    out = _read(alloc)
    assert len(out) == 2 * len(table)
    got = {(row["time"], row["participant"]): row for row in out}
    a = float(line["09990000000063"])
    b = float(line["09990000000042"])
    # Prorata by hand: 400 Wh shared in proportion to consumption when it is short of it.
    share = 400 * a / (a + b) if a + b > 400 else a
    assert float(got[("2023-10-29T00:30:00+00:00", "09990000000063")]["allocated_wh"]) \
        == pytest.approx(share, abs=1e-3)


def test_prm_from_name_or_option_and_errors(tmp_path):
    # A plain CSV names no meter: the PRM comes from its name, or from --prm.
    plain = tmp_path / "foyer-12345678901234.csv"
    plain.write_text("time,power_w\n2024-06-01T00:30:00+02:00,100\n"
                     "2024-06-01T01:00:00+02:00,300\n2024-06-01T01:30:00+02:00,0\n")
    t = curves_to_consumption([plain], tmp_path / "a.csv")
    assert t.prms == ["12345678901234"] and t.summaries[0].prm_from == "name"
    assert t.energy_wh[:, 0].tolist() == [50.0, 150.0, 0.0]
    anon = tmp_path / "anonymous.csv"
    shutil.copy(plain, anon)
    with pytest.raises(InputError, match=r"anonymous.csv: cannot tell which meter.*--prm"):
        curves_to_consumption([anon], tmp_path / "b.csv")
    t = curves_to_consumption([anon], tmp_path / "b.csv", prms=["00000000000001"])
    assert t.prms == ["00000000000001"] and t.summaries[0].prm_from == "option"
    with pytest.raises(InputError, match=r"the file names the meter '09990000000063' but "
                                         r"--prm says 00000000000001"):
        curves_to_consumption([R63], tmp_path / "c.csv", prms=["00000000000001"])
    # The same meter twice: put together where they agree, refused where they do not.
    copy = tmp_path / "again.csv"
    shutil.copy(R63, copy)
    t = curves_to_consumption([R63, copy], tmp_path / "d.csv")
    assert t.prms == ["09990000000063"] and t.summaries[0].values == 98
    lines = R63.read_text(encoding="utf-8").splitlines()
    # 05:00 CEST ends the step that starts 02:30 UTC: its value changed in the copy.
    lines[10] = lines[10].replace(";PA;CONS;BRUT;W;2023-10-28 05:00:00;",
                                  ";PA;CONS;BRUT;W;2023-10-28 05:00:00;1")
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "d.csv").unlink()
    with pytest.raises(InputError, match=r"again.csv: meter 09990000000063: the step "
                                         r"2023-10-28T02:30:00\+00:00 is in .*r63_autumn_change_"
                                         r"2023-10.csv too, with another value"):
        curves_to_consumption([R63, copy], tmp_path / "d.csv")
    assert not (tmp_path / "d.csv").exists()


def test_hourly_history_spread_on_quarter_hours(tmp_path):
    t = curves_to_consumption([HDM], tmp_path / "q.csv", step="PT15M")
    s = t.summaries[0]
    assert s.prm == "09111642617347" and s.steps_min == (30, 60)
    # 1830 W over the hour ending 2021-02-11T00:00+01:00: four quarter-hours of 457.5 Wh.
    assert t.energy_wh[:4, 0].tolist() == [457.5] * 4
    # By hand: 36 hourly values (2021-02-11T00:00 .. 2021-02-12T12:00, midnight absent) and
    # 48 half-hourly ones, all spread; missing: the absent hour and the 12 hours before the
    # first half-hourly value.
    assert s.values == 36 * 4 + 48 * 2 == s.spread
    assert s.missing == 4 + 12 * 4


def test_cli_errors_are_clean(tmp_path):
    r = _pvshare("enedis", "curves", str(FIX / "sge_hdm_c5_index_and_pmax.csv"), "--out",
                 str(tmp_path / "x.csv"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "ce fichier n'est pas une courbe de charge" in r.stderr
    r = _pvshare("enedis", "curves", str(R63), "--out", str(tmp_path / "x.csv"), "--step",
                 "PT10M")
    assert r.returncode == 2 and "unsupported step 'PT10M'" in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_weekly_excel_downloads_of_one_meter_put_together(tmp_path):
    """The customer space's Excel export comes a week at a time and misses each week's last
    half-hour (real files): two weeks and the R63 export of the same meter fill each other.
    """
    weeks = [FIX / "xlsx_courbe_2024-01-01_semaine.xlsx", FIX / "xlsx_courbe_2024-01-08_semaine.xlsx"]
    t = curves_to_consumption(weeks, tmp_path / "c.csv")
    s = t.summaries[0]
    assert t.prms == ["09990000000063"] and s.values == 2 * 335 and s.missing == 1
    k = int(np.flatnonzero(t.times == np.datetime64("2024-01-07T22:30:00"))[0])
    assert np.isnan(t.energy_wh[k, 0])
    t = curves_to_consumption(weeks + [FIX / "r63_week_2024-01-01.csv"], tmp_path / "c.csv")
    with (FIX / "r63_week_2024-01-01.csv").open(encoding="utf-8") as f:
        last = list(csv.DictReader(f, delimiter=";"))[-1]
    assert last["Horodate"] == "2024-01-08 00:00:00"
    assert t.summaries[0].missing == 0 and t.energy_wh[k, 0] == float(last["Valeur"]) / 2


def test_table_is_what_allocate_reads(tmp_path):
    from pvshare.files.csvio import read_consumption
    t = curves_to_consumption([R63, HDM], tmp_path / "c.csv")
    back = read_consumption(tmp_path / "c.csv")
    assert back.columns == t.prms
    assert np.array_equal(back.values, np.round(t.energy_wh, 3), equal_nan=True)
    assert back.times.tolist() == t.times.tolist()
