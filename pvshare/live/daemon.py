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
  closed month's Enedis key file once (``[operation] key_dir``).

:meth:`Daemon.tick` runs whatever is due at ``now``: tests and the demo drive it with a
simulated clock. :meth:`Daemon.run_forever` drives the same jobs with APScheduler on the
real clock, tells systemd it is ready and feeds its watchdog, and shuts down cleanly on
SIGTERM (flush, then close).
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
from pvshare.store import Store

log = logging.getLogger("pvshare.live.daemon")

#: Live power points are sent to InfluxDB at most this often per meter, s.
POWER_POINT_EVERY_S = 60.0
FORECAST_EVERY_S = 3600.0
HOUSEKEEPING_EVERY_S = 86400.0
FORWARD_EVERY_S = 10.0
CLOSE_EVERY_S = 60.0
#: Least time between two log lines about the same failing job, s (a full disk...).
FAULT_LOG_INTERVAL_S = 600.0


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
    """

    def __init__(self, cfg, *, clock: Callable[[], float] = time.time, forecast: bool = True):
        self.cfg = cfg
        from pvshare.config import check_references
        check_references(cfg)
        self.plan = plan_from_config(cfg)
        self.clock = clock
        from pvshare.store.lock import StoreLock
        self._store_lock = StoreLock(cfg.relative(cfg.store.path)).acquire()   # one daemon
        try:
            self.store = Store.from_config(cfg)
        except BaseException:
            self._store_lock.release()
            raise
        from pvshare.secrets import plain_text_warnings
        for warning in plain_text_warnings(cfg):
            log.warning("%s", warning)
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
        """Flush what is buffered, stop the meters, close the store (graceful shutdown)."""
        for m in self.pushed:
            m.stop()
        now = self.clock()
        with self._lock:
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
            os.kill(os.getpid(), signal.SIGTERM)
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
        batch = []
        while self._buffer:
            batch.append(self._buffer.popleft())
        if not batch:
            return 0
        try:
            self.store.write_readings(batch)
        except Exception as exc:
            self._buffer.extendleft(reversed(batch))  # kept for the next try: nothing lost
            self._error("flush", exc)
            return 0
        self._ok("flush")
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
        """Close the steps that are due (see :mod:`pvshare.live.closing`) and publish them."""
        with self._lock:
            self._flush(now)
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
        self.write_status(now)
        return report

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
            if self.cfg.operation.key_dir:            # a closed month's Enedis key file
                from pvshare.enedis.keyfile import monthly_key_job
                try:
                    monthly_key_job(self.cfg, self.store, now)
                except Exception as exc:              # noqa: BLE001
                    self._error("key file", exc)

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
        """Run every job that is due at ``now`` (simulated clocks); returns their names."""
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
        """The daemon's state for ``pvshare status`` (atomic replace of a small JSON file)."""
        meters = {}
        for m in self.polled + self.pushed:
            meters[m.id] = counters_of(m)
        status = {"pid": os.getpid(), "started_s": self.started_s, "now_s": now,
                  "last_close": self.last_close, "last_error": self.last_error,
                  "counters": dict(self.counters), "meters": meters,
                  "forecast_weather": getattr(self, "forecast_weather", None)}
        try:
            group = getattr(self.cfg.store, "group", None)       # private, like the store
            write_atomic(self.status_file, json.dumps(status, indent=1),
                         mode=private_mode(group), group=group)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.status_file, exc)

    def run_forever(self) -> None:
        """Production: APScheduler on the real clock until SIGTERM/SIGINT."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        sched = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(1), "slow": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone="UTC")
        for job, every in self.intervals().items():
            fn = {"poll": self.poll, "flush": self.flush, "close": self.close,
                  "forward": self.forward, "housekeeping": self.housekeeping,
                  "forecast": self.refresh_forecast}[job]
            sched.add_job(lambda fn=fn: fn(self.clock()), "interval", seconds=every, id=job,
                          executor="slow" if job in ("forecast", "forward") else "default",
                          next_run_time=None if job == "housekeeping" else _now_dt())
        wd = sdnotify.watchdog_interval_s()
        if wd:
            sched.add_job(lambda: sdnotify.notify("WATCHDOG=1"), "interval", seconds=wd,
                          id="watchdog")

        def _stop(signum, frame):
            log.info("signal %d: shutting down", signum)
            sdnotify.notify("STOPPING=1")
            sched.shutdown(wait=True)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.start()
        sdnotify.notify("READY=1")
        sdnotify.notify(f"STATUS=closing {self.plan.step_s // 60}-min steps for "
                        f"{len(self.plan.participant_ids)} participants")
        try:
            sched.start()
        finally:
            self.stop()


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
    daemon.start()
    sdnotify.notify("READY=1")
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
