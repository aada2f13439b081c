"""The systemd unit and `pvshare service install`: hardening measured with systemd's own
`systemd-analyze security --offline=true` (systemd 252, Debian package `systemd`), the
install steps run for real into a temporary root (`--root`), as on the Pi but for systemctl.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "config" / "pvshare.service"
PVSHARE = [str(Path(sys.executable).parent / "pvshare")]     # the venv's console script


def _score(unit: Path) -> float:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail("systemd-analyze is missing: `make test` installs the Debian package "
                    "`systemd`", pytrace=False)
    done = subprocess.run([exe, "security", "--offline=true", "--no-pager", str(unit)],
                          capture_output=True, text=True, timeout=60, cwd=unit.parent)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert m, done.stdout[-2000:] + done.stderr[-2000:]
    return float(m.group(1))


def _pvshare(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*PVSHARE, *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_shipped_unit_scores_ok_and_keeps_what_the_daemon_needs():
    text = UNIT.read_text()
    assert _score(UNIT) <= 4.0
    assert "SupplementaryGroups=dialout" in text            # TIC meters on serial ports
    assert "StateDirectory=pvshare" in text                  # the store
    assert "Type=notify" in text and "WatchdogSec=" in text
    assert "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" in text  # sd_notify + network
    assert "DeviceAllow=char-ttyUSB rw" in text and "PrivateDevices=yes" not in text
    # every directive line has a comment above it (or in its block) saying what it does
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            block = lines[max(0, i - 12):i]
            assert any(b.startswith("#") for b in block), line


def test_service_install_writes_unit_and_config_into_a_root(tmp_path):
    root = tmp_path / "root"
    done = _pvshare("service", "install", "--config", str(ROOT / "config" / "example.toml"),
                    "--root", str(root))
    assert done.returncode == 0, done.stderr
    unit = root / "etc/systemd/system/pvshare.service"
    config = root / "etc/pvshare/pvshare.toml"
    assert unit.exists() and config.exists()
    text = unit.read_text()
    exe = Path(PVSHARE[0])
    assert f"ExecStart={exe} run --config /etc/pvshare/pvshare.toml" in text
    assert _score(unit) <= 4.0
    data = tomllib.loads(config.read_text())
    assert data["store"]["path"] == "/var/lib/pvshare/pvshare.db"
    # the rest of the config is the example's, comments included
    example = (ROOT / "config" / "example.toml").read_text()
    assert config.read_text().replace(
        'path = "/var/lib/pvshare/pvshare.db"  # set by pvshare service install '
        '(was "pvshare.db")', 'path = "pvshare.db"') == example
    assert oct(config.stat().st_mode & 0o777) == "0o644"
    assert not (root / "var").exists()       # the state directory is systemd's to create

    # installing again (an upgrade) without --config keeps the configuration
    before = config.read_text()
    again = _pvshare("service", "install", "--root", str(root))
    assert again.returncode == 0, again.stderr
    assert config.read_text() == before
    # a different configuration: the old one is kept as a backup
    other = tmp_path / "other.toml"
    other.write_text(example.replace("residence-plaine-ain", "residence-two"))
    third = _pvshare("service", "install", "--config", str(other), "--root", str(root))
    assert third.returncode == 0, third.stderr
    backups = list(config.parent.glob("pvshare.toml.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == before
    assert tomllib.loads(config.read_text())["site"]["name"] == "residence-two"


def test_service_install_user_dry_run_and_errors(tmp_path):
    root = tmp_path / "root"
    dry = _pvshare("service", "install", "--config", str(ROOT / "config" / "example.toml"),
                   "--user", "pi", "--root", str(root), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "DynamicUser=no\nUser=pi\n" in dry.stdout
    assert not root.exists()                            # nothing written
    # no configuration there yet and none given
    none = _pvshare("service", "install", "--root", str(root))
    assert none.returncode == 2
    assert "/etc/pvshare/pvshare.toml does not exist yet" in none.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[site]\nname = 'x'\n")
    worse = _pvshare("service", "install", "--config", str(bad), "--root", str(root))
    assert worse.returncode == 2 and "bad.toml" in worse.stderr
    assert not root.exists()
    user = _pvshare("service", "install", "--config", str(ROOT / "config" / "example.toml"),
                    "--user", "root; rm -rf /", "--root", str(root))
    assert user.returncode == 2 and "not a valid user name" in user.stderr


def test_store_section_added_or_rewritten(tmp_path):
    from pvshare.live.service import _store_absolute
    base = (ROOT / "config" / "example.toml").read_text()
    no_store = re.sub(r"\[store\][^\[]*", "", base, count=1)
    assert "[store]" not in no_store
    out = _store_absolute(no_store, "x")
    assert tomllib.loads(out)["store"]["path"] == "/var/lib/pvshare/pvshare.db"
    absolute = base.replace('path = "pvshare.db"', 'path = "/srv/pvshare/site.db"')
    assert _store_absolute(absolute, "x") == absolute


def test_relative_store_goes_to_the_state_directory_under_systemd(tmp_path, monkeypatch):
    from pvshare.config import load_config
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    cfg = load_config(ROOT / "config" / "example.toml")
    assert cfg.relative(cfg.store.path) == tmp_path / "state" / "pvshare.db"
    monkeypatch.delenv("STATE_DIRECTORY")
    cfg = load_config(ROOT / "config" / "example.toml")
    assert cfg.relative(cfg.store.path) == ROOT / "config" / "pvshare.db"


def test_unit_file_is_shipped_in_the_package():
    from pvshare.live.service import UNIT_TEMPLATE
    assert UNIT_TEMPLATE.read_text() == UNIT.read_text()
    assert os.path.islink(UNIT)


def test_install_writes_the_web_unit_run_like_the_daemon(tmp_path):
    root = tmp_path / "root"
    done = _pvshare("service", "install", "--config", str(ROOT / "config" / "example.toml"),
                    "--root", str(root))
    assert done.returncode == 0, done.stderr
    daemon = (root / "etc/systemd/system/pvshare.service").read_text()
    web = (root / "etc/systemd/system/pvshare-web.service").read_text()
    exe = Path(PVSHARE[0])
    assert f"ExecStart={exe} web --config /etc/pvshare/pvshare.toml" in web
    for line in ("DynamicUser=yes", "User=pvshare", "Group=pvshare", "StateDirectory=pvshare"):
        assert line in daemon.splitlines() and line in web.splitlines(), line
    assert _score(root / "etc/systemd/system/pvshare-web.service") <= 4.0
    # the shipped files: one venv for both, the one the guides name
    for unit in ("pvshare.service", "pvshare-web.service"):
        text = (ROOT / "config" / unit).read_text()
        assert "ExecStart=/opt/pvshare/.venv/bin/pvshare " in text, unit
    # the installed config passes its check before the first start (no /var/lib/pvshare yet)
    check = _pvshare("config", "check", str(root / "etc/pvshare/pvshare.toml"))
    if Path("/var/lib").is_dir() and not Path("/var/lib/pvshare").exists():
        assert check.returncode == 0, check.stdout + check.stderr


def test_a_secret_is_installed_0640_and_a_readable_one_is_warned_about(tmp_path):
    root = tmp_path / "root"
    site = tmp_path / "site.toml"
    site.write_text((ROOT / "config" / "example.toml").read_text()
                    + '\n[mqtt]\nhost = "localhost"\nusername = "pvshare"\npassword = "s3cret"\n')
    site.chmod(0o644)
    done = _pvshare("service", "install", "--config", str(site), "--root", str(root))
    assert done.returncode == 0, done.stderr
    config = root / "etc/pvshare/pvshare.toml"
    assert oct(config.stat().st_mode & 0o777) == "0o640"
    assert "holds a secret ([mqtt] password) and every user" in done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    site.chmod(0o600)
    again = _pvshare("service", "install", "--config", str(site), "--root", str(tmp_path / "r2"))
    assert "every user" not in again.stderr
    assert oct((tmp_path / "r2/etc/pvshare/pvshare.toml").stat().st_mode & 0o777) == "0o640"


def test_mqtt_password_file_is_read_relative_to_the_config(tmp_path, monkeypatch):
    from pvshare.config import check_references, load_config
    (tmp_path / "mqtt-password").write_text("s3cret\n")
    site = tmp_path / "site.toml"
    site.write_text((ROOT / "config" / "example.toml").read_text()
                    + '\n[mqtt]\nusername = "pvshare"\npassword_file = "mqtt-password"\n')
    monkeypatch.delenv("PVSHARE_MQTT_PASSWORD", raising=False)
    cfg = load_config(site)
    assert cfg.mqtt.resolved_password(site.parent) == "s3cret"
    check_references(cfg)
    monkeypatch.setenv("PVSHARE_MQTT_PASSWORD", "from-env")
    assert cfg.mqtt.resolved_password(site.parent) == "from-env"
    (tmp_path / "mqtt-password").unlink()
    bad = _pvshare("config", "check", str(site))
    assert bad.returncode == 2 and "mqtt.password_file" in bad.stdout + bad.stderr
    both = tmp_path / "both.toml"
    both.write_text(site.read_text().replace('password_file = "mqtt-password"',
                                             'password_file = "x"\npassword = "y"'))
    out = _pvshare("config", "check", str(both))
    assert out.returncode == 2 and "password or password_file" in out.stdout + out.stderr
