"""The daemon's resource use for the 48-flat building (issue 5): ``pvshare run`` as a
subprocess, measured through /proc (psutil), beside ``pvshare simulate building`` and a real
mosquitto.

Targets: CPU ≤ 2 % of one core at real speed (≤ 72 CPU-s per hour); peak RSS ≤ 150 MB and no
growth over a simulated week.

Two runs:

1. **Real speed** (the production path: ``pvshare run --config F``, APScheduler on the real
   clock): 48 meters at 1 msg/s, the inverter polled every 10 s, flush every 5 s, closing
   every minute. CPU seconds over ``REAL_S`` seconds after a warm-up, extrapolated to an hour.
   The simulated clock cannot stand in for this: at 1 msg per *simulated* second, speed N
   means 48·N msg/s, and the simulator would compete for the same two cores.
2. **A simulated week** at ``WEEK_SPEED``× (``--start/--speed``): every job runs in
   simulated time (48 meters at one message per ``WEEK_MSG_S`` simulated seconds, the
   inverter polled every ``WEEK_POLL_S`` simulated seconds), 336 steps closed and allocated.
   RSS sampled every second; its peak and its slope over the second half of the week
   (MB per simulated day) say whether memory grows with time or with data.

Baseline (same run): an idle ``python -c "import pvshare.live.daemon"`` process, its RSS and CPU
over the same time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CPU_TARGET_S_PER_H = 72.0
RSS_TARGET_MB = 150.0
WARMUP_S = 15.0
REAL_S = 120.0
WEEK_SPEED = 4032.0            # a week in 150 s
WEEK_MSG_S = 300.0             # one message per meter every 5 simulated minutes
WEEK_POLL_S = 300.0
WEEK_START = "2025-06-16T00:00:00+00:00"


def _mb(b: float) -> float:
    return b / 2**20


def _baseline():
    """An idle process that imported the daemon module (numpy, paho, the store…)."""
    import subprocess

    import psutil
    p = subprocess.Popen([sys.executable, "-c", "import pvshare.live.daemon, time; "
                          "time.sleep(3600)"], cwd=ROOT)
    time.sleep(3.0)
    return p, psutil.Process(p.pid)


def _cpu_s(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def _real_speed(tmp: Path, broker) -> dict:
    import psutil

    from tests import daemon_support as ds
    inv = ds.free_port()
    cfg = ds.write_config(tmp / "real", broker_port=broker.port, inverter_port=inv,
                          participants=48, poll_interval_s=10, flush_interval_s=5)
    # the simulators at real speed (now): 48 meters at 1 msg/s
    timeline = ds.Timeline(start=ds.iso(time.time()), speed=1.0, origin=time.time())
    building = ds.start_building(cfg, timeline, broker.port, inv, tmp / "real-building.log",
                                 interval_s=1.0)
    ds.init_store(cfg)
    daemon = ds.Proc(ds.pvshare_cmd("run", "--config", cfg, "--no-forecast"),
                     tmp / "real-daemon.log")
    base, base_proc = _baseline()
    try:
        ds.wait_for(lambda: "started:" in daemon.log() or not daemon.alive(), 60,
                    what="pvshare run to start")
        proc = psutil.Process(daemon.pid)
        time.sleep(WARMUP_S)
        c0, b0, t0 = _cpu_s(proc), _cpu_s(base_proc), time.monotonic()
        rss = []
        while time.monotonic() - t0 < REAL_S:
            rss.append(proc.memory_info().rss)
            time.sleep(1.0)
        dt = time.monotonic() - t0
        cpu, bcpu = _cpu_s(proc) - c0, _cpu_s(base_proc) - b0
        base_rss = base_proc.memory_info().rss
        readings = None
        with ds.open_store(cfg) as store:
            readings = sum(store.readings(m, 0, 2**40).time_s.size
                           for m in store.meter_ids())
        assert daemon.alive(), daemon.log()[-2000:]
        rc = daemon.terminate()
    finally:
        daemon.kill()
        building.kill()
        base.kill()
        base.wait()
    return {"cpu_s_per_h": cpu / dt * 3600, "base_cpu_s_per_h": bcpu / dt * 3600,
            "peak_rss_mb": _mb(max(rss)), "base_rss_mb": _mb(base_rss), "seconds": dt,
            "readings": readings, "rc": rc}


def _week(tmp: Path, broker) -> dict:
    import psutil

    from tests import daemon_support as ds
    inv = ds.free_port()
    cfg = ds.write_config(tmp / "week", broker_port=broker.port, inverter_port=inv,
                          participants=48, poll_interval_s=WEEK_POLL_S,
                          flush_interval_s=WEEK_POLL_S, client_id="pvshare-week")
    timeline = ds.Timeline(start=WEEK_START, speed=WEEK_SPEED, origin=time.time() + 4)
    building = ds.start_building(cfg, timeline, broker.port, inv, tmp / "week-building.log",
                                 interval_s=WEEK_MSG_S / WEEK_SPEED)
    end = timeline.start_s + 7 * 86400
    daemon = ds.start_daemon(cfg, timeline, tmp / "week-daemon.log", until=ds.iso(end))
    try:
        ds.wait_for(lambda: "started:" in daemon.log() or not daemon.alive(), 60,
                    what="pvshare run to start")
        proc = psutil.Process(daemon.pid)
        c0 = _cpu_s(proc)
        sim0 = timeline.now()
        samples = []                                     # (simulated s, rss bytes)
        while daemon.alive():
            try:
                samples.append((timeline.now(), proc.memory_info().rss))
                cpu = _cpu_s(proc) - c0
            except psutil.NoSuchProcess:
                break
            time.sleep(1.0)
        sim1 = min(timeline.now(), end)
        rc = daemon.wait(60)
        with ds.open_store(cfg) as store:
            steps, incomplete = store.allocated_steps(int(timeline.start_s), int(end))
    finally:
        daemon.kill()
        building.kill()
    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples], dtype=float)
    half = t >= t[0] + (t[-1] - t[0]) / 2
    slope = np.polyfit((t[half] - t[0]) / 86400, rss[half] / 2**20, 1)[0] if half.sum() > 3 \
        else float("nan")
    return {"peak_rss_mb": _mb(rss.max()), "slope_mb_per_day": slope,
            "first_day_rss_mb": _mb(rss[t < t[0] + 86400].max()),
            "cpu_s_per_sim_h": cpu / ((sim1 - sim0) / 3600), "steps": int(steps.size),
            "incomplete": int(incomplete.sum()), "rc": rc}


def main() -> bool:
    from tests.plugins.mosquitto import Mosquitto

    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as d:
        tmp = Path(d)
        broker = Mosquitto(tmp / "mq").start()
        try:
            real = _real_speed(tmp, broker)
            week = _week(tmp, broker)
        finally:
            broker.stop()
    print(f"real speed, {real['seconds']:.0f} s after a {WARMUP_S:.0f}-s warm-up: 48 meters at "
          f"1 msg/s, inverter every 10 s ({real['readings']} readings stored)")
    print(f"  CPU: {real['cpu_s_per_h']:.1f} CPU-s per hour = "
          f"{real['cpu_s_per_h'] / 36:.2f} % of one core (target ≤ {CPU_TARGET_S_PER_H:.0f} "
          f"CPU-s/h, 2 %); idle `import pvshare.live.daemon` process: "
          f"{real['base_cpu_s_per_h']:.2f} CPU-s/h")
    ratio = real["peak_rss_mb"] / real["base_rss_mb"]
    print(f"  RSS: peak {real['peak_rss_mb']:.1f} MB = {ratio:.2f} × the idle process's "
          f"{real['base_rss_mb']:.1f} MB (target ≤ {RSS_TARGET_MB:.0f} MB)")
    print(f"a simulated week at {WEEK_SPEED:g}×: one message per meter every {WEEK_MSG_S:g} "
          f"simulated s, inverter every {WEEK_POLL_S:g} s; {week['steps']} steps closed, "
          f"{week['incomplete']} incomplete")
    print(f"  RSS: peak {week['peak_rss_mb']:.1f} MB (first day's peak "
          f"{week['first_day_rss_mb']:.1f} MB); slope over the second half "
          f"{week['slope_mb_per_day']:+.2f} MB per simulated day")
    print(f"  CPU: {week['cpu_s_per_sim_h']:.2f} CPU-s per simulated hour at this density "
          f"(jobs in simulated time; the loop's wake-ups in real time)")
    ok = (real["cpu_s_per_h"] <= CPU_TARGET_S_PER_H and real["peak_rss_mb"] <= RSS_TARGET_MB
          and week["peak_rss_mb"] <= RSS_TARGET_MB and week["slope_mb_per_day"] < 1.0
          and real["rc"] == 0 and week["rc"] == 0 and week["steps"] >= 7 * 48 - 2)
    return bool(ok)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
