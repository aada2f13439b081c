"""The daemon: live operation of the building (``pvshare run``).

Jobs, each a method over an explicit ``now`` (UTC Unix seconds):

* :meth:`Daemon.poll` — read the polled meters (SunSpec, Modbus, TIC serial) every
  ``poll_interval_s``; MQTT meters push their readings from their own network thread;
* :meth:`Daemon.flush` — store the buffered readings in one transaction (no write per
  message: an SD card wears with every small write);
* :meth:`Daemon.close` — close the steps that ended ``grace_s`` ago, recompute those that
  got late data (:func:`pvshare.live.closing.close_steps`), publish the results to MQTT;
* :meth:`Daemon.forward` — deliver the outbox to InfluxDB (when configured);
* :meth:`Daemon.refresh_forecast` — the 48-h forecast, in a short-lived child process (pandas
  and pvlib stay out of the long-running process);
* :meth:`Daemon.housekeeping` — purge raw readings past their retention; write the last
  final month's Enedis key file once (``[operation] key_dir``; also after every close).

:meth:`Daemon.tick` runs whatever is due at ``now``: tests and the demo drive it with a
simulated clock. :meth:`Daemon.run_forever` drives the same jobs with APScheduler on the
real clock, tells systemd it is ready and feeds its watchdog, and shuts down cleanly on
SIGTERM (flush, then close).

Two guards run before any job (docs/daemon.md, "The clock" and "The store"):

* **the clock** — a clock behind what the store has already seen (its latest reading or
  closed step: a Raspberry Pi without a real-time clock before NTP) is waited for: no
  meter is read, no step closed until it has caught up; a jump while running (either way,
  against the monotonic clock) is logged once, and a jump back is waited out the same way;
* **the store** — its file removed or replaced (another inode) is seen at the next flush:
  the daemon stops with :class:`pvshare.store.StoreGone` (exit code 7), writes nothing more,
  and never re-creates the folder; it never creates a store either, unless asked
  (``pvshare store init``).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pvshare.files.atomic import private_mode, write_atomic
from pvshare.live import sdnotify
from pvshare.live.closing import close_steps, plan_from_config
from pvshare.logs import RateLimitedLog
from pvshare.meters import registry
from pvshare.meters.base import counters_of
from pvshare.store import NoStore, Store, StoreGone

log = logging.getLogger("pvshare.live.daemon")

#: Live power points are sent to InfluxDB at most this often per meter, s.
POWER_POINT_EVERY_S = 60.0
FORECAST_EVERY_S = 3600.0
HOUSEKEEPING_EVERY_S = 86400.0
FORWARD_EVERY_S = 10.0
CLOSE_EVERY_S = 60.0
#: Least time between two log lines about the same failing job, s (a full disk...).
FAULT_LOG_INTERVAL_S = 600.0
#: The clock is "behind" when it is more than this behind what the store has seen, s (a
#: meter whose own clock runs a little fast does not make the daemon wait).
CLOCK_SLACK_S = 300.0
#: A change of the clock against the monotonic clock larger than this is a jump, s; on a
#: simulated clock, at least this many real seconds' worth (a loaded machine may pause a
#: process between reading the two clocks).
CLOCK_JUMP_S = 120.0
CLOCK_JUMP_REAL_S = 3.0
#: While waiting for the clock, the status file is rewritten at most this often (real s).
WAITING_STATUS_EVERY_S = 5.0


def status_path(cfg) -> Path:
    """Where the daemon writes its status (beside the store): read by ``pvshare status``."""
    db = cfg.relative(cfg.store.path)
    return db.with_name(db.name + ".status.json")


class Daemon:
    """One building's live operation. See the module docstring.

    Parameters
    ----------
    cfg : pvshare.config.Config
    clock : callable, optional
        UTC Unix seconds now (default :func:`time.time`; the demo passes a simulated clock).
    forecast : bool
        Run the forecast job (a child process).
    create_store : bool
        Create the store when there is none (the demo, tests). False (``pvshare run``): a
        missing store is :class:`pvshare.store.NoStore`, never replaced by an empty one.
    speed : float
        Simulated seconds per real second of ``clock`` (1 for the real clock): clock jumps
        are measured against :func:`time.monotonic` times this.
    """

    def __init__(self, cfg, *, clock: Callable[[], float] = time.time, forecast: bool = True,
                 create_store: bool = False, speed: float = 1.0):
        self.cfg = cfg
        from pvshare.config import check_references
        check_references(cfg)
        self.plan = plan_from_config(cfg)
        self.clock = clock
        self.speed = float(speed)
        from pvshare.secrets import plain_text_warnings
        for warning in plain_text_warnings(cfg):
            log.warning("%s", warning)
        path = cfg.relative(cfg.store.path)
        if not create_store and not path.exists():
            # before the lock file: a vanished folder gets this message, not a lock error
            raise NoStore(f"{path}: no pvshare store here. A first run: create it with "
                          f"`pvshare store init --config {cfg.source or 'FILE'}`; a store "
                          "that was there: restore it from a backup (pvshare never starts "
                          "an empty one in its place; docs/store.md)")
        from pvshare.store.lock import StoreLock
        self._store_lock = StoreLock(path).acquire()   # one daemon
        try:
            self.store = Store.from_config(cfg, create=create_store)
        except BaseException:
            self._store_lock.release()
            raise
        self.status_file = status_path(cfg)
        self._buffer: collections.deque = collections.deque()   # thread-safe appends
        self._lock = threading.Lock()            # one job at a time touches the store
        self.polled: list = []
        self.pushed: list = []
        self.dirty: dict[str, float] = {}
        self._restarted = True                   # first close recomputes the whole window
        self._last_power: dict[str, float] = {}
        self._due: dict[str, float] = {}
        self.forecast_enabled = forecast and _forecast_installed()
        self.last_error: dict | None = None
        #: The error that stopped the daemon (a damaged store), raised by ``pvshare run``.
        self.fatal: Exception | None = None
        self.last_close: dict | None = None
        self.started_s = clock()
        self.counters: collections.Counter = collections.Counter()
        #: Called (from any thread) when the daemon must stop on its own (a damaged or
        #: vanished store); the drivers set it, a test driving :meth:`tick` need not.
        self.on_fatal: Callable[[], None] | None = None
        self._gone = False                      # the store vanished: write nothing more
        # -- the clock guard (see the module docstring) --
        #: The time the clock must reach before anything is read or closed: what the store
        #: has seen (its latest reading, its last closed step's end), later the clock before
        #: a jump back.
        self.must_reach_s = self._store_horizon()
        #: Per meter, its latest stored reading's time (a reading stamped before it is late:
        #: see :meth:`_possible`).
        self._latest_s: dict[str, float] = dict(self.store.latest_reading_times())
        self.clock_behind: dict | None = None   # when waiting: {"since_s", "behind_s", ...}
        self._clock_ref: tuple[float, float] | None = None   # (monotonic, clock)
        self.clock_jumps = 0
        self.last_jump: dict | None = None
        self._waiting_status_at = -np.inf
        #: A fault that repeats (a full disk fails every flush) is logged once, then once
        #: every 10 minutes with a count, and one line when it clears (docs/troubleshooting.md).
        self._faults = RateLimitedLog(log, FAULT_LOG_INTERVAL_S, level=logging.ERROR)
        self._quality = RateLimitedLog(log, FAULT_LOG_INTERVAL_S, level=logging.WARNING)
        self.forwarder = None
        if cfg.influxdb is not None:
            from pvshare.extras import MissingExtraError, installed
            if not installed("influx"):       # refuse to start rather than fail every 10 s
                raise MissingExtraError("influx", "influxdb_client")
            from pvshare.store.forwarder import Forwarder
            self.forwarder = Forwarder(self.store, cfg.influxdb, cfg.site.name)
        self.publisher = None
        self._totals = None
        if cfg.mqtt is not None and cfg.mqtt.publish_results:
            from pvshare.live.publish import ResultsPublisher
            self.publisher = ResultsPublisher(cfg)

    # -- the clock ----------------------------------------------------------------------------
    def _store_horizon(self) -> float | None:
        """What the store has already seen: its latest reading or its last closed step's
        end, UTC Unix seconds (None: an empty store).
        """
        times = list(self.store.latest_reading_times().values())
        last = self.store.last_allocated_step()
        if last is not None:
            times.append(last + self.plan.step_s)
        return max(times) if times else None

    def check_clock(self, now: float) -> bool:
        """Whether the clock can be trusted at ``now``: False while it is behind
        :attr:`must_reach_s` (nothing may be read or closed then). Detects jumps against the
        monotonic clock (logged once each) and logs the start and end of a wait, once each.
        """
        # the two clocks read back to back (``now`` may have been read a while ago)
        wall, mono = self.clock(), time.monotonic()
        if self._clock_ref is not None:
            ref_mono, ref_wall = self._clock_ref
            expected = ref_wall + (mono - ref_mono) * self.speed
            jump = wall - expected
            if abs(jump) > max(CLOCK_JUMP_S, CLOCK_JUMP_REAL_S * self.speed):
                self.clock_jumps += 1
                self.counters["clock_jumps"] += 1
                self.last_jump = {"time_s": wall, "from_s": expected, "jump_s": jump}
                log.warning("the clock jumped %s by %s (from %s to %s)",
                            "forward" if jump > 0 else "back", _duration(abs(jump)),
                            _stamp(expected), _stamp(wall))
                if jump < 0:                     # what was seen before the jump stays seen
                    self.must_reach_s = max(self.must_reach_s or -np.inf, expected)
        self._clock_ref = (mono, wall)
        behind = self.must_reach_s is not None and now + CLOCK_SLACK_S < self.must_reach_s
        if behind:
            if self.clock_behind is None:
                self.clock_behind = {"since_s": now, "must_reach_s": self.must_reach_s}
                log.warning("the clock (%s) is %s behind what the store has already seen "
                            "(%s): waiting for it to be set (NTP) before reading meters or "
                            "closing steps", _stamp(now), _duration(self.must_reach_s - now),
                            _stamp(self.must_reach_s))
            self.clock_behind.update(now_s=now, behind_s=self.must_reach_s - now,
                                     must_reach_s=self.must_reach_s)
            if time.monotonic() - self._waiting_status_at >= WAITING_STATUS_EVERY_S:
                self._waiting_status_at = time.monotonic()
                self.write_status(now)
            return False
        if self.clock_behind is not None:
            log.info("the clock is right again (%s): resuming", _stamp(now))
            self._drop_behind()           # what a push meter stamped since the last drop
            self.clock_behind = None
            self.write_status(now)
        return True

    def wait_for_clock(self, stopping: threading.Event, pause_s: float) -> bool:
        """Before starting: wait until the clock is not behind the store (see
        :meth:`check_clock`), feeding systemd's watchdog; False if asked to stop meanwhile.
        """
        while not stopping.is_set():
            if self.check_clock(self.clock()):
                return True
            sdnotify.notify("WATCHDOG=1")
            stopping.wait(pause_s)
        return False

    def _drop_behind(self) -> None:
        """While the clock is behind: drop the buffered readings stamped before what was
        already seen (their time may come from the wrong clock). No energy is lost: each
        meter's cumulative index read afterwards still counts it.
        """
        keep, dropped = [], 0
        limit = (self.must_reach_s or -np.inf) - CLOCK_SLACK_S
        while self._buffer:
            r = self._buffer.popleft()
            if r.time_s < limit:
                dropped += 1
            else:
                keep.append(r)
        self._buffer.extend(keep)
        if dropped:
            self.counters["readings_dropped_clock_behind"] += dropped

    def _possible(self, batch: list) -> list:
        """The batch without its impossible readings: a cumulative index never goes back, so
        a reading stamped before a later one (stored or in the batch) but with a larger index
        has a wrong time: a push meter stamps with the clock from its own thread, and a
        clock that jumped back and forth between two checks stamps hours back. Stored, it
        would move today's energy into closed steps. Dropped and counted; the energy stays
        counted by the indices around it. Only late readings (stamped before the meter's
        latest stored one: rare) cost a look-up.
        """
        out, dropped = [], 0
        late = [i for i, r in enumerate(batch)
                if r.time_s < self._latest_s.get(r.meter_id, -np.inf)]
        smallest = self._smallest_after(batch) if late else {}
        drop = {i for i in late if self._goes_back(batch[i], smallest)}
        for i, r in enumerate(batch):
            if i in drop:
                dropped += 1
            else:
                out.append(r)
        if dropped:
            self.counters["readings_dropped_clock_behind"] += dropped
            self._quality.warning("impossible readings",
                                  "%d reading(s) dropped: stamped before later readings with "
                                  "a smaller index (a clock that jumped back)", dropped)
        return out

    @staticmethod
    def _smallest_after(batch: list) -> dict:
        """Per meter: its batch's readings sorted by time, and the smallest import and
        export index at or after each (one pass per meter, so many late readings stay
        linear).
        """
        by_meter: dict[str, list] = {}
        for o in batch:
            by_meter.setdefault(o.meter_id, []).append(o)
        out = {}
        for meter, rows in by_meter.items():
            t = np.array([o.time_s for o in rows], dtype=float)
            order = np.argsort(t, kind="stable")
            vals = np.array([[np.nan if o.import_wh is None else o.import_wh,
                              np.nan if o.export_wh is None else o.export_wh]
                             for o in rows], dtype=float)[order]
            mins = np.fmin.accumulate(vals[::-1], axis=0)[::-1]     # NaN: no index
            out[meter] = (t[order], mins)
        return out

    def _goes_back(self, r, smallest: dict) -> bool:
        """Whether a reading after ``r`` (the first stored one, or any in its batch, from
        :meth:`_smallest_after`) has a smaller index than ``r`` (by more than 1 Wh).
        """
        after = self.store.readings_around(r.meter_id, r.time_s, r.time_s)
        first = np.flatnonzero(after.time_s > r.time_s)[:1]
        later = [tuple(float(getattr(after, f)[i]) for f in ("import_wh", "export_wh"))
                 for i in first]
        t, mins = smallest.get(r.meter_id, (np.empty(0), np.empty((0, 2))))
        k = int(np.searchsorted(t, r.time_s, side="right"))
        if k < len(t):
            later.append(tuple(mins[k]))
        mine = (r.import_wh, r.export_wh)
        return any(v is not None and np.isfinite(w) and v > w + 1.0
                   for pair in later for v, w in zip(mine, pair, strict=True))

    # -- the store under our feet ---------------------------------------------------------------
    def _store_in_place(self) -> bool:
        """False (and the daemon stops) when the store's file was removed or replaced."""
        if self._gone:
            return False
        try:
            self.store.check_in_place()
        except StoreGone as exc:
            self._gone = True
            self.fatal = exc
            log.critical("%s; stopping", exc)
            if self.on_fatal is not None:
                self.on_fatal()
            return False
        return True

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Create the meters from the config and start the push meters and the publisher."""
        for section in self.cfg.meters:
            meter = registry.create(section, self.cfg, clock=self.clock)
            if registry.kind_of(section.type) == "push":
                meter.start(self._buffer.append)
                self.pushed.append(meter)
            else:
                self.polled.append(meter)
        if self.publisher is not None:
            self.publisher.start()
            self._publish_totals()
        log.info("started: %d polled meter(s), %d MQTT source(s), key %s, store %s",
                 len(self.polled), len(self.pushed), self.plan.key.name, self.store.path)

    def stop(self) -> None:
        """Flush what is buffered, stop the meters, close the store (graceful shutdown).

        When the store vanished, nothing is written and the store is not closed (closing
        the last connection would delete ``<path>-wal``, by name: maybe a new store's).
        """
        for m in self.pushed:
            m.stop()
        now = self.clock()
        with self._lock:
            if self.clock_behind is None and self._store_in_place():
                self._flush(now)
        for m in self.polled:
            try:
                m.close()
            except Exception:                         # noqa: BLE001 - shutting down anyway
                log.debug("closing %s failed", getattr(m, "id", m), exc_info=True)
        if self.publisher is not None:
            self.publisher.stop()
        if self.forwarder is not None:
            self.forwarder.close()
        if self._gone:
            log.info("stopped (the store vanished: nothing written)")
            return
        self.write_status(now)
        self.store.close()
        self._store_lock.release()
        log.info("stopped")

    # -- jobs ---------------------------------------------------------------------------------
    def _error(self, job: str, exc: BaseException) -> None:
        if getattr(self.store, "damaged", None) is not None and self.fatal is None:
            # A damaged store: write nothing more, stop (the command exits with code 2).
            self.fatal = self.store.damaged
            log.critical("%s; stopping", self.fatal)
            if self.on_fatal is not None:
                self.on_fatal()
        self.counters[f"{job}_errors"] += 1
        from pvshare.secrets import redact
        self.last_error = {"time_s": self.clock(), "job": job,
                           "message": redact(str(exc))[:300]}
        self._faults.warning(job, "%s failed: %s", job, redact(str(exc))[:300])
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s failed", job, exc_info=exc)

    def _ok(self, job: str) -> None:
        """``job`` worked: if it had been failing, say once that it works again."""
        if self._faults.clear(job, "%s works again", job) and \
                self.last_error is not None and self.last_error.get("job") == job:
            self.last_error = None

    def poll(self, now: float) -> int:
        """Read every polled meter once; returns the number of readings."""
        n = 0
        for meter in self.polled:
            try:
                readings = meter.read(now)
            except Exception as exc:                  # noqa: BLE001 - a meter must not stop us
                self._error(f"poll {meter.id}", exc)
                continue
            self._ok(f"poll {meter.id}")
            self._buffer.extend(readings)
            n += len(readings)
        return n

    def flush(self, now: float) -> int:
        """Store the buffered readings in one transaction; returns how many."""
        with self._lock:
            return self._flush(now)

    def _flush(self, now: float) -> int:
        if not self._store_in_place():
            return 0
        batch = []
        while self._buffer:
            batch.append(self._buffer.popleft())
        # The clock is checked once the batch is taken: a push meter stamps a reading with
        # the clock from its own thread, so a jump back after the job's own check would let
        # readings stamped hours back (with today's index: energy invented in closed steps)
        # into the store. Checked after, the jump is seen whenever such a reading is here.
        if not self.check_clock(self.clock()):
            self._buffer.extendleft(reversed(batch))
            self._drop_behind()
            return 0
        batch = self._possible(batch)
        if not batch:
            return 0
        try:
            self.store.write_readings(batch)
        except Exception as exc:
            self._buffer.extendleft(reversed(batch))  # kept for the next try: nothing lost
            self._error("flush", exc)
            return 0
        self._ok("flush")
        for r in batch:
            if r.time_s > self._latest_s.get(r.meter_id, -np.inf):
                self._latest_s[r.meter_id] = r.time_s
        oldest: dict[str, float] = {}
        live: dict[str, tuple[float, float]] = {}
        for r in batch:
            if r.time_s < oldest.get(r.meter_id, np.inf):
                oldest[r.meter_id] = r.time_s
            if r.power_w is not None:
                live[r.meter_id] = (r.time_s, r.power_w)
        for m, t in oldest.items():
            self.dirty[m] = min(self.dirty.get(m, np.inf), t)
        send = [(m, t, p) for m, (t, p) in live.items()
                if t - self._last_power.get(m, -np.inf) >= POWER_POINT_EVERY_S]
        if send:
            try:
                self.store.write_power([s[0] for s in send], [s[1] for s in send],
                                       [s[2] for s in send])
                self._last_power.update({m: t for m, t, _ in send})
            except Exception as exc:                  # noqa: BLE001 - live power is a bonus
                self._error("power points", exc)
        self.counters["readings"] += len(batch)
        return len(batch)

    def close(self, now: float):
        """Close the steps that are due (see :mod:`pvshare.live.closing`) and publish them;
        then the month's key file, as soon as a month is final.
        """
        with self._lock:
            self._flush(now)
            if self._gone or self.clock_behind is not None:
                return None
            dirty, self.dirty = self.dirty, {}
            try:
                report = close_steps(self.store, self.plan, now, dirty_from_s=dirty,
                                     full_window=self._restarted)
            except Exception as exc:
                for m, t in dirty.items():            # try again next time
                    self.dirty[m] = min(self.dirty.get(m, np.inf), t)
                self._error("close", exc)
                return None
            self._ok("close")
            self._restarted = False
            self.last_close = {"time_s": now, "changed_steps": report.changed_steps,
                               "pending_steps": report.pending_steps,
                               "incomplete_steps": report.incomplete_steps,
                               "unknown_steps": report.unknown_steps,
                               "closable_until_s": report.closable_until_s}
            # steps closed without production past the horizon, or with an implausible
            # energy: said once, then at most every 10 min with a count
            for what, n in (("no production past the horizon", report.new_unknown_steps),
                            ("implausible energy", report.implausible_steps)):
                if n:
                    self._quality.warning(what, "%d step(s) closed incomplete: %s", n, what)
            self.counters["steps_written"] += report.changed_steps
        if report.changed_steps and self.publisher is not None:
            self._publish_latest()
        self._key_file(now)
        self.write_status(now)
        return report

    def _key_file(self, now: float) -> None:
        """The last final month's Enedis key file, once (the store remembers it)."""
        if not self.cfg.operation.key_dir:
            return
        from pvshare.enedis.keyfile import monthly_key_job
        with self._lock:
            try:
                monthly_key_job(self.cfg, self.store, now)
            except Exception as exc:                  # noqa: BLE001
                self._error("key file", exc)
            else:
                self._ok("key file")

    def _publish_latest(self) -> None:
        last = self.store.last_allocated_step()
        if last is None:
            return
        a = self.store.allocation(last, last + self.plan.step_s)
        if len(a.step_starts_s):
            try:
                self.publisher.publish_step(int(a.step_starts_s[0]), a.participant_ids,
                                            float(a.production_wh[0]), a.consumption_wh[0],
                                            a.allocated_wh[0])
            except Exception as exc:                  # noqa: BLE001
                self._error("publish", exc)
        self._publish_totals()

    def _publish_totals(self) -> None:
        """Home Assistant's running totals, summed over the store's closed steps."""
        if self._totals is None:
            from pvshare.live.publish import RunningTotals
            self._totals = RunningTotals(self.plan.window_s)
        try:
            last = self.store.last_allocated_step()
            self.publisher.publish_totals(self._totals.compute(self.store, last), last)
        except Exception as exc:                      # noqa: BLE001
            self._error("publish", exc)

    def forward(self, now: float) -> int:
        """Deliver up to a few batches of the outbox (never blocks on a dead server)."""
        if self.forwarder is None:
            return 0
        try:
            return self.forwarder.deliver(max_batches=5)
        except Exception as exc:                      # noqa: BLE001
            self._error("forward", exc)
            return 0

    def housekeeping(self, now: float) -> None:
        """The daily chores: purge old raw readings, the month's key file (when configured)."""
        with self._lock:
            try:
                n = self.store.purge_readings(now)
                log.info("housekeeping: %d raw reading(s) past retention purged", n)
            except Exception as exc:                  # noqa: BLE001
                self._error("housekeeping", exc)
        self._key_file(now)                           # also after every close

    def refresh_forecast(self, now: float) -> bool:
        """Run the 48-h forecast in a child process and store it."""
        if not self.forecast_enabled or self.cfg.source is None:
            return False
        step = self.plan.step_s
        hist = self.store.step_energy(self.plan.producer_meter, int(now - 56 * 86400), int(now))
        ok = np.isfinite(hist.energy_wh)
        request = {"config": str(Path(self.cfg.source).resolve()), "now": int(now),
                   # a simulated clock (demo, tests) has no live weather for its "now"
                   "live_weather": self.clock is time.time,
                   "production": {"time_s": hist.step_starts_s[ok].tolist(),
                                  "energy_wh": hist.energy_wh[ok].tolist()}}
        try:
            done = subprocess.run([sys.executable, "-m", "pvshare.forecast.child"],
                                  input=json.dumps(request), capture_output=True, text=True,
                                  timeout=300)
            answer = json.loads(done.stdout or "{}")
            if done.returncode != 0 or "error" in answer:
                raise RuntimeError(answer.get("error") or done.stderr.strip()[-300:])
            t = np.asarray(answer["time_s"], dtype=np.int64)
            to_w = 3600.0 / step
            with self._lock:
                self.store.write_forecast(t, np.asarray(answer["p50_wh"], float) * to_w,
                                          np.asarray(answer["p10_wh"], float) * to_w,
                                          np.asarray(answer["p90_wh"], float) * to_w,
                                          issued_s=now)
            self.forecast_weather = answer.get("weather")    # shown by `pvshare status`
            green = answer.get("green") or [False] * len(t)
            if self.publisher is not None:
                self.publisher.publish_green_hours(now, t, green, step, now)
            return True
        except Exception as exc:                      # noqa: BLE001
            self._error("forecast", exc)
            return False

    # -- driving ------------------------------------------------------------------------------
    def intervals(self) -> dict[str, float]:
        """Seconds between two runs of each job (poll, flush, close, forecast...)."""
        d = self.cfg.daemon
        jobs = {"poll": d.poll_interval_s, "flush": d.flush_interval_s,
                "close": min(CLOSE_EVERY_S, self.plan.step_s / 2), "forward": FORWARD_EVERY_S,
                "housekeeping": HOUSEKEEPING_EVERY_S}
        if self.forecast_enabled:
            jobs["forecast"] = FORECAST_EVERY_S
        return jobs

    def tick(self, now: float) -> list[str]:
        """Run every job that is due at ``now`` (simulated clocks); returns their names.

        Nothing runs while the clock is behind (:meth:`check_clock`) or once the store has
        vanished.
        """
        if self._gone:
            return []
        if not self.check_clock(now):
            self._drop_behind()
            return []
        ran = []
        for job, every in self.intervals().items():
            if now >= self._due.get(job, -np.inf):
                self._due[job] = now + every
                {"poll": self.poll, "flush": self.flush, "close": self.close,
                 "forward": self.forward, "housekeeping": self.housekeeping,
                 "forecast": self.refresh_forecast}[job](now)
                ran.append(job)
        return ran

    def write_status(self, now: float) -> None:
        """The daemon's state for ``pvshare status`` (atomic replace of a small JSON file;
        never once the store has vanished, and never re-creating its folder).
        """
        if self._gone:
            return
        meters = {}
        for m in self.polled + self.pushed:
            meters[m.id] = counters_of(m)
        clock = {"system": self.clock is time.time, "behind": self.clock_behind,
                 "jumps": self.clock_jumps, "last_jump": self.last_jump,
                 "must_reach_s": self.must_reach_s}
        identity = self.store.identity
        status = {"pid": os.getpid(), "started_s": self.started_s, "now_s": now,
                  "last_close": self.last_close, "last_error": self.last_error,
                  "counters": dict(self.counters), "meters": meters,
                  "forecast_weather": getattr(self, "forecast_weather", None),
                  "clock": clock,
                  "store": {"path": str(self.store.path),
                            "inode": None if identity is None else list(identity)}}
        try:
            group = getattr(self.cfg.store, "group", None)       # private, like the store
            write_atomic(self.status_file, json.dumps(status, indent=1),
                         mode=private_mode(group), group=group, parents=False)
        except OSError as exc:
            self._faults.warning("status file", "cannot write %s: %s", self.status_file, exc)

    def run_forever(self) -> None:
        """Production: APScheduler on the real clock until SIGTERM/SIGINT.

        The signal handler only sets an event; the main thread waits on it, then shuts the
        scheduler down (waiting for a running job) and stops. A signal at any moment of the
        start-up (even while the scheduler starts) is therefore never lost.
        """
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        sched = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1), "slow": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone="UTC", daemon=False)
        def guarded(fn):
            def run():
                if self._gone:
                    return
                now = self.clock()
                with self._lock:
                    trusted = self.check_clock(now)
                    if not trusted:
                        self._drop_behind()
                if trusted:
                    fn(now)
            return run

        for job, every in self.intervals().items():
            fn = {"poll": self.poll, "flush": self.flush, "close": self.close,
                  "forward": self.forward, "housekeeping": self.housekeeping,
                  "forecast": self.refresh_forecast}[job]
            sched.add_job(guarded(fn), "interval", seconds=every, id=job,
                          executor="slow" if job in ("forecast", "forward") else "default",
                          next_run_time=None if job == "housekeeping" else _now_dt())
        wd = sdnotify.watchdog_interval_s()
        if wd:
            sched.add_job(lambda: sdnotify.notify("WATCHDOG=1"), "interval", seconds=wd,
                          id="watchdog")

        stopping = threading.Event()

        def _stop(signum, frame):
            log.info("signal %d: shutting down", signum)
            stopping.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.on_fatal = lambda: os.kill(os.getpid(), signal.SIGTERM)
        sdnotify.notify("READY=1")
        if not self.check_clock(self.clock()):
            sdnotify.notify("STATUS=waiting for the clock (it is behind the store)")
            if not self.wait_for_clock(stopping, pause_s=5.0):
                self._stop_waiting()
                return
        self.start()
        sdnotify.notify(f"STATUS=closing {self.plan.step_s // 60}-min steps for "
                        f"{len(self.plan.participant_ids)} participants")
        try:
            sched.start()
            while not stopping.wait(1.0):
                pass
        finally:
            sdnotify.notify("STOPPING=1")
            if sched.running:
                sched.shutdown(wait=True)
            self.stop()

    def _stop_waiting(self) -> None:
        """Stopped while waiting for the clock: nothing was started, nothing to flush."""
        if self.publisher is not None:
            self.publisher = None
        self.write_status(self.clock())
        self.store.close()
        self._store_lock.release()
        log.info("stopped (while waiting for the clock)")


def run_simulated(daemon: Daemon, clock, until_s: float | None = None,
                  pause_s: float = 0.02) -> None:
    """Drive the daemon's jobs on a simulated clock (``pvshare run --speed``) until
    ``until_s`` (simulated) or SIGTERM/SIGINT; graceful stop (flush, then close).
    """
    stopping = threading.Event()

    def _stop(signum, frame):
        log.info("signal %d: shutting down", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    daemon.on_fatal = stopping.set
    sdnotify.notify("READY=1")
    if not daemon.wait_for_clock(stopping, pause_s=pause_s):
        daemon._stop_waiting()
        return
    daemon.start()
    try:
        while not stopping.is_set():
            now = clock.now()
            if until_s is not None and now >= until_s:
                daemon.close(until_s)
                break
            daemon.tick(now)
            stopping.wait(pause_s)
    finally:
        daemon.stop()


def _stamp(t_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t_s))


def _duration(s: float) -> str:
    """``3 h 05 min``, ``12 min``, ``40 s``."""
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min" if s >= 120 else f"{s} s"


def _forecast_installed() -> bool:
    """Whether the forecast extra is there; without it the daemon runs without a forecast
    and says so once.
    """
    from pvshare.extras import installed
    if installed("forecast"):
        return True
    log.warning("no forecast: the forecast extra is not installed "
                "(pip install 'pvshare[forecast]' to have one)")
    return False


def _now_dt():
    import datetime as dt
    return dt.datetime.now(dt.UTC)
