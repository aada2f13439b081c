"""``pvshare status`` exit codes: 0 ok, 3 stale meter, 4 steps pending, 5 outbox backing up."""

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
