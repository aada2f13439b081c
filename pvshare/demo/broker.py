"""An MQTT broker for the demo: the system's mosquitto when installed, else amqtt in-process.

Production uses the building's own broker; this only serves ``pvshare demo`` and
``pvshare simulate building`` on a machine that may have none.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the system picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _wait_listening(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def mosquitto_binary() -> str | None:
    """The path of the system's mosquitto, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


class DemoBroker:
    """``with DemoBroker() as b: ... b.host, b.port, b.kind ...``."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.kind = None
        self._proc = None
        self._thread = None
        self._loop = None
        self._broker = None
        self._tmp = None

    def start(self) -> DemoBroker:
        """Start mosquitto (or amqtt in-process) and wait until it accepts connections."""
        binary = mosquitto_binary()
        if binary:
            self._tmp = tempfile.TemporaryDirectory(prefix="pvshare-broker-")
            conf = Path(self._tmp.name) / "mosquitto.conf"
            conf.write_text(f"listener {self.port} {self.host}\nallow_anonymous true\n"
                            "persistence false\nmax_queued_messages 1000000\n"
                            "max_inflight_messages 0\nlog_dest none\n")
            self._proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
            self.kind = "mosquitto"
        else:
            self._start_amqtt()
            self.kind = "amqtt (embedded)"
        if not _wait_listening(self.host, self.port, 15):
            self.stop()
            raise RuntimeError(f"the demo MQTT broker ({self.kind}) did not start on "
                               f"{self.host}:{self.port}")
        return self

    def _start_amqtt(self) -> None:
        from amqtt.broker import Broker
        ready = threading.Event()
        config = {"listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                  "sys_interval": 0, "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                                                 {"allow_anonymous": True}}}

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self._thread.start()
        ready.wait(15)

    def stop(self) -> None:
        """Stop the broker and remove its temporary files."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        if self._loop is not None and self._broker is not None:
            fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                fut.result(10)
            except Exception:                         # noqa: BLE001 - demo teardown
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> DemoBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
