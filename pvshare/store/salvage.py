"""``pvshare store salvage``: copy everything readable of a (damaged) store into a new one,
through a read-only connection to the original (never changed).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from pvshare.i18n import _
from pvshare.store.db import Store, StoreError
from pvshare.store.integrity import TABLES, connect_readonly


@dataclass
class SalvageReport:
    """Rows copied per table by :func:`salvage`, and the tables not read to the end."""

    copied: dict[str, int] = field(default_factory=dict)
    incomplete: dict[str, str] = field(default_factory=dict)


def _primary_key(conn: sqlite3.Connection, table: str) -> list[str]:
    cols = conn.execute(f"PRAGMA table_info({table})").fetchall()
    pk = [c[1] for c in sorted(cols, key=lambda c: c[5]) if c[5] > 0]
    return pk or ["rowid"]


def _scan(conn, table: str, pk: list[str], desc: bool, chunk: int = 5000):
    """Yield rows in primary-key order (or reversed) until the end or the first read error
    (re-raised after the rows read so far, read one by one up to the bad one).
    """
    order = ", ".join(f"{c} {'DESC' if desc else 'ASC'}" for c in pk)
    cols = "*" if pk != ["rowid"] else "rowid, *"
    last = None
    op = "<" if desc else ">"
    key = "(" + ", ".join(pk) + ")"
    while True:
        where = "" if last is None else \
            f"WHERE {key} {op} ({', '.join('?' * len(pk))})"
        try:
            rows = conn.execute(f"SELECT {cols} FROM {table} {where} ORDER BY {order} "
                                f"LIMIT {chunk}", () if last is None else last).fetchall()
        except sqlite3.Error:
            if chunk == 1:
                raise
            chunk = 1
            continue
        if not rows:
            return
        yield from rows
        n = len(pk)
        last = rows[-1][:n] if pk != ["rowid"] else rows[-1][:1]
        if len(rows) < chunk:
            return


def salvage(src: str | os.PathLike, out: str | os.PathLike) -> SalvageReport:
    """Copy everything readable of the store ``src`` into a new store ``out``.

    ``src`` is opened read-only and never changed. Each table is read in primary-key order
    until the end or the first damaged page, then from its end backwards down to the damage,
    so the rows on either side of a damaged stretch are kept.
    """
    src, out = Path(src), Path(out)
    if out.exists():
        raise StoreError(_("{path}: already exists (salvage writes a new file)").format(
            path=out))
    rep = SalvageReport()
    try:
        conn = connect_readonly(src)
        conn.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreError(_("{path}: nothing can be copied: the store's list of tables is "
                           "damaged ({why}); restore the last backup "
                           "(docs/troubleshooting.md)").format(path=src, why=exc)) from None
    conn.text_factory = lambda b: b.decode("utf-8", "replace")   # a damaged text stays a row
    try:
        with Store.open(out, check=False) as new:
            dst = new._conn
            dst.execute("BEGIN IMMEDIATE")
            for t in TABLES:
                try:
                    pk = _primary_key(conn, t)
                    ncols = len(conn.execute(f"PRAGMA table_info({t})").fetchall())
                except sqlite3.Error as exc:
                    rep.incomplete[t] = str(exc)
                    continue
                if t == "schema_version":
                    dst.execute("DELETE FROM schema_version")
                ins = (f"INSERT OR IGNORE INTO {t} ({'rowid, ' if pk == ['rowid'] else ''}"
                       f"{', '.join(c[1] for c in conn.execute(f'PRAGMA table_info({t})'))}) "
                       f"VALUES ({', '.join('?' * (ncols + (pk == ['rowid'])))})")
                n = 0
                for desc in (False, True):
                    try:
                        for row in _scan(conn, t, pk, desc):
                            n += dst.execute(ins, row).rowcount
                        break           # read to the end: no need to come from the other end
                    except sqlite3.Error as exc:
                        rep.incomplete[t] = str(exc)
                rep.copied[t] = n
            dst.execute("COMMIT")
    finally:
        conn.close()
    return rep
