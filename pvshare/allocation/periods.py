"""Participants over time: each one takes part from ``from`` (included) to ``to`` (excluded).

A bound is a local calendar date (``2025-09-01``: local midnight starting that day, in the
site's time zone), an ISO 8601 time with a UTC offset (``2025-09-01T12:00:00+02:00``), or
empty (open). A participant takes part in a step when the step **starts** inside its period:
a period that begins in the middle of a step begins with the next step.

Outside its period a participant is absent: its consumption counts exactly as zero (never as
missing, so it never makes a step incomplete) and it receives nothing. A flat's new tenant is
a new participant with the same PRM and a period that does not overlap the former one.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import numpy as np

from pvshare.i18n import _

#: Open bounds, as Unix seconds.
OPEN_START = np.iinfo(np.int64).min
OPEN_END = np.iinfo(np.int64).max

_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_OFFSET_RE = re.compile(r"(?:Z|[+-][0-9]{2}:?[0-9]{2})\Z")


def parse_bound(value, tz: str = "Europe/Paris") -> int | None:
    """Unix seconds of a period bound, or None when empty.

    Parameters
    ----------
    value : str, datetime.date, datetime.datetime or None
        A local date, an aware time (or ISO text with an offset), or empty.
    tz : str
        The site's time zone, for dates.

    Raises
    ------
    ValueError
        With a message saying what is accepted.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(_("time {t} has no UTC offset (write e.g. "
                               "2025-09-01T12:00:00+02:00, or a date 2025-09-01)").format(
                                   t=value.isoformat()))
        return int(value.timestamp())
    if isinstance(value, dt.date):
        midnight = dt.datetime.combine(value, dt.time(0), tzinfo=ZoneInfo(tz))
        return int(midnight.timestamp())
    text = str(value).strip()
    if not text:
        return None
    if _DATE_RE.match(text):
        try:
            return parse_bound(dt.date.fromisoformat(text), tz)
        except ValueError:
            raise ValueError(_("not a date: {value!r}").format(value=text)) from None
    if not _OFFSET_RE.search(text):
        raise ValueError(_("{value!r} is neither a date (2025-09-01) nor a time with a UTC "
                           "offset (2025-09-01T12:00:00+02:00)").format(value=text))
    try:
        return parse_bound(dt.datetime.fromisoformat(text.replace("Z", "+00:00")), tz)
    except ValueError:
        raise ValueError(_("not an ISO 8601 time: {value!r}").format(value=text)) from None


def bounds_array(starts, ends) -> tuple[np.ndarray, np.ndarray]:
    """(N,) int64 start and end seconds, open bounds (None) replaced by the extremes."""
    s = np.array([OPEN_START if v is None else v for v in starts], dtype=np.int64)
    e = np.array([OPEN_END if v is None else v for v in ends], dtype=np.int64)
    return s, e


def active_mask(times, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which participant takes part in which step: ``start <= step start < end``.

    Parameters
    ----------
    times : array of datetime64, shape (T,)
        UTC step starts.
    starts, ends : ndarray of int64, shape (N,)
        Period bounds, Unix seconds (see :func:`bounds_array`).

    Returns
    -------
    ndarray of bool, shape (T, N)
    """
    secs = np.asarray(times, dtype="datetime64[s]").astype(np.int64)[:, None]
    return (secs >= np.asarray(starts)[None, :]) & (secs < np.asarray(ends)[None, :])


def absent_as_zero(consumption_wh: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Consumption with every absent cell set to exactly zero (missing only while present)."""
    return np.where(active, consumption_wh, 0.0)


def overlapping_pairs(prms: list[str], starts: np.ndarray, ends: np.ndarray
                      ) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of participants with the same PRM and overlapping periods
    (each period non-empty: ``start < end`` is checked before),
    ordered by ``j`` then ``i``: at least one pair for every participant whose period overlaps
    that of an earlier-starting one with its PRM (not every pair: a PRM listed k times over
    one period gives k - 1 pairs, not k(k - 1)/2).

    Linear in the number of participants (then k log k per PRM listed k times): the PRMs are
    grouped in a dict and each group swept in order of start (issue 21: 18,000 participants).
    """
    groups: dict[str, list[int]] = {}
    for k, prm in enumerate(prms):
        groups.setdefault(prm, []).append(k)
    pairs = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda k: (int(starts[k]), k))
        last = members[0]                        # the one that ends latest so far
        for k in members[1:]:
            if int(starts[k]) < int(ends[last]) and int(starts[last]) < int(ends[k]):
                pairs.append((min(last, k), max(last, k)))
            if int(ends[k]) > int(ends[last]):
                last = k
    return sorted(pairs, key=lambda p: (p[1], p[0]))


def describe(start: int, end: int, tz: str = "Europe/Paris") -> str:
    """A period in words for messages: ``from 2025-09-01 00:00 to 2026-07-01 00:00`` (local)."""
    def fmt(s: int) -> str:
        return dt.datetime.fromtimestamp(s, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    a = _("the start") if start == OPEN_START else fmt(start)
    b = _("no end") if end == OPEN_END else fmt(end)
    return _("from {start} to {end}").format(start=a, end=b)


def allocate_by_periods(production, consumption, key: str, coefficients: np.ndarray,
                        ranks=None):
    """Allocate with per-step coefficients of a ``static``/``reallocated``/``priority`` key
    that change on some dates: one :func:`pvshare.allocation.allocate` per run of identical
    rows (a handful of periods, not a loop over steps).

    Parameters
    ----------
    production : ndarray, shape (T,)
    consumption : ndarray, shape (T, N)
    coefficients : ndarray, shape (T, N)
        Each step's coefficients (constant over each period).
    """
    from pvshare.allocation import AllocationResult, allocate
    k = np.asarray(coefficients, dtype=float)
    production = np.asarray(production, dtype=float)
    consumption = np.asarray(consumption, dtype=float)
    t_count = len(production)
    cuts = np.flatnonzero((np.diff(k, axis=0) != 0).any(axis=1)) + 1
    edges = np.r_[0, cuts, t_count]
    parts = []
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= a:
            continue
        w = k[a]
        if key == "priority" and ranks is not None:
            # Weights within a rank: a rank whose weights are all zero in this period
            # (everyone of it absent) is served with equal weights.
            r = np.asarray(ranks)
            w = w.copy()
            for rank in np.unique(r):
                if w[r == rank].sum() <= 0:
                    w[r == rank] = 1.0
        parts.append(allocate(production[a:b], consumption[a:b], key, coefficients=w,
                              ranks=ranks).allocated)
    allocated = np.vstack(parts) if parts else np.zeros_like(consumption)
    return AllocationResult(allocated=allocated, production=production,
                            consumption=consumption, key=key)
