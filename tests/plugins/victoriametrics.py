"""pytest fixtures of a real VictoriaMetrics server, the stand-in for InfluxDB in tests.

VictoriaMetrics (Debian package ``victoria-metrics``, binary ``/usr/bin/victoria-metrics``)
accepts ``influxdb-client`` writes at ``/api/v2/write``: a point ``m,tag=v f1=1,f2=2 t``
becomes the series ``m_f1{tag="v"}`` and ``m_f2{tag="v"}``. Only numeric fields are stored.
It does **not** merge two samples with the same series and timestamp (InfluxDB does): a
point sent twice shows up twice in ``/api/v1/export``, which lets tests count doubles.

Fixtures
--------
``victoriametrics``
    A fresh server (own temp data folder) on a free 127.0.0.1 port, started with
    ``-retentionPeriod=100y`` so replayed history is kept. ``stop()`` / ``start()`` it to
    simulate an outage: it comes back on the same port with the same data.

A missing binary fails the test (never a skip).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

BINARY_NAMES = ("victoria-metrics", "victoriametrics", "victoria-metrics-prod")


def find_binary() -> str | None:
    """Path of the VictoriaMetrics single-node binary, or None."""
    for name in BINARY_NAMES:
        path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}")
                                      else None)
        if path:
            return path
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VictoriaMetrics:
    """One VictoriaMetrics process on 127.0.0.1:``port`` storing into ``data_dir``."""

    def __init__(self, binary: str, data_dir: Path, port: int | None = None):
        self.binary = binary
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> VictoriaMetrics:
        """Start the server (same port, same data) and wait until it answers /health."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, f"-httpListenAddr=127.0.0.1:{self.port}",
             f"-storageDataPath={self.data_dir}", "-retentionPeriod=100y",
             "-loggerLevel=WARN", "-search.disableCache"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"victoria-metrics exited with code {self.proc.returncode}: "
                            f"{self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"victoria-metrics did not answer on {self.url} within {timeout_s} s")

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the server gracefully (SIGTERM: it flushes what it acknowledged)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return r.read()

    def flush(self) -> None:
        """Make every acknowledged sample visible to reads (``/internal/force_flush``)."""
        self._get("/internal/force_flush")

    def export(self, match: str = '{__name__=~"pvshare_.*"}') -> list[dict]:
        """Raw samples (``/api/v1/export``) after a flush: one dict per series with
        ``metric`` (labels), ``values`` and ``timestamps`` (ms). Duplicates are kept."""
        self.flush()
        q = urllib.parse.urlencode({"match[]": match, "start": "0"})
        body = self._get(f"/api/v1/export?{q}").decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def samples(self, match: str = '{__name__=~"pvshare_.*"}') -> dict:
        """``{(name, ((label, value), ...), time_s): [value, ...]}``: every sample, grouped
        by series and timestamp (a list longer than 1 is a double)."""
        out: dict = {}
        for s in self.export(match):
            m = dict(s["metric"])
            name = m.pop("__name__")
            key = (name, tuple(sorted(m.items())))
            for ts, v in zip(s["timestamps"], s["values"]):
                out.setdefault((*key, ts // 1000), []).append(v)
        return out


@pytest.fixture
def victoriametrics_binary() -> str:
    path = find_binary()
    if path is None:
        pytest.fail("victoria-metrics is not installed: `apt-get install victoria-metrics` "
                    "(make test installs it)")
    return path


@pytest.fixture
def victoriametrics(victoriametrics_binary, tmp_path_factory):
    """A running VictoriaMetrics on a free loopback port, with its own data folder."""
    vm = VictoriaMetrics(victoriametrics_binary, tmp_path_factory.mktemp("vm") / "data")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()
