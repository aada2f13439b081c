"""pvshare.files.csvio without pandas: the reader and the allocation table writer.

The messages of every bad input are pinned by tests/badinput/; here, what the port from
pandas to the csv module + numpy must keep: no pandas import, the same bytes as the pandas
writer (pvshare export still writes through pandas), and the cells pandas read in its way.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pvshare.errors import InputError
from pvshare.files import csvio


def test_reading_and_writing_never_imports_pandas():
    code = ("import sys, pvshare.allocation.files, pvshare.files.csvio as c\n"
            "t = c.allocation_table([], ['A'], __import__('numpy').zeros((0, 1)),"
            " __import__('numpy').zeros((0, 1)))\n"
            "assert 'pandas' not in sys.modules, 'pandas imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("active", [False, True])
def test_table_writer_writes_the_bytes_of_the_pandas_writer(tmp_path, active):
    # allocation_frame needs pandas: the test environment has every extra.
    rng = np.random.default_rng(7)
    T, N = 5000, 4                      # more steps than one write chunk
    times = (np.datetime64("2025-01-01T00:00:00", "s")
             + np.arange(T) * np.timedelta64(1800, "s"))
    names = ["A01", "flat, 2nd floor", 'say "hi"', "é"]
    cons = np.round(rng.uniform(0, 500, (T, N)), 1)
    cons[rng.random((T, N)) < 0.05] = np.nan
    alloc = np.nan_to_num(cons) * rng.uniform(0, 1, (T, N))
    alloc[3, 1] = -0.0
    mask = rng.random((T, N)) < 0.8 if active else None
    a, b = tmp_path / "table.csv", tmp_path / "frame.csv"
    csvio.write_allocation_csv(a, csvio.allocation_table(times, names, cons, alloc, mask))
    csvio.write_allocation_csv(b, csvio.allocation_frame(times, names, cons, alloc, mask))
    assert a.read_bytes() == b.read_bytes()
    rows = a.read_text(encoding="utf-8").splitlines()
    expected = int(mask.sum()) if active else T * N
    assert len(rows) == 1 + expected
    assert len(csvio.allocation_table(times, names, cons, alloc, mask)) == expected
    if not active:                      # a name with a comma is quoted, as csv does
        assert rows[2] == ('2025-01-01T00:00:00+00:00,"flat, 2nd floor",'
                           f"{cons[0, 1]:.3f},{alloc[0, 1]:.3f},"
                           f"{cons[0, 1] - alloc[0, 1]:.3f}")


def _consumption(tmp_path, time_cell: str, value: str) -> csvio.StepSeries:
    f = tmp_path / "c.csv"
    f.write_text(f"time,A\n{time_cell},{value}\n", encoding="utf-8")
    return csvio.read_consumption(f)


def test_a_date_with_one_digit_month_and_day_is_read_as_pandas_read_it(tmp_path):
    s = _consumption(tmp_path, "2025-6-1T12:00:00+02:00", "1")
    assert s.times[0] == np.datetime64("2025-06-01T10:00:00", "s")


def test_a_fraction_of_a_second_is_not_a_step_start(tmp_path):
    # pandas truncated 12:00:00.5 to 12:00:00 and took it: the reading is now exact.
    with pytest.raises(InputError, match="is not the start of a PT30M step"):
        _consumption(tmp_path, "2025-06-01T12:00:00.5+00:00", "1")


@pytest.mark.parametrize("cell", ["-0", "-0.0"])
def test_minus_zero_reads_as_zero(tmp_path, cell):
    v = _consumption(tmp_path, "2025-06-01T12:00:00+00:00", cell).values[0, 0]
    assert v == 0 and not np.signbit(v)


@pytest.mark.parametrize("cell", ["1_000", "١٢", "0x10", "1 000"])
def test_what_float_alone_would_take_is_not_a_number(tmp_path, cell):
    with pytest.raises(InputError, match="not a number"):
        _consumption(tmp_path, "2025-06-01T12:00:00+00:00", cell)


def test_a_long_cell_among_many_is_reported_in_bounded_memory(tmp_path):
    import tracemalloc
    rows = "".join(f"2025-01-01T{h:02d}:{m:02d}:00+00:00,{'1' * 5},{'2' * 5}\n"
                   for h in range(24) for m in (0, 30))
    f = tmp_path / "c.csv"
    f.write_text("time,A,B\n" + rows + f"2025-01-02T00:00:00+00:00,1,{'x' * 100_000}\n",
                 encoding="utf-8")
    tracemalloc.start()
    with pytest.raises(InputError, match="line 50, column 'B': not a number: 'xxx"):
        csvio.read_consumption(f)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20           # a few copies of the 0.1 MB cell, not 98 cells × 0.4 MB
