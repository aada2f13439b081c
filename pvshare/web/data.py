"""The figures of the web pages, read from the store **read-only**, for every participant at once.

The web process opens the store with an SQLite ``file:…?mode=ro`` URI: it can never write to
it, and as a WAL reader it never blocks the daemon's writes. Each :class:`Snapshot` is built
with a handful of indexed queries over the whole building (today's steps, this month's and the
last months' totals, the forecast, the meters' last readings); the pages then only pick one
participant's values out of it, so a page costs no database work at all. Closed months are
kept in memory once read (a past month no longer changes once out of the daemon's
recompute window).

Units: energies in Wh, powers in W, times in UTC Unix seconds, as in the store.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from pvshare.billing.figures import MonthFigures, Terms
from pvshare.errors import PvshareError

#: A meter whose last reading is older than this is shown as stale, s.
STALE_AFTER_S = 900
#: The roof's power "now" is the producer's last reading if it is at most this old, s.
POWER_MAX_AGE_S = 900
#: A month that ended more than this long ago is final (past the recompute window), s.
FINAL_AFTER_S = 3 * 86400
#: How many past months the pages show (besides the current one).
PAST_MONTHS = 12


class WebStoreError(PvshareError):
    """The store cannot be read by the web application (names the file)."""


@dataclass(frozen=True)
class Site:
    """What the pages need from the configuration (no secrets, nothing else).

    Attributes
    ----------
    name : str
        The site's short name.
    timezone : str
        Time zone of the days and months shown.
    step_s : int
        Settlement step, s.
    participant_ids, participant_names : tuple of str
        In the config's order; a missing name is the id.
    producer_meter : str or None
        Meter id giving the roof's production.
    period_ends_s : tuple of (float or None)
        End (excluded) of each participant's period, UTC Unix seconds; None = open.
    terms : pvshare.billing.figures.Terms or None
        The participants, their periods and the prices: the month's figures (kWh, euros,
        completeness) are :func:`pvshare.billing.figures.month_figures` on them. None: the
        month shows no figure.
    """

    name: str
    timezone: str
    step_s: int
    participant_ids: tuple[str, ...]
    participant_names: tuple[str, ...]
    producer_meter: str | None
    period_ends_s: tuple[float | None, ...] = ()
    terms: Terms | None = None

    def period_end_s(self, participant_id: str) -> float | None:
        """End of a participant's period (None = open, or not in the config any more)."""
        try:
            i = self.participant_ids.index(participant_id)
        except ValueError:
            return None
        return self.period_ends_s[i] if i < len(self.period_ends_s) else None


def _instant_s(value, tz: str) -> float | None:
    """UTC Unix seconds of a period bound: a date (local midnight), a datetime (naive = local)
    or an ISO string; None or empty = open.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text) if "T" in text or " " in text \
                else dt.date.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(tz))
        return value.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=ZoneInfo(tz)).timestamp()
    return None


def site_from_config(cfg) -> Site:
    """The :class:`Site` of a :class:`pvshare.config.Config`.

    Participants' periods are read when the config has them (``to``, excluded: a date is
    local midnight, as in the rest of pvshare); a config without periods has open ones.
    """
    from pvshare.timegrid import step_seconds

    tz = cfg.site.timezone
    return Site(
        name=cfg.site.name, timezone=tz, step_s=step_seconds(cfg.site.step),
        participant_ids=tuple(p.id for p in cfg.participants),
        participant_names=tuple(p.name or p.id for p in cfg.participants),
        producer_meter=cfg.producer.meter,
        period_ends_s=tuple(_instant_s(getattr(p, "to", None), tz) for p in cfg.participants),
        terms=Terms.from_config(cfg),
    )


@dataclass(frozen=True)
class MonthTotals:
    """One local calendar month of the building (up to the last closed step), per participant.

    ``figures`` are the month's figures (:func:`pvshare.billing.figures.month_figures`, the
    bill's and the statement's); ``consumption_wh``/``allocated_wh`` are their whole Wh, None
    for a participant with no measured step that month.
    """

    year: int
    month: int
    start_s: int
    end_s: int
    steps: int
    production_wh: float
    consumption_wh: dict[str, float | None]
    allocated_wh: dict[str, float | None]
    figures: MonthFigures | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything the pages show, for the whole building, at one instant.

    Attributes
    ----------
    now_s : float
        The instant it describes (UTC Unix seconds).
    today_steps : list of int
        Stored step starts of the local day of ``now_s``.
    today_production_wh : list of (float or None)
    today_consumption_wh, today_allocated_wh : dict of str to list of (float or None)
        Per participant, aligned with ``today_steps``.
    last_step_s : int or None
        Start of the last closed step.
    last_production_wh : float or None
    last_consumption_wh, last_allocated_wh : dict of str to (float or None)
    power_w, power_time_s : float or None
        The roof's last measured power and its time (None when older than
        :data:`POWER_MAX_AGE_S`).
    green : list of (start_s, end_s, surplus_wh)
        Green periods from the stored forecast, from now to the end of tomorrow.
    forecast_issued_s : float or None
    months : list of MonthTotals
        The current month first, then up to :data:`PAST_MONTHS` before it that have data.
    meters : list of (meter_id, last_reading_s)
    outbox_depth : int
        Points waiting for InfluxDB (an upper bound, as the daemon counts it).
    """

    now_s: float
    today_start_s: int
    today_end_s: int
    today_steps: list[int]
    today_production_wh: list[float | None]
    today_consumption_wh: dict[str, list[float | None]]
    today_allocated_wh: dict[str, list[float | None]]
    last_step_s: int | None
    last_production_wh: float | None
    last_consumption_wh: dict[str, float | None]
    last_allocated_wh: dict[str, float | None]
    power_w: float | None
    power_time_s: float | None
    green: list[tuple[int, int, float]]
    forecast_issued_s: float | None
    months: list[MonthTotals]
    meters: list[tuple[str, float | None]]
    outbox_depth: int
    built_s: float = 0.0
    participants: dict[str, int] = field(default_factory=dict)


def open_readonly(path: str | Path, busy_timeout_s: float = 2.0) -> sqlite3.Connection:
    """Open the store read-only (``mode=ro`` URI): this connection can never write.

    Raises
    ------
    WebStoreError
        No store at ``path``, or not a pvshare store.
    """
    p = Path(path).resolve()
    if not p.is_file():
        raise WebStoreError(f"{p}: no pvshare store here (run the daemon first, or set "
                            "[store] path in the config)")
    try:
        conn = sqlite3.connect(f"{p.as_uri()}?mode=ro", uri=True, timeout=busy_timeout_s,
                               check_same_thread=False, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA query_only = 1")
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                           "'allocation_step'").fetchone()
    except sqlite3.Error as exc:
        raise WebStoreError(f"{p}: cannot read the store: {exc}") from None
    if not has:
        conn.close()
        raise WebStoreError(f"{p}: not a pvshare store (no allocation table)")
    return conn


def _local_midnight_s(day: dt.date, zone: ZoneInfo) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[int, int]:
    """UTC Unix seconds of the start (included) and end (excluded) of a local month."""
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return _local_midnight_s(dt.date(year, month, 1), zone), _local_midnight_s(nxt, zone)


class StoreReader:
    """Builds :class:`Snapshot` objects from one read-only connection (thread-safe).

    Parameters
    ----------
    path : path-like
        The store (SQLite file).
    site : Site
    """

    def __init__(self, path: str | Path, site: Site):
        self.path = Path(path)
        self.site = site
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._final_months: dict[tuple[int, int], MonthTotals] = {}
        self._keys: dict[int, str] = {}

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_readonly(self.path)
        return self._conn

    def snapshot(self, now_s: float) -> Snapshot:
        """Read everything the pages show at ``now_s`` (a few indexed queries).

        Raises
        ------
        WebStoreError
            The store cannot be read.
        """
        import time

        with self._lock:
            c = self._connection()
            try:
                c.execute("BEGIN")                   # one consistent read of the WAL
                try:
                    snap = self._read(c, now_s)
                finally:
                    c.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn = None
                c.close()
                raise WebStoreError(f"{self.path}: cannot read the store: {exc}") from None
        return Snapshot(**{**snap.__dict__, "built_s": time.time()})

    # -- queries ---------------------------------------------------------------------------
    def _participant_names(self, c) -> dict[int, str]:
        rows = c.execute("SELECT participant, participant_id FROM participants").fetchall()
        if len(rows) != len(self._keys):
            self._keys = {int(k): str(v) for k, v in rows}
        return self._keys

    def _read(self, c: sqlite3.Connection, now_s: float) -> Snapshot:
        site = self.site
        zone = ZoneInfo(site.timezone)
        step = site.step_s
        names = self._participant_names(c)
        ids = list(site.participant_ids)
        local = dt.datetime.fromtimestamp(now_s, zone)
        day0 = _local_midnight_s(local.date(), zone)
        day1 = _local_midnight_s(local.date() + dt.timedelta(days=1), zone)
        closed_to = int(now_s) - step + 1        # steps with start + step <= now

        # today, every participant
        steps = c.execute("SELECT step_s, production_wh FROM allocation_step WHERE step_s >= ? "
                          "AND step_s < ? AND step_s < ? ORDER BY step_s",
                          (day0, day1, closed_to)).fetchall()
        today_steps = [int(s) for s, _ in steps]
        pos = {s: j for j, s in enumerate(today_steps)}
        t_cons: dict[str, list[float | None]] = {p: [None] * len(steps) for p in ids}
        t_alloc: dict[str, list[float | None]] = {p: [None] * len(steps) for p in ids}
        for s, k, cw, aw in c.execute(
                "SELECT step_s, participant, consumption_wh, allocated_wh FROM allocation "
                "WHERE step_s >= ? AND step_s < ? AND step_s < ?", (day0, day1, closed_to)):
            pid = names.get(k)
            if pid in t_cons and s in pos:
                t_cons[pid][pos[s]] = cw
                t_alloc[pid][pos[s]] = aw

        # the last closed step (may be before today, e.g. just after midnight)
        row = c.execute("SELECT step_s, production_wh FROM allocation_step WHERE step_s < ? "
                        "ORDER BY step_s DESC LIMIT 1", (closed_to,)).fetchone()
        last_step = int(row[0]) if row else None
        last_prod = row[1] if row else None
        l_cons: dict[str, float | None] = dict.fromkeys(ids)
        l_alloc: dict[str, float | None] = dict.fromkeys(ids)
        if last_step is not None:
            for k, cw, aw in c.execute("SELECT participant, consumption_wh, allocated_wh FROM "
                                       "allocation WHERE step_s = ?", (last_step,)):
                pid = names.get(k)
                if pid in l_cons:
                    l_cons[pid], l_alloc[pid] = cw, aw

        power_w = power_t = None
        if site.producer_meter:
            row = c.execute(
                "SELECT r.time_ms, r.power_w FROM readings r JOIN meters m ON m.meter = r.meter "
                "WHERE m.meter_id = ? AND r.time_ms <= ? AND r.time_ms > ? "
                "AND r.power_w IS NOT NULL ORDER BY r.time_ms DESC LIMIT 1",
                (site.producer_meter, int(now_s * 1000),
                 int((now_s - POWER_MAX_AGE_S) * 1000))).fetchone()
            if row:
                power_t, power_w = row[0] / 1000.0, float(row[1])

        green, issued = self._green(c, now_s, day1, zone)
        months = self._months(c, now_s, local, zone, names, ids)
        meters = [(str(mid), None if t is None else t / 1000.0) for mid, t in c.execute(
            "SELECT m.meter_id, (SELECT MAX(r.time_ms) FROM readings r WHERE r.meter = m.meter "
            "AND r.time_ms <= ?) FROM meters m ORDER BY m.meter_id", (int(now_s * 1000),))]
        lo, hi = c.execute("SELECT MIN(id), MAX(id) FROM outbox").fetchone()
        depth = 0 if lo is None else int(hi - lo + 1)
        return Snapshot(
            now_s=float(now_s), today_start_s=day0, today_end_s=day1, today_steps=today_steps,
            today_production_wh=[p for _, p in steps], today_consumption_wh=t_cons,
            today_allocated_wh=t_alloc, last_step_s=last_step,
            last_production_wh=last_prod, last_consumption_wh=l_cons,
            last_allocated_wh=l_alloc, power_w=power_w, power_time_s=power_t, green=green,
            forecast_issued_s=issued, months=months, meters=meters, outbox_depth=depth,
            participants={p: i for i, p in enumerate(ids)})

    def _green(self, c, now_s: float, day1: int, zone: ZoneInfo):
        """Green periods of the stored intraday forecast from the current step to the end of
        tomorrow: the daemon's own rule (:mod:`pvshare.forecast.green_hours`).
        """
        import numpy as np

        from pvshare.forecast.green_hours import (
            DEFAULT_KWH_PER_YEAR,
            baseline_energy_wh,
            green_periods,
            green_steps,
        )

        step = self.site.step_s
        start = int(now_s) // step * step
        end = _local_midnight_s(dt.datetime.fromtimestamp(day1, zone).date()
                                + dt.timedelta(days=1), zone)
        rows = c.execute("SELECT step_s, p50_w, issued_s FROM forecast WHERE kind = 'intraday' "
                         "AND step_s >= ? AND step_s < ? ORDER BY step_s",
                         (start, end)).fetchall()
        if not rows:
            return [], None
        t = np.array([r[0] for r in rows], dtype=np.int64)
        p50_wh = np.array([np.nan if r[1] is None else r[1] for r in rows]) * step / 3600.0
        times = t.astype("datetime64[s]")
        base = baseline_energy_wh(times, step, DEFAULT_KWH_PER_YEAR
                                  * len(self.site.participant_ids), self.site.timezone)
        green = green_steps(p50_wh, base)
        out = []
        surplus = np.where(green, p50_wh - base, 0.0)
        for a, b in green_periods(times, green, step):
            a_s, b_s = int(a.astype(np.int64)), int(b.astype(np.int64))
            sel = (t >= a_s) & (t < b_s)
            out.append((a_s, b_s, float(surplus[sel].sum())))
        issued = max((r[2] for r in rows if r[2] is not None), default=None)
        return out, issued

    def _month(self, c, year: int, month: int, zone: ZoneInfo, names, ids,
               upto: int) -> MonthTotals:
        from pvshare.billing.figures import month_figures
        from pvshare.billing.month import month_from_allocation
        from pvshare.store.db import read_allocation
        a, b = month_bounds(year, month, zone)
        b = min(b, upto)                        # closed steps only (`now` may be in the past)
        n = int(c.execute("SELECT COUNT(*) FROM allocation_step WHERE step_s >= ? AND "
                          "step_s < ?", (a, b)).fetchone()[0])
        cons: dict[str, float | None] = dict.fromkeys(ids)
        alloc: dict[str, float | None] = dict.fromkeys(ids)
        terms = self.site.terms
        if terms is None or not n:
            return MonthTotals(year, month, a, b, n, 0.0, cons, alloc)
        m = month_from_allocation(terms, f"{year:04d}-{month:02d}", read_allocation(c, a, b),
                                  upto_s=b)
        try:
            fig = month_figures(terms, m)
        except ValueError:                      # a step before the first price: no euros
            import dataclasses
            fig = month_figures(dataclasses.replace(terms, prices=()), m)
        for p in fig.participants:
            if p.measured_steps and p.participant in cons:
                cons[p.participant] = float(p.consumption_wh)
                alloc[p.participant] = float(p.autocons_wh)
        return MonthTotals(year, month, a, b, n, float(fig.production_wh), cons, alloc, fig)

    def _months(self, c, now_s: float, local: dt.datetime, zone: ZoneInfo, names, ids):
        out = []
        y, m = local.year, local.month
        first = c.execute("SELECT MIN(step_s) FROM allocation_step").fetchone()[0]
        for back in range(PAST_MONTHS + 1):
            yy, mm = (y * 12 + (m - 1) - back) // 12, (y * 12 + (m - 1) - back) % 12 + 1
            a, b = month_bounds(yy, mm, zone)
            if back and (first is None or b <= first):
                break
            key = (yy, mm)
            tot = self._final_months.get(key)
            if tot is None:
                tot = self._month(c, yy, mm, zone, names, ids, int(now_s) - self.site.step_s + 1)
                if b < now_s - FINAL_AFTER_S:
                    self._final_months[key] = tot
            if back == 0 or tot.steps:
                out.append(tot)
        return out

