"""The daemon's monthly key-file job on a real store filled by the closing: October 2025 (the
clock-change month), written once the month is final, exactly once, never rewritten, the same
file as ``pvshare enedis keys``; and once through the daemon's housekeeping.

Expected coefficients by hand: every meter's index rises linearly (tests/test_closing.py:
production 3000 W, A 400 W, B 800 W, C 1200 W), so each 30-min step has P = 1500 Wh and
consumptions 200 / 400 / 600 Wh, all served (1200 ≤ 1500): exact shares 13.333 %, 26.667 %,
40 %. On the 0.01 % grid the floors are 13.33 / 26.66 / 40.00 and the spare hundredths go to
the remainders, never above the exact share's ceiling: 13,34 / 26,67 / 40,00. C leaves on
15 October (local): from then on A and B keep their shares and C writes 0,00.
"""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from pvshare.config import load_config
from pvshare.enedis.keyfile import last_final_month, monthly_key_job
from pvshare.errors import InputError
from pvshare.live.closing import close_steps, plan_from_config
from pvshare.store import Store
from tests.report_support import pvshare
from tests.test_closing import RATES, T0, linear

CONFIG = '''
[site]
name = "key-job"
latitude = 45.9
longitude = 5.3

[producer]
prm = "30000000000099"
meter = "inv"

[array]
kwp = 9.0
tilt_deg = 15
azimuth_deg = 180

[key]
type = "prorata"

[operation]
id = "00000001"
key_dir = "KEY_DIR"

[store]
path = "pvshare.db"

[daemon]
grace_s = 180
recompute_window_h = 48

[mqtt]
host = "127.0.0.1"
port = 1
publish_results = false

[[meters]]
id = "inv"
type = "sunspec"
host = "127.0.0.1"
port = 1
unit = 1

[[meters]]
id = "m-{participant}"
type = "mqtt"
format = "zlinky"
topic = "z/{participant}"

[[participants]]
id = "A"
prm = "30000000000001"

[[participants]]
id = "B"
prm = "30000000000002"

[[participants]]
id = "C"
prm = "30000000000003"
to = 2025-10-15
'''

OCT_START = int(np.datetime64("2025-09-30T22:00:00", "s").astype(np.int64))  # 1 Oct, Paris
NOV_START = int(np.datetime64("2025-10-31T23:00:00", "s").astype(np.int64))  # 1 Nov, Paris
GRACE, WINDOW, STEP = 180, 48 * 3600, 1800
#: The first instant every step of October is final (closed, past the recompute window).
FINAL = NOV_START + WINDOW + GRACE
NAME = "ACC00000001_30_01102025_31102025.txt"


def site(folder: Path, readings_from: int = OCT_START - 3600, gap=None,
         inverter_replaced: bool = False):
    """Config + a store holding readings from ``readings_from`` to past ``FINAL`` (none in
    ``gap``, a (from, to) pair). The daemon "started" an hour before October: September
    is partial, and skipped without an error."""
    path = folder / "site.toml"
    path.write_text(CONFIG.replace("KEY_DIR", "cles"), encoding="utf-8")
    cfg = load_config(path)
    times = np.arange(readings_from, FINAL + 3 * 3600, 600)
    if gap is not None:
        times = times[(times < gap[0]) | (times >= gap[1])]
    readings = []
    for m, rate in RATES.items():
        if m == "inv" and inverter_replaced and gap is not None:
            # the inverter's meter replaced during the gap: its index starts again near 0,
            # so the gap's energy is not known from the index
            before, after = times[times < gap[0]], times[times >= gap[1]]
            readings += linear(m, before, rate, export=True)
            readings += linear(m, after, rate, export=True,
                               base_wh=10.0 - rate * (after[0] - T0) / 3600.0)
            continue
        readings += linear(m, times, rate, export=(m == "inv"))
    with Store.open(folder / "pvshare.db") as store:
        store.write_readings(readings)
    return cfg


def test_the_final_month_follows_the_recompute_window():
    kw = {"step_s": STEP, "grace_s": GRACE, "window_s": WINDOW}
    assert last_final_month(FINAL, **kw) == "2025-10"
    assert last_final_month(FINAL - 1, **kw) == "2025-09"
    assert last_final_month(NOV_START + GRACE + STEP, **kw) == "2025-09"


@pytest.fixture(scope="module")
def october(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keyjob")
    cfg = site(folder)
    plan = plan_from_config(cfg)
    with Store.open(folder / "pvshare.db") as store:
        # The month's steps are closed just after it ends, but may still change: no file.
        close_steps(store, plan, NOV_START + GRACE + STEP)
        assert monthly_key_job(cfg, store, NOV_START + GRACE + STEP) is None
        assert not (folder / "cles").exists()
        close_steps(store, plan, FINAL)
        done = monthly_key_job(cfg, store, FINAL)
    return folder, cfg, done


def test_the_closed_month_is_written_once_final(october):
    folder, _, done = october
    assert done.month == "2025-10" and done.written and done.path == folder / "cles" / NAME
    assert [p.name for p in (folder / "cles").iterdir()] == [NAME]
    assert stat.S_IMODE(done.path.stat().st_mode) == 0o600
    lines = done.path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Horodate;30000000000001;30000000000002;30000000000003"
    assert len(lines) == 1 + 31 * 48 + 2                     # 25-hour day on 26 October
    labels = [line.split(";")[0] for line in lines[1:]]
    assert labels[0] == "01/10/2025 00:00" and labels[-1] == "31/10/2025 23:30"
    assert labels.count("26/10/2025 02:00") == 2
    assert lines[1] == "01/10/2025 00:00;13,34;26,67;40,00"
    assert "14/10/2025 23:30;13,34;26,67;40,00" in lines
    assert "15/10/2025 00:00;13,34;26,67;0,00" in lines     # C left
    assert lines[-1] == "31/10/2025 23:30;13,34;26,67;0,00"


def test_same_file_as_pvshare_enedis_keys(october, tmp_path):
    folder, _, done = october
    r = pvshare("enedis", "keys", "--config", folder / "site.toml", "--month", "2025-10",
                "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / NAME).read_bytes() == done.path.read_bytes()


def test_a_written_file_is_never_rewritten(october):
    folder, cfg, done = october
    sent = done.path.read_bytes()
    before = done.path.stat()
    with Store.open(folder / "pvshare.db") as store:
        for later in (FINAL + 1, FINAL + 86400, FINAL + 20 * 86400):
            again = monthly_key_job(cfg, store, later)
            assert again.month == "2025-10" and not again.written
    after = done.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert done.path.read_bytes() == sent


def test_off_without_key_dir(tmp_path):
    text = CONFIG.replace('key_dir = "KEY_DIR"\n', "")
    (tmp_path / "site.toml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / "site.toml")
    with Store.open(tmp_path / "pvshare.db") as store:
        assert monthly_key_job(cfg, store, FINAL) is None
    from pvshare.errors import ConfigError
    (tmp_path / "bad.toml").write_text(CONFIG.replace('id = "00000001"\n', ""),
                                       encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "bad.toml")
    assert "key_dir" in str(info.value) and "operation" in str(info.value)


def test_through_the_daemon_and_an_incomplete_month(october, tmp_path):
    """The daemon's housekeeping runs the job (same file); a month with a 6-hour hole (no
    meter read, so no production: those steps are never allocated) is refused with a clear
    error, and no file."""
    from pvshare.live.daemon import Daemon
    folder, _, done = october
    cfg = load_config(folder / "site.toml")
    cfg = cfg.model_copy(update={"operation": cfg.operation.model_copy(
        update={"key_dir": str(tmp_path / "daemon")})})
    # the store holds readings up to 3 h past FINAL: a clock before them would be waited for
    now = FINAL + 3 * 3600
    daemon = Daemon(cfg, clock=lambda: now, forecast=False)
    try:
        assert "housekeeping" in daemon.tick(now)            # due at the first tick
    finally:
        daemon.stop()
    assert daemon.last_error is None
    assert (tmp_path / "daemon" / NAME).read_bytes() == done.path.read_bytes()

    late = tmp_path / "late"
    late.mkdir()
    # a 6-hour gap in the daytime during which the inverter's meter was replaced: the gap's
    # production is unknown (a gap between two readings of one index would be filled)
    hole = OCT_START + 9 * 86400 + 3600 * np.array([8, 14])
    cfg = site(late, gap=hole, inverter_replaced=True)
    with Store.open(late / "pvshare.db") as store:
        close_steps(store, plan_from_config(cfg), FINAL)
        with pytest.raises(InputError, match=r"step\(s\) of 2025-10 were closed without"):
            monthly_key_job(cfg, store, FINAL)
    daemon = Daemon(cfg, clock=lambda: FINAL, forecast=False)
    try:
        daemon.housekeeping(FINAL)
    finally:
        daemon.stop()
    assert daemon.last_error["job"] == "key file" and "2025-10" in daemon.last_error["message"]
    assert not (late / "cles").exists()
