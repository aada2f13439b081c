"""Shared helpers of the daemon tests and benchmark: a small test building wired to the
simulators, ``pvshare simulate building`` and ``pvshare run`` as subprocesses sharing one
simulated clock (same ``--start``, ``--speed`` and ``--clock-origin``), and waiting for
conditions.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example.toml"
#: A summer day in the sample year, local midnight in Paris (UTC+2): 2025-06-21T00:00+02:00.
DAY_START = "2025-06-20T22:00:00+00:00"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(directory: Path, *, broker_port: int, inverter_port: int,
                 participants: int = 6, client_id: str = "pvshare-test",
                 poll_interval_s: float = 60.0, flush_interval_s: float = 60.0,
                 grace_s: float = 180.0, influx_url: str | None = None,
                 name: str = "pvshare.toml", store: str = "pvshare.db",
                 key: str | None = None, publish_results: bool | None = None) -> Path:
    """Write a config: the example building cut to ``participants`` flats, its inverter a
    SunSpec meter on 127.0.0.1:``inverter_port``, its Linky meters on the broker."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["participants"] = data["participants"][:participants]
    for p in data["participants"]:
        p.pop("meter", None)
    data["meters"] = [
        {"id": "inverter", "type": "sunspec", "host": "127.0.0.1", "port": inverter_port,
         "unit": 1},
        {"id": "linky-{participant}", "type": "mqtt", "format": "zlinky",
         "topic": "zigbee2mqtt/linky-{participant}"},
    ]
    data["producer"]["meter"] = "inverter"
    data["mqtt"] = {"host": "127.0.0.1", "port": broker_port, "client_id": client_id}
    if publish_results is not None:
        data["mqtt"]["publish_results"] = publish_results
    data["store"] = {**data.get("store", {}), "path": store}
    data["daemon"] = {"poll_interval_s": poll_interval_s, "flush_interval_s": flush_interval_s,
                      "grace_s": grace_s}
    if key:
        data["key"] = {"type": key}
    if influx_url:
        data["influxdb"] = {"url": influx_url, "org": "pvshare", "bucket": "pvshare"}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def parse_iso(value: str) -> float:
    from pvshare_simulators.clock import parse_start
    return parse_start(value)


class Timeline:
    """One simulated timeline shared by every process started from it."""

    def __init__(self, start: str = DAY_START, speed: float = 1200.0,
                 origin: float | None = None):
        self.start = start
        self.start_s = parse_iso(start)
        self.speed = float(speed)
        self.origin = time.time() if origin is None else float(origin)

    def now(self) -> float:
        """Simulated UTC Unix seconds now."""
        return self.start_s + (time.time() - self.origin) * self.speed

    def args(self) -> list[str]:
        return ["--start", self.start, "--speed", f"{self.speed:g}",
                "--clock-origin", repr(self.origin)]

    def wait_until(self, sim_s: float, timeout_s: float | None = None) -> None:
        """Sleep until the simulated time ``sim_s``."""
        delay = (sim_s - self.now()) / self.speed
        if timeout_s is not None:
            delay = min(delay, timeout_s)
        if delay > 0:
            time.sleep(delay)


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def pvshare_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "pvshare.cli", *map(str, args)]


class Proc:
    """A subprocess whose stdout+stderr go to a log file."""

    def __init__(self, argv: list[str], log_path: Path, cwd: Path | None = None):
        self.argv = argv
        self.log_path = Path(log_path)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=cwd or ROOT, env=_env(), start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, wait; returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv[3:5]} did not stop on SIGTERM within "
                                 f"{timeout_s} s:\n{self.log()[-3000:]}") from None

    def kill(self) -> None:
        """SIGKILL (kill -9) this process only."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def wait(self, timeout_s: float) -> int:
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv[3:5]} still running after {timeout_s} s:\n"
                                 f"{self.log()[-3000:]}") from None


def start_building(config: Path, timeline: Timeline, broker_port: int, inverter_port: int,
                   log_path: Path, *, interval_s: float = 0.05, night_sleep: bool = False,
                   garbage: float = 0.0, drop: float = 0.0,
                   replace_meter: tuple[str, ...] = ()) -> Proc:
    """``pvshare simulate building`` on the timeline; waits until the inverter listens.
    ``replace_meter``: ``ID@ISO`` of flats whose meter is replaced (index back near 0).
    """
    argv = pvshare_cmd("simulate", "building", "--config", config, *timeline.args(),
                       "--broker", f"127.0.0.1:{broker_port}", "--inverter-port", inverter_port,
                       "--interval", interval_s, "--garbage", garbage, "--drop", drop)
    for r in replace_meter:
        argv += ["--replace-meter", r]
    if night_sleep:
        argv.append("--night-sleep")
    p = Proc(argv, log_path)
    wait_for(lambda: "Linky meters" in p.log() or not p.alive(), 60,
             what="the building simulator to start")
    assert p.alive(), p.log()[-3000:]
    return p


def init_store(config: Path) -> None:
    """What ``pvshare store init`` does for a first run (the daemon never creates a store),
    in process: the store of ``config``, created if missing."""
    from pvshare.config import load_config
    from pvshare.store import Store
    cfg = load_config(config)
    if not cfg.relative(cfg.store.path).exists():
        Store.from_config(cfg, create=True).close()


def start_daemon(config: Path, timeline: Timeline, log_path: Path, *,
                 until: str | None = None, extra: tuple = (), init: bool = True) -> Proc:
    """``pvshare run --no-forecast`` on the timeline (output appended to ``log_path``);
    ``init``: create its store first if there is none (a first run)."""
    if init:
        init_store(config)
    argv = pvshare_cmd("run", "--config", config, "--no-forecast", *timeline.args(), *extra)
    if until:
        argv += ["--until", until]
    return Proc(argv, log_path)


def wait_for(condition: Callable[[], object], timeout_s: float, *, every_s: float = 0.05,
             what: str = "a condition"):
    """Poll ``condition`` until it is truthy (returns it) or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


def iso(t_s: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(t_s, dt.UTC).isoformat()


def open_store(config: Path):
    from pvshare.config import load_config
    from pvshare.store import Store
    cfg = load_config(config)
    return Store.open(cfg.relative(cfg.store.path), create=False)


def log_levels(text: str) -> dict[str, int]:
    """Count the daemon's log lines by level (``LEVEL name: message`` format)."""
    out = {"ERROR": 0, "WARNING": 0, "CRITICAL": 0}
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        if head in out:
            out[head] += 1
    return out
