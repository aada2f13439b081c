"""The SQLite store: the system of record of readings, step energies, allocation results and
forecasts, and the outbox of points waiting for InfluxDB.

Everything is written in batched transactions (an SD card wears with every small write),
and every write is idempotent: writing the same readings again, or a step recomputed after
late data, replaces rows instead of adding them. The outbox is filled **in the same
transaction** as the results it mirrors, so a crash can never leave a result without its
point or a point without its result.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.errors import PvshareError
from pvshare.i18n import _
from pvshare.meters.energy import StepEnergy
from pvshare.store import lineproto as P
from pvshare.store.schema import SCHEMA_VERSION, current_version, migrate

log = logging.getLogger("pvshare.store")

SQLITE_MAGIC = b"SQLite format 3\x00"
#: Share of ``outbox_max_points`` above which every enqueue logs a WARNING.
OUTBOX_WARN_FRACTION = 0.8


class StoreError(PvshareError):
    """The store cannot be used (corrupt, not SQLite, locked, too new): names the file."""


class StoreGone(StoreError):
    """The store's file was removed or replaced under a running pvshare (exit code 7)."""

    exit_code = 7


class NoStore(StoreError):
    """No store at the configured path, and pvshare was not asked to create one.

    A first run needs ``pvshare store init``; a store that vanished must be restored.
    ``pvshare run`` and ``pvshare status`` exit with 7 on it, other commands with 2.
    """


@dataclass(frozen=True)
class ReadingArrays:
    """Readings of one meter, sorted by time. Missing values are NaN.

    Attributes
    ----------
    time_s : ndarray of float64, shape (M,)
        Reading times, UTC Unix seconds (millisecond resolution).
    import_wh, export_wh : ndarray of float64, shape (M,)
        Cumulative indices, Wh.
    power_w : ndarray of float64, shape (M,)
        Power, W.
    quality : ndarray of int8, shape (M,)
        :class:`pvshare.meters.base.Quality` values.
    """

    time_s: np.ndarray
    import_wh: np.ndarray
    export_wh: np.ndarray
    power_w: np.ndarray
    quality: np.ndarray


@dataclass(frozen=True)
class Allocation:
    """Allocation results of a window, as arrays over steps × participants.

    Attributes
    ----------
    step_starts_s : ndarray of int64, shape (T,)
        UTC Unix seconds, sorted.
    participant_ids : list of str, length N
        In the order they were first stored (the config's order).
    production_wh : ndarray, shape (T,)
    consumption_wh : ndarray, shape (T, N)
        NaN = missing (or the participant had no row for that step).
    allocated_wh : ndarray, shape (T, N)
    incomplete : ndarray of bool, shape (T,)
    key : ndarray of str, shape (T,)
        Name of the key used for each step.
    """

    step_starts_s: np.ndarray
    participant_ids: list[str]
    production_wh: np.ndarray
    consumption_wh: np.ndarray
    allocated_wh: np.ndarray
    incomplete: np.ndarray
    key: np.ndarray
    #: Rows of the ``allocation`` table read (exports compare it with the table's count).
    rows_read: int = -1


@dataclass(frozen=True)
class Forecast:
    """A stored forecast: ``step_starts_s`` (T,) and ``p10_w``/``p50_w``/``p90_w`` (T,) in W
    (mean power over the step; NaN = missing), ``issued_s`` (T,) when it was computed.
    """

    step_starts_s: np.ndarray
    p10_w: np.ndarray
    p50_w: np.ndarray
    p90_w: np.ndarray
    issued_s: np.ndarray


def _nan_to_none(a: np.ndarray) -> list:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, None).tolist() if a.size else []


class Store:
    """An open pvshare store (one SQLite file in WAL mode). Thread-safe (one lock).

    Open it with :meth:`open` (or :meth:`from_config`) and close it, or use it as a context
    manager::

        with Store.open("pvshare.db") as store:
            store.write_readings(readings)
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, *, raw_retention_days: int,
                 outbox_max_points: int):
        self._conn = conn
        self.path = path
        self.raw_retention_days = raw_retention_days
        self.outbox_max_points = outbox_max_points
        self._lock = threading.RLock()
        self._meter_keys: dict[str, int] = {}
        self._participant_keys: dict[str, int] = {}
        self._last_warn_s = -1e18
        #: Set to the error when damage was found while the store was open: from then on
        #: nothing more is written (every write raises it at once).
        self.damaged: StoreError | None = None
        #: Points refused by this process because the outbox was full (also persisted in
        #: the ``counters`` table as ``outbox_refused_points``).
        self.refused_points = 0
        #: The file this connection opened, ``(st_dev, st_ino)``: :meth:`check_in_place`
        #: compares it with what the path names now.
        try:
            st = os.stat(path)
            self.identity: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except OSError:
            self.identity = None

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, *, create: bool = True, busy_timeout_s: float = 10.0,
             raw_retention_days: int = 90, outbox_max_points: int = 5_000_000,
             readonly: bool = False, check: bool = True, group: str | None = None) -> Store:
        """Open (and create or migrate) a store.

        An existing file is first opened **read-only** and checked (its header, then
        ``PRAGMA quick_check`` for at most
        :data:`pvshare.store.integrity.OPEN_CHECK_BUDGET_S`); only a sound file is then
        opened for writing. A damaged file is never written to.

        Parameters
        ----------
        path : path-like
            The SQLite file.
        create : bool
            Create the file when it does not exist; when False a missing file is an error.
        busy_timeout_s : float
            How long to wait for another process's lock before giving up, s.
        raw_retention_days : int
            Raw readings older than this are removed by :meth:`purge_readings`.
        outbox_max_points : int
            Cap of the outbox; beyond it new points are refused (logged ERROR and counted).
        readonly : bool
            Keep the read-only connection (exports, reports, status): nothing is written.
        check : bool
            Run the check on open (False only for a file this process has just created).
        group : str, optional
            Group that may read the store (files 0640); default: the owner only (0600).

        Raises
        ------
        StoreError
            The file is not an SQLite database, is damaged, is locked by another process
            for longer than ``busy_timeout_s``, or was written by a newer pvshare. The file
            is never modified in those cases.
        """
        from pvshare.store import integrity
        p = Path(path)
        exists = p.exists()
        if exists:
            if p.is_dir():
                raise StoreError(_("{path}: is a folder, not a pvshare store").format(path=p))
            if p.stat().st_size:
                problem = integrity.header_problem(p)
                if problem == "not an SQLite database":
                    raise StoreError(_("{path}: not an SQLite database (the file was left "
                                       "untouched; move it away or set [store] path)")
                                     .format(path=p))
                if problem:
                    raise _damaged(p, problem)
            if not os.access(p, os.R_OK):
                raise StoreError(_("{path}: cannot read the store (permission denied): run "
                                   "pvshare as the user that owns it").format(path=p))
        elif not create or readonly:
            raise NoStore(_("{path}: no pvshare store here. A first run: create it with "
                            "`pvshare store init`; a store that was there: restore it from a "
                            "backup (pvshare never starts an empty one in its place); or set "
                            "[store] path in the config").format(path=p))
        elif not p.parent.exists():
            raise StoreError(_("{path}: the folder {folder} does not exist").format(
                path=p, folder=p.parent))
        if exists and p.stat().st_size:
            try:
                ro = integrity.connect_readonly(p, busy_timeout_s)
            except sqlite3.Error as exc:
                raise _store_error(p, exc, busy_timeout_s) from None
            try:
                version = current_version(ro)
                if version > SCHEMA_VERSION:
                    raise StoreError(_("{path}: written by a newer pvshare (schema version "
                                       "{version}, this one knows up to {known}); upgrade "
                                       "pvshare").format(path=p, version=version,
                                                         known=SCHEMA_VERSION))
                if check:
                    _complete, problems = integrity.quick_check(
                        ro, integrity.OPEN_CHECK_BUDGET_S)
                    if problems:
                        raise _damaged(p, problems[0])
            except StoreError:
                ro.close()
                raise
            except sqlite3.Error as exc:
                ro.close()
                raise _store_error(p, exc, busy_timeout_s) from None
            if readonly and version == SCHEMA_VERSION:
                return cls(ro, p, raw_retention_days=raw_retention_days,
                           outbox_max_points=outbox_max_points)
            ro.close()
            if not os.access(p, os.W_OK) or not os.access(p.parent, os.W_OK):
                raise StoreError(_("{path}: the store is read-only for this user (pvshare "
                                   "needs to write the file and its -wal/-shm beside it): "
                                   "check the permissions of the file and of its folder")
                                 .format(path=p))
        old_mask = os.umask(0o027 if group else 0o077)   # the store and its side files: private
        try:
            conn = sqlite3.connect(str(p), isolation_level=None, check_same_thread=False,
                                   timeout=busy_timeout_s)
        except sqlite3.Error as exc:
            os.umask(old_mask)
            raise _store_error(p, exc, busy_timeout_s) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            # Read before anything writes: a corrupt first page fails here.
            version = current_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(_("{path}: written by a newer pvshare (schema version "
                                   "{version}, this one knows up to {known}); upgrade "
                                   "pvshare").format(path=p, version=version,
                                                     known=SCHEMA_VERSION))
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(_("{path}: cannot switch to WAL mode (got {mode!r})").format(
                    path=p, mode=mode))
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = OFF")
            applied = migrate(conn)
            if applied:
                log.info("%s: schema migrated to version %d", p, applied[-1])
            private_files(p, group)
        except StoreError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise _store_error(p, exc, busy_timeout_s) from None
        finally:
            os.umask(old_mask)
        return cls(conn, p, raw_retention_days=raw_retention_days,
                   outbox_max_points=outbox_max_points)

    def check_in_place(self) -> None:
        """Raise :class:`StoreGone` when the store's file was removed or replaced (another
        inode at its path) since this connection opened it: writing on would go to a file
        nobody will ever read again (docs/store.md, "A store that vanishes").
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if not self.path.parent.exists():
                raise StoreGone(_("{path}: the store was removed (its folder is gone) while "
                                  "pvshare had it open; nothing more is written. Restore it "
                                  "from a backup (docs/troubleshooting.md, \"The store "
                                  "vanished\")").format(path=self.path)) from None
            raise StoreGone(_("{path}: the store was removed (the file is gone) while "
                              "pvshare had it open; nothing more is written. Restore it from "
                              "a backup (docs/troubleshooting.md, \"The store vanished\")")
                            .format(path=self.path)) from None
        except OSError as exc:
            raise StoreGone(_("{path}: the store cannot be reached any more ({why})")
                            .format(path=self.path, why=exc.strerror)) from None
        if self.identity is not None and (st.st_dev, st.st_ino) != self.identity:
            raise StoreGone(_("{path}: the store was replaced by another file while "
                              "pvshare had it open; nothing more is written to either. "
                              "Restart pvshare to use the new file (docs/troubleshooting.md, "
                              "\"The store vanished\")").format(path=self.path))

    # -- the daemon's memory of key files ---------------------------------------------------
    def key_file_outcome(self, month: str, path: str) -> str | None:
        """The outcome recorded by :meth:`record_key_file` for ``month`` (``YYYY-MM``) and
        the key file ``path``, or None when that month's file there was never dealt with.
        """
        with self._read() as c:
            row = c.execute("SELECT outcome FROM key_files WHERE month = ? AND path = ?",
                            (month, str(path))).fetchone()
        return None if row is None else row[0]

    def record_key_file(self, month: str, path: str, outcome: str,
                        now_s: float | None = None) -> None:
        """Remember that ``month``'s key file ``path`` was ``written``, ``found`` (a file
        was already there) or ``skipped`` (the store starts after the month's beginning).
        """
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO key_files VALUES (?, ?, ?, ?)",
                      (month, str(path), outcome, time.time() if now_s is None else now_s))

    @classmethod
    def from_config(cls, cfg, *, create: bool = True, **kw) -> Store:
        """Open the store of a :class:`pvshare.config.Config` (``[store] path`` is taken
        relative to the config file's folder).
        """
        return cls.open(cfg.relative(cfg.store.path), create=create,
                        raw_retention_days=cfg.store.raw_retention_days,
                        outbox_max_points=cfg.store.outbox_max_points,
                        group=getattr(cfg.store, "group", None), **kw)

    def close(self) -> None:
        """Close the database (checkpoints the WAL when this is the last connection)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The schema version of the open database (see :mod:`pvshare.store.schema`)."""
        with self._read() as c:
            return current_version(c)

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT), errors as StoreError."""
        with self._lock:
            if self.damaged is not None:
                raise self.damaged
            c = self._conn
            try:
                c.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._noted(_store_error(self.path, exc, self._busy_timeout_s())) from None
            try:
                yield c
                c.execute("COMMIT")
            except BaseException as exc:
                try:
                    c.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise self._noted(_store_error(self.path, exc, self._busy_timeout_s())) \
                        from None
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise self._noted(_store_error(self.path, exc, self._busy_timeout_s())) from None

    def _noted(self, err: StoreError) -> StoreError:
        """Remember a damage error: no later write is attempted."""
        if "the store is damaged" in str(err):
            self.damaged = err
        return err

    def _busy_timeout_s(self) -> float:
        try:
            return self._conn.execute("PRAGMA busy_timeout").fetchone()[0] / 1000
        except sqlite3.Error:
            return 0.0

    def _keys(self, c, table: str, id_col: str, key_col: str, cache: dict, ids) -> list[int]:
        missing = [i for i in dict.fromkeys(ids) if i not in cache]
        if missing:
            c.executemany(f"INSERT OR IGNORE INTO {table} ({id_col}) VALUES (?)",
                          [(m,) for m in missing])
            for k, i in c.execute(f"SELECT {key_col}, {id_col} FROM {table}"):
                cache[i] = k
        return [cache[i] for i in ids]

    def _meter_key(self, c, meter_id: str, create: bool = False) -> int | None:
        if meter_id not in self._meter_keys:
            row = c.execute("SELECT meter FROM meters WHERE meter_id = ?", (meter_id,)).fetchone()
            if row is None:
                if not create:
                    return None
                return self._keys(c, "meters", "meter_id", "meter", self._meter_keys,
                                  [meter_id])[0]
            self._meter_keys[meter_id] = row[0]
        return self._meter_keys[meter_id]

    # -- readings --------------------------------------------------------------------------
    def write_readings(self, readings: Sequence) -> int:
        """Store readings in one transaction; a reading already stored for the same meter and
        time (to the millisecond) is replaced, so writing twice is harmless.

        Parameters
        ----------
        readings : sequence of :class:`pvshare.meters.base.Reading`

        Returns
        -------
        int
            Number of readings written.
        """
        if not readings:
            return 0
        with self._tx() as c:
            keys = self._keys(c, "meters", "meter_id", "meter", self._meter_keys,
                              [r.meter_id for r in readings])
            c.executemany(
                "INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?, ?, ?)",
                [(k, round(r.time_s * 1000), r.import_wh, r.export_wh, r.power_w, int(r.quality))
                 for k, r in zip(keys, readings)])
        return len(readings)

    def readings(self, meter_id: str, from_s: float, to_s: float) -> ReadingArrays:
        """Readings of one meter with ``from_s <= time_s < to_s`` (UTC Unix seconds)."""
        with self._read() as c:
            k = self._meter_key(c, meter_id)
            rows = [] if k is None else c.execute(
                "SELECT time_ms, import_wh, export_wh, power_w, quality FROM readings "
                "WHERE meter = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms",
                (k, round(from_s * 1000), round(to_s * 1000))).fetchall()
        a = np.array(rows, dtype=np.float64).reshape(-1, 5)  # None -> nan
        return ReadingArrays(a[:, 0] / 1000.0, a[:, 1], a[:, 2], a[:, 3], a[:, 4].astype(np.int8))

    def readings_around(self, meter_id: str, from_s: float, to_s: float) -> ReadingArrays:
        """Readings of one meter with ``from_s <= time_s <= to_s``, plus the last reading
        before ``from_s`` and the first after ``to_s`` (however far), so that an index can be
        interpolated at both ends of the window without reading a wide margin.
        """
        lo, hi = round(from_s * 1000), round(to_s * 1000)
        cols = "time_ms, import_wh, export_wh, power_w, quality"
        with self._read() as c:
            k = self._meter_key(c, meter_id)
            rows = [] if k is None else (
                c.execute(f"SELECT {cols} FROM readings WHERE meter = ? AND time_ms < ? "
                          "ORDER BY time_ms DESC LIMIT 1", (k, lo)).fetchall()
                + c.execute(f"SELECT {cols} FROM readings WHERE meter = ? AND time_ms >= ? "
                            "AND time_ms <= ? ORDER BY time_ms", (k, lo, hi)).fetchall()
                + c.execute(f"SELECT {cols} FROM readings WHERE meter = ? AND time_ms > ? "
                            "ORDER BY time_ms LIMIT 1", (k, hi)).fetchall())
        a = np.array(rows, dtype=np.float64).reshape(-1, 5)
        return ReadingArrays(a[:, 0] / 1000.0, a[:, 1], a[:, 2], a[:, 3], a[:, 4].astype(np.int8))

    def first_reading_time(self) -> float | None:
        """Time of the oldest stored reading of any meter, UTC Unix seconds (None if none)."""
        with self._read() as c:    # per meter: each MIN is one primary-key look-up
            keys = [r[0] for r in c.execute("SELECT meter FROM meters")]
            times = [c.execute("SELECT MIN(time_ms) FROM readings WHERE meter = ?",
                               (k,)).fetchone()[0] for k in keys]
        times = [t for t in times if t is not None]
        return min(times) / 1000.0 if times else None

    def last_allocated_step(self) -> int | None:
        """Start of the latest step that has allocation results (None if none)."""
        with self._read() as c:
            return c.execute("SELECT MAX(step_s) FROM allocation_step").fetchone()[0]

    def allocated_steps(self, from_s: int, to_s: int) -> tuple[np.ndarray, np.ndarray]:
        """Steps ``from_s <= start < to_s`` that have allocation results: their starts
        (int64, sorted) and whether each is incomplete (bool).
        """
        with self._read() as c:
            rows = c.execute("SELECT step_s, incomplete FROM allocation_step WHERE step_s >= ? "
                             "AND step_s < ? ORDER BY step_s", (from_s, to_s)).fetchall()
        a = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return a[:, 0], a[:, 1].astype(bool)

    def meter_ids(self) -> list[str]:
        """Every meter id ever stored."""
        with self._read() as c:
            return [r[0] for r in c.execute("SELECT meter_id FROM meters ORDER BY meter")]

    def latest_reading_times(self) -> dict[str, float]:
        """Time of the latest stored reading of each meter, UTC Unix seconds."""
        out = {}
        with self._read() as c:
            for key, mid in c.execute("SELECT meter, meter_id FROM meters").fetchall():
                t = c.execute("SELECT MAX(time_ms) FROM readings WHERE meter = ?",
                              (key,)).fetchone()[0]
                if t is not None:
                    out[mid] = t / 1000.0
        return out

    def purge_readings(self, now_s: float | None = None, retention_days: int | None = None) -> int:
        """Delete raw readings older than the retention (step results are kept forever).

        Parameters
        ----------
        now_s : float, optional
            Current time, UTC Unix seconds (default: the system clock).
        retention_days : int, optional
            Default: the store's ``raw_retention_days`` (``[store] raw_retention_days``).

        Returns
        -------
        int
            Number of readings deleted.
        """
        now_s = time.time() if now_s is None else now_s
        days = self.raw_retention_days if retention_days is None else retention_days
        cutoff_ms = round((now_s - days * 86400) * 1000)
        with self._tx() as c:
            keys = [r[0] for r in c.execute("SELECT meter FROM meters").fetchall()]
            before = c.total_changes
            c.executemany("DELETE FROM readings WHERE meter = ? AND time_ms < ?",
                          [(k, cutoff_ms) for k in keys])
            return c.total_changes - before

    # -- step energies ---------------------------------------------------------------------
    def write_step_energy(self, meter_id: str, step_starts_s, energy_wh, flags=None) -> int:
        """Store (replace) the energy per step of one meter.

        Parameters
        ----------
        meter_id : str
        step_starts_s : array_like of int, shape (T,)
            UTC Unix seconds.
        energy_wh : array_like of float, shape (T,)
            Wh; NaN = missing.
        flags : array_like of int, shape (T,), optional
            Quality flags (see :mod:`pvshare.meters.energy`); default 0.
        """
        t = np.asarray(step_starts_s, dtype=np.int64)
        e = np.asarray(energy_wh, dtype=np.float64)
        fl = np.zeros(len(t), dtype=np.int64) if flags is None else np.asarray(flags, np.int64)
        if not (len(t) == len(e) == len(fl)):
            raise ValueError(_("step_starts_s, energy_wh and flags must have the same length"))
        with self._tx() as c:
            k = self._meter_key(c, meter_id, create=True)
            c.executemany("INSERT OR REPLACE INTO step_energy VALUES (?, ?, ?, ?)",
                          zip([k] * len(t), t.tolist(), _nan_to_none(e), fl.tolist()))
        return len(t)

    def step_energy(self, meter_id: str, from_s: int, to_s: int) -> StepEnergy:
        """Energy per step of one meter for steps ``from_s <= start < to_s``."""
        with self._read() as c:
            k = self._meter_key(c, meter_id)
            rows = [] if k is None else c.execute(
                "SELECT step_s, energy_wh, flags FROM step_energy WHERE meter = ? "
                "AND step_s >= ? AND step_s < ? ORDER BY step_s", (k, from_s, to_s)).fetchall()
        a = np.array(rows, dtype=np.float64).reshape(-1, 3)
        return StepEnergy(a[:, 0].astype(np.int64), a[:, 1], a[:, 2].astype(np.int64))

    # -- allocation ------------------------------------------------------------------------
    def write_allocation(self, step_starts_s, participant_ids: Sequence[str], production_wh,
                         consumption_wh, allocated_wh, incomplete, key: str, *,
                         force: bool = False) -> int:
        """Store allocation results and queue their InfluxDB points, in one transaction.

        The rows of every step given are replaced (a step recomputed after late data
        replaces its rows). A step whose values did not change is left alone and queues no
        point, unless ``force``.

        Parameters
        ----------
        step_starts_s : array_like of int, shape (T,)
            UTC Unix seconds.
        participant_ids : sequence of str, length N
        production_wh : array_like, shape (T,)
            Production P, Wh.
        consumption_wh : array_like, shape (T, N)
            Consumption C, Wh; NaN = missing.
        allocated_wh : array_like, shape (T, N)
            Allocated energy (AUTOCONS), Wh.
        incomplete : array_like of bool, shape (T,)
        key : str
            Name of the allocation key (``prorata``, ``reallocated``, …).
        force : bool
            Rewrite and queue every step even when unchanged.

        Returns
        -------
        int
            Number of steps that changed (were written and queued).
        """
        t = np.asarray(step_starts_s, dtype=np.int64)
        ids = list(participant_ids)
        T, N = len(t), len(ids)
        p = np.asarray(production_wh, dtype=np.float64)
        cons = np.asarray(consumption_wh, dtype=np.float64)
        alloc = np.asarray(allocated_wh, dtype=np.float64)
        inc = np.asarray(incomplete, dtype=bool)
        if p.shape != (T,) or inc.shape != (T,) or cons.shape != (T, N) or alloc.shape != (T, N):
            raise ValueError(_("write_allocation: expected shapes (T,)=({T},) and (T, N)=({T}, "
                               "{N}), got production {production}, incomplete {incomplete}, "
                               "consumption {consumption}, allocated {allocated}").format(
                                   T=T, N=N, production=p.shape, incomplete=inc.shape,
                                   consumption=cons.shape, allocated=alloc.shape))
        if len(set(t.tolist())) != T or len(set(ids)) != N:
            raise ValueError(_("write_allocation: duplicate step or participant"))
        if T == 0:
            return 0
        with self._tx() as c:
            pkeys = np.asarray(self._keys(c, "participants", "participant_id", "participant",
                                          self._participant_keys, ids), dtype=np.int64)
            changed, before = self._changed_steps(c, t, pkeys, p, cons, alloc, inc, key)
            if force:
                changed = np.ones(T, dtype=bool)
            if not changed.any():
                return 0
            tc, pc, cc, ac, ic = t[changed], p[changed], cons[changed], alloc[changed], inc[changed]
            c.executemany("DELETE FROM allocation WHERE step_s = ?", [(s,) for s in tc.tolist()])
            now = time.time()
            c.executemany("INSERT OR REPLACE INTO allocation_step VALUES (?, ?, ?, ?, ?)",
                          zip(tc.tolist(), _nan_to_none(pc), ic.astype(int).tolist(),
                              [key] * len(tc), [now] * len(tc)))
            c.executemany("INSERT INTO allocation VALUES (?, ?, ?, ?)",
                          zip(np.repeat(tc, N).tolist(), np.tile(pkeys, len(tc)).tolist(),
                              _nan_to_none(cc.ravel()), _nan_to_none(ac.ravel())))
            self._enqueue(c, P.allocation_points(tc, ids, pc, cc, ac, ic))
        _log_closed_changes(t, ids, changed, before, p, alloc, inc)
        return int(changed.sum())

    def _changed_steps(self, c, t, pkeys, p, cons, alloc, inc, key
                       ) -> tuple[np.ndarray, dict]:
        """Which steps differ from what is stored (vectorised comparison, NaN = NaN), and
        what was stored before: ``{"stored", "production_wh", "allocated_wh",
        "incomplete"}`` arrays over the T steps (``stored`` False: a new step).
        """
        T, N = cons.shape
        steps, keys, rows = self._allocation_rows(c, int(t.min()), int(t.max()) + 1)
        if not len(steps):
            return np.ones(T, dtype=bool), {"stored": np.zeros(T, dtype=bool)}
        idx = _index_of(steps[:, 0].astype(np.int64), t)  # stored steps are sorted
        have = idx >= 0
        same = have.copy()
        j = np.where(have, idx, 0)
        st = steps[j]
        same &= _eq(st[:, 1], p) & (st[:, 2].astype(bool) == inc) & (keys[j] == key)
        # participant rows: scatter stored values into (T, N) by (step index, participant)
        old_c = np.full((T, N), np.nan)
        old_a = np.full((T, N), np.nan)
        old_n = np.zeros(T, dtype=np.int64)
        present = np.zeros((T, N), dtype=bool)
        if len(rows):
            ti = _index_of(t, rows[:, 0].astype(np.int64))
            pi = _index_of(pkeys, rows[:, 1].astype(np.int64))
            known = (ti >= 0) & (pi >= 0)
            np.add.at(old_n, ti[ti >= 0], 1)
            old_c[ti[known], pi[known]] = rows[known, 2]
            old_a[ti[known], pi[known]] = rows[known, 3]
            present[ti[known], pi[known]] = True
        same &= (old_n == N) & present.all(axis=1)
        same &= (_eq(old_c, cons) & _eq(old_a, alloc)).all(axis=1)
        return ~same, {"stored": have, "production_wh": np.where(have, st[:, 1], np.nan),
                       "allocated_wh": old_a, "incomplete": have & st[:, 2].astype(bool)}

    def _allocation_rows(self, c, from_s: int, to_s: int):
        return _allocation_rows(c, from_s, to_s)

    def allocation(self, from_s: int, to_s: int) -> Allocation:
        """Allocation results of the steps ``from_s <= start < to_s`` as arrays (T, N)."""
        with self._read() as c:
            return read_allocation(c, from_s, to_s)

    def allocation_totals(self, from_s: int | None = None, to_s: int | None = None) -> dict:
        """Sums over the stored steps ``from_s <= start < to_s`` (default: all; the running
        totals Home Assistant shows), Wh.

        Returns
        -------
        dict
            ``{"production_wh", "self_consumed_wh", "consumption_wh", "steps",
            "participants": {id: {"consumption_wh", "self_consumed_wh"}}}``; a missing
            value (NULL) counts as nothing.
        """
        lo = -(2 ** 62) if from_s is None else int(from_s)
        hi = 2 ** 62 if to_s is None else int(to_s)
        with self._read() as c:
            steps, prod = c.execute("SELECT COUNT(*), TOTAL(production_wh) FROM allocation_step "
                                    "WHERE step_s >= ? AND step_s < ?", (lo, hi)).fetchone()
            rows = c.execute("SELECT p.participant_id, TOTAL(a.consumption_wh), "
                             "TOTAL(a.allocated_wh) FROM allocation a JOIN participants p "
                             "USING (participant) WHERE a.step_s >= ? AND a.step_s < ? "
                             "GROUP BY a.participant", (lo, hi)).fetchall()
        per = {pid: {"consumption_wh": float(cw), "self_consumed_wh": float(aw)}
               for pid, cw, aw in rows}
        return {"production_wh": float(prod), "steps": int(steps),
                "self_consumed_wh": float(sum(v["self_consumed_wh"] for v in per.values())),
                "consumption_wh": float(sum(v["consumption_wh"] for v in per.values())),
                "participants": per}

    def allocated_step_count(self, to_s: int) -> int:
        """Number of stored steps that start before ``to_s``."""
        with self._read() as c:
            return int(c.execute("SELECT COUNT(*) FROM allocation_step WHERE step_s < ?",
                                 (int(to_s),)).fetchone()[0])

    # -- forecasts and live power ----------------------------------------------------------
    def write_forecast(self, step_starts_s, p50_w, p10_w=None, p90_w=None, *,
                       kind: str = "intraday", issued_s: float | None = None) -> int:
        """Store (replace) a production forecast and queue its points, in one transaction.

        Parameters
        ----------
        step_starts_s : array_like of int, shape (T,)
            UTC Unix seconds.
        p50_w, p10_w, p90_w : array_like, shape (T,)
            Mean production power over each step, W (median, 10 % and 90 % quantiles);
            ``None`` or NaN = not given.
        kind : str
            ``intraday``, ``dayahead``…: one stored forecast per kind and step (the latest).
        issued_s : float, optional
            When it was computed, UTC Unix seconds (default: now).
        """
        t = np.asarray(step_starts_s, dtype=np.int64)
        T = len(t)
        q = [np.full(T, np.nan) if v is None else np.asarray(v, dtype=np.float64)
             for v in (p10_w, p50_w, p90_w)]
        if any(v.shape != (T,) for v in q):
            raise ValueError(_("write_forecast: every series must have the shape of "
                               "step_starts_s"))
        issued = time.time() if issued_s is None else float(issued_s)
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO forecast VALUES (?, ?, ?, ?, ?, ?)",
                          zip([kind] * T, t.tolist(), *(_nan_to_none(v) for v in q),
                              [issued] * T))
            self._enqueue(c, P.forecast_points(kind, t, *q))
        return T

    def forecast(self, from_s: int, to_s: int, kind: str = "intraday") -> Forecast:
        """The stored forecast of ``kind`` for steps ``from_s <= start < to_s``."""
        with self._read() as c:
            rows = c.execute("SELECT step_s, p10_w, p50_w, p90_w, issued_s FROM forecast "
                             "WHERE kind = ? AND step_s >= ? AND step_s < ? ORDER BY step_s",
                             (kind, from_s, to_s)).fetchall()
        a = np.array(rows, dtype=np.float64).reshape(-1, 5)
        return Forecast(a[:, 0].astype(np.int64), a[:, 1], a[:, 2], a[:, 3], a[:, 4])

    def write_power(self, meter_ids: Sequence[str], times_s, power_w) -> int:
        """Queue live power points (``pvshare_power``) for InfluxDB; not kept in a table
        (the readings table already holds power).

        Parameters
        ----------
        meter_ids : sequence of str, length M
        times_s : array_like of float, shape (M,)
            UTC Unix seconds.
        power_w : array_like of float, shape (M,)
            W; NaN = missing (no point).

        Returns
        -------
        int
            Points queued (0 when refused because the outbox is full).
        """
        rows = P.power_points(meter_ids, times_s, power_w)
        with self._tx() as c:
            return self._enqueue(c, rows)

    # -- outbox ----------------------------------------------------------------------------
    def _enqueue(self, c: sqlite3.Connection, rows: list) -> int:
        """Queue points inside the caller's transaction. A point with the same measurement,
        tags and time as a pending one replaces it. Beyond the cap, the points are refused:
        ERROR logged, counter incremented, and the caller's results are still committed
        (:meth:`requeue` rebuilds the points later).
        """
        if not rows:
            return 0
        cap = self.outbox_max_points
        lo, hi = c.execute("SELECT MIN(id), MAX(id) FROM outbox").fetchone()
        upper = 0 if lo is None else hi - lo + 1  # ids only grow: an upper bound of the depth
        depth = None
        if upper + len(rows) >= OUTBOX_WARN_FRACTION * cap:
            depth = c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        if depth is not None:
            c.execute("SAVEPOINT enqueue")
            c.executemany("INSERT OR REPLACE INTO outbox (measurement, tags, time_s, fields) "
                          "VALUES (?, ?, ?, ?)", rows)
            after = c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            if after > cap:
                c.execute("ROLLBACK TO enqueue")
                c.execute("RELEASE enqueue")
                self.refused_points += len(rows)
                c.execute("INSERT INTO counters VALUES ('outbox_refused_points', ?) "
                          "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                          (len(rows),))
                log.error("%s: outbox full (%d points, cap [store] outbox_max_points = %d): "
                          "%d new points refused. The results are kept in the store; once "
                          "InfluxDB is back, run `pvshare store push` then requeue the "
                          "window.", self.path, depth, cap, len(rows))
                return 0
            c.execute("RELEASE enqueue")
            if after >= OUTBOX_WARN_FRACTION * cap and time.monotonic() - self._last_warn_s > 600:
                self._last_warn_s = time.monotonic()
                log.warning("%s: outbox at %d of %d points (%.0f %%): is InfluxDB reachable?",
                            self.path, after, cap, 100 * after / cap)
            return len(rows)
        c.executemany("INSERT OR REPLACE INTO outbox (measurement, tags, time_s, fields) "
                      "VALUES (?, ?, ?, ?)", rows)
        return len(rows)

    def requeue(self, from_s: int, to_s: int) -> int:
        """Queue again the points of the stored results (allocation and forecasts) of the
        steps ``from_s <= start < to_s``, e.g. after points were refused because the outbox
        was full, or for a new InfluxDB. Re-sent points overwrite the same series and
        timestamp in InfluxDB: a resend is never a double.

        Returns
        -------
        int
            Points queued.
        """
        a = self.allocation(from_s, to_s)
        with self._read() as c:
            kinds = [r[0] for r in c.execute("SELECT DISTINCT kind FROM forecast")]
        rows = P.allocation_points(a.step_starts_s, a.participant_ids, a.production_wh,
                                   a.consumption_wh, a.allocated_wh, a.incomplete)
        for kind in kinds:
            f = self.forecast(from_s, to_s, kind)
            rows += P.forecast_points(kind, f.step_starts_s, f.p10_w, f.p50_w, f.p90_w)
        with self._tx() as c:
            return self._enqueue(c, rows)

    def outbox_batch(self, limit: int) -> tuple[int, int, list[tuple[str, str, int, str]]]:
        """The oldest ``limit`` pending points.

        Returns
        -------
        (first_id, last_id, rows)
            ``rows`` are ``(measurement, tags, time_s, fields)``; ids are ``(0, -1)`` when
            the outbox is empty. Pass the ids to :meth:`outbox_ack` once delivered.
        """
        with self._read() as c:
            rows = c.execute("SELECT id, measurement, tags, time_s, fields FROM outbox "
                             "ORDER BY id LIMIT ?", (limit,)).fetchall()
        if not rows:
            return 0, -1, []
        return rows[0][0], rows[-1][0], [r[1:] for r in rows]

    def outbox_ack(self, first_id: int, last_id: int) -> int:
        """Remove delivered points (ids ``first_id..last_id``). A point replaced while its
        batch was in flight got a new id and stays queued.
        """
        with self._tx() as c:
            return c.execute("DELETE FROM outbox WHERE id >= ? AND id <= ?",
                             (first_id, last_id)).rowcount

    def outbox_depth(self) -> int:
        """Number of points waiting for InfluxDB."""
        with self._read() as c:
            return c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def counters(self) -> dict[str, int]:
        """Persistent counters (``outbox_refused_points``…)."""
        with self._read() as c:
            return dict(c.execute("SELECT name, value FROM counters"))

    def stats(self) -> dict:
        """Rows per table, outbox depth and the oldest pending point, sizes in bytes."""
        tables = ["meters", "readings", "step_energy", "participants", "allocation_step",
                  "allocation", "forecast", "outbox"]
        with self._read() as c:
            rows = {t: c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
            oldest = c.execute("SELECT MIN(time_s) FROM outbox").fetchone()[0]
            by_measurement = dict(c.execute(
                "SELECT measurement, COUNT(*) FROM outbox GROUP BY measurement"))
            version = current_version(c)
        files = {s: Path(str(self.path) + s) for s in ("", "-wal", "-shm")}
        sizes = {s or "db": f.stat().st_size for s, f in files.items() if f.exists()}
        return {"path": str(self.path), "schema_version": version, "rows": rows,
                "outbox_depth": rows["outbox"], "outbox_by_measurement": by_measurement,
                "outbox_oldest_s": oldest, "outbox_max_points": self.outbox_max_points,
                "counters": self.counters(), "size_bytes": sizes}

    def row_count(self, table: str, from_s: float, to_s: float,
                  meter_ids: Sequence[str] | None = None) -> int:
        """Rows of ``readings``, ``step_energy`` or ``allocation`` in a window, as SQLite
        counts them (exports compare it with the rows they read).
        """
        col, scale = {"readings": ("time_ms", 1000), "step_energy": ("step_s", 1),
                      "allocation": ("step_s", 1)}[table]
        lo, hi = round(from_s * scale), round(to_s * scale)
        with self._read() as c:
            if table == "allocation" or meter_ids is None:
                return c.execute(f"SELECT COUNT(*) FROM {table} WHERE {col} >= ? AND {col} < ?",
                                 (lo, hi)).fetchone()[0]
            n = 0
            for m in meter_ids:
                k = self._meter_key(c, m)
                if k is not None:
                    n += c.execute(f"SELECT COUNT(*) FROM {table} WHERE meter = ? AND {col} >= ? "
                                   f"AND {col} < ?", (k, lo, hi)).fetchone()[0]
            return n

    def verify(self, *tables: str) -> None:
        """Run ``PRAGMA quick_check`` on ``tables`` to the end; raise :class:`StoreError`
        naming the damage (exports call it before reading).
        """
        with self._read() as c:
            for t in tables:
                rows = [r[0] for r in c.execute(f"PRAGMA quick_check({t})").fetchall()]
                if rows != ["ok"]:
                    raise _damaged(self.path, f"table {t}: {rows[0]}")

    def checkpoint(self) -> None:
        """Fold the WAL back into the main file (e.g. before copying the file)."""
        with self._read() as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")


#: At most this many steps, and participants per step, are named in one log line about
#: closed steps that changed.
CHANGES_SHOWN = 3


def _log_closed_changes(t, ids, changed, before, production, allocated, incomplete) -> None:
    """Log the closed steps whose published figures changed, before → after: WARNING for a
    step that was complete (its figures were final for everyone who read them), INFO for an
    incomplete step being completed by the data it lacked (docs/design.md §3).
    """
    redo = changed & before["stored"]
    if not redo.any():
        return
    was_complete = redo & ~before["incomplete"]
    for mask, level in ((was_complete, logging.WARNING), (redo & before["incomplete"],
                                                          logging.INFO)):
        idx = np.flatnonzero(mask)
        if not idx.size or not log.isEnabledFor(level):
            continue
        parts = []
        for i in idx[:CHANGES_SHOWN]:
            old_a, new_a = before["allocated_wh"][i], allocated[i]
            diff = np.abs(np.nan_to_num(new_a, nan=0.0) - np.nan_to_num(old_a, nan=0.0))
            who = [j for j in np.argsort(-diff, kind="stable")[:CHANGES_SHOWN]
                   if diff[j] > 0 or np.isnan(old_a[j]) != np.isnan(new_a[j])]
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(t[i])))
            text = (f"{stamp}: production {before['production_wh'][i]:.1f} → "
                    f"{production[i]:.1f} Wh")
            text += "".join(f", {ids[j]} {old_a[j]:.1f} → {new_a[j]:.1f} Wh" for j in who)
            if bool(before["incomplete"][i]) != bool(incomplete[i]):
                text += ", now " + ("incomplete" if incomplete[i] else "complete")
            parts.append(text)
        more = f" (and {idx.size - CHANGES_SHOWN} more)" if idx.size > CHANGES_SHOWN else ""
        what = "closed step(s) changed" if level == logging.WARNING else \
            "incomplete step(s) completed by late data"
        log.log(level, "%d %s: %s%s", idx.size, what, "; ".join(parts), more)


def _index_of(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in the (unique, any order) ``keys``, or -1 (vectorised)."""
    if not len(keys):
        return np.full(len(values), -1)
    order = np.argsort(keys, kind="stable")
    pos = np.minimum(np.searchsorted(keys[order], values), len(keys) - 1)
    found = keys[order][pos] == values
    return np.where(found, order[pos], -1)


def _eq(a, b) -> np.ndarray:
    """Elementwise equality where NaN equals NaN."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (a == b) | (np.isnan(a) & np.isnan(b))


def private_files(path: Path, group: str | None = None) -> None:
    """Make the store and its side files (-wal, -shm) private: 0600, or 0640 with ``group``
    (the files this process owns; another user's files are left as they are).
    """
    gid = None
    if group:
        import grp
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise StoreError(_("[store] group: no group {group!r} on this machine").format(
                group=group)) from None
    for suffix in ("", "-wal", "-shm", ".lock"):
        f = Path(str(path) + suffix)
        try:
            st = f.stat()
            if st.st_uid != os.getuid():
                continue
            if gid is not None and st.st_gid != gid:
                os.chown(f, -1, gid)
            os.chmod(f, 0o640 if gid is not None else 0o600)
        except FileNotFoundError:
            continue


def _damaged(path: Path, what: str) -> StoreError:
    lines = [x for x in str(what).splitlines() if x.strip() and not x.startswith("***")]
    what = lines[0] if lines else str(what)
    what = what if len(what) < 120 else what[:120] + "…"
    return StoreError(_("{path}: the store is damaged, corrupt ({what}). It was left "
                        "untouched: `pvshare store check` says what is damaged, `pvshare store "
                        "salvage --out NEW.db` copies out what is readable (see "
                        "docs/troubleshooting.md)").format(path=path, what=what))


def _store_error(path: Path, exc: sqlite3.Error, busy_timeout_s: float) -> StoreError:
    msg = str(exc)
    low = msg.lower()
    if "locked" in low or "busy" in low:
        return StoreError(_("{path}: the database is locked by another process (waited "
                            "{seconds:g} s); is another pvshare running on it?").format(
                                path=path, seconds=busy_timeout_s))
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return _damaged(path, msg)
    if "unable to open" in low:
        return StoreError(_("{path}: cannot open the store ({why}): check that this user "
                            "may read the file and write in its folder").format(
                                path=path, why=msg))
    if "readonly" in low or "read-only" in low:
        return StoreError(_("{path}: cannot write ({why}): check the file's permissions")
                          .format(path=path, why=msg))
    return StoreError(f"{path}: {msg}")


def read_allocation(c: sqlite3.Connection, from_s: int, to_s: int) -> Allocation:
    """Allocation results of the steps ``from_s <= start < to_s`` as arrays (T, N), read on
    connection ``c`` (a store's, or the web's read-only one) inside the caller's transaction.
    """
    steps, keys, rows = _allocation_rows(c, from_s, to_s)
    names = dict(c.execute("SELECT participant, participant_id FROM participants"))
    t = steps[:, 0].astype(np.int64)
    pkeys = np.unique(rows[:, 1].astype(np.int64)) if len(rows) else np.zeros(0, np.int64)
    T, N = len(t), len(pkeys)
    cons = np.full((T, N), np.nan)
    alloc = np.full((T, N), np.nan)
    if len(rows):
        ti = np.searchsorted(t, rows[:, 0].astype(np.int64))
        pi = np.searchsorted(pkeys, rows[:, 1].astype(np.int64))
        cons[ti, pi] = rows[:, 2]
        alloc[ti, pi] = rows[:, 3]
    return Allocation(t, [names[k] for k in pkeys.tolist()],
                      steps[:, 1].astype(np.float64), cons, alloc,
                      steps[:, 2].astype(bool), keys, len(rows))


def _allocation_rows(c: sqlite3.Connection, from_s: int, to_s: int):
    steps = c.execute("SELECT step_s, production_wh, incomplete, key FROM allocation_step "
                      "WHERE step_s >= ? AND step_s < ? ORDER BY step_s",
                      (from_s, to_s)).fetchall()
    rows = c.execute("SELECT step_s, participant, consumption_wh, allocated_wh FROM allocation "
                     "WHERE step_s >= ? AND step_s < ?", (from_s, to_s)).fetchall()
    st = np.array([r[:3] for r in steps], dtype=np.float64).reshape(-1, 3)
    keys = np.array([r[3] for r in steps], dtype=str)
    return st, keys, np.array(rows, dtype=np.float64).reshape(-1, 4)
