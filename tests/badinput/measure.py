"""Run the whole corpus and print the counts per outcome (and each case that is not clean):
``python -m tests.badinput.measure [--json FILE]``."""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.badinput.corpus import CASES
from tests.badinput.harness import run_case
from tests.badinput.loadcurve_corpus import LOADCURVE_CASES


def main() -> None:
    results = {}
    for group, cases in (("main", CASES), ("loadcurve", LOADCURVE_CASES)):
        counts: Counter = Counter()
        for case in cases:
            with tempfile.TemporaryDirectory() as d:
                o = run_case(case, Path(d))
            counts[o.verdict] += 1
            results[case.id] = [o.verdict, o.why]
            if o.verdict != "clean":
                print(f"{o.verdict:9s} {case.id}: {o.why[:160]}", file=sys.stderr)
        print(f"{group}: {len(cases)} cases: " + ", ".join(f"{k} {v}" for k, v in
                                                             sorted(counts.items())))
    if len(sys.argv) > 2 and sys.argv[1] == "--json":
        Path(sys.argv[2]).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
