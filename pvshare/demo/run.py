"""``pvshare demo``: the whole building and the daemon, at high speed, with no hardware.

It starts the building simulators (the SunSpec inverter and the 48 Linky meters over MQTT,
with a broker of its own), writes the configuration it runs with to ``DIR/pvshare.toml``,
runs the daemon on a simulated clock with a live terminal view, and ends with the day's
allocation summary. Every other command then works on its data with
``--config DIR/pvshare.toml``.
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
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"
BARS = " ▁▂▃▄▅▆▇█"


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
    # At high speed the daemon polls the inverter once per simulated minute at most.
    # (At most an hour: the configuration refuses longer, issue 21.)
    data["daemon"] = {**data.get("daemon", {}),
                      "poll_interval_s": min(3600.0, max(10.0, speed / 20)),
                      "flush_interval_s": min(3600.0, max(5.0, speed / 20))}
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
    a = daemon.store.allocation(int(start_s), int(now))
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
    from pvshare_simulators.clock import SimClock, parse_start

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
    clock = SimClock(start_s, speed)
    # The demo's inverter stays reachable at night (reporting 0 W, as many do), so that the
    # night's steps close with a measured zero production.
    options = BuildingOptions(meter_interval_s=max(0.05, 120.0 / speed), night_sleep=False)
    building = Building(base_cfg, clock, options)
    with building:
        building.start(meters=False)
        cfg_path = demo_config(base, data_dir, building.broker, building.inverter_port, speed)
        cfg = load_config(cfg_path)
        console.print(f"broker: {building.broker_kind} on {building.broker[0]}:"
                      f"{building.broker[1]} · inverter: 127.0.0.1:{building.inverter_port} · "
                      f"{len(cfg.participants)} meters · config: {cfg_path}")
        daemon = Daemon(cfg, clock=clock.now, forecast=False)
        daemon.start()
        for m in daemon.pushed:                        # subscribed before anything is sent
            m.wait_connected(15)
        # Set-up took real time: start the clock now, ten simulated minutes early so that
        # the first step has readings before it (the inverter is polled at once).
        clock.reset(start_s - 600)
        daemon.tick(clock.now())
        building.start_meters()
        end_s = start_s + duration_s
        stop_at = end_s + cfg.daemon.grace_s + 2 * daemon.plan.step_s
        try:
            with Live(_live_view(daemon, building, clock, start_s, end_s, speed),
                      console=console, refresh_per_second=4, transient=False) as live:
                last_view = 0.0
                while clock.now() < stop_at:
                    now = clock.now()
                    daemon.tick(min(now, stop_at))
                    if time.monotonic() - last_view > 0.25:
                        live.update(_live_view(daemon, building, clock, start_s,
                                               end_s, speed))
                        last_view = time.monotonic()
                    time.sleep(0.02)
                daemon.close(stop_at)
                live.update(_live_view(daemon, building, clock, start_s, end_s, speed))
        except KeyboardInterrupt:
            console.print("[yellow]stopped early[/]")
        finally:
            daemon.meters_stats = {m.id: dict(getattr(m, "stats", {})) for m in daemon.pushed}
            daemon.stop()
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
    console.print(f"\nfiles: {data_dir}\n  configuration: {cfg_path}\n  store (SQLite): "
                  f"{cfg.relative(cfg.store.path)}\n\nnext, try:\n"
                  f"  pvshare status --config {cfg_path}\n"
                  f"  pvshare export --config {cfg_path} --what allocation "
                  f"--from {dt.datetime.fromtimestamp(start_s, dt.UTC):%Y-%m-%dT%H:%MZ} "
                  f"--to {dt.datetime.fromtimestamp(end_s, dt.UTC):%Y-%m-%dT%H:%MZ} "
                  f"--format csv --out {data_dir / 'allocation.csv'}")
    from pvshare.web.links import demo_links
    console.print("\n".join(demo_links(cfg, data_dir, min(start_s + 15 * 3600, end_s - 60))),
                  highlight=False, soft_wrap=True, markup=False)   # "[web]" is text

    return result.totals()
