"""Bad input given to ``pvshare households …`` (tests/badinput/households_corpus.py): each
case a clean error naming what and where, the register left as it was; or a clean success."""

from __future__ import annotations

import pytest

from tests.badinput.harness import run_case
from tests.badinput.households_corpus import HOUSEHOLDS_CASES


@pytest.mark.parametrize("case", HOUSEHOLDS_CASES, ids=[c.id for c in HOUSEHOLDS_CASES])
def test_case(case, tmp_path):
    o = run_case(case, tmp_path)
    assert o.verdict == "clean", f"{case.id}: {o.verdict}: {o.why}\n{o.stderr[:600]}"
