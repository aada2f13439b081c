"""Tempo day colours (RTE's calendar): the bundled table and ``--tempo FILE``.

The file is a CSV ``date,color`` (docs/formats.md, "Tempo colours"): one row per Tempo day,
``date`` the local date ``YYYY-MM-DD`` on which the Tempo day starts, ``color`` ``bleu``,
``blanc`` or ``rouge`` (``blue``/``white``/``red`` and RTE's ``BLUE``/``WHITE``/``RED`` are
accepted too). An optional ``source`` column is kept with the row. The Tempo day D runs from
06:00 on D to 06:00 on D+1 (local time); its off-peak hours are 22:00-06:00.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from pvshare.errors import InputError
from pvshare.i18n import _
from pvshare.tariffs.prices import table_date, table_rows, table_text

#: Colours, in the order of their codes (0 bleu, 1 blanc, 2 rouge).
COLORS = ("bleu", "blanc", "rouge")
_ALIASES = {"bleu": 0, "blue": 0, "blanc": 1, "white": 1, "rouge": 2, "red": 2}
#: At most this many days in a colours file (a century).
MAX_ROWS = 40_000
#: The Tempo day starts at this local hour.
DAY_START_HOUR = 6
BUNDLED_NAME = "tempo_colors.csv"


@dataclass(frozen=True)
class TempoCalendar:
    """Colours by Tempo day.

    Attributes
    ----------
    days : numpy.ndarray of datetime64[D], shape (N,)
        Local dates of the Tempo days, sorted, no duplicates (there may be holes).
    colors : numpy.ndarray of int8, shape (N,)
        0 bleu, 1 blanc, 2 rouge.
    source : str
        The file read (or ``bundled:tempo_colors.csv``).
    """

    days: np.ndarray
    colors: np.ndarray
    source: str

    def color_codes(self, days: np.ndarray) -> np.ndarray:
        """Colour code of each Tempo day in ``days`` (datetime64[D]); -1 where unknown."""
        days = np.asarray(days, dtype="datetime64[D]")
        if not len(self.days):
            return np.full(days.shape, -1, dtype=np.int8)
        i = np.clip(np.searchsorted(self.days, days), 0, len(self.days) - 1)
        return np.where(self.days[i] == days, self.colors[i], -1).astype(np.int8)

    def counts(self, first: dt.date, last: dt.date) -> dict[str, int]:
        """How many days of each colour from ``first`` to ``last`` included."""
        sel = (self.days >= np.datetime64(first, "D")) & (self.days <= np.datetime64(last, "D"))
        return {c: int(np.sum(self.colors[sel] == k)) for k, c in enumerate(COLORS)}


def parse_tempo(text: str, *, source: str = "<text>") -> TempoCalendar:
    """A :class:`TempoCalendar` from the text of a ``date,color`` CSV.

    Raises
    ------
    InputError
        Naming ``source``, the line and the column: a missing column, a bad date, an unknown
        colour, or the same date twice with different colours (the same colour twice is
        merged).
    """
    header, body = table_rows(text, source, _("more than {n:,} rows: not a Tempo colours "
                                              "file").format(n=MAX_ROWS), MAX_ROWS)
    header = [c.lower() for c in header]
    for c in ("date", "color"):
        if c not in header:
            raise InputError(_("no column {column!r}: the header must be date,color")
                             .format(column=c), source=source, line=1)
    for c in header:
        if c not in ("date", "color", "source"):
            raise InputError(_("unknown column {column!r} (expected date,color, optionally "
                               "source)").format(column=c[:40]), source=source, line=1)
    di, ci = header.index("date"), header.index("color")
    found: dict[dt.date, tuple[int, int]] = {}
    for n, cells in body:
        day = table_date(cells[di].strip(), source, n, "date")
        c = cells[ci].strip()
        code = _ALIASES.get(c.lower())
        if code is None:
            raise InputError(_("unknown colour {value!r} (expected bleu, blanc or rouge)")
                             .format(value=c[:40]), source=source, line=n, field="color")
        if day in found and found[day][0] != code:
            raise InputError(_("{day} is {color} on line {line} and {other} here").format(
                day=day, color=COLORS[found[day][0]], line=found[day][1],
                other=COLORS[code]), source=source, line=n, field="color")
        found.setdefault(day, (code, n))
    if not found:
        raise InputError(_("no colour rows"), source=source)
    keys = sorted(found)
    return TempoCalendar(np.array(keys, dtype="datetime64[D]"),
                         np.array([found[k][0] for k in keys], dtype=np.int8), source)


def load_tempo(path: str | Path | None = None) -> TempoCalendar:
    """The colours of ``path`` (``--tempo FILE``), or the bundled calendar when None."""
    if path is None:
        return bundled_tempo()
    return parse_tempo(table_text(path), source=str(Path(path)))


def bundled_tempo() -> TempoCalendar:
    """The bundled calendar (pvshare/data/tariffs/tempo_colors.csv, from RTE)."""
    text = resources.files("pvshare.data").joinpath("tariffs", BUNDLED_NAME).read_text("utf-8")
    return parse_tempo(text, source=f"bundled:{BUNDLED_NAME}")
