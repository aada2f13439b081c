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
    """One simulated timeline shared by every process started from it.

    With ``origin`` (wall-clock Unix s) the timeline runs from the start. With
    ``origin_file`` it is held: every process started on it stands at ``start`` until
    :meth:`go` writes the origin into that file, so a test starts its servers, simulators
    and daemons, waits until they are ready (:func:`wait_daemon_ready`,
    :func:`wait_meters_heard`) and only then lets simulated time run, however long the
    start took on a loaded machine.
    """

    def __init__(self, start: str = DAY_START, speed: float = 1200.0,
                 origin: float | None = None, origin_file: Path | None = None):
        self.start = start
        self.start_s = parse_iso(start)
        self.speed = float(speed)
        self.origin_file = Path(origin_file) if origin_file is not None else None
        if self.origin_file is not None:
            if origin is not None:
                raise ValueError("origin or origin_file, not both")
            self.origin: float | None = None
        else:
            self.origin = time.time() if origin is None else float(origin)

    @classmethod
    def held(cls, directory: Path, start: str = DAY_START, speed: float = 1200.0) -> Timeline:
        """A timeline that stands at ``start`` until :meth:`go` (its file in ``directory``)."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        return cls(start, speed, origin_file=Path(directory) / "clock-origin")

    def go(self) -> float:
        """Let simulated time run from ``start`` now (atomic write of the origin file)."""
        assert self.origin_file is not None and self.origin is None, "not a held timeline"
        origin = time.time()
        tmp = self.origin_file.with_name(self.origin_file.name + ".tmp")
        tmp.write_text(repr(origin))
        os.replace(tmp, self.origin_file)
        self.origin = origin
        return origin

    def now(self) -> float:
        """Simulated UTC Unix seconds now (``start`` until a held timeline goes)."""
        if self.origin is None:
            return self.start_s
        return self.start_s + (time.time() - self.origin) * self.speed

    def args(self) -> list[str]:
        argv = ["--start", self.start, "--speed", f"{self.speed:g}"]
        if self.origin_file is not None:
            return argv + ["--clock-origin-file", str(self.origin_file)]
        return argv + ["--clock-origin", repr(self.origin)]

    def wait_until(self, sim_s: float, timeout_s: float | None = None) -> None:
        """Sleep until the simulated time ``sim_s``."""
        assert self.origin is not None, "a held timeline does not run before go()"
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


def daemon_status(config: Path, proc: Proc | None = None) -> dict | None:
    """The daemon's status file (``pvshare status`` reads it), or None when absent; with
    ``proc``, only once that process wrote it (its first close is done)."""
    import json

    from pvshare.config import load_config
    from pvshare.live.daemon import status_path
    try:
        status = json.loads(status_path(load_config(config)).read_text())
    except (OSError, ValueError):
        return None
    if proc is not None and status.get("pid") != proc.pid:
        return None
    return status


def wait_daemon_ready(config: Path, proc: Proc, timeout_s: float = 120.0) -> dict:
    """Until ``proc`` (a ``pvshare run``) is subscribed to its broker and has done its first
    poll and close (it wrote its status file); returns that status. On a held timeline all
    this happens at the timeline's start."""
    def ready():
        if not proc.alive():
            raise AssertionError(f"the daemon exited:\n{proc.log()[-3000:]}")
        if "MQTT subscribed to" not in proc.log():
            return None
        return daemon_status(config, proc)
    return wait_for(ready, timeout_s, every_s=0.05, what=f"{proc.log_path.name} to be ready")


def wait_meters_heard(broker_port: int, topics: list[str], timeout_s: float = 120.0) -> None:
    """Until a message of every topic has gone through the broker after this call started.

    Called once the daemons are subscribed, it proves that the brokers queued a reading of
    every meter for them (QoS 1, persistent sessions): on a held timeline, a reading at the
    timeline's start, before any step.
    """
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    heard: set[str] = set()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pvshare-test-{os.getpid()}-"
                         f"{time.monotonic_ns()}", clean_session=True)
    client.on_message = lambda c, u, msg: msg.retain or heard.add(msg.topic)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in topics])
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    try:
        wait_for(lambda: subscribed.is_set() and heard >= set(topics), timeout_s,
                 what=f"a message of each of {len(topics)} topics")
    finally:
        client.disconnect()
        client.loop_stop()


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
