"""The bad-input corpus as regression tests: every case a clean error (exit 2, one short
message naming the file and line or the field, no traceback), or a clean success where the
input is valid. See tests/badinput/corpus.py for the cases."""

from __future__ import annotations

import pytest

from tests.badinput.corpus import CASES, METERS_STDOUT
from tests.badinput.harness import run_case


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, tmp_path):
    o = run_case(case, tmp_path)
    assert o.verdict == "clean", f"{case.id}: {o.verdict}: {o.why}\n{o.stderr[:600]}"
    if case.id in METERS_STDOUT:
        assert METERS_STDOUT[case.id] in o.stdout, o.stdout[:300]
