"""Secrets never shown: URL credentials redacted in errors, logs, ``store stats`` and ``store
push``; validation errors never repeat a secret; a warning for plain-text credentials."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pvshare.config import load_config
from pvshare.secrets import RedactingFilter, is_local, plain_text_warnings, redact, redact_url
from tests.badinput.corpus import CONFIG, INFLUX, SECRET

PVSHARE = str(Path(sys.executable).with_name("pvshare"))


@pytest.mark.parametrize("url, shown", [
    ("http://admin:pw@influx:8086", "http://admin:***@influx:8086"),
    ("https://tok@influx.example.org/api", "https://***@influx.example.org/api"),
    ("mqtts://u:p%40ss@broker:8883", "mqtts://u:***@broker:8883"),
    ("http://127.0.0.1:8086", "http://127.0.0.1:8086"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


@given(user=st.text(alphabet="abcdefXYZ0189_-.", min_size=1, max_size=12),
       pw=st.text(alphabet="abcdefXYZ0189_-.!$&'()*+,;=~", min_size=6, max_size=30),
       host=st.sampled_from(["influx", "10.0.0.2", "db.example.org"]))
def test_no_password_survives_redaction(user, pw, host):
    text = f"cannot reach http://{user}:{pw}@{host}:8086/write: refused"
    assert pw not in redact(text).replace(user, "")


def test_log_filter_redacts_every_record():
    rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "cannot reach %s", (
        f"http://a:{SECRET}@h",), None)
    RedactingFilter().filter(rec)
    assert SECRET not in rec.getMessage() and "http://a:***@h" in rec.getMessage()


def test_local_hosts():
    assert is_local("localhost") and is_local("127.0.0.1") and is_local("::1")
    assert not is_local("broker.example.org") and not is_local("192.168.1.10")


def test_plain_text_warnings(tmp_path):
    p = tmp_path / "site.toml"
    p.write_text(CONFIG + f'\n[mqtt]\nhost = "192.168.1.10"\nusername = "u"\npassword = '
                          f'"{SECRET}"\n' + INFLUX.replace("http://127.0.0.1", f"http://a:{SECRET}@db")
                 )
    warnings = plain_text_warnings(load_config(p))
    assert len(warnings) == 3
    assert all(SECRET not in w for w in warnings)
    p.write_text(CONFIG + f'\n[mqtt]\nhost = "192.168.1.10"\nusername = "u"\npassword = '
                          f'"{SECRET}"\ntls = true\n')
    assert plain_text_warnings(load_config(p)) == []


def test_daemon_warns_at_start_up_without_the_secret(tmp_path):
    """The daemon started on a config with a remote broker and no TLS: the warning is in its
    log, the password is not (it exits as the broker does not answer: we stop it)."""
    (tmp_path / "site.toml").write_text(CONFIG + f'''
[[meters]]
id = "linky-{{participant}}"
type = "mqtt"
format = "zlinky"
topic = "z/linky-{{participant}}"

[mqtt]
host = "192.0.2.1"
username = "u"
password = "{SECRET}"
''')
    p = subprocess.Popen([PVSHARE, "run", "--config", "site.toml", "--no-forecast"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        out, _ = p.communicate(timeout=8)
    except subprocess.TimeoutExpired:
        p.terminate()
        out, _ = p.communicate(timeout=30)
    assert "travel in plain text" in out, out
    assert SECRET not in out
