"""``pvshare status``: the daemon's health in plain words, from the store and the status
file the daemon keeps beside it.
"""

from __future__ import annotations

import json
import time

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from pvshare.i18n import _


def _age(seconds: float | None) -> str:
    if seconds is None:
        return _("never")
    s = max(0, int(seconds))
    if s < 120:
        return _("{n} s ago").format(n=s)
    if s < 7200:
        return _("{n} min ago").format(n=s // 60)
    if s < 172800:
        return _("{n} h ago").format(n=s // 3600)
    return _("{n} days ago").format(n=s // 86400)


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
    with Store.from_config(cfg, create=False, readonly=True) as store:
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
    top.add_row(_("daemon"), _("no sign of life yet") if seen is None
                else _("last active {age}").format(age=_age(now - seen)))
    if s["last_step_s"] is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(s["last_step_s"]))
        top.add_row(_("last step closed"), stamp)
    else:
        top.add_row(_("last step closed"), _("none yet"))
    top.add_row(_("steps closed (7 days)"),
                _("{n}, of which {k} incomplete (a meter did not report)").format(
                    n=s["steps_last_7_days"], k=s["incomplete_last_7_days"]))
    if s["influxdb"]:
        top.add_row(_("waiting for InfluxDB"), _("{n} point(s)").format(n=s["outbox_depth"]))
    else:
        top.add_row("InfluxDB", _("not configured ({n} point(s) kept in the store)").format(
            n=s["outbox_depth"]))
    wx = s.get("forecast_weather")
    if wx:
        if wx.get("source") in ("open-meteo", "cache") and not wx.get("reason"):
            top.add_row(_("forecast weather"), _("{source}, fetched {age}").format(
                source=wx["source"], age=_age(now - (wx.get("fetched_s") or now))))
        elif wx.get("source") == "cache":
            top.add_row(_("forecast weather"),
                        _("offline, using the forecast fetched {age} ({reason})").format(
                            age=_age(now - (wx.get("fetched_s") or now)),
                            reason=escape(str(wx.get("reason")))))
        else:
            top.add_row(_("forecast weather"),
                        _("none: the forecast uses climatology ({reason})").format(
                            reason=escape(str(wx.get("reason") or _("no weather")))))
    err = s["last_error"]
    top.add_row(_("last error"), _("none") if not err else
                escape(f"{_age(now - err['time_s'])}: {err['job']}: {err['message']}"))
    meters = Table(title=_("meters: age of the last reading"), title_justify="left")
    meters.add_column(_("meter"))
    meters.add_column(_("last reading"), justify="right")
    meters.add_column("")
    silent = 0
    for m, age in s["meters"].items():
        late = age is None or age > 900
        silent += late
        meters.add_row(m, _age(age), f"[red]{_('silent')}[/]" if late else "[green]ok[/]")
    summary = _("{k} of {n} meters reported in the last 15 min").format(
        k=len(s["meters"]) - silent, n=len(s["meters"]))
    return Group(top, summary, meters)


#: ``pvshare status`` exit codes (for cron or a monitoring agent); the first that applies.
EXIT_OK, EXIT_STALE_METER, EXIT_PENDING_STEPS, EXIT_OUTBOX = 0, 3, 4, 5
#: A meter whose last reading is older than this is stale, s.
STALE_AFTER_S = 900
#: The outbox is backing up when its oldest point is older than this, s, or when it holds
#: more than this share of its cap.
OUTBOX_MAX_AGE_S = 3600
OUTBOX_MAX_SHARE = 0.5


def exit_code(cfg, s: dict) -> tuple[int, str]:
    """The exit code of ``pvshare status`` and why, from :func:`collect`'s dict.

    Returns
    -------
    code : int
        0 all well; 3 a meter is stale (no reading for 15 min); 4 steps are pending past
        their grace (the last closed step is older than one step plus ``daemon.grace_s``);
        5 the outbox is backing up (oldest unsent point older than 1 h, or more than half
        the cap).
    reason : str
    """
    now = s["now_s"]
    stale = [m for m, age in s["meters"].items() if age is None or age > STALE_AFTER_S]
    if stale:
        return EXIT_STALE_METER, f"stale meter(s): {', '.join(stale[:5])}"
    from pvshare.timegrid import step_seconds
    step = step_seconds(cfg.site.step)
    last = s["last_step_s"]
    due = (now - cfg.daemon.grace_s) // step * step - step     # the last step that should be closed
    if last is None or last < due:
        return EXIT_PENDING_STEPS, "steps pending past their grace (last closed: " + (
            "none" if last is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(last))
        ) + ")"
    oldest = s["oldest_unsent_s"]
    if s["influxdb"] and ((oldest is not None and now - oldest > OUTBOX_MAX_AGE_S)
                          or s["outbox_depth"] > OUTBOX_MAX_SHARE * cfg.store.outbox_max_points):
        return EXIT_OUTBOX, f"the outbox is backing up ({s['outbox_depth']} point(s) waiting)"
    return EXIT_OK, "ok"
