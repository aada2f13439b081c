"""Bad prices, colours and arguments given to ``pvshare tariffs``: every case a clean error
naming where, or a clean success (tests/badinput/tariffs_corpus.py)."""

from __future__ import annotations

import pytest

from tests.badinput.harness import run_case
from tests.badinput.tariffs_corpus import TARIFF_CASES


@pytest.mark.parametrize("case", TARIFF_CASES, ids=[c.id for c in TARIFF_CASES])
def test_case(case, tmp_path):
    o = run_case(case, tmp_path)
    assert o.verdict == "clean", f"{case.id}: {o.verdict}: {o.why}\n{o.stderr[:600]}"
