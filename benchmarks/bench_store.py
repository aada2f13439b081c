"""Store and forwarder benchmarks.

1. Batched insert rate of readings through ``Store.write_readings`` (target ≥ 50,000/s),
   against a raw ``executemany`` of the same tuples into a bare table in the same run.
2. Delivery rate from the outbox to a real server (VictoriaMetrics, InfluxDB write API)
   through ``Forwarder.deliver`` (target ≥ 20,000 points/s), against raw line-protocol POSTs
   of the same lines (urllib, no client library) in the same run.
3. DB size after one simulated year of 49 meters polled every 10 s with the default 90-day
   retention. Writing 38 million raw readings takes minutes, so the raw part is
   **extrapolated** from a measured 2-day simulation (bytes per reading); the year of step
   results (step energies, allocation, step rows) is simulated in full. Compared with a
   naive table (text meter id, float time, rowid) holding the same readings.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from pvshare.config import InfluxDB
from pvshare.meters.base import Reading
from pvshare.store import Store
from pvshare.store.forwarder import Forwarder
from pvshare.store.lineproto import to_lines

T0 = 1_767_225_600
METERS = [f"A{i:02d}" for i in range(1, 25)] + [f"B{i:02d}" for i in range(1, 25)] + ["inverter"]
INSERT_TARGET = 50_000
DELIVERY_TARGET = 20_000


def simulated_readings(seconds: int, t0: int = T0, poll_s: int = 10, seed: int = 0) -> list:
    """Readings of the 49 meters polled every ``poll_s``: TIC-like integer Wh indices and
    VA powers, times with millisecond jitter."""
    rng = np.random.default_rng(seed)
    n = seconds // poll_s
    out = []
    for k, m in enumerate(METERS):
        power = rng.integers(50, 3000, n)
        index = 5_000_000 + k * 1000 + np.cumsum(power * poll_s // 3600)
        times = t0 + poll_s * np.arange(n) + rng.integers(0, 1000, n) / 1000
        out += [Reading(m, t, float(i), None, float(p)) for t, i, p in
                zip(times.tolist(), index.tolist(), power.tolist())]
    out.sort(key=lambda r: r.time_s)
    return out


def bench_insert(folder: Path) -> bool:
    readings = simulated_readings(4 * 3600)  # 49 × 1440 = 70,560 readings
    batch = 5000
    with Store.open(folder / "insert.db") as s:
        t = time.perf_counter()
        for i in range(0, len(readings), batch):
            s.write_readings(readings[i:i + batch])
        ours = len(readings) / (time.perf_counter() - t)
        # small batches, as the daemon flushes every 5 s (49 meters every 10 s: ~25 a batch)
        small = readings[:20_000]
        s2 = Store.open(folder / "insert-small.db")
        t = time.perf_counter()
        for i in range(0, len(small), 25):
            s2.write_readings(small[i:i + 25])
        small_rate = len(small) / (time.perf_counter() - t)
        s2.close()
    conn = sqlite3.connect(folder / "bare.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE r (meter TEXT, time_s REAL, import_wh REAL, export_wh REAL, "
                 "power_w REAL, quality INTEGER)")
    rows = [(r.meter_id, r.time_s, r.import_wh, r.export_wh, r.power_w, int(r.quality))
            for r in readings]
    t = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?)", rows[i:i + batch])
        conn.execute("COMMIT")
    bare = len(rows) / (time.perf_counter() - t)
    conn.close()
    ok = ours >= INSERT_TARGET
    print(f"readings insert: {ours:,.0f} readings/s in batches of {batch} "
          f"(target ≥ {INSERT_TARGET:,}: {'met' if ok else 'MISSED'}); "
          f"raw executemany into a bare table: {bare:,.0f}/s → ratio {ours / bare:.2f}")
    print(f"  in daemon-sized batches of 25 (one transaction each): {small_rate:,.0f} readings/s")
    return ok


def bench_delivery(folder: Path) -> bool:
    from tests.plugins.victoriametrics import VictoriaMetrics, find_binary
    binary = find_binary()
    if binary is None:
        print("delivery: victoria-metrics is not installed (apt-get install victoria-metrics)")
        return False
    import influxdb_client  # noqa: F401  (imported once by the daemon; not part of the rate)
    vm = VictoriaMetrics(binary, folder / "vm").start()
    try:
        rng = np.random.default_rng(1)
        ids = METERS[:48]
        with Store.open(folder / "deliver.db") as s:
            for d in range(40):  # 40 days × 48 steps × (48 + 1) points = 94,080 points
                t = T0 + 86400 * d + 1800 * np.arange(48)
                c = rng.uniform(0, 800, (48, 48))
                p = rng.uniform(0, 20000, 48)
                a = np.minimum(c, p[:, None] / 48)
                s.write_allocation(t, ids, p, c, a, np.zeros(48, bool), "reallocated")
            n = s.outbox_depth()
            lines = to_lines("site=bench", s.outbox_batch(n)[2])
            cfg = InfluxDB(url=vm.url, bucket="pvshare", batch_size=5000)
            with Forwarder(s, cfg, "bench") as fw:
                t = time.perf_counter()
                sent = fw.deliver()
                ours = sent / (time.perf_counter() - t)
            assert sent == n and s.outbox_depth() == 0
        # baseline: the same lines POSTed raw, same batch size, to another measurement name
        body = [("\n".join(x.replace("pvshare_", "raw_", 1) for x in lines[i:i + 5000])).encode()
                for i in range(0, len(lines), 5000)]
        t = time.perf_counter()
        for b in body:
            req = urllib.request.Request(f"{vm.url}/api/v2/write?bucket=pvshare&precision=s",
                                         data=b, method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status in (200, 204)
        raw = len(lines) / (time.perf_counter() - t)
        stored = sum(len(x["values"]) for x in vm.export('{__name__=~"pvshare_.*"}'))
    finally:
        vm.stop()
    ok = ours >= DELIVERY_TARGET
    print(f"outbox → server: {ours:,.0f} points/s for {n:,} points in batches of 5000, "
          f"{stored:,} samples stored (target ≥ {DELIVERY_TARGET:,}: "
          f"{'met' if ok else 'MISSED'}); raw line-protocol POST: {raw:,.0f}/s → ratio "
          f"{ours / raw:.2f}")
    return ok


def bench_size(folder: Path) -> None:
    days_measured = 2
    readings = simulated_readings(days_measured * 86400, seed=2)
    path = folder / "year.db"
    with Store.open(path) as s:
        for i in range(0, len(readings), 20_000):
            s.write_readings(readings[i:i + 20_000])
        s.checkpoint()
    raw_bytes = path.stat().st_size
    per_reading = raw_bytes / len(readings)
    # naive layout for comparison
    conn = sqlite3.connect(folder / "naive.db", isolation_level=None)
    conn.execute("CREATE TABLE r (meter TEXT, time_s REAL, import_wh REAL, export_wh REAL, "
                 "power_w REAL, quality INTEGER, PRIMARY KEY (meter, time_s))")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?)",
                     [(r.meter_id, r.time_s, r.import_wh, r.export_wh, r.power_w, 0)
                      for r in readings])
    conn.execute("COMMIT")
    conn.close()
    naive_per = (folder / "naive.db").stat().st_size / len(readings)
    # a full year of step results: 49 step-energy series, 48 participants' allocation
    t_year = T0 + 1800 * np.arange(365 * 48, dtype=np.int64)
    rng = np.random.default_rng(3)
    res = folder / "results.db"
    t = time.perf_counter()
    with Store.open(res) as s:
        for m in METERS:
            s.write_step_energy(m, t_year, np.round(rng.uniform(0, 1500, len(t_year)), 3))
        ids = METERS[:48]
        for d in range(365):
            t = t_year[48 * d: 48 * d + 48]
            c = np.round(rng.uniform(0, 800, (48, 48)), 3)
            p = np.round(rng.uniform(0, 20000, 48), 3)
            s.write_allocation(t, ids, p, c, np.minimum(c, p[:, None] / 48),
                               np.zeros(48, bool), "reallocated")
            first, last, _ = s.outbox_batch(10 ** 6)
            s.outbox_ack(first, last)  # delivered: the outbox stays small in operation
        s.checkpoint()
    results_bytes = res.stat().st_size
    retained = len(METERS) * 8640 * 90
    total = per_reading * retained + results_bytes
    print(f"DB size after one simulated year (49 meters every 10 s, 90-day retention): "
          f"{total / 1e9:.2f} GB = raw readings {per_reading * retained / 1e9:.2f} GB "
          f"({retained:,} readings × {per_reading:.1f} B, EXTRAPOLATED from "
          f"{days_measured} simulated days) + a year of step results {results_bytes / 1e6:.0f} MB "
          f"(simulated in full)")
    print(f"  bytes per reading {per_reading:.1f} vs a naive table (text id, float time) "
          f"{naive_per:.1f} → ratio {per_reading / naive_per:.2f}")


def main() -> bool:
    folder = Path(tempfile.mkdtemp(prefix="pvshare-bench-store-"))
    try:
        ok = bench_insert(folder)
        ok &= bench_delivery(folder)
        bench_size(folder)
        return bool(ok)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
