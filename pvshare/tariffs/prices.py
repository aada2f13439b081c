"""Regulated residential prices (TRV, *tarif bleu*): the bundled table and ``--prices FILE``.

The file is a CSV ``from,option,kva,subscription_eur_per_month,period,eur_per_kwh`` (docs/
formats.md, "Tariff prices"), all taxes included (TTC):

* ``from``: the local date (``YYYY-MM-DD``) from which the row applies; it applies until the
  next row of the same option, power and period;
* ``option``: ``base``, ``hphc`` or ``tempo``; ``kva``: the subscribed power (a standard
  power, :data:`STANDARD_KVA`);
* ``period``: ``base`` (Base), ``hp``/``hc`` (Heures creuses), ``bleu_hp`` … ``rouge_hc``
  (Tempo);
* optional ``subscription_eur_per_year``: the yearly subscription as published by the CRE
  (its files give € per year); when present it is the exact figure used (the monthly column
  must then be it / 12 to the cent), since a monthly price rounded to the cent is not exact;
* optional ``source``: where the row comes from (the bundled table cites the official
  publication of each row); other columns are refused;
* a row whose amounts are all empty is a **gap**: the price is unknown from its date (until
  the next row). The bundled table uses it where the next publication could not be sourced,
  so that the check says the price is missing instead of applying an old one.

Amounts are kept exact (:class:`fractions.Fraction` of their decimal text): the check sums
them exactly and rounds once (docs/design.md, "Tariff check").
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np

from pvshare.errors import InputError
from pvshare.i18n import _

#: The options and the periods each one prices.
OPTIONS = ("base", "hphc", "tempo")
PERIODS: dict[str, tuple[str, ...]] = {
    "base": ("base",),
    "hphc": ("hp", "hc"),
    "tempo": ("bleu_hp", "bleu_hc", "blanc_hp", "blanc_hc", "rouge_hp", "rouge_hc"),
}
#: Standard subscribed powers of a household (tarif bleu), kVA.
STANDARD_KVA = (3, 6, 9, 12, 15, 18, 24, 30, 36)

COLUMNS = ("from", "option", "kva", "subscription_eur_per_month", "period", "eur_per_kwh")
OPTIONAL_COLUMNS = ("subscription_eur_per_year", "source")
#: At most this many rows in a prices file (the bundled one has a few hundred).
MAX_ROWS = 100_000
#: Highest plausible price, € per kWh and € per month (a typo guard, not a policy).
MAX_EUR_PER_KWH = Fraction(10)
MAX_EUR_PER_MONTH = Fraction(1000)

_DECIMAL_RE = re.compile(r"^\d{1,6}(?:\.\d{1,8})?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: The bundled table: valid from its first row until this date included (the next regular
#: move of the regulated tariffs is 1 February; see pvshare/data/tariffs/README.md).
BUNDLED_VALID_UNTIL = dt.date(2027, 1, 31)
BUNDLED_NAME = "trv_residential.csv"


@dataclass(frozen=True)
class PriceRow:
    """One row of a prices file: a price applying from a local date."""

    start: dt.date
    option: str
    kva: int
    period: str
    subscription_eur_per_year: Fraction | None  # exact: monthly × 12, or the published yearly
    eur_per_kwh: Fraction | None                # None: a gap row (price unknown from ``start``)
    source: str = ""
    line: int = 0                         # line in the file it was read from


@dataclass(frozen=True)
class PriceTable:
    """Dated prices, by option, power and period.

    Attributes
    ----------
    rows : tuple of PriceRow
        Sorted by option, kVA, period, start.
    source : str
        The file read (or ``bundled:trv_residential.csv``).
    valid_until : datetime.date or None
        The last local date the table is known to cover (None: its last rows apply without
        end, as for ``--prices FILE``).
    """

    rows: tuple[PriceRow, ...]
    source: str
    valid_until: dt.date | None = None
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        idx: dict[tuple[str, int, str], list[PriceRow]] = {}
        for r in self.rows:
            idx.setdefault((r.option, r.kva, r.period), []).append(r)
        self._index.update({k: sorted(v, key=lambda r: r.start) for k, v in idx.items()})

    def kvas(self, option: str) -> tuple[int, ...]:
        """The powers the table has prices for, for ``option``."""
        return tuple(sorted({k for (o, k, _p) in self._index if o == option}))

    def series(self, option: str, kva: int, period: str) -> list[PriceRow]:
        """The rows of one option, power and period, by start (empty when none)."""
        return list(self._index.get((option, kva, period), []))

    def first_date(self, option: str, kva: int) -> dt.date | None:
        """The first local date every period of ``option`` at ``kva`` has a price, or None."""
        starts = []
        for p in PERIODS[option]:
            s = self._index.get((option, kva, p))
            if not s:
                return None
            starts.append(s[0].start)
        return max(starts)

    def subscriptions(self, option: str, kva: int,
                      days: np.ndarray) -> tuple[np.ndarray, list[Fraction | None]]:
        """The yearly subscription in force on each local date: ``(index, yearly)`` with
        ``yearly[index[i]]`` the price of ``days[i]`` (index -1 where none applies or a gap
        row does: ``yearly`` is then None there). The
        subscription of a date is that of the latest row of the option and power (any
        period) starting on or before it.
        """
        by_start: dict[dt.date, Fraction | None] = {}
        for p in PERIODS[option]:
            for r in self._index.get((option, kva, p), []):
                by_start[r.start] = r.subscription_eur_per_year
        days = np.asarray(days, dtype="datetime64[D]")
        if not by_start:
            return np.full(days.shape, -1, dtype=np.int64), []
        starts = sorted(by_start)
        s64 = np.array(starts, dtype="datetime64[D]")
        i = np.searchsorted(s64, days, side="right") - 1
        gap = np.array([by_start[s] is None for s in starts] + [True])
        i = np.where(gap[i], -1, i)
        if self.valid_until is not None:
            i = np.where(days > np.datetime64(self.valid_until, "D"), -1, i)
        return i.astype(np.int64), [by_start[s] for s in starts]

    def lookup(self, option: str, kva: int, period: str, days: np.ndarray) -> np.ndarray:
        """Index into :meth:`series` of the row applying on each local date, shape like ``days``
        (``datetime64[D]``); -1 where no row applies (before the first, or after
        :attr:`valid_until`).
        """
        rows = self._index.get((option, kva, period), [])
        days = np.asarray(days, dtype="datetime64[D]")
        if not rows:
            return np.full(days.shape, -1, dtype=np.int64)
        starts = np.array([np.datetime64(r.start, "D") for r in rows], dtype="datetime64[D]")
        i = np.searchsorted(starts, days, side="right") - 1
        gap = np.array([r.eur_per_kwh is None for r in rows] + [True])
        i = np.where(gap[i], -1, i)                 # i = -1 indexes the sentinel: missing
        if self.valid_until is not None:
            i = np.where(days > np.datetime64(self.valid_until, "D"), -1, i)
        return i.astype(np.int64)


def _fraction(text: str, source: str, line: int, column: str, maximum: Fraction) -> Fraction:
    t = text.strip()
    if t.count(",") == 1 and "." not in t:      # a decimal comma (quoted in the CSV)
        t = t.replace(",", ".")
    if not _DECIMAL_RE.match(t):
        raise InputError(_("{value!r} is not an amount in euros (a decimal number such as "
                           "0.2016, point or comma)").format(value=text.strip()[:40]),
                         source=source, line=line, field=column)
    value = Fraction(t)
    if value > maximum:
        raise InputError(_("{value} is implausibly high (more than {maximum}): check the unit "
                           "(euros, all taxes included)").format(value=t, maximum=maximum),
                         source=source, line=line, field=column)
    return value


def parse_prices(text: str, *, source: str = "<text>",
                 valid_until: dt.date | None = None) -> PriceTable:
    """A :class:`PriceTable` from the text of a prices CSV.

    Raises
    ------
    InputError
        Naming ``source``, the line and the column of the first problem: a missing or unknown
        column, a bad date, option, power, period or amount, a period that is not one of the
        option's, the same option, power, period and date twice, or two subscriptions for
        the same option, power and date.
    """
    header, body = table_rows(text, source, _("more than {n:,} rows: not a prices file")
                              .format(n=MAX_ROWS))
    for c in COLUMNS:
        if c not in header:
            raise InputError(_("no column {column!r}: the header must be {columns} "
                               "(optionally {optional})").format(
                                   column=c, columns=",".join(COLUMNS),
                                   optional=", ".join(OPTIONAL_COLUMNS)),
                             source=source, line=1)
    for c in header:
        if c not in COLUMNS + OPTIONAL_COLUMNS:
            raise InputError(_("unknown column {column!r} (expected {columns}, optionally "
                               "{optional})").format(column=c[:40], columns=",".join(COLUMNS),
                                                     optional=", ".join(OPTIONAL_COLUMNS)),
                             source=source, line=1)
    if len(set(header)) != len(header):
        raise InputError(_("a column appears twice in the header"), source=source, line=1)
    col = {c: header.index(c) for c in header}
    rows: list[PriceRow] = []
    seen: dict[tuple, int] = {}
    subs: dict[tuple, tuple[Fraction, int]] = {}
    for n, cells in body:

        def cell(name: str, cells=cells) -> str:
            return cells[col[name]].strip() if name in col else ""

        start = table_date(cell("from"), source, n, "from")
        option = cell("option").lower()
        if option not in OPTIONS:
            raise InputError(_("unknown option {value!r} (expected {expected})").format(
                value=option[:40], expected=", ".join(OPTIONS)), source=source, line=n,
                field="option")
        k = cell("kva")
        try:
            kva = int(k)
        except ValueError:
            kva = -1
        if kva not in STANDARD_KVA:
            raise InputError(_("{value!r} is not a standard power in kVA (expected one of "
                               "{powers})").format(value=k[:40],
                                                   powers=", ".join(map(str, STANDARD_KVA))),
                             source=source, line=n, field="kva")
        period = cell("period").lower()
        if period not in PERIODS[option]:
            raise InputError(_("period {period!r} is not one of option {option!r} "
                               "(expected {expected})").format(
                                   period=period[:40], option=option,
                                   expected=", ".join(PERIODS[option])),
                             source=source, line=n, field="period")
        amounts = [cell(c) for c in ("subscription_eur_per_month", "eur_per_kwh",
                                     "subscription_eur_per_year")]
        key = (option, kva, period, start)
        if key in seen:
            raise InputError(_("{option} {kva} kVA {period} from {start} is already "
                               "priced on line {line}").format(
                                   option=option, kva=kva, period=period, start=start,
                                   line=seen[key]), source=source, line=n)
        seen[key] = n
        if not any(amounts):                   # a gap row: unknown from this date
            rows.append(PriceRow(start, option, kva, period, None, None, cell("source"), n))
            continue
        monthly = _fraction(cell("subscription_eur_per_month"), source, n,
                            "subscription_eur_per_month", MAX_EUR_PER_MONTH)
        yearly = monthly * 12
        y = cell("subscription_eur_per_year")
        if y:
            yearly = _fraction(y, source, n, "subscription_eur_per_year",
                               MAX_EUR_PER_MONTH * 12)
            if abs(yearly / 12 - monthly) > Fraction(1, 200):
                raise InputError(_("the monthly subscription {monthly} is not the yearly "
                                   "one {yearly} / 12 ({exact})").format(
                                       monthly=f"{float(monthly):.2f}",
                                       yearly=f"{float(yearly):.2f}",
                                       exact=f"{float(yearly / 12):.4f}"),
                                 source=source, line=n,
                                 field="subscription_eur_per_month")
        price = _fraction(cell("eur_per_kwh"), source, n, "eur_per_kwh", MAX_EUR_PER_KWH)
        skey = (option, kva, start)
        if skey in subs and subs[skey][0] != yearly:
            raise InputError(_("{option} {kva} kVA from {start}: subscription differs "
                               "from line {line}'s").format(
                                   option=option, kva=kva, start=start,
                                   line=subs[skey][1]), source=source, line=n,
                             field="subscription_eur_per_month")
        subs.setdefault(skey, (yearly, n))
        rows.append(PriceRow(start, option, kva, period, yearly, price,
                             cell("source"), n))
    if not rows:
        raise InputError(_("no price rows"), source=source)
    rows.sort(key=lambda r: (OPTIONS.index(r.option), r.kva, PERIODS[r.option].index(r.period),
                             r.start))
    return PriceTable(tuple(rows), source, valid_until)


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The prices of ``path`` (``--prices FILE``), or the bundled table when None.

    Read in bounded memory (:mod:`pvshare.files.csvio`'s line reader: plain or gzip, UTF-8).
    """
    if path is None:
        return bundled_prices()
    return parse_prices(table_text(path), source=str(Path(path)))


def table_rows(text: str, source: str, too_long: str, max_rows: int = MAX_ROWS):
    """The header (stripped cells) and the data rows ``(line, cells)`` of a small CSV table
    (prices, Tempo colours): blank lines skipped, every row as wide as the header.

    Raises :class:`InputError` naming ``source`` (and the line): more than
    ``max_rows`` rows (``too_long``, the message), an empty file, a row of another
    width, a broken CSV.
    """
    lines = text.splitlines()
    if len(lines) > max_rows + 1:
        raise InputError(too_long, source=source)
    reader = csv.reader(lines, skipinitialspace=True)
    try:
        header = [c.strip() for c in next(reader)]
    except StopIteration:
        raise InputError(_("the file is empty"), source=source) from None
    except csv.Error as exc:
        raise InputError(_("not a valid CSV table ({error})").format(error=exc),
                         source=source, line=1) from None

    def body():
        try:
            for n, cells in enumerate(reader, start=2):
                if not cells or all(not c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    raise InputError(_("{cells} cells where the header has {columns} columns")
                                     .format(cells=len(cells), columns=len(header)),
                                     source=source, line=n)
                yield n, cells
        except csv.Error as exc:
            raise InputError(_("not a valid CSV table ({error})").format(error=exc),
                             source=source) from None

    return header, body()


def table_date(text: str, source: str, line: int, column: str) -> dt.date:
    """A ``YYYY-MM-DD`` cell of a table; :class:`InputError` naming the line and column."""
    try:
        if not _DATE_RE.match(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(_("{value!r} is not a date YYYY-MM-DD").format(value=text[:40]),
                         source=source, line=line, field=column) from None


def table_text(path: str | Path) -> str:
    """The text of a user's table file (``--prices``, ``--tempo``): plain or gzip, UTF-8,
    read in bounded memory (:mod:`pvshare.files.csvio`'s line reader).

    Raises :class:`InputError` when there is no such file.
    """
    from pvshare.files.csvio import _read_lines
    p = Path(path)
    if not p.exists():
        raise InputError(_("no such file"), source=str(p))
    return "".join(_read_lines(p, str(p)))


def bundled_prices() -> PriceTable:
    """The bundled TRV table (pvshare/data/tariffs/trv_residential.csv), with its coverage
    end :data:`BUNDLED_VALID_UNTIL`.
    """
    text = resources.files("pvshare.data").joinpath("tariffs", BUNDLED_NAME).read_text("utf-8")
    return parse_prices(text, source=f"bundled:{BUNDLED_NAME}", valid_until=BUNDLED_VALID_UNTIL)
