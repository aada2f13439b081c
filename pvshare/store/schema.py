"""The store's SQLite schema, as an ordered list of migrations.

Each migration is a list of SQL statements that takes the schema from version ``n - 1`` to
``n``; it is applied in one transaction together with its row in ``schema_version``, so a
crash half-way leaves the previous version intact. Never edit a released migration: append a
new one.

Conventions
-----------
- Meters and participants are stored once in their own table and referred to by a small
  integer (``meter``, ``participant``): a raw reading then costs about 30 bytes on disk.
- Reading times are integer **milliseconds** since the Unix epoch (UTC) in the column
  ``time_ms``; the Python API speaks float seconds.
- Step starts are integer **seconds** since the Unix epoch (UTC) in ``step_s``.
- Energies are Wh, powers W; ``NULL`` means missing (never zero).
"""

from __future__ import annotations

import sqlite3
import time

#: ``MIGRATIONS[n - 1]`` takes the schema to version ``n``.
MIGRATIONS: list[list[str]] = [
    # 1: readings, step energies and allocation results.
    [
        """CREATE TABLE meters (
               meter INTEGER PRIMARY KEY,
               meter_id TEXT NOT NULL UNIQUE)""",
        """CREATE TABLE readings (
               meter INTEGER NOT NULL REFERENCES meters(meter),
               time_ms INTEGER NOT NULL,
               import_wh REAL,
               export_wh REAL,
               power_w REAL,
               quality INTEGER NOT NULL DEFAULT 0,
               PRIMARY KEY (meter, time_ms)) WITHOUT ROWID""",
        """CREATE TABLE step_energy (
               meter INTEGER NOT NULL REFERENCES meters(meter),
               step_s INTEGER NOT NULL,
               energy_wh REAL,
               flags INTEGER NOT NULL DEFAULT 0,
               PRIMARY KEY (meter, step_s)) WITHOUT ROWID""",
        """CREATE TABLE participants (
               participant INTEGER PRIMARY KEY,
               participant_id TEXT NOT NULL UNIQUE)""",
        """CREATE TABLE allocation_step (
               step_s INTEGER PRIMARY KEY,
               production_wh REAL,
               incomplete INTEGER NOT NULL,
               key TEXT NOT NULL,
               computed_s REAL NOT NULL)""",
        """CREATE TABLE allocation (
               step_s INTEGER NOT NULL,
               participant INTEGER NOT NULL REFERENCES participants(participant),
               consumption_wh REAL,
               allocated_wh REAL,
               PRIMARY KEY (step_s, participant)) WITHOUT ROWID""",
    ],
    # 2: the outbox towards InfluxDB, and persistent counters.
    [
        # AUTOINCREMENT: ids are never reused, so the forwarder can delete the id range it
        # sent without touching a point that was replaced (re-inserted) meanwhile.
        """CREATE TABLE outbox (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               measurement TEXT NOT NULL,
               tags TEXT NOT NULL,
               time_s INTEGER NOT NULL,
               fields TEXT NOT NULL)""",
        "CREATE UNIQUE INDEX outbox_point ON outbox (measurement, tags, time_s)",
        """CREATE TABLE counters (
               name TEXT PRIMARY KEY,
               value INTEGER NOT NULL) WITHOUT ROWID""",
    ],
    # 3: forecasts.
    [
        """CREATE TABLE forecast (
               kind TEXT NOT NULL,
               step_s INTEGER NOT NULL,
               p10_w REAL,
               p50_w REAL,
               p90_w REAL,
               issued_s REAL,
               PRIMARY KEY (kind, step_s)) WITHOUT ROWID""",
    ],
    # 4: the months whose Enedis key file the daemon has dealt with (written, found there,
    # or skipped because the store starts after the month's beginning): the memory is the
    # store, not the file's presence (docs/store.md).
    [
        """CREATE TABLE key_files (
               month TEXT NOT NULL,
               path TEXT NOT NULL,
               outcome TEXT NOT NULL,
               recorded_s REAL NOT NULL,
               PRIMARY KEY (month, path)) WITHOUT ROWID""",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    """Schema version of an open database (0 for an empty one)."""
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                       "AND name = 'schema_version'").fetchone()
    if not has:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, upto: int = SCHEMA_VERSION) -> list[int]:
    """Apply the missing migrations up to version ``upto``, each in its own transaction.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Returns the versions
    applied (empty when the schema was already up to date).
    """
    applied = []
    version = current_version(conn)
    for n in range(version + 1, upto + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            if current_version(conn) >= n:
                conn.execute("COMMIT")
                continue
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                         "version INTEGER PRIMARY KEY, applied_s REAL NOT NULL)")
            for sql in MIGRATIONS[n - 1]:
                conn.execute(sql)
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (n, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(n)
    return applied
