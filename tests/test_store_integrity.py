"""The store's integrity on real damaged files: random bytes written into pages of a real
store; no command changes the file, every command stops with exit code 2, `store check`
names the damage and `store salvage` copies out what is readable."""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.badinput.corpus import CONFIG, real_store

PVSHARE = str(Path(sys.executable).with_name("pvshare"))


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def pvshare(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PVSHARE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def damaged_store(tmp: Path, seed: int, pages: int = 3) -> Path:
    db = tmp / "pvshare.db"
    shutil.copyfile(real_store(), db)
    rnd = random.Random(seed)
    n = db.stat().st_size // 4096
    with open(db, "r+b") as fh:
        for _ in range(pages):
            fh.seek(rnd.randrange(2, n) * 4096 + rnd.randrange(0, 3000))
            fh.write(rnd.randbytes(1000))
    (tmp / "site.toml").write_text(CONFIG)
    return db


@pytest.mark.parametrize("seed", [21, 22])
def test_no_command_changes_a_damaged_store(tmp_path, seed):
    db = damaged_store(tmp_path, seed)
    before = sha(db)
    commands = [
        ["export", "--what", "allocation", "--from", "2025-06-01T00:00:00+00:00",
         "--to", "2025-06-08T00:00:00+00:00", "--out", "a.csv"],
        ["store", "stats"], ["status"], ["store", "requeue", "--from", "2025-06-01",
                                         "--to", "2025-06-02"],
        ["store", "check"],
    ]
    for cmd in commands:
        r = pvshare(*cmd[:2] if cmd[0] == "store" else cmd[:1], "--config", "site.toml",
                    *(cmd[2:] if cmd[0] == "store" else cmd[1:]), cwd=tmp_path)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        assert "damaged" in (r.stderr + r.stdout)
        assert sha(db) == before, cmd
        assert not (tmp_path / "a.csv").exists()
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0


def test_store_check_names_the_damaged_table_and_salvage_copies_the_rest(tmp_path):
    db = damaged_store(tmp_path, 23, pages=1)
    before = sha(db)
    r = pvshare("store", "check", "--config", "site.toml", cwd=tmp_path)
    assert r.returncode == 2 and "DAMAGED" in r.stdout, r.stdout + r.stderr
    r = pvshare("store", "salvage", "--config", "site.toml", "--out", "new.db", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sha(db) == before
    new = sqlite3.connect(tmp_path / "new.db")
    assert new.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    good = sqlite3.connect(real_store())
    for table in ("readings", "allocation", "outbox", "step_energy"):
        n_new = new.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        n_all = good.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        # One damaged page holds at most a few hundred rows of one table.
        assert n_all - 400 <= n_new <= n_all, table
    # the copy is a working store: the checks pass and an export reads it
    (tmp_path / "site2.toml").write_text(CONFIG.replace('"pvshare.db"', '"new.db"'))
    r = pvshare("store", "check", "--config", "site2.toml", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_salvage_of_a_sound_store_copies_every_row(tmp_path):
    shutil.copyfile(real_store(), tmp_path / "pvshare.db")
    (tmp_path / "site.toml").write_text(CONFIG)
    r = pvshare("store", "salvage", "--config", "site.toml", "--out", "copy.db", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a, b = sqlite3.connect(real_store()), sqlite3.connect(tmp_path / "copy.db")
    for table in ("readings", "allocation", "allocation_step", "outbox", "step_energy",
                  "meters", "participants"):
        q = f"SELECT * FROM {table} ORDER BY 1, 2"
        assert a.execute(q).fetchall() == b.execute(q).fetchall(), table


def test_a_store_cut_short_is_refused_untouched(tmp_path):
    db = tmp_path / "pvshare.db"
    data = real_store().read_bytes()
    page = int.from_bytes(data[16:18], "big")
    db.write_bytes(data[: len(data) // 2 // page * page])      # whole pages, half of them
    (tmp_path / "site.toml").write_text(CONFIG)
    before = sha(db)
    r = pvshare("status", "--config", "site.toml", cwd=tmp_path)
    assert r.returncode == 2 and "cut short" in r.stderr, r.stderr
    assert sha(db) == before


def test_a_store_whose_table_list_is_damaged_says_so_and_salvage_stops_cleanly(tmp_path):
    """Page 1 (SQLite's list of tables) overwritten: nothing can be read by table. check
    and salvage say so, with no traceback; nothing is changed or written.
    """
    db = tmp_path / "pvshare.db"
    shutil.copyfile(real_store(), db)
    with open(db, "r+b") as fh:
        fh.seek(200)
        fh.write(random.Random(5).randbytes(3800))
    (tmp_path / "site.toml").write_text(CONFIG)
    before = sha(db)
    r = pvshare("store", "check", "--config", "site.toml", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "nothing in it can be read" in " ".join(r.stderr.split()), r.stderr
    assert "rows still readable" not in r.stdout and "Traceback" not in r.stderr
    r = pvshare("store", "salvage", "--config", "site.toml", "--out", "new.db", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "nothing can be copied" in " ".join(r.stderr.split()), r.stderr
    assert not (tmp_path / "new.db").exists()
    assert sha(db) == before


def test_an_old_0644_store_becomes_private_when_opened_for_writing(tmp_path):
    from pvshare.store import Store
    db = tmp_path / "old.db"
    shutil.copyfile(real_store(), db)
    db.chmod(0o644)
    with Store.open(db) as s:
        s.write_step_energy("m", [0], [1.0])
        assert {f.name: f.stat().st_mode & 0o777 for f in tmp_path.iterdir()} == {
            "old.db": 0o600, "old.db-wal": 0o600, "old.db-shm": 0o600}


def test_new_store_and_side_files_are_private(tmp_path):
    from pvshare.store import Store
    with Store.open(tmp_path / "p.db") as s:
        s.write_step_energy("m", [0], [1.0])
        modes = {f.name: f.stat().st_mode & 0o777 for f in tmp_path.iterdir()}
    assert modes["p.db"] == 0o600
    assert modes["p.db-wal"] == 0o600 and modes["p.db-shm"] == 0o600


def _as_other_user(argv: list[str]) -> list[str]:
    """Run as 'nobody' when we are root (root reads and writes everything); otherwise the
    permissions set by the test already apply to us."""
    import os
    if os.getuid() == 0:
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    return argv


def test_read_only_store_reads_but_refuses_writes_clearly():
    import tempfile
    # Not under pytest's tmp_path: its folders are 0700, so the other user could not reach
    # the store at all.
    top = Path(tempfile.mkdtemp(prefix="pvshare-ro-"))
    folder = top / "ro"
    folder.mkdir()
    shutil.copyfile(real_store(), folder / "pvshare.db")
    (folder / "site.toml").write_text(CONFIG)
    for f in folder.iterdir():
        f.chmod(0o444)
    folder.chmod(0o555)
    top.chmod(0o755)
    try:
        before = sha(folder / "pvshare.db")
        r = subprocess.run(_as_other_user([PVSHARE, "store", "stats", "--config", "site.toml"]),
                           cwd=folder, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "allocation" in r.stdout
        r = subprocess.run(_as_other_user([PVSHARE, "store", "requeue", "--config", "site.toml",
                                           "--from", "2025-06-01", "--to", "2025-06-02"]),
                           cwd=folder, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "read-only for this user" in r.stderr, r.stderr
        assert "unable to open database file" not in r.stderr
        assert sha(folder / "pvshare.db") == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(top)


def test_store_group_makes_files_0640(tmp_path):
    import grp
    import os
    group = grp.getgrgid(os.getgroups()[-1] if os.getgroups() else os.getgid()).gr_name
    from pvshare.store import Store
    with Store.open(tmp_path / "g.db", group=group) as s:
        s.write_step_energy("m", [0], [1.0])
        for suffix in ("", "-wal", "-shm"):
            st = Path(str(tmp_path / "g.db") + suffix).stat()
            assert st.st_mode & 0o777 == 0o640
            assert grp.getgrgid(st.st_gid).gr_name == group


def test_daemon_refuses_a_damaged_store_and_leaves_it_untouched(tmp_path):
    from tests.badinput.corpus import RUN_CONFIG
    db = damaged_store(tmp_path, 21)
    (tmp_path / "site.toml").write_text(RUN_CONFIG)
    before = sha(db)
    r = subprocess.run([PVSHARE, "run", "--config", "site.toml", "--no-forecast"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "damaged" in r.stderr, r.stderr[-2000:]
    assert sha(db) == before
    wal = Path(str(db) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0       # nothing waiting to be folded in


def test_a_store_that_found_damage_writes_nothing_more(tmp_path):
    """Damage found while open (a read fails): every later write is refused at once."""
    from pvshare.store import Store, StoreError
    db = tmp_path / "pvshare.db"
    shutil.copyfile(real_store(), db)
    store = Store.open(db)
    try:
        rnd = random.Random(5)
        size = db.stat().st_size
        with open(db, "r+b") as fh:                       # damage under the open store
            for k in range(2, size // 4096):
                fh.seek(k * 4096)
                fh.write(rnd.randbytes(4096))
        with pytest.raises(StoreError):
            store.allocation(0, 2**40)
        assert store.damaged is not None
        before = sha(db)
        with pytest.raises(StoreError, match="damaged"):
            store.write_step_energy("m", [0], [1.0])
        assert sha(db) == before
    finally:
        store._conn.close()


def test_side_files_a_reader_creates_are_private(tmp_path):
    from pvshare.store import Store
    db = tmp_path / "pvshare.db"
    shutil.copyfile(real_store(), db)
    db.chmod(0o600)                   # as pvshare creates it (SQLite gives side files its mode)
    with Store.open(db, readonly=True) as s:
        assert s.meter_ids() == ["A", "inverter"]
        for f in tmp_path.iterdir():
            if f.name.startswith("pvshare.db-"):
                assert f.stat().st_mode & 0o777 == 0o600, f
