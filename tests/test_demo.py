"""``pvshare demo``: the same figures on every run, what README.md shows, and every line it
suggests afterwards works exactly as printed.

The demo runs as ``make demo`` runs it: ``.venv/bin/pvshare demo`` from a folder holding the
venv (a link to the project's), with the real simulators, broker and daemon.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import console_blocks as cb

VENV = Path(sys.executable).parent.parent
README = cb.ROOT / "README.md"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "PVSHARE_INFLUX_URL")}
    # as after `make demo` in a fresh shell: the venv is not on PATH
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if Path(p).resolve() != (VENV / "bin").resolve())
    env.update(LANG="C.UTF-8", COLUMNS="80")
    return env


def _folder(tmp: Path) -> Path:
    (tmp / ".venv").symlink_to(VENV)
    return tmp


def _demo(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([".venv/bin/pvshare", "demo", *args], cwd=folder, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=900)


def _allocation(folder: Path) -> list[tuple]:
    with sqlite3.connect(folder / "demo-data" / "pvshare.db") as db:
        return db.execute("SELECT * FROM allocation ORDER BY 1, 2").fetchall()


def _readme_demo() -> cb.Command:
    blocks = [c for c in cb.parse(README).commands if c.text == ".venv/bin/pvshare demo"]
    assert len(blocks) == 1, "README.md shows `$ .venv/bin/pvshare demo` once"
    return blocks[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.timeout(1200)
def test_the_demo_prints_what_the_readme_shows_and_its_suggestions_work(tmp_path):
    folder = _folder(tmp_path)
    started = time.monotonic()
    r = _demo(folder)
    took = time.monotonic() - started
    assert r.returncode == 0, r.stdout
    shown = _readme_demo()
    assert cb.matches(shown.expected, r.stdout), (
        f"README.md's demo block differs from what it printed:\n{cb.normalise(r.stdout)}")
    # The live panel's last state and the final table agree on the steps closed.
    panel = int(re.search(r"steps closed: (\d+)", r.stdout).group(1))
    table = int(re.search(r"│ steps\s+│\s+(\d+) │", r.stdout).group(1))
    assert panel == table == 48
    print(f"demo: {took:.0f} s")

    suggested = r.stdout[r.stdout.index("next, try"):].splitlines()
    # every command it suggests, as printed (alone on its line, or after "…: ")
    printed = [m.group(1) for line in suggested
               for m in [re.search(r"(?:^\s*|: )(\.venv/bin/pvshare .*)$", line)] if m]
    (serve,) = [c for c in printed if " web --config " in c]
    commands = [c for c in printed if c != serve]
    links = {m.group(1): m.group(2) for m in re.finditer(
        r"(A01's page|the landlord's): (http://127\.0\.0\.1:8080/l/\S+)", r.stdout)}
    assert len(commands) == 4 and len(links) == 2
    env = _env()
    for line in commands:
        if " web links " in line:
            continue                                   # after the server, below
        done = subprocess.run(line, shell=True, cwd=folder, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    assert (folder / "demo-data" / "allocation.csv").stat().st_size > 0
    assert (folder / "demo-data" / "releve-A01-2025-06.html").exists()

    # The pages' server as printed, on a free port (8080 may be taken on a test machine).
    port = _free_port()
    args = shlex.split(serve.replace("--port 8080", f"--port {port}"))
    server = subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:                                    # ready when it answers
            try:
                status = _get(links["A01's page"].replace("http://127.0.0.1:8080", base))
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        assert status == 200
        # Every other tenant's link: issued, and the two printed links keep working.
        (line,) = [c for c in commands if " web links " in c]
        done = subprocess.run(line, shell=True, cwd=folder, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "kept" in done.stdout and "A01, @pmo" in done.stdout
        for url in links.values():
            assert _get(url.replace("http://127.0.0.1:8080", base)) == 200, url
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.timeout(1200)
def test_the_figures_do_not_depend_on_wall_time(tmp_path):
    """Two runs of the same hours at speeds ten times apart store the same allocation, to
    the bit: the clock is driven by the demo, not by how fast the machine goes.
    """
    runs = []
    for n, speed in enumerate(("1500", "15000")):
        (tmp_path / f"run{n}").mkdir()
        folder = _folder(tmp_path / f"run{n}")
        r = _demo(folder, "--start", "2025-06-21T08:00:00Z", "--duration", "3h",
                  "--speed", speed)
        assert r.returncode == 0, r.stdout
        runs.append(_allocation(folder))
    assert len(runs[0]) >= 6 * 48 and runs[0] == runs[1]   # the 6 steps and the 2 closed after
    assert sum(row[3] for row in runs[0]) > 10_000          # a sunny morning: shared Wh
