"""pytest fixtures of a real mosquitto broker (Debian's ``mosquitto`` package).

Each broker runs from a generated config in its own temp dir, listening on a free
127.0.0.1 port, and is stopped at the end of the test. No skips: when mosquitto is missing
the test fails (``make test`` and ``.ci/run`` install it).

Fixtures
--------
``mosquitto``
    A started anonymous broker (:class:`Mosquitto`): ``.host``, ``.port``, ``.stop()``,
    ``.start()`` (same port, same persistence file: a broker restart), ``.restart()``,
    ``.log_text()``.
``mosquitto_factory``
    ``mosquitto_factory(users={"name": "password"}, tls=True, **settings)`` starts a broker
    with a password file (made with ``mosquitto_passwd``) and/or a TLS listener with a
    self-signed certificate made with ``openssl`` (``.ca_file``); ``settings`` are extra
    ``mosquitto.conf`` lines (``max_queued_messages=10``).

The brokers keep persistent sessions (``persistence true``) and queue up to 1,000,000
messages per offline client, so that restart tests are not cut by mosquitto's default
queue limit of 1000.

The :class:`Mosquitto` class is importable (``from tests.plugins.mosquitto import
Mosquitto``) for benchmarks and scripts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def mosquitto_binary() -> str | None:
    """Path of the mosquitto server binary, or None."""
    for candidate in ("/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_mosquitto() -> str:
    """The binary, or a test failure saying how to install it (never a skip)."""
    path = mosquitto_binary()
    if path is None:
        where = "in CI" if IN_CI else "on this machine"
        pytest.fail(f"mosquitto is not installed {where} (/usr/sbin/mosquitto): `make test` "
                    "installs it (Debian package `mosquitto`), or run "
                    "`sudo apt-get install mosquitto`", pytrace=False)
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Mosquitto:
    """A mosquitto broker on 127.0.0.1 in its own directory.

    Parameters
    ----------
    workdir : path
        Where the config, log, password file, certificates and persistence file go.
    users : dict, optional
        User name -> password; when given, anonymous access is refused.
    tls : bool
        Serve TLS (self-signed certificate for ``localhost``/127.0.0.1, ``ca_file``).
    settings : dict
        Extra ``mosquitto.conf`` options (name -> value).
    """

    host = "127.0.0.1"

    def __init__(self, workdir, users: dict[str, str] | None = None, tls: bool = False,
                 settings: dict | None = None, binary: str | None = None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.binary = binary or mosquitto_binary()
        if self.binary is None:
            raise FileNotFoundError("mosquitto is not installed (Debian package `mosquitto`)")
        self.users = users
        self.tls = tls
        self.settings = {"max_queued_messages": 1_000_000, **(settings or {})}
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.ca_file: str | None = None
        if tls:
            self._make_certificate()
        if users:
            self._make_password_file()

    # -- files ------------------------------------------------------------------------------
    def _make_password_file(self) -> None:
        pw = self.dir / "passwd"
        pw.write_text("")
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        for name, password in self.users.items():
            subprocess.run([tool, "-b", str(pw), name, password], check=True,
                           capture_output=True)
        pw.chmod(0o600)

    def _make_certificate(self) -> None:
        key, crt = self.dir / "server.key", self.dir / "server.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(key), "-out", str(crt), "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
        key.chmod(0o600)
        self.ca_file = str(crt)

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.dir}/",
            f"log_dest file {self.dir / 'mosquitto.log'}",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "log_type subscribe",             # tests wait for a client's subscription
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to a user that cannot write here
        if self.users:
            lines += ["allow_anonymous false", f"password_file {self.dir / 'passwd'}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            lines += [f"certfile {self.dir / 'server.crt'}", f"keyfile {self.dir / 'server.key'}"]
        lines += [f"{k} {v}" for k, v in self.settings.items()]
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    # -- process ----------------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        """Start (or restart after :meth:`stop`) on the same port; wait until it listens."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        conf = self._write_config()
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with code {self.proc.returncode}: "
                                   f"{err.strip()} {self.log_text()[-500:]}")
            if _port_open(self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{self.port} "
                           f"within {timeout_s} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM: it saves its persistence file) and wait for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        deadline = time.monotonic() + 5
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self) -> Mosquitto:
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_subscribed(self, client_id: str, timeout_s: float = 60.0) -> None:
        """Until the broker has logged a subscription of a client whose id starts with
        ``client_id`` (``log_type subscribe``): messages published from then on reach it."""
        deadline = time.monotonic() + timeout_s
        while not any(len(w := line.split(" ")) > 2 and w[1].startswith(client_id)
                      for line in self.log_text().splitlines()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{client_id} did not subscribe within {timeout_s} s:\n"
                                     f"{self.log_text()[-2000:]}")
            time.sleep(0.05)

    def log_text(self) -> str:
        p = self.dir / "mosquitto.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_broker(workdir=None, **kwargs) -> Mosquitto:
    """Start a broker in ``workdir`` (a new temp dir by default), retrying on a port race."""
    workdir = workdir or tempfile.mkdtemp(prefix="mosquitto-")
    last: Exception | None = None
    for attempt in range(3):
        broker = Mosquitto(Path(workdir) / f"b{attempt}", **kwargs)
        try:
            return broker.start()
        except RuntimeError as exc:  # most likely the port was taken in between
            last = exc
    raise RuntimeError(f"could not start mosquitto: {last}")


@pytest.fixture
def mosquitto_factory(tmp_path):
    """Start brokers with options; every one is stopped after the test."""
    require_mosquitto()
    started: list[Mosquitto] = []

    def factory(users: dict[str, str] | None = None, tls: bool = False, **settings) -> Mosquitto:
        broker = start_broker(tmp_path / f"mosquitto{len(started)}", users=users, tls=tls,
                              settings=settings)
        started.append(broker)
        return broker

    yield factory
    for broker in started:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory) -> Mosquitto:
    """A started anonymous broker on a free loopback port."""
    return mosquitto_factory()
