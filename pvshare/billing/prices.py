"""The PMO's price model: which price applies to which step, and peak or off-peak.

Pure functions on arrays; the config's ``[[prices]]`` entries become :class:`Price` values.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from pvshare.i18n import _
from pvshare.timegrid import to_epoch_seconds, utc_offsets

_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", re.ASCII)


def parse_hour_ranges(ranges: list[str]) -> list[tuple[int, int]]:
    """``["22:00-06:00", "12:30-14:00"]`` → ``[(79200, 21600), …]`` seconds of the local day.

    A range may wrap midnight (start > end). Raises ValueError naming the bad range.
    """
    out = []
    for text in ranges:
        m = _RANGE_RE.match(str(text))
        if not m:
            raise ValueError(_("hour range must look like 22:00-06:00, got {value!r}").format(
                value=text))
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59 or (h1 == 24 and m1) or (h2 == 24 and m2):
            raise ValueError(_("not an hour of the day in {value!r}").format(value=text))
        a, b = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if a == b:
            raise ValueError(_("empty hour range {value!r}").format(value=text))
        out.append((a, b))
    return out


@dataclass(frozen=True)
class Price:
    """Prices from ``start`` (a local date, included) until the next price's start.

    Amounts in euros; energy, excise and fee before tax; ``supplier_eur_per_kwh`` all taxes
    included. Flat when ``offpeak_hours`` is empty (``peak`` = ``offpeak`` = the flat price).
    """

    start: dt.date
    peak_eur_per_kwh: float
    offpeak_eur_per_kwh: float
    offpeak_hours: tuple[tuple[int, int], ...]
    vat_percent: float
    excise_eur_per_kwh: float
    monthly_fee_eur: float
    supplier_eur_per_kwh: float

    @property
    def flat(self) -> bool:
        """True when there is one energy price."""
        return not self.offpeak_hours


def prices_from_config(entries) -> list[Price]:
    """:class:`Price` values from the config's ``prices`` entries (already validated)."""
    out = []
    for e in entries:
        start = e.from_ if isinstance(e.from_, dt.date) else dt.date.fromisoformat(str(e.from_))
        if e.energy_eur_per_kwh is not None:
            peak = off = e.energy_eur_per_kwh
            hours: tuple = ()
        else:
            peak, off = e.peak_eur_per_kwh, e.offpeak_eur_per_kwh
            hours = tuple(parse_hour_ranges(e.offpeak_hours))
        out.append(Price(start, float(peak), float(off), hours, float(e.vat_percent),
                         float(e.excise_eur_per_kwh), float(e.monthly_fee_eur),
                         float(e.supplier_eur_per_kwh)))
    return out


def local_seconds(times, tz: str) -> np.ndarray:
    """Local wall-clock seconds since the epoch of UTC ``times`` (int64, shape (T,))."""
    secs = to_epoch_seconds(times)
    return secs + utc_offsets(secs, tz)


def price_index(times, prices: list[Price], tz: str = "Europe/Paris") -> np.ndarray:
    """Index of the price applying to each step (by its local date), -1 before the first."""
    days = (local_seconds(times, tz) // 86400).astype("datetime64[D]")
    starts = np.array([np.datetime64(p.start, "D") for p in prices], dtype="datetime64[D]")
    return np.searchsorted(starts, days, side="right") - 1


def offpeak_mask(times, ranges, tz: str = "Europe/Paris") -> np.ndarray:
    """Which steps start inside the off-peak hours (local time of day), shape (T,)."""
    sod = local_seconds(times, tz) % 86400
    mask = np.zeros(sod.shape, dtype=bool)
    for a, b in ranges:
        mask |= ((sod >= a) & (sod < b)) if a < b else ((sod >= a) | (sod < b))
    return mask


def month_bounds(month: str, tz: str = "Europe/Paris") -> tuple[int, int]:
    """UTC Unix seconds of the start (included) and end (excluded) of ``YYYY-MM`` local."""
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", month.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(_("month must look like 2025-06, got {value!r}").format(value=month))
    y, mo = int(m.group(1)), int(m.group(2))
    zone = ZoneInfo(tz)
    a = dt.datetime(y, mo, 1, tzinfo=zone)
    b = dt.datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=zone)
    return int(a.timestamp()), int(b.timestamp())
