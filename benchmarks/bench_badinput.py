"""Bounded input (issue 13): peak memory of the CLI given a 1 GB line, against the same
command on a small file, measured in the same run.

Three readers: ``pvshare allocate`` (a production CSV whose second row holds a 1 GB value),
``pvshare config check`` (a 1 GB TOML comment line) and ``pvshare tic decode`` (1 GB without a
line feed). Each command runs in its own process; its peak RSS comes from
``getrusage(RUSAGE_CHILDREN)`` of a small wrapper process. The error message must stay under
500 bytes.

Target: peak RSS on the 1 GB line within 64 MB of the small file's, message < 500 bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PVSHARE = str(Path(sys.executable).with_name("pvshare"))
TARGET_MB = 64.0
GB = 1 << 30

_WRAPPER = """
import json, resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, cwd=None)
print(json.dumps({"rc": r.returncode, "stderr_bytes": len(r.stderr),
                  "stderr": r.stderr[:300].decode("utf-8", "replace"),
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _run(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _WRAPPER, PVSHARE, *args], capture_output=True,
                         text=True, timeout=600)
    return json.loads(out.stdout)


def _big(path: Path, head: bytes, size: int = GB, tail: bytes = b"") -> Path:
    block = b"x" * (16 << 20)
    with open(path, "wb") as fh:
        fh.write(head)
        left = size
        while left > 0:
            fh.write(block[:min(left, len(block))])
            left -= len(block)
        fh.write(tail)
    return path


def main() -> bool:
    ok = True
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        prod = "time,production_wh\n2025-06-01T10:00:00+00:00,100\n"
        (d / "p.csv").write_text(prod + "2025-06-01T10:30:00+00:00,200\n")
        (d / "c.csv").write_text("time,A\n2025-06-01T10:00:00+00:00,1\n"
                                 "2025-06-01T10:30:00+00:00,1\n")
        (d / "site.toml").write_text("# a comment\n")
        (d / "cap.log").write_bytes(b"\x02\nADSC\t041876543210\t6\r\x03")
        cases = {
            "allocate": (lambda name: ["allocate", "--production", str(d / name), "--consumption",
                                       str(d / "c.csv"), "--key", "prorata", "--out",
                                       str(d / "o.csv")],
                         "p.csv", lambda: _big(d / "big.csv", (prod + "2025-06-01T10:30:00+00:00,"
                                                               ).encode(), tail=b"\n")),
            "config check": (lambda name: ["config", "check", str(d / name)], "site.toml",
                             lambda: _big(d / "big.toml", b"# ", tail=b"\n")),
            "tic decode": (lambda name: ["tic", "decode", str(d / name)], "cap.log",
                           lambda: _big(d / "big.log", b"\x02\n")),
        }
        for what, (argv, small, make) in cases.items():
            base = _run(*argv(small))
            big = make()
            r = _run(*argv(big.name))
            big.unlink()
            extra = (r["maxrss_kb"] - base["maxrss_kb"]) / 1024
            good = extra <= TARGET_MB and r["stderr_bytes"] < 500 and r["rc"] == 2
            ok &= good
            print(f"{what:13s} small file: {base['maxrss_kb'] / 1024:6.1f} MB peak;  1 GB line: "
                  f"{r['maxrss_kb'] / 1024:6.1f} MB peak (+{extra:.1f} MB), exit {r['rc']}, "
                  f"message {r['stderr_bytes']} bytes {'ok' if good else 'MISSED'}")
            print(f"{'':13s} {r['stderr'].strip()[:200]}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
