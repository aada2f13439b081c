"""Enedis load-curve exports built from the real household bundled with pvshare, for the
advisor's guide (docs/reports.md), its tests and the caseload benchmark.

The values are **real**: consecutive 30-minute mean powers (W, rounded) of the UCI household
of Sceaux (``pvshare/data/load``, CC BY 4.0, G. Hébrail and A. Bérard), laid on the Enedis
timeline of a recent period (the regulated prices bundled start in 2023), in the "historique
de mesures" layout of the Enedis customer space (timestamps with their offset, the end of
each half-hour). A household of the example other than the first is the same real
household taken from another year and scaled: resampled, not another real household.

``.venv/bin/python scripts/advisor_exports.py`` rebuilds the exports of
docs/examples/conseiller/ (committed, gzip-compressed to keep the repository small: pvshare
reads them as they are).
"""

from __future__ import annotations

import datetime as dt
import gzip
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PARIS = ZoneInfo("Europe/Paris")
EXAMPLE = ROOT / "docs" / "examples" / "conseiller"


@lru_cache(maxsize=1)
def household() -> tuple[np.ndarray, np.ndarray]:
    """(naive local start times as datetime64[m], mean power W) of the bundled household."""
    from pvshare.data.bundled import HOUSEHOLD_CSV
    with gzip.open(HOUSEHOLD_CSV, "rt") as f:
        rows = [ln.rstrip("\n").split(",") for ln in f][1:]
    t = np.array([r[0] for r in rows], dtype="datetime64[m]")
    return t, np.array([float(r[1]) for r in rows])


def ends(first_day: dt.date, days: int) -> list[dt.datetime]:
    """Local (aware) ends of every half-hour of ``days`` local days from ``first_day``."""
    a = dt.datetime(first_day.year, first_day.month, first_day.day, tzinfo=PARIS
                    ).astimezone(dt.UTC)
    last = first_day + dt.timedelta(days=days)
    b = dt.datetime(last.year, last.month, last.day, tzinfo=PARIS).astimezone(dt.UTC)
    n = int((b - a).total_seconds() // 1800)
    return [(a + dt.timedelta(minutes=30 * (k + 1))).astimezone(PARIS) for k in range(n)]


def series(first_day: dt.date, days: int, source_start: str, *, scale: float = 1.0,
           factor=None) -> tuple[list[dt.datetime], np.ndarray]:
    """Local (aware) half-hour ends of ``days`` local days from ``first_day`` and their
    mean power (W): the bundled household's values from ``source_start`` (naive local
    ``YYYY-MM-DD HH:MM``) in order, × ``scale`` (× ``factor(k)`` of each value's index).
    """
    t, w = household()
    i = int(np.searchsorted(t, np.datetime64(source_start, "m")))
    e = ends(first_day, days)
    v = w[i:i + len(e)] * scale
    if v.size < len(e):
        raise ValueError("the bundled household has not enough values from " + source_start)
    if factor is not None:
        v = v * factor(np.arange(v.size))
    return e, v


def export_text(e: list[dt.datetime], v, first_day: dt.date, last_day: dt.date, *,
                prm: str = "09990000000042") -> str:
    """An Enedis export ("historique de mesures", W, 30 minutes) of the local days
    ``[first_day, last_day)`` of a :func:`series`.
    """
    out = ["Identifiant PRM;Type de donnees;Date de debut;Date de fin;Grandeur physique;"
           "Grandeur metier;Etape metier;Unite;Pas en minutes",
           f"{prm};Courbe de charge;{first_day:%d/%m/%Y};{last_day:%d/%m/%Y};Energie active;"
           "Consommation;Comptage Brut;W;30", "", "Horodate;Valeur"]
    out += [f"{x.isoformat()};{round(float(y))}" for x, y in zip(e, v, strict=True)
            if first_day <= (x - dt.timedelta(minutes=30)).date() < last_day]
    return "\n".join(out) + "\n"


def main() -> None:
    """The example's exports: F01 in two overlapping exports, F02 in one."""
    EXAMPLE.mkdir(parents=True, exist_ok=True)
    d = dt.date
    f01 = series(d(2023, 9, 1), 366, "2007-09-01 00:00")
    f02 = series(d(2023, 10, 1), 336, "2008-10-01 00:00", scale=0.6)
    exports = {
        "F01_export_2024-03.csv.gz": export_text(*f01, d(2023, 9, 1), d(2024, 3, 1)),
        "F01_export_2024-09.csv.gz": export_text(*f01, d(2024, 2, 1), d(2024, 9, 1)),
        "F02_export_2024-09.csv.gz": export_text(*f02, d(2023, 10, 1), d(2024, 9, 1),
                                              prm="09990000000077"),
    }
    for name, text in exports.items():
        (EXAMPLE / name).write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))


if __name__ == "__main__":
    main()
