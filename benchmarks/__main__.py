"""Run every ``benchmarks/bench_*.py`` (or those named on the command line) in turn.

Each module has a ``main() -> bool`` that prints its figures and returns whether its targets
are met. The exit code is 1 when a target is missed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                   if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    failed = []
    for name in names:
        print(f"\n=== {name} " + "=" * max(0, 60 - len(name)), flush=True)
        t0 = time.perf_counter()
        ok = importlib.import_module(f"benchmarks.{name}").main()
        print(f"--- {name}: {'targets met' if ok else 'TARGET MISSED'} "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
        if not ok:
            failed.append(name)
    if failed:
        print("\ntargets missed in: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
