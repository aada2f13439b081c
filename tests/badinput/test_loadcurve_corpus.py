"""Bad load curves given to ``pvshare report household`` (pvshare/enedis/loadcurve.py is
hardened on another branch: these cases show where it stands)."""

from __future__ import annotations

import pytest

from tests.badinput.harness import run_case
from tests.badinput.loadcurve_corpus import LOADCURVE_CASES


@pytest.mark.parametrize("case", LOADCURVE_CASES, ids=[c.id for c in LOADCURVE_CASES])
def test_case(case, tmp_path):
    o = run_case(case, tmp_path)
    assert o.verdict == "clean", f"{case.id}: {o.verdict}: {o.why}\n{o.stderr[:600]}"
