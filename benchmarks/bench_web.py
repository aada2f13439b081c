"""Web benchmark: ``pvshare web`` under 50 requests/s of mixed tenant pages for 60 s.

The real server (a subprocess, as deployed) serves a store holding the sample year from
1 January to 21 June (the 48 tenants' allocation, the inverter's readings, a forecast), while
a writer in this process plays the daemon: it closes one step (48 allocation rows and their
outbox points, one transaction) every half second.

Open-loop load: request ``i`` is sent at ``t0 + i / 50`` whatever happened before (a slow
answer cannot slow the load down), each on a new connection; latency is counted from the
scheduled instant. Mixed pages: tenants' pages (2/3 HTML, 1/3 JSON) and, one in 25, the
building's page.

Targets: p99 <= 100 ms; the web process <= 80 MB RSS (peak, VmHWM); a tenant page < 100 KB;
no error. Baselines measured in the same run: the same load on ``/healthz`` (the server's own
floor, no page built), and the daemon's step writes without the web load.

``PVSHARE_BENCH_WEB_S`` shortens the run (seconds, default 60).
"""

from __future__ import annotations

import http.client
import os
import random
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

RATE = 50.0
P99_TARGET_MS = 100.0
RSS_TARGET_MB = 80.0
PAGE_TARGET_B = 100_000


def _rss_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of a process, MB (from /proc)."""
    cur = peak = 0.0
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def _get(port: int, path: str) -> tuple[int, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, len(r.read())
    finally:
        conn.close()


def load(port: int, paths: list[str], seconds: float, rate: float = RATE) -> dict:
    """Open-loop load at ``rate`` requests/s; latencies from each request's scheduled time."""
    n = int(seconds * rate)
    lat = np.full(n, np.nan)
    service = np.full(n, np.nan)
    sizes = np.zeros(n, dtype=np.int64)
    errors = []
    t0 = time.perf_counter() + 0.2

    def one(i: int) -> None:
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent = time.perf_counter()
        try:
            status, size = _get(port, paths[i % len(paths)])
        except OSError as exc:
            errors.append(repr(exc))
            return
        done = time.perf_counter()
        lat[i], service[i], sizes[i] = (done - due) * 1000, (done - sent) * 1000, size
        if status != 200:
            errors.append(status)

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one, range(n)))
    ok = lat[np.isfinite(lat)]
    return {"n": n, "errors": errors, "p50": float(np.percentile(ok, 50)),
            "p99": float(np.percentile(ok, 99)), "max": float(ok.max()),
            "service_p99": float(np.nanpercentile(service, 99)), "sizes": sizes}


class Daemonish:
    """Writes one closed step (48 participants) every ``every_s`` into the store, as the
    daemon does, and records how long each write transaction took."""

    def __init__(self, db: Path, ids: list[str], start_s: int, every_s: float = 0.5):
        self.db, self.ids, self.step, self.every_s = db, ids, start_s, every_s
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from pvshare.allocation import allocate
        from pvshare.store import Store
        rng = np.random.default_rng(1)
        with Store.open(self.db) as store:
            while not self._stop.wait(self.every_s):
                cons = rng.uniform(50, 400, (1, len(self.ids)))
                prod = rng.uniform(0, 9000, 1)
                r = allocate(prod, cons, "prorata")
                t = time.perf_counter()
                store.write_allocation([self.step], self.ids, prod, cons, r.allocated,
                                       r.incomplete, "prorata")
                self.times.append((time.perf_counter() - t) * 1000)
                self.step += 1800

    def start(self) -> Daemonish:
        self._thread.start()
        return self

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        return self.times


def main() -> bool:
    from tests.test_web_support import AT_S, WebServer, build_site, issue

    seconds = float(os.environ.get("PVSHARE_BENCH_WEB_S", "60"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        cfg = build_site(folder, months_back_s=AT_S - 1735686000)   # from 2025-01-01 local
        links = issue(cfg, folder / "links.csv")
        print(f"store: sample year 1 Jan → 21 Jun 2025, 48 tenants "
              f"({(folder / 'pvshare.db').stat().st_size / 1e6:.0f} MB, built in "
              f"{time.perf_counter() - t:.0f} s)")
        ids = [p for p in links if not p.startswith("@")]
        rng = random.Random(0)
        paths = []
        for i in range(int(seconds * RATE)):
            if i % 25 == 24:
                paths.append(links[rng.choice(["@building", "@pmo"])])
            else:
                paths.append(links[rng.choice(ids)] + ("?format=json" if i % 3 == 0 else ""))
        # the daemon's writes alone first (baseline), far in the future of the pages' day
        future = AT_S // 1800 * 1800 + 30 * 86400
        alone = Daemonish(folder / "pvshare.db", ids, future).start()
        time.sleep(min(10.0, seconds / 3))
        base_writes = alone.stop()
        server = WebServer(cfg)
        try:
            pid = server.proc.pid
            _, idle_peak = _rss_mb(pid)
            page_sizes = [_get(server.port, links[p])[1] for p in ids]
            floor = load(server.port, ["/healthz"], min(10.0, seconds / 3))
            writer = Daemonish(folder / "pvshare.db", ids, future + 3 * 86400).start()
            rss = []
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.wait(1.0):
                    rss.append(_rss_mb(pid)[0])
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            res = load(server.port, paths, seconds)
            sampling.set()
            sampler.join()
            writes = writer.stop()
            _, peak = _rss_mb(pid)
        finally:
            server.stop()
    p99_ratio = res["p99"] / max(floor["p99"], 1e-3)
    print(f"load: {res['n']} requests at {RATE:.0f}/s over {seconds:.0f} s, mixed tenant pages "
          f"(1/3 JSON, 1/25 building page); errors: {len(res['errors'])}")
    print(f"latency (from the scheduled instant): p50 {res['p50']:.1f} ms, p99 {res['p99']:.1f} ms "
          f"(target <= {P99_TARGET_MS:.0f}), max {res['max']:.1f} ms; service p99 "
          f"{res['service_p99']:.1f} ms")
    print(f"baseline /healthz at the same rate: p50 {floor['p50']:.1f} ms, p99 "
          f"{floor['p99']:.1f} ms -> pages p99 = {p99_ratio:.2f} x the server's floor")
    print(f"web process RSS: {idle_peak:.1f} MB at start, {max(rss, default=0):.1f} MB max "
          f"sampled, peak (VmHWM) {peak:.1f} MB (target <= {RSS_TARGET_MB:.0f})")
    print(f"tenant page: {min(page_sizes) / 1000:.1f}-{max(page_sizes) / 1000:.1f} kB "
          f"(target < {PAGE_TARGET_B / 1000:.0f} kB); largest answer of the run "
          f"{int(res['sizes'].max()) / 1000:.1f} kB")
    print(f"daemon step writes: {len(base_writes)} alone, median "
          f"{statistics.median(base_writes):.1f} ms, max {max(base_writes):.1f} ms; {len(writes)} "
          f"under the web load, median {statistics.median(writes):.1f} ms, max "
          f"{max(writes):.1f} ms (one every 0.5 s, never blocked)")
    return (not res["errors"] and res["p99"] <= P99_TARGET_MS and peak <= RSS_TARGET_MB
            and max(page_sizes) < PAGE_TARGET_B and max(writes) < 1000)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
