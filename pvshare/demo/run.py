"""``pvshare demo``: the whole building and the daemon, at high speed, with no hardware.

It starts the building simulators (the SunSpec inverter and the 48 Linky meters over MQTT,
with a broker of its own), writes the configuration it runs with to ``DIR/pvshare.toml``,
runs the daemon on a simulated clock with a live terminal view, and ends with the day's
allocation summary. Every other command then works on its data with
``--config DIR/pvshare.toml``.

The figures are the same on every run, at any ``--speed``: the demo drives the simulated
clock itself, one :data:`TICK_S` at a time (:class:`SteppedClock`). At each tick it sets the
time, publishes the meters' messages of that time and waits until the daemon has received
them, then runs the daemon's due jobs (which poll the inverter at that time). Wall time only
paces the ticks (``--speed`` simulated seconds per second, or slower on a busy machine): it
never decides what is measured when.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path

import numpy as np
import tomli_w
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from pvshare.config import load_config
from pvshare.timegrid import local_midnight_utc

DEFAULT_START_LOCAL = dt.date(2025, 6, 21)   # a long, mostly sunny day in the sample year
#: Simulated seconds between two ticks of the demo's clock (the daemon polls the inverter
#: and stores readings at every tick).
TICK_S = 60
#: Simulated seconds between two messages of a meter.
METER_EVERY_S = 120
#: Simulated seconds of readings before the first step (the first step has readings on
#: both sides of its start).
LEAD_S = 600
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"
BARS = " ▁▂▃▄▅▆▇█"


class SteppedClock:
    """The demo's simulated clock: it stands still between the demo's :meth:`set` calls, so
    everything that reads it (the daemon, the inverter) sees the time of the tick.
    """

    def __init__(self, start_s: float, speed: float):
        self._t = float(start_s)
        self._sim0 = float(start_s)
        self.speed = float(speed)

    def now(self) -> float:
        """The simulated time of the current tick, UTC Unix seconds."""
        return self._t

    def set(self, t_s: float) -> None:
        """Move to the next tick."""
        self._t = float(t_s)


def _wait_received(daemon, expected: int, timeout_s: float = 30.0) -> None:
    """Until the daemon's MQTT meters have received ``expected`` messages in all."""
    deadline = time.monotonic() + timeout_s
    while sum(m.counters["received"] for m in daemon.pushed) < expected:
        if time.monotonic() > deadline:
            logging.getLogger("pvshare.demo").warning(
                "the meters' messages did not all reach the daemon within %.0f s", timeout_s)
            return
        time.sleep(0.001)


def _drive(daemon, meters, clock: SteppedClock, stop_at: float, speed: float,
           refresh) -> None:
    """Move the clock one tick at a time up to ``stop_at``. At each tick: the meters'
    messages of the tick, received by the daemon; the daemon polls the inverter and stores
    the readings; once per step, when its grace has passed, it closes what is due (the
    daemon's own schedule closes more often, with the same results, which depend only on
    the readings stored and the time). Paced at ``speed``.
    """
    step = daemon.plan.step_s
    grace = daemon.cfg.daemon.grace_s
    t0 = t = clock.now()
    published = 0
    wall0 = time.monotonic()
    last_view = wall0
    while True:
        if (t - t0) % METER_EVERY_S == 0:
            messages = meters.messages(t)
            meters.publish(messages)
            published += len(messages)
            _wait_received(daemon, published)
        daemon.poll(t)
        daemon.flush(t)
        if (t - grace) % step == 0 or t >= stop_at:
            daemon.close(t)
            daemon.forward(t)
        if time.monotonic() - last_view > 0.25:
            refresh()
            last_view = time.monotonic()
        ahead = wall0 + (t - t0) / speed - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        if t >= stop_at:
            return
        t = min(t + TICK_S, stop_at)
        clock.set(t)


def _shown(path: Path) -> str:
    """A path as the person who ran the demo types it: relative to the current folder when
    it is inside it.
    """
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def pvshare_command() -> str:
    """How to run this very pvshare from the current folder: ``pvshare`` when it is the one
    on PATH, else its path (``.venv/bin/pvshare`` after ``make demo``).
    """
    import shutil
    import sys
    argv0 = Path(sys.argv[0]) if sys.argv and Path(sys.argv[0]).name == "pvshare" else None
    exe = argv0 if argv0 is not None and argv0.exists() else \
        Path(sys.executable).with_name("pvshare")
    found = shutil.which("pvshare")
    if found and Path(found).resolve() == exe.resolve():
        return "pvshare"
    return _shown(exe)


def next_steps(cfg, data_dir: Path, cfg_path: Path, start_s: float, end_s: float) -> list[str]:
    """The lines the demo ends with: where its files are and commands that work on them as
    printed (tests/test_demo.py runs each).
    """
    from pvshare.web.links import demo_links
    pv = pvshare_command()
    c = _shown(cfg_path)
    d = _shown(data_dir)
    utc = dt.UTC
    month = dt.datetime.fromtimestamp(start_s, utc).astimezone(
        __import__("zoneinfo").ZoneInfo(cfg.site.timezone)).strftime("%Y-%m")
    first = cfg.participant_ids[0]
    return [
        f"\nfiles: {d}\n  configuration: {c}\n  store (SQLite): "
        f"{_shown(cfg.relative(cfg.store.path))}",
        "\nnext, try (from this folder, as printed):",
        f"  {pv} status --config {c}",
        f"  {pv} export --config {c} --what allocation "
        f"--from {dt.datetime.fromtimestamp(start_s, utc):%Y-%m-%dT%H:%MZ} "
        f"--to {dt.datetime.fromtimestamp(end_s, utc):%Y-%m-%dT%H:%MZ} "
        f"--format csv --out {_shown(data_dir / 'allocation.csv')}",
        f"  {pv} report tenant --config {c} --month {month} --participant {first} "
        f"--format html --out {d}",
        *demo_links(cfg, data_dir, min(start_s + 15 * 3600, end_s - 60), pvshare=pv,
                    config_shown=c, out_shown=_shown(data_dir / "links-all.csv")),
    ]


def parse_duration(text: str) -> float:
    """``1d``, ``12h``, ``90m`` or seconds → seconds."""
    text = text.strip().lower()
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except (ValueError, IndexError):
        raise ValueError(f"not a duration: {text!r} (use e.g. 1d, 12h, 90m)") from None


def demo_config(base_path: Path, data_dir: Path, broker: tuple[str, int], inverter_port: int,
                speed: float) -> Path:
    """Write ``data_dir/pvshare.toml``: the base site with the simulators' addresses."""
    import tomllib
    data = tomllib.loads(base_path.read_text(encoding="utf-8"))
    data["meters"] = [
        {"id": "inverter", "type": "sunspec", "host": "127.0.0.1", "port": inverter_port,
         "unit": 1},
        {"id": "linky-{participant}", "type": "mqtt", "format": "zlinky",
         "topic": "zigbee2mqtt/linky-{participant}"},
    ]
    data["producer"]["meter"] = "inverter"
    for p in data["participants"]:
        p.pop("meter", None)
    data["mqtt"] = {"host": broker[0], "port": broker[1], "client_id": "pvshare-demo"}
    data["store"] = {**data.get("store", {}), "path": "pvshare.db"}
    # The demo's clock moves one tick at a time: the daemon polls and flushes at each.
    data["daemon"] = {**data.get("daemon", {}), "poll_interval_s": float(TICK_S),
                      "flush_interval_s": float(TICK_S)}
    url = os.environ.get("PVSHARE_INFLUX_URL")
    if url:
        data["influxdb"] = {"url": url, "org": os.environ.get("PVSHARE_INFLUX_ORG", ""),
                            "bucket": os.environ.get("PVSHARE_INFLUX_BUCKET", "pvshare")}
    path = data_dir / "pvshare.toml"
    text = ("# Written by `pvshare demo`: the example building wired to the simulators.\n"
            "# Use it with any command, e.g. pvshare status --config " + str(path) + "\n")
    path.write_text(text + tomli_w.dumps(data), encoding="utf-8")
    return path


def _live_view(daemon, building, clock, start_s: float, end_s: float, speed: float):
    cfg = daemon.cfg
    now = clock.now()
    local = dt.datetime.fromtimestamp(now, dt.UTC).astimezone(
        __import__("zoneinfo").ZoneInfo(cfg.site.timezone))
    img = building.inverter.image
    power_w = float(img.last.get("W") or 0.0) if img.last else 0.0
    fleet = building.meters.fleet
    cons_w = np.asarray(fleet.power_w(now), dtype=float)
    a = daemon.store.allocation(int(start_s), int(min(now, end_s)))   # the day's steps
    head = Table.grid(padding=(0, 3))
    head.add_row(f"[bold]{local:%A %d %B %Y %H:%M}[/] (heure locale)",
                 f"x{speed:g}", f"{100 * min(1, (now - start_s) / (end_s - start_s)):.0f} %")
    head.add_row(f"☀ production now: [yellow]{power_w / 1000:5.1f} kW[/]",
                 f"⌂ consumption now: [cyan]{cons_w.sum() / 1000:5.1f} kW[/]",
                 f"steps closed: {len(a.step_starts_s)}")
    if len(a.step_starts_s):
        prod = a.production_wh
        top = max(prod.max(), 1.0)
        spark = "".join(BARS[int(round(8 * p / top))] for p in prod)
        auto = np.nansum(a.allocated_wh)
        head.add_row(f"production today: {prod.sum() / 1000:.1f} kWh",
                     f"shared with tenants: {auto / 1000:.1f} kWh",
                     f"surplus: {(prod.sum() - auto) / 1000:.1f} kWh")
        head.add_row(f"[yellow]{spark}[/]", "", "")
    grid = Table(title="each tenant's solar share today (kWh from the roof / consumed)",
                 show_header=False, box=None, padding=(0, 1))
    ncol = 6
    for _ in range(ncol):
        grid.add_column()
    ids = cfg.participant_ids
    if len(a.step_starts_s):
        alloc = np.nansum(a.allocated_wh, axis=0)
        cons = np.nansum(a.consumption_wh, axis=0)
        order = {pid: i for i, pid in enumerate(a.participant_ids)}
        cells = []
        for pid in ids:
            i = order.get(pid)
            if i is None:
                cells.append(f"{pid} —")
                continue
            pct = 100 * alloc[i] / cons[i] if cons[i] > 0 else 0
            cells.append(f"{pid} [green]{alloc[i] / 1000:4.2f}[/]/{cons[i] / 1000:4.2f} "
                         f"[dim]{pct:3.0f}%[/]")
        for r in range(0, len(cells), ncol):
            grid.add_row(*cells[r:r + ncol])
    return Panel(Group(head, grid), title=f"pvshare demo — {cfg.site.name}",
                 subtitle="Ctrl-C to stop early")


def run_demo(data_dir: Path, *, speed: float = 1440.0, duration_s: float = 86400.0,
             start: str | None = None, config: Path | None = None,
             console: Console | None = None) -> dict:
    """Run the demo (see the module docstring); returns the day's totals."""
    from pvshare.allocation import AllocationResult
    from pvshare.allocation.summary import summary_table
    from pvshare.live.daemon import Daemon
    from pvshare_simulators.building import Building, BuildingOptions
    from pvshare_simulators.clock import parse_start
    from pvshare_simulators.meters import MeterSimulator

    console = console or Console()
    for noisy in ("amqtt", "pymodbus", "transitions"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    base = Path(config) if config else EXAMPLE
    base_cfg = load_config(base)
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("pvshare.db*"):          # the previous demo's store
        old.unlink()
    start_s = parse_start(start) if start else float(
        local_midnight_utc(DEFAULT_START_LOCAL, base_cfg.site.timezone).astype("int64"))
    clock = SteppedClock(start_s - LEAD_S, speed)
    # The demo's inverter stays reachable at night (reporting 0 W, as many do), so that the
    # night's steps close with a measured zero production.
    options = BuildingOptions(night_sleep=False)
    building = Building(base_cfg, clock, options)
    end_s = start_s + duration_s
    with building:
        building.start(meters=False)
        cfg_path = demo_config(base, data_dir, building.broker, building.inverter_port, speed)
        cfg = load_config(cfg_path)
        console.print(f"broker: {building.broker_kind} on {building.broker[0]}:"
                      f"{building.broker[1]} · inverter: 127.0.0.1:{building.inverter_port} · "
                      f"{len(cfg.participants)} meters · config: {_shown(cfg_path)}",
                      highlight=False, soft_wrap=True)
        daemon = Daemon(cfg, clock=clock.now, forecast=False, create_store=True,
                        speed=clock.speed)
        daemon.start()
        for m in daemon.pushed:                        # subscribed before anything is sent
            m.wait_connected(15)
        meters = MeterSimulator(cfg, building.broker[0], building.broker[1], "zlinky",
                                start_s=clock.now(), speed=speed, seed=0)
        meters.connect()
        building.meters = meters                       # the live view reads its fleet
        stop_at = end_s + cfg.daemon.grace_s + 2 * daemon.plan.step_s
        try:
            with Live(_live_view(daemon, building, clock, start_s, end_s, speed),
                      console=console, refresh_per_second=4, transient=False) as live:
                _drive(daemon, meters, clock, stop_at, speed,
                       lambda: live.update(_live_view(daemon, building, clock, start_s,
                                                      end_s, speed)))
                live.update(_live_view(daemon, building, clock, start_s, end_s, speed))
            if not console.is_terminal:
                console.print()                        # the panel's last line ends here
        except KeyboardInterrupt:
            console.print("[yellow]stopped early[/]")
        finally:
            daemon.meters_stats = {m.id: dict(getattr(m, "stats", {})) for m in daemon.pushed}
            daemon.stop()                              # the meters stop with the building
    from pvshare.store import Store
    with Store.open(cfg.relative(cfg.store.path)) as store:
        a = store.allocation(int(start_s), int(end_s))
        if cfg.influxdb is not None:
            from pvshare.store.forwarder import Forwarder
            with Forwarder(store, cfg.influxdb, cfg.site.name) as fw:
                while store.outbox_depth():
                    if not fw.deliver(wait=True):
                        break
            console.print(f"InfluxDB: outbox delivered, {store.outbox_depth()} point(s) left")
    result = AllocationResult(allocated=np.nan_to_num(a.allocated_wh), production=a.production_wh,
                              consumption=a.consumption_wh, key=cfg.key.type)
    console.print(summary_table(result, a.participant_ids,
                                title=f"The day's allocation — key '{cfg.key.type}'"))
    for line in next_steps(cfg, data_dir, cfg_path, start_s, end_s):
        console.print(line, highlight=False, soft_wrap=True, markup=False)   # "[web]" is text
    return result.totals()
