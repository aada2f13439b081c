"""Daily mean temperatures for the heating degree days of the follow-up (the shell: reads
files).

Sources, in order (docs/reports.md, "La météo"):

1. ``--temperatures FILE``, or ``meteo.csv`` in the register folder: a CSV ``date,temp_c``
   of real daily mean temperatures (°C) near the households, e.g. Météo-France's or
   Open-Meteo's archive (``https://archive-api.open-meteo.com/v1/archive?latitude=…&
   longitude=…&start_date=…&end_date=…&daily=temperature_2m_mean``); days missing from
   the file are left out of the comparison;
2. otherwise, offline: the **typical year** bundled with pvshare (PVGIS TMY at 45N 8E,
   ``pvshare/data/weather``), the mean of its 24 hourly temperatures of each calendar day,
   every year alike. It corrects for the season (a visit in autumn is not credited with the
   winter's extra heating), not for a winter colder than usual: say so in the report.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pvshare.errors import InputError
from pvshare.i18n import _

TYPICAL = "typical"
#: Daily means outside this range are refused (°C).
TEMP_RANGE = (-60.0, 60.0)


@dataclass(frozen=True)
class Temperatures:
    """Daily mean temperatures and where they come from."""

    source: str                 # "typical" or the file
    label: str                  # French, printed in the reports
    days: np.ndarray | None     # datetime64[D] of a file (None: typical year)
    temp_c: np.ndarray          # (D,) for a file; (12, 31) month × day for the typical year

    def at(self, days) -> np.ndarray:
        """The daily mean temperature of each of ``days`` (NaN where unknown)."""
        days = np.asarray(days, dtype="datetime64[D]")
        if self.days is None:
            m = days.astype("datetime64[M]")
            month = m.astype(np.int64) % 12
            day = (days - m.astype("datetime64[D]")).astype(np.int64)
            day = np.where((month == 1) & (day == 28), 27, day)       # 29 Feb as 28 Feb
            return self.temp_c[month, day]
        pos = np.searchsorted(self.days, days)
        pos = np.clip(pos, 0, max(self.days.size - 1, 0))
        hit = self.days.size > 0
        ok = (self.days[pos] == days) if hit else np.zeros(days.shape, bool)
        return np.where(ok, self.temp_c[pos] if hit else np.nan, np.nan)


@lru_cache(maxsize=1)
def typical_year() -> Temperatures:
    """The bundled typical year's daily mean temperatures (month × day of month).

    Reads the ``T2m`` column of the PVGIS CSV (hourly, UTC) with the standard library, so
    that the follow-up needs no weather library.
    """
    import gzip

    from pvshare.data.bundled import TMY_CSV
    sums = np.zeros((12, 31))
    counts = np.zeros((12, 31))
    with gzip.open(TMY_CSV, "rt", encoding="utf-8") as f:
        rows = csv.reader(f)
        for row in rows:
            if row and row[0] == "time(UTC)":
                col = row.index("T2m")
                break
        for row in rows:
            if not row or not row[0][:8].isdigit():
                break
            m, d = int(row[0][4:6]) - 1, int(row[0][6:8]) - 1
            sums[m, d] += float(row[col])
            counts[m, d] += 1
    table = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return Temperatures(TYPICAL, "année météo type (PVGIS, 45° N 8° E), la même chaque année : "
                        "la correction suit la saison, pas un hiver plus froid que d'habitude",
                        None, table)


def read_temperatures(path: str | os.PathLike) -> Temperatures:
    """Read a CSV ``date,temp_c`` of daily mean temperatures (°C).

    Raises
    ------
    InputError
        Naming the file and line of a bad row (date, number, range, repeated date).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(_("file not found"), source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(exc)[:200], source=source) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]] != ["date", "temp_c"]:
        raise InputError(_("expected the header 'date,temp_c'"), source=source, line=1)
    days, temps = [], []
    for i, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            if len(row) != 2:
                raise ValueError
            d = np.datetime64(row[0].strip(), "D")
            if len(row[0].strip()) != 10:
                raise ValueError
        except ValueError:
            raise InputError(_("expected a date YYYY-MM-DD and a temperature"), source=source,
                             line=i, field="date") from None
        try:
            t = float(row[1])
        except ValueError:
            t = float("nan")
        if not TEMP_RANGE[0] <= t <= TEMP_RANGE[1]:
            raise InputError(_("expected a daily mean temperature from -60 to 60 °C, got "
                               "{value!r}").format(value=row[1][:20]), source=source, line=i,
                             field="temp_c")
        days.append(d)
        temps.append(t)
    d = np.array(days, dtype="datetime64[D]")
    order = np.argsort(d, kind="stable")
    d, tt = d[order], np.array(temps)[order]
    if np.any(np.diff(d.astype(np.int64)) == 0):
        k = int(np.argmax(np.diff(d.astype(np.int64)) == 0))
        raise InputError(_("the date {date} appears twice").format(date=d[k]), source=source)
    return Temperatures(source, f"températures moyennes journalières du fichier "
                        f"{Path(path).name}", d, tt)


def temperatures(file: str | os.PathLike | None, register: Path | None) -> Temperatures:
    """The temperatures to use: ``file``, else ``meteo.csv`` of the register, else the
    bundled typical year.
    """
    if file is not None:
        return read_temperatures(file)
    if register is not None and (register / "meteo.csv").exists():
        return read_temperatures(register / "meteo.csv")
    return typical_year()
