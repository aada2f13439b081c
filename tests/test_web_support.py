"""Helpers of the web tests and benchmark (no test here): a demo store built from the bundled
sample year with the example building's config, ``pvshare web`` as a real subprocess, and
plain HTTP requests.

The store holds what the daemon would have written: the allocation of every step (equal
shares with reallocation, as in config/example.toml) from ``FROM`` to the moment ``AT``, the
inverter's readings of the last hour, and an intraday forecast for the rest of the day and
the next day (the sample year's own production, i.e. a perfect forecast).
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import tomli_w

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example.toml"
#: The pages are shown as at this local time (a sunny June afternoon of the sample year).
AT = "2025-06-21T15:10:00+02:00"
AT_S = 1750511400          # = AT
FROM = "2025-04-01T00:00:00+02:00"
FROM_S = 1743458400


def build_site(folder: Path, *, participants: int | None = None, months_back_s: int | None = None
               ) -> Path:
    """Write ``folder/pvshare.toml`` (the example building) and its store; returns the config."""
    from pvshare.allocation import allocate
    from pvshare.data.sample import load_sample_year
    from pvshare.meters.base import Reading
    from pvshare.store import Store

    folder.mkdir(parents=True, exist_ok=True)
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    if participants:
        data["participants"] = data["participants"][:participants]
    data["meters"] = [{"id": "inverter", "type": "sunspec", "host": "127.0.0.1", "port": 1502,
                       "unit": 1},
                      {"id": "linky-{participant}", "type": "mqtt", "format": "zlinky",
                       "topic": "zigbee2mqtt/linky-{participant}"}]
    for p in data["participants"]:
        p.pop("meter", None)
    data["producer"]["meter"] = "inverter"
    data["store"] = {"path": "pvshare.db"}
    cfg_path = folder / "pvshare.toml"
    cfg_path.write_text(tomli_w.dumps(data), encoding="utf-8")

    s = load_sample_year()
    ids = [p["id"] for p in data["participants"]]
    cols = [s.participants.index(i) for i in ids]
    t = s.times.astype("datetime64[s]").astype(np.int64)
    start = FROM_S if months_back_s is None else AT_S - months_back_s
    sel = (t >= start) & (t + 1800 <= AT_S)
    prod, cons = s.production_wh[sel], s.consumption_wh[sel][:, cols]
    res = allocate(prod, cons, "reallocated", coefficients=np.full(len(ids), 1 / len(ids)))
    with Store.open(folder / "pvshare.db") as store:
        store.write_allocation(t[sel], ids, prod, cons, res.allocated, res.incomplete,
                               "reallocated")
        # the inverter's power over the last hour, one reading a minute
        last = (t >= AT_S - 3600) & (t < AT_S + 1800)
        watts = np.repeat(s.production_wh[last] * 2.0, 30)
        times = AT_S - 3600 + 60 * np.arange(len(watts))
        store.write_readings([Reading("inverter", float(x), None, None, float(w))
                              for x, w in zip(times, watts) if x <= AT_S])
        store.write_readings([Reading(f"linky-{i}", float(AT_S - 30 - 60 * (k == 0) * 3600),
                                      1000.0, None, 300.0) for k, i in enumerate(ids)])
        ahead = (t >= AT_S - 1800) & (t < AT_S + 36 * 3600)
        store.write_forecast(t[ahead], s.production_wh[ahead] * 2.0, issued_s=AT_S - 600)
    return cfg_path


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pvshare(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pvshare.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


class WebServer:
    """``pvshare web --config F --port P --at AT`` as a subprocess, until :meth:`stop`."""

    def __init__(self, config: Path, *, at: str = AT, extra: tuple = ()):
        self.port = free_port()
        self.log_path = Path(config).parent / f"web-{self.port}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pvshare.cli", "web", "--config", str(config),
             "--port", str(self.port), "--at", at, *extra],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pvshare web exited: {self.output()}")
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"pvshare web did not start: {self.output()}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, method: str = "GET", headers: dict | None = None, body=None
            ) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def issue(config: Path, out: Path, *participants: str, replace: bool = False
          ) -> dict[str, str]:
    """``pvshare web links``; returns participant → path of the link (``/l/<token>``)."""
    import csv
    args = ["web", "links", "--config", config, "--base-url", "https://solaire.example.org",
            "--out", out, *(["--replace"] if replace else [])]
    for p in participants:
        args += ["--participant", p]
    r = pvshare(*args)
    assert r.returncode == 0, r.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {r["participant"]: r["url"].removeprefix("https://solaire.example.org")
            for r in rows}
