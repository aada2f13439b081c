"""The Enedis key file: floored tenths of a percent, rows summing to at most 100."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pvshare.allocation import allocate
from pvshare.enedis.keyfile import coefficients_permille, format_key_file
from pvshare.timegrid import local_day_steps


def test_floor_not_round():
    # 1/3 each → 33,3 (floored) and the row sums to 99,9, not 100,0.
    p = np.array([300.0, 1000.0, 0.0])
    a = np.array([[100.0, 100, 100], [123.99, 876.01, 0], [0, 0, 0]])
    k = coefficients_permille(a, p)
    assert k.tolist() == [[333, 333, 333], [123, 876, 0], [0, 0, 0]]


def test_exact_tenths_survive_float_noise():
    p = np.array([10.0])
    a = np.array([[1.23, 8.77]])            # 12.3 % and 87.7 %, not exact in binary
    assert coefficients_permille(a, p).tolist() == [[123, 877]]


@settings(max_examples=200, deadline=None)
@given(arrays(float, (6,), elements=st.floats(0, 1e4)),
       arrays(float, (6, 4), elements=st.floats(0, 1e4)))
def test_rows_never_exceed_100_percent(p, c):
    res = allocate(p, c, "prorata")
    k = coefficients_permille(res.allocated, p)
    assert (k >= 0).all() and (k.sum(axis=1) <= 1000).all()
    # Floored: never above the true share, and less than a tenth below it.
    with np.errstate(divide="ignore", invalid="ignore"):
        true = np.where(p[:, None] > 0, 1000 * res.allocated / p[:, None], 0)
    assert (k <= true + 1e-6).all() and (true - k < 1 + 1e-6).all()


def test_format_dst_day_has_50_rows_with_offsets():
    times = local_day_steps(dt.date(2025, 10, 26))
    assert len(times) == 50
    k = np.tile([[125, 875]], (50, 1))
    text = format_key_file(times, ["00000000000001", "00000000000002"], k)
    lines = text.splitlines()
    assert lines[0] == "Horodate;00000000000001;00000000000002"   # leading zeros kept
    assert lines[1] == "2025-10-26T00:00:00+02:00;12,5;87,5"
    stamps = [line.split(";")[0] for line in lines[1:]]
    assert "2025-10-26T02:00:00+02:00" in stamps and "2025-10-26T02:00:00+01:00" in stamps
    assert len(set(stamps)) == 50
