"""``pvshare status``: the daemon's health in plain words, from the store and the status
file the daemon keeps beside it.
"""

from __future__ import annotations

import json
import time

from rich.console import Group
from rich.markup import escape
from rich.table import Table


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    if s < 172800:
        return f"{s // 3600} h ago"
    return f"{s // 86400} days ago"


def collect(cfg, now_s: float | None = None) -> dict:
    """Everything ``pvshare status`` shows, as a dict (also printed with ``--json``)."""
    from pvshare.live.closing import participant_meter_ids
    from pvshare.live.daemon import status_path
    from pvshare.store import Store
    daemon = {}
    sp = status_path(cfg)
    if sp.exists():
        try:
            daemon = json.loads(sp.read_text())
        except (OSError, ValueError):
            daemon = {}
    now_s = now_s if now_s is not None else daemon.get("now_s") or time.time()
    with Store.open(cfg.relative(cfg.store.path), create=False) as store:
        latest = store.latest_reading_times()
        last = store.last_allocated_step()
        day = 86400
        steps, incomplete = store.allocated_steps(int(now_s) - 7 * day, int(now_s) + day)
        depth = store.outbox_depth()
        stats = store.stats()
    meters = {}
    names = [cfg.producer.meter] if cfg.producer.meter else []
    try:
        names += participant_meter_ids(cfg)
    except Exception:                                  # noqa: BLE001 - status must show
        names += sorted(set(latest) - set(names))
    for m in names:
        t = latest.get(m)
        meters[m] = None if t is None else now_s - t
    return {"now_s": now_s, "meters": meters, "last_step_s": last,
            "steps_last_7_days": int(len(steps)), "incomplete_last_7_days": int(incomplete.sum()),
            "outbox_depth": depth, "oldest_unsent_s": stats.get("outbox_oldest_s"),
            "last_error": daemon.get("last_error"), "last_close": daemon.get("last_close"),
            "daemon_seen_s": daemon.get("now_s"), "influxdb": cfg.influxdb is not None,
            "forecast_weather": daemon.get("forecast_weather")}


def render(cfg, s: dict):
    """Rich renderables for a person."""
    now = s["now_s"]
    top = Table(show_header=False, title=f"pvshare — {cfg.site.name}", title_justify="left")
    top.add_column(style="bold")
    top.add_column()
    seen = s["daemon_seen_s"]
    top.add_row("daemon", "no sign of life yet" if seen is None
                else f"last active {_age(now - seen)}")
    if s["last_step_s"] is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(s["last_step_s"]))
        top.add_row("last step closed", stamp)
    else:
        top.add_row("last step closed", "none yet")
    top.add_row("steps closed (7 days)", f"{s['steps_last_7_days']}, of which "
                f"{s['incomplete_last_7_days']} incomplete (a meter did not report)")
    if s["influxdb"]:
        top.add_row("waiting for InfluxDB", f"{s['outbox_depth']} point(s)")
    else:
        top.add_row("InfluxDB", f"not configured ({s['outbox_depth']} point(s) kept in the store)")
    wx = s.get("forecast_weather")
    if wx:
        if wx.get("source") in ("open-meteo", "cache") and not wx.get("reason"):
            top.add_row("forecast weather", f"{wx['source']}, fetched "
                        f"{_age(now - (wx.get('fetched_s') or now))}")
        elif wx.get("source") == "cache":
            top.add_row("forecast weather", f"offline, using the forecast fetched "
                        f"{_age(now - (wx.get('fetched_s') or now))} "
                        f"({escape(str(wx.get('reason')))})")
        else:
            top.add_row("forecast weather", "none: the forecast uses climatology "
                        f"({escape(str(wx.get('reason') or 'no weather'))})")
    err = s["last_error"]
    top.add_row("last error", "none" if not err else
                f"{_age(now - err['time_s'])}: {err['job']}: {err['message']}")
    meters = Table(title="meters: age of the last reading", title_justify="left")
    meters.add_column("meter")
    meters.add_column("last reading", justify="right")
    meters.add_column("")
    silent = 0
    for m, age in s["meters"].items():
        late = age is None or age > 900
        silent += late
        meters.add_row(m, _age(age), "[red]silent[/]" if late else "[green]ok[/]")
    summary = f"{len(s['meters']) - silent} of {len(s['meters'])} meters reported in the last 15 min"
    return Group(top, summary, meters)
