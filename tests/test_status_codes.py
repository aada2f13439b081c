"""``pvshare status`` exit codes: 0 ok, 3 stale meter, 4 steps pending, 5 outbox backing up,
6 the clock behind, 7 the store missing or replaced."""

from __future__ import annotations

from pvshare.config import load_config
from pvshare.live.status import exit_code
from tests.badinput.corpus import CONFIG, INFLUX

NOW = 1_750_000_000 - 1_750_000_000 % 1800 + 600      # 10 min into a step


def state(**over):
    s = {"now_s": NOW, "meters": {"inverter": 30.0, "A": 12.0}, "last_step_s": NOW - 600 - 1800,
         "oldest_unsent_s": None, "outbox_depth": 0, "influxdb": True}
    s.update(over)
    return s


def test_exit_codes(tmp_path):
    (tmp_path / "site.toml").write_text(CONFIG + INFLUX)
    cfg = load_config(tmp_path / "site.toml")               # grace 180 s, step 30 min
    assert exit_code(cfg, state())[0] == 0
    assert exit_code(cfg, state(meters={"inverter": 30.0, "A": 901.0}))[0] == 3
    assert exit_code(cfg, state(meters={"inverter": None}))[0] == 3
    # the step before the current one ended 10 min ago (> grace): it must be closed
    assert exit_code(cfg, state(last_step_s=NOW - 600 - 3600))[0] == 4
    assert exit_code(cfg, state(last_step_s=None))[0] == 4
    assert exit_code(cfg, state(oldest_unsent_s=NOW - 3601, outbox_depth=10))[0] == 5
    assert exit_code(cfg, state(outbox_depth=cfg.store.outbox_max_points))[0] == 5
    # within the grace: the step that just ended is not yet due
    early = state(now_s=NOW - 600 + 60, last_step_s=NOW - 600 - 3600)
    assert exit_code(cfg, early)[0] == 0


def test_exit_codes_of_issue_18(tmp_path):
    """6 the clock behind (the daemon waits), 7 the store missing or replaced, 4 steps
    pending at the daemon's last close though the last closed step is recent; in words."""
    (tmp_path / "site.toml").write_text(CONFIG + INFLUX)
    cfg = load_config(tmp_path / "site.toml")
    code, why = exit_code(cfg, state(store={"state": "missing", "path": "x/pvshare.db"}))
    assert code == 7 and "no store at x/pvshare.db" in why
    code, why = exit_code(cfg, state(store={"state": "replaced", "path": "x/pvshare.db"}))
    assert code == 7 and "replaced" in why
    code, why = exit_code(cfg, state(clock={"behind_s": 3 * 3600 + 60, "waiting": True}))
    assert code == 6 and "3 h 01 min behind" in why and "waiting for the clock" in why
    # first that applies: the store before the clock before a stale meter
    assert exit_code(cfg, state(clock={"behind_s": 900}, meters={"inverter": None}))[0] == 6
    assert exit_code(cfg, state(clock={"behind_s": 900},
                                store={"state": "missing", "path": "p"}))[0] == 7
    code, why = exit_code(cfg, state(pending_steps=8))
    assert code == 4 and "8 step(s) pending" in why
    assert exit_code(cfg, state(pending_steps=0))[0] == 0


def test_status_in_french_without_a_store(tmp_path, monkeypatch):
    import subprocess
    import sys
    (tmp_path / "site.toml").write_text(CONFIG)
    done = subprocess.run([sys.executable, "-m", "pvshare.cli", "status", "--config",
                           "site.toml"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "LANG": "fr_FR.UTF-8",
                               "COLUMNS": "200"}, timeout=120)
    assert done.returncode == 7, done.stderr
    assert "aucun stockage" in done.stdout and "code de sortie 7" in done.stderr
