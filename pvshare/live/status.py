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
    """Everything ``pvshare status`` shows, as a dict (also printed with ``--json``).

    ``store`` says whether the store is there (``"ok"``), ``"missing"``, or ``"replaced"``
    (another file than the one the daemon last had open); ``clock`` whether the clock is
    behind what the store has seen (the daemon waits then: docs/daemon.md, "The clock").
    """
    from pvshare.live.closing import participant_meter_ids
    from pvshare.live.daemon import CLOCK_SLACK_S, status_path
    from pvshare.store import NoStore, Store
    daemon = {}
    sp = status_path(cfg)
    if sp.exists():
        try:
            daemon = json.loads(sp.read_text())
        except (OSError, ValueError):
            daemon = {}
    now_s = now_s if now_s is not None else daemon.get("now_s") or time.time()
    path = cfg.relative(cfg.store.path)
    out = {"now_s": now_s, "store": {"state": "ok", "path": str(path)},
           "daemon_seen_s": daemon.get("now_s"), "last_error": daemon.get("last_error"),
           "last_close": daemon.get("last_close"), "influxdb": cfg.influxdb is not None,
           "forecast_weather": daemon.get("forecast_weather"),
           "pending_steps": (daemon.get("last_close") or {}).get("pending_steps") or 0,
           "daemon_counters": daemon.get("counters") or {},
           "clock": {"behind_s": None, "waiting": False}}
    if not path.exists():
        out["store"]["state"] = "missing"
        return out
    seen = (daemon.get("store") or {}).get("inode")
    st = path.stat()
    if seen and [st.st_dev, st.st_ino] != list(seen):
        out["store"]["state"] = "replaced"
    try:
        store = Store.from_config(cfg, create=False, readonly=True)
    except NoStore:                                    # removed meanwhile
        out["store"]["state"] = "missing"
        return out
    with store:
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
    # The clock: the daemon says when it waits; on the real clock this command also checks
    # its own clock against what the store has seen (the daemon may be down).
    clock = daemon.get("clock") or {}
    behind = clock.get("behind")
    if behind:
        out["clock"] = {"behind_s": behind.get("behind_s"), "waiting": True,
                        "must_reach_s": behind.get("must_reach_s")}
    elif not daemon or clock.get("system"):
        from pvshare.timegrid import step_seconds
        horizon = max([*latest.values(), *([] if last is None else
                                          [last + step_seconds(cfg.site.step)])],
                      default=None)
        mine = time.time()
        if horizon is not None and mine + CLOCK_SLACK_S < horizon:
            out["clock"] = {"behind_s": horizon - mine, "waiting": False,
                            "must_reach_s": horizon}
    out.update({"meters": meters, "last_step_s": last,
                "steps_last_7_days": int(len(steps)),
                "incomplete_last_7_days": int(incomplete.sum()),
                "outbox_depth": depth, "oldest_unsent_s": stats.get("outbox_oldest_s")})
    return out


def _duration(s: float) -> str:
    s = int(round(s))
    if s >= 3600:
        return _("{h} h {m:02d} min").format(h=s // 3600, m=s % 3600 // 60)
    return _("{n} min").format(n=s // 60) if s >= 120 else _("{n} s").format(n=s)


def render(cfg, s: dict):
    """Rich renderables for a person."""
    now = s["now_s"]
    top = Table(show_header=False, title=_("pvshare — {site}").format(site=cfg.site.name),
                title_justify="left")
    top.add_column(style="bold")
    top.add_column()
    store = s.get("store") or {"state": "ok"}
    if store["state"] != "ok":
        top.add_row(_("store"), f"[red]{escape(_store_words(store))}[/]")
        return top
    clock = s.get("clock") or {}
    if clock.get("behind_s") is not None:
        top.add_row(_("clock"), "[red]" + escape(_clock_words(clock)) + "[/]")
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
    pending = s.get("pending_steps") or 0
    top.add_row(_("steps pending"), _("none") if not pending else "[red]" + escape(
        _("{n} step(s) past their grace still without production (the producer's meter "
          "did not report)").format(n=pending)) + "[/]")
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


#: ``pvshare status`` exit codes (for cron or a monitoring agent); the first that applies
#: (docs/troubleshooting.md). 2 (a bad config, a damaged store) comes from the command.
EXIT_OK, EXIT_STALE_METER, EXIT_PENDING_STEPS, EXIT_OUTBOX = 0, 3, 4, 5
EXIT_CLOCK_BEHIND, EXIT_STORE_GONE = 6, 7
#: A meter whose last reading is older than this is stale, s.
STALE_AFTER_S = 900
#: The outbox is backing up when its oldest point is older than this, s, or when it holds
#: more than this share of its cap.
OUTBOX_MAX_AGE_S = 3600
OUTBOX_MAX_SHARE = 0.5


def _store_words(store: dict) -> str:
    if store["state"] == "missing":
        return _("no store at {path}: it was removed, or never created (first run: `pvshare "
                 "store init`); the daemon will not start an empty one in its place").format(
                     path=store["path"])
    return _("{path} is not the store the daemon had open: it was replaced; restart the "
             "daemon if that is intended").format(path=store["path"])


def _clock_words(clock: dict) -> str:
    text = _("the clock is {d} behind what the store has already seen").format(
        d=_duration(clock["behind_s"]))
    if clock.get("waiting"):
        text += _(": waiting for the clock (NTP) before reading meters or closing steps")
    return text


def exit_code(cfg, s: dict) -> tuple[int, str]:
    """The exit code of ``pvshare status`` and why, in plain words, from :func:`collect`.

    Returns
    -------
    code : int
        0 all well; 7 the store is missing or was replaced; 6 the clock is behind what the
        store has seen (the daemon waits for it); 3 a meter is stale (no reading for
        15 min); 4 steps are pending past their grace (steps without production at the
        daemon's last close, or the last closed step is older than one step plus
        ``daemon.grace_s``); 5 the outbox is backing up (oldest unsent point older than
        1 h, or more than half the cap).
    reason : str
    """
    store = s.get("store") or {"state": "ok"}
    if store["state"] != "ok":
        return EXIT_STORE_GONE, _store_words(store)
    clock = s.get("clock") or {}
    if clock.get("behind_s") is not None:
        return EXIT_CLOCK_BEHIND, _clock_words(clock)
    now = s["now_s"]
    stale = [m for m, age in s["meters"].items() if age is None or age > STALE_AFTER_S]
    if stale:
        return EXIT_STALE_METER, _("stale meter(s): {m}").format(m=", ".join(stale[:5]))
    from pvshare.timegrid import step_seconds
    step = step_seconds(cfg.site.step)
    last = s["last_step_s"]
    due = (now - cfg.daemon.grace_s) // step * step - step     # the last step that should be closed
    if last is None or last < due:
        return EXIT_PENDING_STEPS, _("steps pending past their grace (last closed: {t})").format(
            t=_("none") if last is None else time.strftime("%Y-%m-%d %H:%M UTC",
                                                          time.gmtime(last)))
    pending = s.get("pending_steps") or 0
    if pending:
        return EXIT_PENDING_STEPS, _("{n} step(s) pending past their grace, without "
                                     "production").format(n=pending)
    oldest = s["oldest_unsent_s"]
    if s["influxdb"] and ((oldest is not None and now - oldest > OUTBOX_MAX_AGE_S)
                          or s["outbox_depth"] > OUTBOX_MAX_SHARE * cfg.store.outbox_max_points):
        return EXIT_OUTBOX, _("the outbox is backing up ({n} point(s) waiting)").format(
            n=s["outbox_depth"])
    return EXIT_OK, "ok"
