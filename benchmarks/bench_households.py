"""The advisor's caseload (issue 22 target): a register of 60 households × 2 years of
30-minute curves imported and the caseload report written (HTML, PDF, CSV, JSON) in < 60 s.

Each household gets two Enedis exports of 13 months overlapping by two months (as an
advisor adds them over time), built from the real bundled household (other weeks, scaled),
and two visits. Timed: ``add-curve CODE FILE FILE`` of each household (the two files read
by 2 processes, merged, written) and the report of
``pvshare households report`` (follow-up and tariff check of every household, 2 processes,
then the files). Baseline measured in the same run: the same work for ONE household;
printed: the wall time and its ratio to 60 × the baseline.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_S = 60.0
HOUSEHOLDS = 60
FIRST = dt.date(2023, 9, 1)
DAYS = 730


def _exports(folder: Path, n: int) -> list[tuple[str, list[Path]]]:
    from scripts.advisor_exports import export_text, series
    rng = np.random.default_rng(22)
    out = []
    mid_a = FIRST + dt.timedelta(days=395)            # first export: 13 months
    mid_b = FIRST + dt.timedelta(days=335)            # second: from month 11, 2 overlap
    for k in range(n):
        start = np.datetime64("2006-12-17") + np.timedelta64(int(rng.integers(0, 450)), "D")
        e, v = series(FIRST, DAYS, f"{start} 00:00", scale=float(rng.uniform(0.4, 1.4)))
        code = f"F{k + 1:02d}"
        files = []
        for name, a, b in (("a", FIRST, mid_a), ("b", mid_b, FIRST + dt.timedelta(DAYS))):
            p = folder / f"{code}_{name}.csv"
            p.write_text(export_text(e, v, a, b, prm=f"0999{k:010d}"), encoding="utf-8")
            files.append(p)
        out.append((code, files))
    return out


def _run(folder: Path, exports, out: Path) -> float:
    from pvshare.households.caseload import analyse_caseload, follow_register, write_caseload
    from pvshare.households.register import Household, Register, Visit
    from pvshare.households.weather import typical_year
    t0 = time.perf_counter()
    reg = Register.init(folder)
    for k, (code, files) in enumerate(exports):
        reg.add(Household(code=code, kva=(6, 9, 12)[k % 3], option=("base", "tempo")[k % 2],
                          occupants=1 + k % 5, heating=("electric", "gas")[k % 2],
                          since=str(FIRST)))
        reg.add_curves(code, files, today=dt.date(2025, 9, 2), jobs=2)
        for date, actions in (("2024-03-04", ["led", "power_strip"]),
                              ("2024-11-18", ["water_heater", "tap_aerator"])):
            reg.add_visit(code, Visit(date, actions))
    temps = typical_year()
    c = analyse_caseload(follow_register(reg, temps, jobs=2), temps.label)
    write_caseload(c, out, "both")
    return time.perf_counter() - t0


def main() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        exports = _exports(tmp, HOUSEHOLDS)
        print(f"built {2 * HOUSEHOLDS} Enedis exports (2 × 13 months per household) in "
              f"{time.perf_counter() - t0:.1f} s (not timed)")
        _run(tmp / "warm", exports[:1], tmp / "warm-out")             # imports, fonts
        one = _run(tmp / "one", exports[:1], tmp / "one-out")
        total = _run(tmp / "reg", exports, tmp / "out")
        curves = sum(p.stat().st_size for p in (tmp / "reg" / "courbes").iterdir())
    print(f"baseline, one household imported and reported: {one:.2f} s")
    print(f"{HOUSEHOLDS} households × 2 years imported and the caseload report written: "
          f"{total:.1f} s = {total / (HOUSEHOLDS * one):.2f} × ({HOUSEHOLDS} × baseline); "
          f"target < {TARGET_S:.0f} s; register curves {curves / 2**20:.0f} MB")
    return total < TARGET_S
