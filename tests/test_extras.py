"""The base install and its extras: a command that needs a missing extra says which to
install (exit 2, one line), and the daemon runs without the forecast extra, saying so once.

A missing library is made missing for real in the process under test: ``sys.modules[name] =
None`` makes every ``import name`` fail with ModuleNotFoundError, as on a base install.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pvshare.extras import EXTRA_OF_MODULE, PROBE_OF_EXTRA

CONFIG = "config/example.toml"


def _cli(blocked: list[str], *args: str, env=None) -> subprocess.CompletedProcess:
    code = ("import sys\n"
            f"for m in {blocked!r}: sys.modules[m] = None\n"
            f"sys.argv = ['pvshare', *{list(args)!r}]\n"
            "from pvshare.cli import main\nmain()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)


def test_forecast_without_the_forecast_extra_names_the_extra():
    done = _cli(["pvlib"], "forecast", "--config", CONFIG, "--at", "2025-06-21T10:00:00+02:00")
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: this needs the 'forecast' extra (pvlib is not "
                                   "installed): pip install 'pvshare[forecast]'")
    assert "Traceback" not in done.stderr


def test_a_missing_library_of_no_extra_is_a_bug_and_shows_its_traceback():
    done = _cli(["numpy"], "allocate", "--help")
    assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr


def test_every_extra_is_declared_in_pyproject():
    extras = tomllib.loads(Path("pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert set(EXTRA_OF_MODULE.values()) - {"web"} <= set(extras)
    assert set(PROBE_OF_EXTRA) <= set(extras)
    # the daemon's libraries are in the base, the heavy ones are not
    base = " ".join(tomllib.loads(Path("pyproject.toml").read_text())["project"][
        "dependencies"])
    for lib in ("numpy", "pymodbus", "paho-mqtt", "pydantic", "apscheduler", "pyserial"):
        assert lib in base
    for lib in ("pvlib", "matplotlib", "weasyprint", "pyarrow", "amqtt", "jinja2", "pandas",
                "influxdb-client"):
        assert lib not in base
    # `all` names the web extra (another branch adds it) and every extra above
    assert extras["all"] == ["pvshare[forecast,reports,export,parquet,demo,influx,web]"]
    assert "pvshare[all]" in extras["test"]


def test_daemon_runs_without_the_forecast_extra_and_says_it_once(monkeypatch, tmp_path,
                                                                  caplog):
    from pvshare.config import load_config
    from pvshare.live.daemon import Daemon
    from tests.daemon_support import write_config
    cfg = load_config(write_config(tmp_path, broker_port=1, inverter_port=1,
                                   publish_results=False))
    monkeypatch.setitem(sys.modules, "pvlib", None)
    with caplog.at_level(logging.WARNING, logger="pvshare.live.daemon"):
        d = Daemon(cfg, create_store=True)
        assert "forecast" not in d.intervals()
        assert d.refresh_forecast(1750500000.0) is False
        d.tick(1750500000.0)
        d.tick(1750503600.0)
    said = [r.getMessage() for r in caplog.records if "forecast" in r.getMessage()]
    assert said == ["no forecast: the forecast extra is not installed "
                    "(pip install 'pvshare[forecast]' to have one)"]
    d.store.close()


@pytest.mark.parametrize("extra", sorted(PROBE_OF_EXTRA))
def test_the_test_environment_has_every_extra(extra):
    from pvshare.extras import installed
    assert installed(extra)


def test_allocate_runs_without_pandas(tmp_path):
    """`pvshare allocate` is in the base install: it reads and writes its CSV files without
    pandas (same bytes as before, checked by tests/test_cli_allocate.py and test_export.py).
    """
    prod = tmp_path / "prod.csv"
    cons = tmp_path / "cons.csv"
    prod.write_text("time,production_wh\n2025-06-21T10:00:00+00:00,900\n"
                    "2025-06-21T10:30:00Z,300\n")
    cons.write_text("time,A,B\n2025-06-21T10:00:00+00:00,400,600\n"
                    "2025-06-21T10:30:00+00:00,,500\n")
    out = tmp_path / "out.csv"
    done = _cli(["pandas", "pvlib"], "allocate", "--production", str(prod), "--consumption",
                str(cons), "--key", "prorata", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "pandas" not in done.stderr
    text = out.read_text()
    # prorata by hand: step 1: 900 Wh for 400 + 600 -> 360 / 540; step 2: A missing, B 300
    assert text.splitlines()[1:] == [
        "2025-06-21T10:00:00+00:00,A,400.000,360.000,40.000",
        "2025-06-21T10:00:00+00:00,B,600.000,540.000,60.000",
        "2025-06-21T10:30:00+00:00,A,,0.000,",
        "2025-06-21T10:30:00+00:00,B,500.000,300.000,200.000"]


def test_export_without_pandas_names_the_export_extra(tmp_path):
    from pvshare.store import Store
    from tests.daemon_support import write_config
    config = write_config(tmp_path, broker_port=1, inverter_port=1)
    Store.open(tmp_path / "pvshare.db").close()
    done = _cli(["pandas"], "export", "--config", str(config), "--what", "steps", "--from",
                "2025-06-21", "--to", "2025-06-22", "--out", str(tmp_path / "x.csv"))
    assert done.returncode == 2
    assert "'export' extra (pandas is not installed)" in done.stderr


def test_daemon_refuses_influxdb_without_its_client(monkeypatch, tmp_path):
    from pvshare.config import load_config
    from pvshare.extras import MissingExtraError
    from pvshare.live.daemon import Daemon
    from tests.daemon_support import write_config
    cfg = load_config(write_config(tmp_path, broker_port=1, inverter_port=1,
                                   influx_url="http://127.0.0.1:1"))
    monkeypatch.setitem(sys.modules, "influxdb_client", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'pvshare\[influx\]'"):
        Daemon(cfg, create_store=True)
