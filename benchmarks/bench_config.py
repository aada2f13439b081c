"""``config check`` linear in the number of participants (issue 21, item 6).

A configuration of N participants (the corpus' site, ``[[participants]]`` with an id and a
PRM each) is checked in process, ``load_config`` + ``check_references`` as ``pvshare config
check`` does, for N = 1,800 and N = 18,000 (best of 3 runs each). Also the reading of a
participants file and of a consumption file with as many participants (``--participants``,
``read_consumption``: 10,000 columns, the most a file may have).

Targets (ratios measured in the same run, so a loaded machine does not change them):

* 10 times the participants takes at most 15 times as long (linear: 10; the quadratic
  duplicate checks took 100 times as long: 18 s for 18,000);
* checking 18,000 participants takes at most 4 times as long as ``tomllib`` parsing the same
  file (the part no checker can avoid);
The issue's figure, 18,000 participants checked in under 2 s, is printed (not a target: on a
loaded machine tomllib alone may take more than 1 s).
"""

from __future__ import annotations

import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np

SMALL, LARGE = 1_800, 18_000
LINEAR_TARGET = 15.0
TOML_RATIO_TARGET = 4.0
SECONDS_TARGET = 2.0

HEAD = """\
[site]
name = "bench"
latitude = 45.958
longitude = 5.357

[producer]
prm = "25460000009001"
meter = "inverter"

[array]
kwp = 36.0
tilt_deg = 15
azimuth_deg = 180

[[meters]]
id = "inverter"
type = "sunspec"
host = "127.0.0.1"
port = 1502
unit = 1

"""


def config_text(n: int) -> str:
    return HEAD + "".join(f'[[participants]]\nid = "P{i:05d}"\nprm = "{25461000000000 + i:014d}"'
                          f"\n\n" for i in range(n))


def _best(fn, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> bool:
    from pvshare.config import check_references, load_config
    from pvshare.files import csvio

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        times = {}
        for n in (SMALL, LARGE):
            path = folder / f"site-{n}.toml"
            path.write_text(config_text(n), encoding="utf-8")

            def check(path=path, n=n):
                cfg = load_config(path)
                check_references(cfg)
                assert len(cfg.participants) == n
            times[n] = _best(check)
        text = (folder / f"site-{LARGE}.toml").read_text(encoding="utf-8")
        toml_s = _best(lambda: tomllib.loads(text))
        linear = times[LARGE] / times[SMALL]
        over_toml = times[LARGE] / toml_s
        print(f"config check: {SMALL:,} participants {times[SMALL]:.3f} s, {LARGE:,} "
              f"{times[LARGE]:.3f} s: x{linear:.1f} for x10 (target <= {LINEAR_TARGET:g})")
        print(f"  tomllib alone on {LARGE:,}: {toml_s:.3f} s; the check is x{over_toml:.2f} "
              f"(target <= {TOML_RATIO_TARGET:g}); {times[LARGE]:.2f} s (issue 21: under "
              f"{SECONDS_TARGET:g} s)")
        ok &= linear <= LINEAR_TARGET and over_toml <= TOML_RATIO_TARGET

        # The same in the files of `pvshare allocate`: a consumption file and a participants
        # file of 1,000 and 10,000 participants (the most columns a file may have).
        stamps = np.arange(np.datetime64("2025-06-01T00:00"), np.datetime64("2025-06-02T00:00"),
                           np.timedelta64(30, "m")).astype("datetime64[s]")
        file_times = {}
        for n in (999, 9_999):              # + the time column: 10,000
            names = [f"P{i:05d}" for i in range(n)]
            cons = folder / f"c-{n}.csv"
            cons.write_text("time," + ",".join(names) + "\n" + "".join(
                f"{t}+00:00," + ",".join(["100"] * n) + "\n" for t in stamps.astype(str)),
                encoding="utf-8")
            parts = folder / f"p-{n}.csv"
            parts.write_text("participant,prm,from,to\n" + "".join(
                f"{p},{25461000000000 + i:014d},,\n" for i, p in enumerate(names)),
                encoding="utf-8")

            def read(cons=cons, parts=parts):
                c = csvio.read_consumption(cons)
                csvio.read_participants(parts, c.columns, c.times)
            file_times[n] = _best(read)
        files_linear = file_times[9_999] / file_times[999]
        print(f"consumption + participants files: 1,000 participants {file_times[999]:.3f} s, "
              f"10,000 {file_times[9_999]:.3f} s: x{files_linear:.1f} for x10 "
              f"(target <= {LINEAR_TARGET:g})")
        ok &= files_linear <= LINEAR_TARGET
    return ok


if __name__ == "__main__":
    import sys
    sys.exit(0 if main() else 1)
