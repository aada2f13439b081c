"""Load-curve reader (issue 11 deliverable 5, issue 13 item 3): rows read per second, and the
memory a giant line costs.

Input: the real C5 "historique de mesures" of tests/fixtures/enedis (18,000 rows, hourly then
half-hourly, gzip) written 4 times over as one plain file (years shifted so that the rows do
not repeat: 71,000 rows, about 2 MB), like a four-year export. Figures: rows/s of
``read_load_curve`` against a baseline measured in the same run beside it: the ``csv``
module splitting the same file and ``float()`` on every value (no time parsing, no check).

Targets: at least 20,000 rows/s (a two-year 10-minute export, 105,000 rows, in about 5 s on
the Raspberry Pi class of machine); a file whose second line is 1 GB long refused with at
most 4 MB of Python memory allocated (tracemalloc), its message under 500 bytes.
"""

from __future__ import annotations

import csv
import gzip
import tempfile
import time
import tracemalloc
from pathlib import Path

from pvshare.enedis.loadcurve import read_load_curve
from pvshare.errors import InputError

FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "enedis"
TARGET_ROWS_S = 20_000.0


def _baseline(path: Path) -> int:
    n = 0
    with path.open(encoding="utf-8-sig") as f:
        for row in csv.reader(f, delimiter=";"):
            if len(row) == 2 and row[1] and row[1][0].isdigit():
                float(row[1])
                n += 1
    return n


def main() -> bool:
    text = gzip.decompress((FIX / "sge_hdm_c5_cdc_full.csv.gz").read_bytes()).decode("utf-8-sig")
    head, body = text.split("Horodate;Valeur\n")
    parts = [body.replace("2021-", f"{2021 + 2 * k}-").replace("2022-", f"{2022 + 2 * k}-")
             for k in range(4)]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "four_years.csv"
        p.write_text(head + "Horodate;Valeur\n" + "".join(parts), encoding="utf-8")
        rows = sum(1 for ln in "".join(parts).splitlines() if ln)
        t0 = time.perf_counter()
        lc = read_load_curve(p, allow_gaps=True)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        _baseline(p)
        t_base = time.perf_counter() - t0
        big = Path(d) / "huge.csv"
        with big.open("wb") as f:
            f.write(b"Identifiant PRM;Type de donnees\n")
            f.truncate(2**30)
        tracemalloc.start()
        try:
            read_load_curve(big)
            msg = ""
        except InputError as e:
            msg = str(e)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    rate = rows / t_read
    print(f"input: {rows} rows ({lc.times.size} steps of {lc.step_s // 60} min)")
    print(f"read_load_curve: {rate:,.0f} rows/s ({t_read:.2f} s); baseline csv+float: "
          f"{rows / t_base:,.0f} rows/s; ratio {t_read / t_base:.1f}x the baseline's time")
    print(f"1 GB line: refused with {peak / 2**20:.2f} MB allocated, message {len(msg.encode())} "
          f"bytes: {msg[:90]!r}")
    return rate >= TARGET_ROWS_S and peak <= 4 * 2**20 and 0 < len(msg.encode()) < 500
