"""``pvshare allocate`` end to end on real files, through the installed console script."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PVSHARE = str(Path(sys.executable).with_name("pvshare"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PVSHARE, "allocate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip())
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    write(tmp_path / "p.csv", """
time,production_wh
2025-03-30T00:30:00+00:00,900
2025-03-30T01:00:00+00:00,0
2025-03-30T01:30:00+00:00,300
""")
    write(tmp_path / "c.csv", """
time,A,B,C
2025-03-30T00:30:00+00:00,100,500,600
2025-03-30T01:00:00+00:00,100,,600
2025-03-30T01:30:00+00:00,50,50,50
""")
    write(tmp_path / "k.csv", """
participant,coefficient,rank
A,0.2,1
B,0.3,2
C,0.5,2
""")
    write(tmp_path / "m.csv", """
participant,prm
A,30001234560001
B,30001234560002
C,30001234560003
""")
    return {p.stem: p for p in tmp_path.glob("*.csv")}


def read_out(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_reallocated_end_to_end(files, tmp_path):
    out, keys = tmp_path / "out.csv", tmp_path / "keys"
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "reallocated",
            "--coefficients", "k.csv", "--out", str(out), "--enedis-keys", str(keys),
            "--prm-map", "m.csv", "--operation", "00000042", "--enedis-time", "iso",
            "--enedis-decimals", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = read_out(out)
    assert [list(rows[0])] == [["time", "participant", "consumption_wh", "allocated_wh",
                                "complement_wh"]]
    assert len(rows) == 9
    # Step 1: P = 900, k = .2/.3/.5 → static shares 180/270/450; A is capped at 100 and its
    # 80 Wh go to B and C in proportion 3:5 → B 300, C 500.
    first = {r["participant"]: r for r in rows[:3]}
    assert float(first["A"]["allocated_wh"]) == pytest.approx(100)
    assert float(first["B"]["allocated_wh"]) == pytest.approx(300)
    assert float(first["C"]["allocated_wh"]) == pytest.approx(500)
    assert float(first["C"]["complement_wh"]) == pytest.approx(100)
    # Missing consumption stays missing: an empty cell, not zero.
    b2 = rows[4]
    assert b2["participant"] == "B" and b2["consumption_wh"] == "" and b2["complement_wh"] == ""
    assert float(b2["allocated_wh"]) == 0
    assert rows[0]["time"] == "2025-03-30T00:30:00+00:00"
    assert "incomplete" in r.stdout and "self-sufficiency" in r.stdout
    assert "lost to rounding" in " ".join(r.stdout.split())

    # One month (local): one file named like Enedis's ACC files, 30-min steps, 30 March.
    assert [p.name for p in keys.iterdir()] == ["ACC00000042_30_30032025_30032025.txt"]
    lines = next(keys.iterdir()).read_text().splitlines()
    assert lines[0] == "Horodate;30001234560001;30001234560002;30001234560003"
    # 2025-03-30 is the spring-forward day: clocks jump at 01:00 UTC (02:00 → 03:00 local).
    # Shares 100/900, 300/900, 500/900 = 11.11…, 33.33…, 55.55…: floors 111+333+555 = 999,
    # the spare 0.1 % to the largest remainder (0.555… of C, by hand) → 55,6.
    assert lines[1] == "2025-03-30T01:30:00+01:00;11,1;33,3;55,6"
    assert lines[2] == "2025-03-30T03:00:00+02:00;0,0;0,0;0,0"
    assert lines[3].startswith("2025-03-30T03:30:00+02:00;")
    for line in lines[1:]:
        cells = [float(c.replace(",", ".")) for c in line.split(";")[1:]]
        assert sum(cells) <= 100.0 + 1e-9


@pytest.mark.parametrize("key", ["prorata", "static", "priority"])
def test_each_key_writes_consistent_output(files, tmp_path, key):
    out = tmp_path / f"{key}.csv"
    extra = [] if key == "prorata" else ["--coefficients", "k.csv"]
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", key, *extra,
            "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = read_out(out)
    alloc = np.array([float(x["allocated_wh"]) for x in rows]).reshape(3, 3)
    assert (alloc.sum(axis=1) <= np.array([900, 0, 300]) + 1e-6).all()
    if key == "priority":            # A (rank 1) is served first in full
        assert alloc[0, 0] == pytest.approx(100) and alloc[2, 0] == pytest.approx(50)


def test_custom_key(files, tmp_path):
    write(tmp_path / "kc.csv", """
time,A,B,C
2025-03-30T00:30:00+00:00,0.5,0.5,0
2025-03-30T01:00:00+00:00,0.1,0.1,0.1
2025-03-30T01:30:00+00:00,1,0,0
""")
    out = tmp_path / "o.csv"
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "custom",
            "--coefficients", "kc.csv", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    alloc = [float(x["allocated_wh"]) for x in read_out(out)]
    assert alloc[:3] == [100, 450, 0] and alloc[6:] == [50, 0, 0]


def test_pt15m_step(tmp_path):
    write(tmp_path / "p.csv", "time,production_wh\n2025-01-01T10:15:00+00:00,10\n")
    write(tmp_path / "c.csv", "time,A\n2025-01-01T10:15:00+00:00,4\n")
    out = tmp_path / "o.csv"
    assert run("--production", "p.csv", "--consumption", "c.csv", "--key", "prorata",
               "--out", str(out), cwd=tmp_path).returncode == 2      # not a PT30M step start
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "prorata",
            "--step", "PT15M", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert float(read_out(out)[0]["allocated_wh"]) == 4


BAD = [
    # (file to corrupt, old text, new text, key, message parts)
    ("c.csv", "100,500,600", "100,5x0,600", "prorata", ["c.csv", "line 2", "'B'", "not a number"]),
    ("c.csv", "50,50,50", "50,-5,50", "prorata", ["c.csv", "line 4", "'B'", ">= 0"]),
    ("p.csv", ",300", ",-300", "prorata", ["p.csv", "line 4", "production_wh", ">= 0"]),
    ("c.csv", "2025-03-30T01:00:00+00:00,100,,600", "2025-03-30T00:30:00+00:00,100,,600",
     "prorata", ["c.csv", "line 3", "duplicate time"]),
    ("c.csv", "2025-03-30T01:30:00+00:00", "2025-03-30T01:40:00+00:00", "prorata",
     ["c.csv", "line 4", "not the start of a PT30M step"]),
    ("p.csv", "2025-03-30T01:30:00+00:00", "2025-03-30T01:30:00", "prorata",
     ["p.csv", "line 4", "no UTC offset"]),
    ("p.csv", "2025-03-30T01:30:00+00:00", "2025-03-30T02:00:00+00:00", "prorata",
     ["not in", "same steps"]),
    ("k.csv", "C,0.5,2", "D,0.5,2", "static", ["k.csv", "line 4", "'D'", "not in the consumption"]),
    ("k.csv", "C,0.5,2", "C,0.6,2", "static", ["k.csv", "sum to 1.1", "at most 1"]),
    ("k.csv", "A,0.2,1", "A,1.2,1", "static", ["k.csv", "line 2", "coefficient", "<= 1"]),
    ("m.csv", "30001234560003", "3000123456003", "prorata", ["m.csv", "line 4", "14 digits"]),
    ("c.csv", "time,A,B,C", "date,A,B,C", "prorata", ["c.csv", "line 1", "'time'"]),
]


@pytest.mark.parametrize("name,old,new,key,parts", BAD, ids=[b[4][-1] for b in BAD])
def test_bad_input_clear_error_and_no_output(files, tmp_path, name, old, new, key, parts):
    path = files[Path(name).stem]
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    out, keys = tmp_path / "out.csv", tmp_path / "keys.csv"
    args = ["--production", "p.csv", "--consumption", "c.csv", "--key", key, "--out", str(out)]
    if key != "prorata":
        args += ["--coefficients", "k.csv"]
    if name == "m.csv":
        args += ["--enedis-keys", str(keys), "--prm-map", "m.csv", "--operation", "1"]
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    message = " ".join(r.stderr.split())
    for part in parts:
        assert part in message, message
    assert "Traceback" not in r.stderr
    assert not out.exists() and not keys.exists()
    assert not list(tmp_path.glob("ACC*"))
    assert not list(tmp_path.glob(".*.tmp")), "temporary files left behind"


def test_missing_file_and_unknown_key(files, tmp_path):
    r = run("--production", "nope.csv", "--consumption", "c.csv", "--key", "prorata",
            "--out", "o.csv", cwd=tmp_path)
    assert r.returncode == 2 and "nope.csv" in r.stderr and "not found" in r.stderr
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "fair",
            "--out", "o.csv", cwd=tmp_path)
    assert r.returncode == 2 and "Invalid value for '--key'" in r.stderr and "fair" in r.stderr


def test_failed_run_keeps_previous_output(files, tmp_path):
    """An existing output is only replaced by a complete new one."""
    out = tmp_path / "out.csv"
    out.write_text("previous results\n")
    files["c"].write_text(files["c"].read_text().replace("100,500", "100,abc"))
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "prorata",
            "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2
    assert out.read_text() == "previous results\n"


def test_key_files_need_an_operation_id(files, tmp_path):
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "prorata",
            "--out", str(tmp_path / "o.csv"), "--enedis-keys", str(tmp_path / "keys"),
            "--prm-map", "m.csv", cwd=tmp_path)
    assert r.returncode == 2 and "--operation" in r.stderr
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "keys").exists()


def test_participants_over_time_and_a_flat_changing_tenant(tmp_path):
    # Two months, four half-hours each side of the local month change (31 May → 1 June,
    # summer time: local midnight of 1 June is 2025-05-31T22:00Z). Flat 1 (PRM …01) has
    # tenant A until 1 June, then tenant A2; B is there all along; C joins mid-step on
    # 31 May 23:10 local (21:10Z): it takes part from the step starting 21:30Z.
    write(tmp_path / "p.csv", """
time,production_wh
2025-05-31T21:00:00+00:00,1000
2025-05-31T21:30:00+00:00,1000
2025-05-31T22:00:00+00:00,1000
2025-05-31T22:30:00+00:00,1000
""")
    # A's cells after it left and A2's before it came are empty: they must not count as
    # missing (no incomplete step).
    write(tmp_path / "c.csv", """
time,A,A2,B,C
2025-05-31T21:00:00+00:00,300,,300,999
2025-05-31T21:30:00+00:00,300,,300,300
2025-05-31T22:00:00+00:00,,200,300,300
2025-05-31T22:30:00+00:00,,200,300,300
""")
    write(tmp_path / "parts.csv", """
participant,prm,from,to
A,30001234560001,,2025-06-01
A2,30001234560001,2025-06-01,
B,30001234560002,,
C,30001234560003,2025-05-31T23:10:00+02:00,
""")
    out, keys = tmp_path / "out.csv", tmp_path / "keys"
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "prorata",
            "--out", str(out), "--participants", "parts.csv", "--enedis-keys", str(keys),
            "--operation", "00000001", "--enedis-decimals", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "incomplete" not in r.stdout
    rows = read_out(out)
    by_step = {}
    for row in rows:
        by_step.setdefault(row["time"], {})[row["participant"]] = float(row["allocated_wh"])
    # Step 1: A, B present (C not yet): 300 + 300 ≤ 1000, each gets its consumption.
    assert by_step["2025-05-31T21:00:00+00:00"] == {"A": 300, "B": 300}
    # Step 2: A, B, C present: 900 ≤ 1000.
    assert by_step["2025-05-31T21:30:00+00:00"] == {"A": 300, "B": 300, "C": 300}
    # Steps 3-4: A2, B, C: 200 + 300 + 300.
    assert by_step["2025-05-31T22:30:00+00:00"] == {"A2": 200, "B": 300, "C": 300}
    names = sorted(p.name for p in keys.iterdir())
    assert names == ["ACC00000001_30_01062025_01062025.txt", "ACC00000001_30_31052025_31052025.txt"]
    may = (keys / names[1]).read_text().splitlines()
    june = (keys / names[0]).read_text().splitlines()
    # Each month lists the PRMs active that month; flat 1 is one column in both.
    assert may[0] == "Horodate;30001234560001;30001234560002;30001234560003"
    assert may[1:] == ["31/05/2025 23:00;30,0;30,0;0,0", "31/05/2025 23:30;30,0;30,0;30,0"]
    assert june[0] == "Horodate;30001234560001;30001234560002;30001234560003"
    assert june[1] == "01/06/2025 00:00;20,0;30,0;30,0"


def test_participants_overlapping_periods_of_one_prm(files, tmp_path):
    write(tmp_path / "parts.csv", """
participant,prm,from,to
A,30001234560001,,2025-06-01
B,30001234560001,2025-05-15,
C,30001234560003,,
""")
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "prorata",
            "--out", str(tmp_path / "o.csv"), "--participants", "parts.csv", cwd=tmp_path)
    assert r.returncode == 2
    message = " ".join(r.stderr.split())
    assert "parts.csv" in message and "line 3" in message and "overlapping" in message


def test_coefficients_that_change_on_a_date(tmp_path):
    # Static key: A 0.6 / B 0.4 until 1 June (local), then A 0.2 / B 0.8.
    write(tmp_path / "p.csv", """
time,production_wh
2025-05-31T21:30:00+00:00,1000
2025-05-31T22:00:00+00:00,1000
""")
    write(tmp_path / "c.csv", """
time,A,B
2025-05-31T21:30:00+00:00,900,900
2025-05-31T22:00:00+00:00,900,900
""")
    write(tmp_path / "k.csv", """
participant,coefficient,from,to
A,0.6,,2025-06-01
B,0.4,,2025-06-01
A,0.2,2025-06-01,
B,0.8,2025-06-01,
""")
    out = tmp_path / "out.csv"
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "static",
            "--coefficients", "k.csv", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got = [(row["participant"], float(row["allocated_wh"])) for row in read_out(out)]
    assert got == [("A", 600), ("B", 400), ("A", 200), ("B", 800)]
    write(tmp_path / "k.csv", """
participant,coefficient,from,to
A,0.6,,2025-06-01
A,0.2,2025-05-01,
B,0.4,,
""")
    r = run("--production", "p.csv", "--consumption", "c.csv", "--key", "static",
            "--coefficients", "k.csv", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and "overlapping" in r.stderr and "line 3" in " ".join(r.stderr.split())


def test_gzipped_inputs_read_as_their_plain_text(tmp_path):
    """The bundled sample year is gzipped: `allocate` reads .csv.gz as it reads the same text
    uncompressed (the README's first example), and a damaged gzip file is a clean error."""
    import gzip
    plain_p, plain_c = tmp_path / "p.csv", tmp_path / "c.csv"
    text_p = "time,production_wh\n2025-06-21T10:00:00+00:00,900\n2025-06-21T10:30:00+00:00,450\n"
    text_c = ("time,A,B\n2025-06-21T10:00:00+00:00,100,500\n"
              "2025-06-21T10:30:00+00:00,300,300\n")
    plain_p.write_text(text_p)
    plain_c.write_text(text_c)
    (tmp_path / "p.csv.gz").write_bytes(gzip.compress(text_p.encode()))
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(text_c.encode()))
    a = run("--production", "p.csv", "--consumption", "c.csv", "--key", "prorata",
            "--out", "plain.csv", cwd=tmp_path)
    b = run("--production", "p.csv.gz", "--consumption", "c.csv.gz", "--key", "prorata",
            "--out", "gz.csv", cwd=tmp_path)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert (tmp_path / "gz.csv").read_text() == (tmp_path / "plain.csv").read_text()
    (tmp_path / "bad.csv.gz").write_bytes(gzip.compress(text_p.encode())[:-12])
    c = run("--production", "bad.csv.gz", "--consumption", "c.csv", "--key", "prorata",
            "--out", "bad.csv", cwd=tmp_path)
    assert c.returncode == 2 and "bad.csv.gz" in c.stderr and "Traceback" not in c.stderr
    assert not (tmp_path / "bad.csv").exists()
