"""Allocation speed and memory (issue 2 targets).

For a year of 30-min steps (T = 17,520) with N = 48 (the building's sample year) and with
N = 2,000 participants (the sample year's tenants tiled and jittered), the median time of
each key, as a ratio to ``consumption.sum(axis=1)`` over the same array measured in the same
run; the cost per cell of N = 2,000 against N = 48; and the extra peak memory during
``allocate`` (tracemalloc, which sees numpy's buffers) as a multiple of the consumption array.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from pvshare.allocation import allocate

#: key -> (max ratio to sum(axis=1) at N = 48)
TARGETS = {"prorata": 6.0, "static": 6.0, "reallocated": 40.0, "priority": 80.0}
CELL_COST_TARGET = 1.5
MEMORY_TARGET = 6.0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _median_s(fn, repeat: int) -> float:
    fn()                                            # warm-up
    return float(np.median([_timed(fn) for _ in range(repeat)]))


def _paired_ratio(fn, base_fn, repeat: int) -> tuple[float, float]:
    """Median time of ``fn`` and median of its ratio to ``base_fn`` timed right beside it,
    so that both see the same machine load."""
    fn(), base_fn()
    times, ratios = [], []
    for _ in range(repeat):
        base = min(_timed(base_fn) for _ in range(3))
        t = _timed(fn)
        times.append(t)
        ratios.append(t / base)
    return float(np.median(times)), float(np.median(ratios))


def _inputs(n: int):
    from pvshare.data.sample import load_sample_year
    year = load_sample_year()
    production, consumption = year.production_wh, year.consumption_wh
    if n != consumption.shape[1]:
        rng = np.random.default_rng(42)
        cols = rng.integers(0, consumption.shape[1], n)
        consumption = consumption[:, cols] * rng.uniform(0.6, 1.4, n)
        production = production * n / year.consumption_wh.shape[1]   # same roof per flat
    return production, np.ascontiguousarray(consumption)


def _kwargs(key: str, n: int) -> dict:
    rng = np.random.default_rng(7)
    if key in ("static", "reallocated"):
        k = rng.uniform(0.5, 1.5, n)
        return {"coefficients": k / k.sum()}
    if key == "priority":
        return {"ranks": np.arange(n) % 3 + 1, "coefficients": rng.uniform(0.5, 1.5, n)}
    return {}


def main() -> bool:
    ok = True
    per_cell = {}
    print(f"{'N':>6} {'key':<12} {'median ms':>10} {'× sum(axis=1)':>14} {'target':>8}")
    for n, repeat in ((48, 31), (2000, 5)):
        production, consumption = _inputs(n)
        base = _median_s(lambda: consumption.sum(axis=1), repeat * 3)  # noqa: B023
        print(f"{n:>6} {'sum(axis=1)':<12} {base * 1e3:>10.3f} {1.0:>14.1f}")
        for key, target in TARGETS.items():
            kw = _kwargs(key, n)
            t, ratio = _paired_ratio(lambda: allocate(production, consumption, key, **kw),  # noqa: B023
                                     lambda: consumption.sum(axis=1), repeat)  # noqa: B023
            per_cell[(n, key)] = t / consumption.size
            mark = ""
            if n == 48:
                mark = f"{target:>7.0f}×" + ("" if ratio <= target else "  MISSED")
                ok &= ratio <= target
            print(f"{n:>6} {key:<12} {t * 1e3:>10.3f} {ratio:>14.1f} {mark}")
    print("\ncost per cell, N = 2,000 against N = 48 (target ≤ "
          f"{CELL_COST_TARGET}×):")
    for key in TARGETS:
        r = per_cell[(2000, key)] / per_cell[(48, key)]
        ok &= r <= CELL_COST_TARGET
        print(f"  {key:<12} {r:5.2f}×" + ("" if r <= CELL_COST_TARGET else "  MISSED"))

    production, consumption = _inputs(48)
    print(f"\nextra peak memory during allocate, × the consumption array "
          f"({consumption.nbytes / 1e6:.1f} MB; target ≤ {MEMORY_TARGET}×):")
    for key in TARGETS:
        kw = _kwargs(key, 48)
        tracemalloc.start()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = allocate(production, consumption, key, **kw)
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
        del result
        r = peak / consumption.nbytes
        ok &= r <= MEMORY_TARGET
        print(f"  {key:<12} {r:5.2f}×" + ("" if r <= MEMORY_TARGET else "  MISSED"))
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
