"""The store's integrity: a cheap check on every open, a full check (``pvshare store
check``) and a salvage copy (``pvshare store salvage``), all through read-only connections:
a damaged store is never written to.

The cheap check reads the 100-byte SQLite header (magic, page size, page count against the
file size) and runs ``PRAGMA quick_check`` for at most ``budget_s`` seconds (a progress
handler stops it): a small store is checked completely on every open, a large one for its
first pages. The full check runs ``PRAGMA integrity_check`` to the end and names the tables
whose pages are damaged.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
#: Time the check on open may take, s (a year-sized store: see benchmarks/store_check.py).
OPEN_CHECK_BUDGET_S = 0.1
#: Tables copied by :func:`salvage`, in dependency order.
TABLES = ("schema_version", "meters", "participants", "readings", "step_energy",
          "allocation_step", "allocation", "forecast", "outbox", "counters")


def connect_readonly(path: Path, timeout_s: float = 10.0) -> sqlite3.Connection:
    """A connection that cannot write to ``path`` (SQLite ``mode=ro``).

    A WAL store read by a user who may not create its ``-shm`` file (a read-only folder)
    is opened ``immutable`` when no ``-wal`` holds pending pages (then no writer is active
    and the main file is the whole store).
    """
    base = "file:" + _quote(str(path)) + "?mode=ro"
    conn = sqlite3.connect(base, uri=True, isolation_level=None, check_same_thread=False,
                           timeout=timeout_s)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    old = os.umask(0o077)       # the -wal/-shm a reader may create: private, like the store
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        wal = Path(str(path) + "-wal")
        low = str(exc).lower()
        if not ("readonly" in low or "unable to open" in low) or \
                (wal.exists() and wal.stat().st_size > 0):
            conn.close()
            raise
        conn.close()
        conn = sqlite3.connect(base + "&immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False, timeout=timeout_s)
    finally:
        os.umask(old)
    return conn


def _quote(path: str) -> str:
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def header_problem(path: Path) -> str | None:
    """What is wrong with the file's SQLite header, or None.

    Checks the magic string, the page size, and that the file is as long as the page count
    its header gives (a store cut short by a full disk or a bad copy).
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(100)
    if head[:16] != SQLITE_MAGIC:
        return "not an SQLite database"
    if len(head) < 100:
        return "the file is cut short (shorter than its header)"
    page = struct.unpack(">H", head[16:18])[0]
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return f"its header gives an impossible page size ({page})"
    change, pages, valid_for = (struct.unpack(">I", head[o:o + 4])[0] for o in (24, 28, 92))
    wal = Path(str(path) + "-wal")
    has_wal = wal.exists() and wal.stat().st_size > 0
    if size % page:
        return f"its size ({size} bytes) is not a whole number of {page}-byte pages"
    if pages and valid_for == change and not has_wal and pages * page > size:
        return (f"the file is cut short: its header gives {pages} pages of {page} bytes, "
                f"it holds {size // page}")
    return None


#: Order of the check on open: the small tables first, the raw readings last.
CHECK_ORDER = ("schema_version", "counters", "meters", "participants", "allocation_step",
               "forecast", "step_energy", "allocation", "outbox", "readings")


def quick_check(conn: sqlite3.Connection, budget_s: float | None) -> tuple[bool, list[str]]:
    """``PRAGMA quick_check`` table by table (small tables first) until ``budget_s`` seconds
    have passed (None: every table).

    Returns
    -------
    complete : bool
        Whether every table was checked.
    problems : list of str
        SQLite's messages (empty when nothing was found).
    """
    t0 = time.monotonic()
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = [t for t in CHECK_ORDER if t in names] + sorted(names - set(CHECK_ORDER))
    for i, t in enumerate(tables):
        if budget_s is not None and i and time.monotonic() - t0 > budget_s:
            return False, []
        rows = [r[0] for r in conn.execute(f"PRAGMA quick_check({t})").fetchall()]
        if rows != ["ok"]:
            return True, [f"table {t}: " + "; ".join(rows)]
    return True, []


@dataclass
class CheckReport:
    """Outcome of :func:`full_check`."""

    path: str
    problems: list[str] = field(default_factory=list)
    damaged_tables: list[str] = field(default_factory=list)
    rows: dict[str, int | None] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems


def full_check(path: str | os.PathLike, max_problems: int = 100) -> CheckReport:
    """``PRAGMA integrity_check`` to the end, read-only; names the damaged tables and counts
    the rows each table still gives (None when it cannot be read).
    """
    p = Path(path)
    rep = CheckReport(str(p))
    t0 = time.monotonic()
    head = header_problem(p)
    if head:
        rep.problems.append(head)
        if head == "not an SQLite database":
            return rep
    try:
        conn = connect_readonly(p)
    except sqlite3.Error as exc:
        rep.problems.append(str(exc))
        return rep
    try:
        try:
            roots = {r: n for n, r in conn.execute(
                "SELECT name, rootpage FROM sqlite_master WHERE rootpage > 0")}
            index_of = dict(conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"))
        except sqlite3.Error as exc:
            rep.problems.append(f"the list of tables cannot be read: {exc}")
            return rep
        try:
            rows = [r[0] for r in conn.execute(f"PRAGMA integrity_check({max_problems})")]
        except sqlite3.Error as exc:
            rows = [str(exc)]
        if rows != ["ok"]:
            rep.problems += [x for r in rows for x in r.splitlines()
                             if x.strip() and not x.startswith("***")]
        damaged = set()
        if rep.problems:            # which tables: check each one on its own
            for t in sorted(set(roots.values()) - set(index_of)):
                try:
                    one = [r[0] for r in conn.execute(f"PRAGMA integrity_check({t})")]
                except sqlite3.Error:
                    one = ["unreadable"]
                if one != ["ok"]:
                    damaged.add(t)
        known = set(roots.values())
        rep.damaged_tables = sorted(d for d in damaged if d in known)
        for t in TABLES:
            if t not in known:
                continue
            try:
                rep.rows[t] = conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            except sqlite3.Error:
                rep.rows[t] = None
    finally:
        conn.close()
    rep.seconds = time.monotonic() - t0
    return rep
