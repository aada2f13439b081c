"""``pvshare export`` and ``pvshare store stats|push``, end to end as subprocesses on real files
(and a real VictoriaMetrics for ``push``)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pvshare.allocation import allocate
from pvshare.meters.base import Reading
from pvshare.store import Store
from tests.test_store import T0

ROOT = Path(__file__).resolve().parents[1]
IDS = ["A01", "A02", "B01", "B02"]

CONFIG = """
[site]
name = "residence-test"
latitude = 45.958
longitude = 5.357

[producer]
prm = "25460000009001"

[array]
kwp = 36.0
tilt_deg = 15
azimuth_deg = 180

[store]
path = "data/pvshare.db"
{participants}
{influx}
"""


def write_config(folder: Path, influx: str = "") -> Path:
    parts = "".join(f'\n[[participants]]\nid = "{pid}"\nprm = "2546000000{i:04d}"\n'
                    for i, pid in enumerate(IDS))
    (folder / "data").mkdir(exist_ok=True)
    path = folder / "site.toml"
    path.write_text(CONFIG.format(participants=parts, influx=influx))
    return path


def pvshare(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pvshare.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def results(T: int = 96, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = T0 - 3600 + 1800 * np.arange(T, dtype=np.int64)  # starts 2025-12-31T23:00Z
    p = np.round(rng.uniform(0, 3000, T), 3)
    c = np.round(rng.uniform(0, 900, (T, len(IDS))), 3)
    c[rng.random(c.shape) < 0.05] = np.nan
    return t, p, c


@pytest.fixture
def site(tmp_path):
    cfg = write_config(tmp_path)
    t, p, c = results()
    r = allocate(p, c, "prorata")
    with Store.open(tmp_path / "data" / "pvshare.db") as s:
        s.write_allocation(t, IDS, p, c, r.allocated, r.incomplete, "prorata")
        s.write_readings([Reading(m, T0 + 10 * i + 0.5, 1000.0 + i, None, 200.0 + i)
                          for i in range(30) for m in ("inverter", "A01")])
        s.write_step_energy("inverter", t[:4], [1.5, np.nan, 3.25, 4.0], [0, 4, 0, 0])
    return cfg, t, p, c


def test_allocation_export_matches_pvshare_allocate_line_by_line(site, tmp_path):
    cfg, t, p, c = site
    stamps = [np.datetime_as_string(x, "s") + "+00:00" for x in t.astype("datetime64[s]")]
    pd.DataFrame({"time": stamps, "production_wh": p}).to_csv(tmp_path / "P.csv", index=False)
    frame = pd.DataFrame(c, columns=IDS)
    frame.insert(0, "time", stamps)
    frame.to_csv(tmp_path / "C.csv", index=False, na_rep="")
    done = pvshare("allocate", "--production", tmp_path / "P.csv", "--consumption",
                   tmp_path / "C.csv", "--key", "prorata", "--out", tmp_path / "OUT.csv")
    assert done.returncode == 0, done.stderr
    done = pvshare("export", "--config", cfg, "--what", "allocation", "--from",
                   "2025-12-31T23:00:00+00:00", "--to", "2026-01-02T23:00:00Z", "--format", "csv",
                   "--out", tmp_path / "export.csv")
    assert done.returncode == 0, done.stderr
    assert f"{len(t) * len(IDS)} rows" in done.stdout
    ours = (tmp_path / "export.csv").read_text().splitlines()
    theirs = (tmp_path / "OUT.csv").read_text().splitlines()
    assert ours[0] == "time,participant,consumption_wh,allocated_wh,complement_wh"
    assert ours == theirs
    rows = list(csv.DictReader(ours))
    assert rows[0]["time"] == "2025-12-31T23:00:00+00:00" and rows[0]["participant"] == "A01"
    i, j = np.argwhere(np.isnan(c))[0]
    missing = rows[i * len(IDS) + j]
    assert missing["consumption_wh"] == "" and missing["complement_wh"] == ""


def test_naive_times_are_the_sites_local_time(site, tmp_path):
    cfg, t, _, _ = site
    out = tmp_path / "day.csv"
    # 2026-01-01 local (Europe/Paris, UTC+1) = 2025-12-31T23:00Z .. 2026-01-01T23:00Z
    done = pvshare("export", "--config", cfg, "--what", "allocation", "--from", "2026-01-01",
                   "--to", "2026-01-02", "--out", out)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == 48 * len(IDS)
    assert rows[0]["time"] == "2025-12-31T23:00:00+00:00"
    assert rows[-1]["time"] == "2026-01-01T22:30:00+00:00"


def test_readings_and_steps_csv_and_parquet(site, tmp_path):
    cfg, t, _, _ = site
    args = ["--from", "2025-12-31T00:00:00+00:00", "--to", "2026-01-03T00:00:00+00:00"]
    done = pvshare("export", "--config", cfg, "--what", "readings", *args, "--out",
                   tmp_path / "r.csv")
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "time,meter,import_wh,export_wh,power_w,quality"
    assert lines[1] == "2026-01-01T00:00:00.500+00:00,A01,1000.000,,200.000,0"
    assert len(lines) == 61
    done = pvshare("export", "--config", cfg, "--what", "readings", *args, "--meter", "inverter",
                   "--format", "parquet", "--out", tmp_path / "r.parquet")
    assert done.returncode == 0, done.stderr
    r = pd.read_parquet(tmp_path / "r.parquet")
    assert list(r.columns) == ["time", "meter", "import_wh", "export_wh", "power_w", "quality"]
    assert set(r["meter"]) == {"inverter"} and len(r) == 30
    np.testing.assert_array_equal(r["power_w"], 200.0 + np.arange(30))
    done = pvshare("export", "--config", cfg, "--what", "steps", *args, "--out", tmp_path / "s.csv")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s.csv").read_text().splitlines() == [
        "time,meter,energy_wh,flags",
        "2025-12-31T23:00:00+00:00,inverter,1.500,0",
        "2025-12-31T23:30:00+00:00,inverter,,4",
        "2026-01-01T00:00:00+00:00,inverter,3.250,0",
        "2026-01-01T00:30:00+00:00,inverter,4.000,0"]
    done = pvshare("export", "--config", cfg, "--what", "allocation", *args, "--format",
                   "parquet", "--out", tmp_path / "a.parquet")
    a = pd.read_parquet(tmp_path / "a.parquet")
    assert len(a) == len(t) * len(IDS) and a["consumption_wh"].isna().any()


@pytest.mark.parametrize("args, message", [
    (["--what", "everything"], "Invalid value for '--what'"),    # a choice checked by typer
    (["--from", "yesterday"], "--from: not an ISO 8601 date or time: 'yesterday'"),
    (["--to", "2025-01-01"], "--to (2025-01-01) must be after --from"),
    (["--format", "xlsx"], "Invalid value for '--format'"),
])
def test_bad_options_give_clear_errors_and_no_file(site, tmp_path, args, message):
    cfg = site[0]
    base = {"--what": "allocation", "--from": "2026-01-01", "--to": "2026-01-02",
            "--format": "csv"}
    base.update(dict(zip(args[::2], args[1::2])))
    out = tmp_path / "out.csv"
    done = pvshare("export", "--config", cfg, *[x for kv in base.items() for x in kv],
                   "--out", out)
    assert done.returncode == 2
    assert message in done.stderr
    assert not out.exists()
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".out.csv")]


def test_export_without_a_store(tmp_path):
    cfg = write_config(tmp_path)
    done = pvshare("export", "--config", cfg, "--what", "readings", "--from", "2026-01-01",
                   "--to", "2026-01-02", "--out", tmp_path / "x.csv")
    assert done.returncode == 2
    assert "pvshare.db: no pvshare store here" in done.stderr
    assert not (tmp_path / "data" / "pvshare.db").exists()


def test_store_stats(site):
    cfg, t, _, c = site
    done = pvshare("store", "stats", "--config", cfg)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "readings" in out and "60" in out
    # a point per step, and per participant: one with missing consumption still has its
    # allocated_wh = 0 (sent), only its consumption and complement are left out
    n_points = len(t) + len(t) * len(IDS)
    assert f"outbox: {n_points:,} points waiting" in out
    assert "oldest unsent point: 2025-12-31T23:00:00+00:00" in out
    assert "size on disk:" in out
    assert "InfluxDB: not configured" in out


def test_store_push_delivers_and_empties_the_outbox(tmp_path, victoriametrics):
    cfg = write_config(tmp_path, f'[influxdb]\nurl = "{victoriametrics.url}"\nbatch_size = 100\n')
    t, p, c = results(T=48)
    r = allocate(p, c, "prorata")
    with Store.open(tmp_path / "data" / "pvshare.db") as s:
        s.write_allocation(t, IDS, p, c, r.allocated, r.incomplete, "prorata")
        depth = s.outbox_depth()
    done = pvshare("store", "push", "--config", cfg)
    assert done.returncode == 0, done.stderr
    assert f"delivered {depth:,} points" in done.stdout and "the outbox is empty" in done.stdout
    with Store.open(tmp_path / "data" / "pvshare.db") as s:
        assert s.outbox_depth() == 0
    got = victoriametrics.samples('{__name__="pvshare_participant_allocated_wh"}')
    assert len(got) == len(t) * len(IDS) and all(len(v) == 1 for v in got.values())


def test_store_push_errors(tmp_path, victoriametrics):
    # no [influxdb] section
    cfg = write_config(tmp_path)
    Store.open(tmp_path / "data" / "pvshare.db").close()
    done = pvshare("store", "push", "--config", cfg)
    assert done.returncode == 2 and "no [influxdb] section" in done.stderr
    # server unreachable: exit 2, points kept, token never printed
    secret = "tok-4f8a9-secret"
    cfg = write_config(tmp_path, f'[influxdb]\nurl = "{victoriametrics.url}"\n'
                                 f'token = "{secret}"\n')
    victoriametrics.stop()
    t, p, c = results(T=4)
    with Store.open(tmp_path / "data" / "pvshare.db") as s:
        s.write_allocation(t, IDS, p, c, allocate(p, c, "prorata").allocated,
                           np.isnan(c).any(axis=1), "prorata")
        depth = s.outbox_depth()
    done = pvshare("store", "push", "--config", cfg, "--attempts", "2")
    assert done.returncode == 2
    assert "connection refused" in done.stderr and "gave up after 2 attempts" in done.stderr
    assert f"{depth:,} points are still queued" in done.stderr
    assert secret not in done.stderr + done.stdout
    with Store.open(tmp_path / "data" / "pvshare.db") as s:
        assert s.outbox_depth() == depth


def test_store_requeue(site):
    cfg, t, _, _ = site
    with Store.open(cfg.parent / "data" / "pvshare.db") as s:
        first, last, rows = s.outbox_batch(10 ** 6)
        s.outbox_ack(first, last)  # as if delivered
    done = pvshare("store", "requeue", "--config", cfg, "--from", "2026-01-01", "--to",
                   "2026-01-02")
    assert done.returncode == 0, done.stderr
    day = [r for r in rows if T0 - 3600 <= r[2] < T0 - 3600 + 86400]  # local 2026-01-01
    assert f"queued {len(day):,} points" in done.stdout
    with Store.open(cfg.parent / "data" / "pvshare.db") as s:
        assert sorted(s.outbox_batch(10 ** 6)[2]) == sorted(day)
    done = pvshare("store", "requeue", "--config", cfg, "--from", "2026-01-02", "--to",
                   "2026-01-01")
    assert done.returncode == 2 and "must be after --from" in done.stderr
