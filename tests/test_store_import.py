"""``pvshare store import``: curves → the config's store, allocated as the daemon would.

Real files (the PMO guide's June, docs/examples/pmo/), the real command, the real store.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pvshare.config import load_config
from pvshare.store.db import Store
from tests import pmo_support

PVSHARE = str(Path(sys.executable).with_name("pvshare"))
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pmo"


def _site(tmp_path: Path) -> Path:
    for name in ("site.toml", "production_2025-06.csv", "consumption_2025-06.csv"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    return tmp_path / "site.toml"


def _import(cwd: Path, *extra: str, consumption: str = "consumption_2025-06.csv"):
    return subprocess.run([PVSHARE, "store", "import", "--config", "site.toml", "--production",
                           "production_2025-06.csv", "--consumption", consumption, *extra],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def _allocation(cfg_path: Path):
    cfg = load_config(cfg_path)
    with Store.from_config(cfg, create=False, readonly=True) as store:
        return store.allocation(0, 2**40)


def test_import_gives_the_constructed_month(tmp_path):
    """The example's curves and static key give exactly the month of tests/pmo_support.py
    (which the reconciliation and bill tests check by hand).
    """
    cfg = _site(tmp_path)
    r = _import(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1440 steps from 2025-06-01T00:00:00+02:00 to 2025-07-01T00:00:00+02:00" in r.stdout
    assert "1 step(s) with a consumption missing" in r.stdout
    a = _allocation(cfg)
    assert a.participant_ids == pmo_support.IDS and len(a.step_starts_s) == 1440
    idx = np.searchsorted(a.step_starts_s, pmo_support.STEPS_S)
    np.testing.assert_allclose(a.allocated_wh[idx], pmo_support.ALLOCATED)
    np.testing.assert_allclose(a.production_wh[idx], pmo_support.PRODUCTION)
    # B's missing step stays missing (NaN), C is absent (0) before its 'from' (16 June).
    assert np.isnan(a.consumption_wh[idx[1], 1])
    before_c = a.step_starts_s < pmo_support.STEPS_S[-1] - 4 * 86400
    assert (a.consumption_wh[before_c, 2] == 0).all()
    other = np.ones(1440, bool)
    other[idx] = False
    assert (a.allocated_wh[other] == 0).all()


def test_second_import_refused_store_unchanged_then_replace(tmp_path):
    cfg = _site(tmp_path)
    assert _import(tmp_path).returncode == 0
    db = load_config(cfg).relative("pvshare.db")
    before = sqlite3.connect(db).execute("SELECT count(*), sum(allocated_wh) FROM "
                                         "allocation").fetchone()
    # A different A (twice the consumption in the first step) is refused without --replace.
    text = (tmp_path / "consumption_2025-06.csv").read_text()
    (tmp_path / "other.csv").write_text(text.replace(",13000,", ",26000,"))
    r = _import(tmp_path, consumption="other.csv")
    assert r.returncode == 2
    assert "already holds 1440 of these steps" in " ".join(r.stderr.split())
    assert "--replace" in r.stderr
    after = sqlite3.connect(db).execute("SELECT count(*), sum(allocated_wh) FROM "
                                        "allocation").fetchone()
    assert after == before
    r = _import(tmp_path, "--replace", consumption="other.csv")
    assert r.returncode == 0, r.stderr
    assert "1440 step(s) replaced" in r.stdout
    a = _allocation(cfg)
    # A's static coefficient 61.725 % of 20 kWh caps it at 12 345 Wh either way; its
    # consumption is what changed.
    assert np.nanmax(a.consumption_wh[:, 0]) == 26000


def test_prm_columns_follow_the_tenants_periods(tmp_path):
    """A PRM column (as `pvshare enedis curves` writes) is the consumption of every
    participant of that PRM, each in its own period.
    """
    cfg = _site(tmp_path)
    text = cfg.read_text().replace('id = "C"\ncoefficient = 0.20\nprm = "30000000000003"',
                                   'id = "C"\ncoefficient = 0.10\nprm = "30000000000003"')
    text += ('\n[[participants]]\nid = "C0"\ncoefficient = 0.10\nprm = "30000000000003"\n'
             'to = 2025-06-16\n')
    cfg.write_text(text)
    rows = (tmp_path / "consumption_2025-06.csv").read_text().splitlines()
    head = rows[0].replace(",C,", ",30000000000003,")
    # The flat's meter measured all month: 700 Wh on 10 June (C0's time), 3333 on 20 June.
    body = []
    for line in rows[1:]:
        cells = line.split(",")
        cells[3] = cells[3] or "0"
        if cells[0] == "2025-06-10T10:00:00+00:00":
            cells[3] = "700"
        body.append(",".join(cells))
    (tmp_path / "flat.csv").write_text("\n".join([head, *body]) + "\n")
    r = _import(tmp_path, consumption="flat.csv")
    assert r.returncode == 0, r.stderr
    a = _allocation(cfg)
    c, c0 = a.participant_ids.index("C"), a.participant_ids.index("C0")
    # 10 June, production 0 there: C0 consumed it, C was absent.
    assert np.nansum(a.consumption_wh[:, c0]) == 700 and np.nansum(a.consumption_wh[:, c]) \
        == 3333
    # 20 June: C consumed 3333 Wh and gets its 10 % of 20 kWh.
    assert np.nansum(a.allocated_wh[:, c]) == 2000 and np.nansum(a.allocated_wh[:, c0]) == 0


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("time,A,B,C,E,F", "time,A,B,C,E,Z"), "column 'Z' is neither a "
     "participant nor a PRM"),
    (lambda t: "\n".join(line.rsplit(",", 1)[0] for line in t.splitlines()),
     "no column for participant 'F' (its id or its PRM 30000000000006)"),
    (lambda t: t.replace("2025-06-02T10:00:00+00:00,13000", "2025-06-02T10:00:00+00:00,-5"),
     "consumption_2025-06.csv"),
])
def test_bad_curves_named_and_nothing_written(tmp_path, change, message):
    cfg = _site(tmp_path)
    path = tmp_path / "consumption_2025-06.csv"
    path.write_text(change(path.read_text()))
    r = _import(tmp_path)
    assert r.returncode == 2 and message in " ".join(r.stderr.split()), r.stderr
    assert not load_config(cfg).relative("pvshare.db").exists()


def test_refused_while_a_daemon_holds_the_store(tmp_path):
    from pvshare.store.lock import StoreLock
    cfg = _site(tmp_path)
    lock = StoreLock(load_config(cfg).relative("pvshare.db")).acquire()
    try:
        r = _import(tmp_path)
    finally:
        lock.release()
    assert r.returncode == 2 and "another pvshare daemon" in r.stderr
