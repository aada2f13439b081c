"""The daemon's guards (issue 18): a clock behind what the store has seen, the store removed
or replaced under the daemon, the month's key file, the private side files.

The real ``pvshare run`` against ``pvshare simulate building`` and mosquitto on one
accelerated simulated clock (tests/test_daemon_faults.py's rig). The daemon's clock is put
wrong and right with ``--clock-adjust-file`` (seconds added to its simulated clock: what NTP
does to a Raspberry Pi without a real-time clock). Every wait is on something the daemon
says or stores, never on a length of wall time.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import time

import numpy as np
import pytest

from pvshare.config import load_config
from tests import daemon_support as ds
from tests.test_daemon_faults import STEP, Rig, allocation, go, wait_closed

pytestmark = pytest.mark.timeout(300)


def status(config) -> subprocess.CompletedProcess:
    return subprocess.run(ds.pvshare_cmd("status", "--config", config), capture_output=True,
                          text=True, timeout=120, env={**ds._env(), "COLUMNS": "200"},
                          cwd=ds.ROOT)


def computed(config) -> dict[int, float]:
    """When each stored step was (last) written."""
    cfg = load_config(config)
    con = sqlite3.connect(cfg.relative(cfg.store.path))
    try:
        return dict(con.execute("SELECT step_s, computed_s FROM allocation_step"))
    finally:
        con.close()


def same(a, b) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


# -- the clock ------------------------------------------------------------------------------------
def test_clock_behind_at_start_waits_then_ntp_no_closed_step_changed(mosquitto, tmp_path, rigs):
    start = ds.parse_iso("2025-06-21T04:00:00+00:00")
    rig = Rig(tmp_path, mosquitto, start=ds.iso(start), speed=1200)
    rigs.append(rig)
    cfg_path = rig.config("d")
    first = rig.daemon(cfg_path, "first")
    go(rig)                  # held timeline: runs once all are ready
    wait_closed(cfg_path, start + 5 * 3600, timeout_s=90)
    assert first.terminate() == 0
    before = allocation(cfg_path, 0, 2**40)
    written = computed(cfg_path)
    final = ~before.incomplete
    assert final.sum() >= 4

    # The Pi reboots without its real-time clock: a week behind (fake-hwclock's time of the
    # last shutdown) until NTP answers. A week, not hours: at 1200x a clock a few hours
    # behind would catch up with the store by itself within seconds of wall time, before
    # `status` below has even started on a loaded machine.
    adjust = tmp_path / "clock-adjust"
    adjust.write_text(str(-7 * 86400))
    d = rig.daemon(cfg_path, "behind", extra=("--clock-adjust-file", adjust))
    ds.wait_for(lambda: "waiting for it to be set" in d.log() or not d.alive(), 60,
                what="the daemon to wait for the clock")
    assert d.alive(), d.log()[-3000:]
    s = status(cfg_path)
    assert s.returncode == 6, s.stdout + s.stderr
    assert "waiting for the clock" in s.stdout and "waiting for the clock" in s.stderr
    # NTP sets it right: the daemon resumes, closes what is due, rewrites nothing closed.
    adjust.write_text("0")
    ds.wait_for(lambda: "the clock is right again" in d.log() and "started:" in d.log(), 60,
                what="the daemon to resume")
    resumed = rig.timeline.now()
    wait_closed(cfg_path, resumed - 600, timeout_s=90)

    # Running, the clock jumps back 2 h (a bad NTP server), then forward again.
    adjust.write_text("-7200")
    ds.wait_for(lambda: "the clock jumped back by 2 h" in d.log(), 60, what="the jump back")
    ds.wait_for(lambda: d.log().count("waiting for it to be set") == 2, 60,
                what="the second wait")
    adjust.write_text("0")
    ds.wait_for(lambda: d.log().count("the clock is right again") == 2, 60,
                what="the second resume")
    later = rig.timeline.now()
    wait_closed(cfg_path, later - 600, timeout_s=90)
    log = d.log()
    assert d.terminate() == 0

    after = allocation(cfg_path, 0, 2**40)
    pos = np.searchsorted(after.step_starts_s, before.step_starts_s)
    assert (after.step_starts_s[pos] == before.step_starts_s).all()
    # The last steps before the daemon's downtime may be refined when the meters' indices
    # come back after it (late data inside the recompute window: the gap's energy spread from
    # the reading before it, docs/design.md §3), with a WARNING naming them. None other changes.
    edge = before.step_starts_s[final][-2:]
    keep = final & ~np.isin(before.step_starts_s, edge)
    # 0 closed steps changed by the clock: every figure of every other complete step as it
    # was, never rewritten
    assert same(after.production_wh[pos][keep], before.production_wh[keep]).all()
    assert same(after.consumption_wh[pos][keep], before.consumption_wh[keep]).all()
    assert same(after.allocated_wh[pos][keep], before.allocated_wh[keep]).all()
    now_written = computed(cfg_path)
    assert [s for s in before.step_starts_s[keep] if now_written[s] != written[s]] == []
    edge_stamps = {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(t))) for t in edge}
    for line in log.splitlines():
        if "closed step(s) changed" in line:
            assert line.startswith("WARNING"), line
            stamps = set(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", line.split(":", 1)[1]))
            assert stamps <= edge_stamps, line
    # new steps were closed after each resume
    assert after.step_starts_s.max() >= later - 600 - 2 * STEP
    # each fault said once: a wait, a jump, a resume (the start-up wait has no jump)
    assert log.count("the clock jumped back") == 1
    assert log.count("the clock jumped forward") == 2          # NTP twice
    for line in log.splitlines():
        if "waiting for it to be set" in line:
            assert line.startswith("WARNING")
    s = status(cfg_path)
    assert "waiting for the clock" not in s.stdout + s.stderr
    # the side files the daemon wrote beside the store are private
    cfg = load_config(cfg_path)
    db = cfg.relative(cfg.store.path)
    side = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    assert {p.name for p in side} >= {"pvshare.db", "pvshare.db.lock", "pvshare.db.status.json",
                                      "pvshare.db.totals.json"}
    for p in side:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name


def test_a_reading_stamped_by_a_clock_that_jumped_back_between_checks_is_never_stored(tmp_path):
    """In process, flush by flush, the clock itself right: a push meter's reading stamped
    2 h back (the clock jumped back and forth between two checks) carries today's index.
    It is dropped and counted; a genuinely late reading (its index fits) is stored.
    """
    from pvshare.live.daemon import Daemon
    from pvshare.meters.base import Reading
    t0 = 1750500000.0
    cfg = load_config(ds.write_config(tmp_path, broker_port=1, inverter_port=1,
                                      publish_results=False))
    d = Daemon(cfg, clock=lambda: t0 + 7200, forecast=False, create_store=True)
    for k in range(0, 121, 10):                         # 2 h, a reading every 10 min
        d._buffer.append(Reading("linky-A01", t0 + 60 * k, import_wh=1000.0 + k))
    assert d.flush(t0 + 7200) == 13
    stamped_back = [Reading("linky-A01", t0 + 61, import_wh=1121.0),     # today's index
                    Reading("linky-A01", t0 + 62, import_wh=1121.5)]
    late = Reading("linky-A01", t0 + 60 * 15, import_wh=1015.0)         # fits: kept
    d._buffer.extend([*stamped_back, late, Reading("linky-A01", t0 + 7260, import_wh=1121.0)])
    assert d.flush(t0 + 7260) == 2
    assert d.counters["readings_dropped_clock_behind"] == 2
    r = d.store.readings_around("linky-A01", t0, t0 + 7300)
    assert list(r.time_s - t0) == [60 * k for k in range(0, 121, 10)][:2] + [900] + \
        [60 * k for k in range(0, 121, 10)][2:] + [7260]
    assert (np.diff(r.import_wh) >= 0).all()                          # never goes back
    d.stop()
    from pvshare.live.status import collect
    assert collect(cfg)["daemon_counters"]["readings_dropped_clock_behind"] == 2


# -- the store under the daemon's feet ------------------------------------------------------------
def test_store_folder_removed_daemon_exits_7_and_recreates_nothing(mosquitto, tmp_path, rigs):
    start = ds.parse_iso("2025-06-21T06:00:00+00:00")
    rig = Rig(tmp_path, mosquitto, start=ds.iso(start), speed=1200)
    rigs.append(rig)
    (tmp_path / "d" / "data").mkdir(parents=True)
    cfg_path = rig.config("d", store="data/pvshare.db")
    d = rig.daemon(cfg_path, "d")
    go(rig)                  # held timeline: runs once all are ready
    wait_closed(cfg_path, start + 3600, timeout_s=90)
    assert d.alive()
    # ``rm -rf data``: moved away first, in one step (the running daemon may write a file
    # into the folder while a recursive delete is emptying it: "Directory not empty")
    (tmp_path / "d" / "data").rename(tmp_path / "removed")
    shutil.rmtree(tmp_path / "removed")
    code = d.wait(120)
    log = d.log()
    assert code == 7, log[-3000:]
    assert "the store was removed (" in log            # its file, or its folder, is gone
    assert "Traceback" not in log
    assert [line for line in log.splitlines() if line.startswith("CRITICAL")] != []
    assert not (tmp_path / "d" / "data").exists()              # nothing re-created it
    # started again (systemd's Restart=always): it refuses, never starting an empty store
    (tmp_path / "d" / "data").mkdir()
    again = rig.daemon(cfg_path, "again", init=False)
    assert again.wait(60) == 7
    assert "pvshare store init" in again.log()
    assert list((tmp_path / "d" / "data").iterdir()) == []
    s = status(cfg_path)
    assert s.returncode == 7 and "no store at" in s.stdout, s.stdout + s.stderr


def test_removed_or_replaced_store_is_seen_at_the_next_flush(tmp_path):
    """In process, flush by flush: the first flush after the store went stops everything."""
    from pvshare.live.daemon import Daemon, status_path
    from pvshare.meters.base import Reading
    from pvshare.store import StoreGone
    t0 = 1750500000.0
    for how in ("removed", "replaced"):
        folder = tmp_path / how
        cfg = load_config(ds.write_config(folder, broker_port=1, inverter_port=1,
                                          publish_results=False))
        d = Daemon(cfg, clock=lambda: t0, forecast=False, create_store=True)
        d._buffer.append(Reading("linky-A01", t0, import_wh=1000.0))
        assert d.flush(t0) == 1
        d.write_status(t0)
        db = d.store.path
        if how == "removed":
            for p in folder.glob("pvshare.db*"):
                p.unlink()
        else:
            shutil.copyfile(db, folder / "copy.db")
            os.replace(folder / "copy.db", db)
            status_path(cfg).unlink()
            replaced = db.read_bytes()
        d._buffer.append(Reading("linky-A01", t0 + 60, import_wh=1001.0))
        assert d.flush(t0 + 60) == 0                       # the first flush after
        assert isinstance(d.fatal, StoreGone) and how in str(d.fatal)
        assert d.tick(t0 + 120) == []                      # nothing runs any more
        d.stop()
        assert not status_path(cfg).exists()               # nothing written beside it
        if how == "removed":
            assert not db.exists()
        else:
            assert db.read_bytes() == replaced


# -- the month's key file -------------------------------------------------------------------------
def _june_store(config) -> None:
    """A store holding all of June 2025 (Paris) for the test building: every meter's index
    rising linearly, read every 10 min until the month's end (22:00 UTC on the 30th)."""
    from pvshare.meters.base import Reading
    from pvshare.store import Store
    cfg = load_config(config)
    t = np.arange(ds.parse_iso("2025-05-31T21:00:00+00:00"), MONTH_END + 1, 600)
    rows = [Reading("inverter", float(x), export_wh=3.0 * (x - t[0]) / 3.6) for x in t]
    for k, p in enumerate(cfg.participants):
        rows += [Reading(f"linky-{p.id}", float(x), import_wh=(0.2 + 0.1 * k) * (x - t[0]) / 3.6)
                 for x in t]
    with Store.from_config(cfg, create=True) as store:
        store.write_readings(rows)


MONTH_END = ds.parse_iso("2025-06-30T22:00:00+00:00")          # 1 July, 00:00 in Paris
KEY_NAME = "ACC00000001_30_01062025_30062025.txt"


def _edit(path, **sections) -> None:
    """Set ``[section] key = value`` pairs in a config file."""
    import tomllib

    import tomli_w
    data = tomllib.loads(path.read_text())
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    path.write_text(tomli_w.dumps(data))


KEYS = {"id": "00000001", "key_dir": "cles"}


def _run(config, name: str, start: str, until: str) -> str:
    """``pvshare run`` from ``start`` to ``until`` (simulated, 120x, starting 3 s from now:
    the process is up before), to its end; returns its log."""
    import time
    timeline = ds.Timeline(start=start, speed=120, origin=time.time() + 3)
    p = ds.start_daemon(config, timeline, config.parent / f"{name}.log", until=until,
                        init=False)
    assert p.wait(180) == 0, p.log()[-3000:]
    return p.log()


def test_month_key_file_on_the_last_close_and_at_start_up(tmp_path):
    """June's last step (21:30-22:00 UTC on the 30th) closes at 22:03 (grace 3 min); with no
    recompute window it is final then, and its key file is written by that close. A daemon
    started later on a store that lacks it writes it at start-up. Once written it is
    remembered in the store: deleted, it is not written again."""
    configs = {}
    for name in ("keys", "later"):
        path = ds.write_config(tmp_path / name, broker_port=ds.free_port(),
                               inverter_port=ds.free_port(), publish_results=False)
        _edit(path, daemon={"recompute_window_h": 0}, **({"operation": KEYS} if name == "keys"
                                                          else {}))
        _june_store(path)
        configs[name] = path

    # 1. written by the close of the month's last step
    config = configs["keys"]
    log = _run(config, "first", "2025-06-30T22:00:00+00:00", "2025-06-30T22:06:00+00:00")
    key = config.parent / "cles" / KEY_NAME
    assert key.exists(), log[-3000:]
    assert "key file for 2025-06 written" in log
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    lines = key.read_text().splitlines()
    assert len(lines) == 1 + 30 * 48
    assert lines[1].startswith("01/06/2025 00:00;") and lines[-1].startswith("30/06/2025 23:30;")
    with ds.open_store(config) as store:
        assert store.key_file_outcome("2025-06", str(key)) == "written"
    # 2. remembered in the store: deleted, a restarted daemon does not write it again
    key.unlink()
    log = _run(config, "second", "2025-06-30T22:10:00+00:00", "2025-06-30T22:14:00+00:00")
    assert not key.exists(), log[-3000:]

    # 3. at start-up: a daemon ran through the month's end without a key folder; started
    # again with one, it writes the month it lacks at once
    later = configs["later"]
    _run(later, "no-keys", "2025-06-30T22:00:00+00:00", "2025-06-30T22:06:00+00:00")
    assert not (later.parent / "cles").exists()
    _edit(later, operation=KEYS)
    log = _run(later, "restarted", "2025-06-30T22:10:00+00:00", "2025-06-30T22:11:00+00:00")
    assert (later.parent / "cles" / KEY_NAME).exists(), log[-3000:]
    assert "key file for 2025-06 written" in log
