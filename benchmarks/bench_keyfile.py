"""Enedis key files for a year (issue 12 targets).

The bundled sample year (T = 17,520 half-hours, N = 48 tenants, prorata key): rounding
without loss, the split into 12 monthly files and writing them, as a ratio to writing the
same rows (a time label and 48 coefficients in percent) with ``csv.writer`` to one file in
the same run. Targets: at most 3× and under 2 s.
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

import numpy as np

RATIO_TARGET = 3.0
SECONDS_TARGET = 2.0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> bool:
    from pvshare.allocation import allocate
    from pvshare.data.sample import load_sample_year
    from pvshare.enedis.keyfile import build_key_files, format_times

    year = load_sample_year()
    res = allocate(year.production_wh, year.consumption_wh, "prorata")
    prms = [f"{30000000000000 + i:014d}" for i in range(res.allocated.shape[1])]
    labels = format_times(year.times).tolist()
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.nan_to_num(100 * res.allocated / res.production[:, None]).round(2)
    rows = [[t, *r] for t, r in zip(labels, pct.tolist())]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        def ours():
            keys = build_key_files(year.times, prms, res.allocated, res.production,
                                   res.consumption, operation="00000001", step_s=year.step_s)
            for f in keys.files:
                (folder / f.name).write_text(f.text, encoding="utf-8")
            return keys

        def baseline():
            with open(folder / "baseline.csv", "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, delimiter=";")
                w.writerow(["Horodate", *prms])
                w.writerows(rows)

        keys = ours()
        baseline()
        times, ratios = [], []
        for _ in range(7):
            base = min(_timed(baseline) for _ in range(2))
            t = _timed(ours)
            times.append(t)
            ratios.append(t / base)
    t, ratio = float(np.median(times)), float(np.median(ratios))
    _print_losses(year)
    ok = ratio <= RATIO_TARGET and t <= SECONDS_TARGET
    print(f"{len(keys.files)} files, {len(year.times)} rows × {len(prms)} PRMs")
    print(f"key files (round + split + write): {t * 1e3:8.1f} ms   "
          f"{ratio:5.2f}× csv.writer (target ≤ {RATIO_TARGET}×, ≤ {SECONDS_TARGET} s)"
          + ("" if ok else "  MISSED"))
    return ok


def _print_losses(year) -> None:
    """Self-consumption lost to the key files' rounding (what Enedis computes from them)."""
    from pvshare.allocation import allocate
    from pvshare.enedis.rounding import enedis_allocation, floor_units, optimal_units
    print("self-consumption lost to the key files' rounding (Enedis's min(C, k·P)):")
    for key in ("prorata", "reallocated"):
        r = allocate(year.production_wh, year.consumption_wh, key)
        exact = r.allocated.sum()
        for name, fn in (("floor", floor_units), ("optimal", optimal_units)):
            for grid in (1000, 10000):
                got = enedis_allocation(fn(r.allocated, r.production, grid), r.production,
                                        r.consumption, grid).sum()
                print(f"  {key:<12} {name:<8} {len(str(grid)) - 3} decimal(s): "
                      f"{(exact - got) / 1000:9.2f} kWh  {100 * (exact - got) / exact:7.4f} %")


if __name__ == "__main__":
    import sys
    sys.exit(0 if main() else 1)
