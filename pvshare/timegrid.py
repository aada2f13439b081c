"""The step grid: UTC steps aligned on multiples of the step length from the Unix epoch.

Steps are labelled by their **start**, in UTC. Local time (Europe/Paris) is used only at the
edges (reports, Enedis files); a local day has 46, 48 or 50 half-hour steps (92, 96 or 100
quarter-hours) depending on daylight saving time.

Times are handled as ``numpy.datetime64[s]`` arrays (UTC, no time zone attached) so that
the long-running daemon does not need pandas.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

#: Supported settlement steps (ISO 8601 durations) and their length in seconds. The law
#: follows the settlement step, which moved from 30 to 15 minutes in 2025.
STEPS = {"PT30M": 1800, "PT15M": 900}
DEFAULT_STEP = "PT30M"
DEFAULT_TZ = "Europe/Paris"
UTC = dt.UTC


def step_seconds(step: str = DEFAULT_STEP) -> int:
    """Length of a step in seconds, from its ISO 8601 name (``PT30M`` or ``PT15M``).

    Raises
    ------
    ValueError
        If the step is not supported.
    """
    try:
        return STEPS[step.upper()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"unsupported step {step!r}: use one of {', '.join(STEPS)}") from None


def floor_to_step(seconds, step_s: int):
    """Start of the step that contains ``seconds`` (Unix seconds, scalar or array)."""
    return seconds - np.mod(seconds, step_s)


def to_epoch_seconds(times) -> np.ndarray:
    """Unix seconds (int64) of UTC ``datetime64`` values."""
    return np.asarray(times, dtype="datetime64[s]").astype(np.int64)


def from_epoch_seconds(seconds) -> np.ndarray:
    """UTC ``datetime64[s]`` values from Unix seconds."""
    return np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")


def is_aligned(times, step: str = DEFAULT_STEP) -> np.ndarray:
    """Boolean mask: which UTC times are the start of a step."""
    return to_epoch_seconds(times) % step_seconds(step) == 0


def step_range(start, end, step: str = DEFAULT_STEP) -> np.ndarray:
    """Step starts ``start <= t < end`` (UTC ``datetime64[s]``); ``start`` is floored."""
    s = step_seconds(step)
    a = int(floor_to_step(int(to_epoch_seconds(start)), s))
    b = int(to_epoch_seconds(end))
    return from_epoch_seconds(np.arange(a, b, s, dtype=np.int64))


def local_midnight_utc(day: dt.date, tz: str = DEFAULT_TZ) -> np.datetime64:
    """The UTC instant of local midnight starting ``day`` (midnight is never ambiguous in
    France: the clocks change at 02:00/03:00).
    """
    local = dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
    return np.datetime64(local.astimezone(UTC).replace(tzinfo=None), "s")


def local_day_steps(day: dt.date, step: str = DEFAULT_STEP, tz: str = DEFAULT_TZ) -> np.ndarray:
    """UTC step starts of one local day: 46, 48 or 50 half-hours (92, 96, 100 quarters)."""
    return step_range(local_midnight_utc(day, tz),
                      local_midnight_utc(day + dt.timedelta(days=1), tz), step)


def local_month_bounds(year: int, month: int, tz: str = DEFAULT_TZ) -> tuple[np.datetime64, np.datetime64]:
    """UTC start (inclusive) and end (exclusive) of a local calendar month."""
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return local_midnight_utc(first, tz), local_midnight_utc(nxt, tz)


def local_dates(times, tz: str = DEFAULT_TZ) -> np.ndarray:
    """Local calendar date (``datetime64[D]``) of each UTC time, vectorised.

    Uses the UTC offsets of the zone's transitions in the covered range, so it costs one
    ``searchsorted`` whatever the number of times.
    """
    secs = to_epoch_seconds(times)
    return (secs + utc_offsets(secs, tz)).astype("datetime64[s]").astype("datetime64[D]")


def utc_offsets(seconds, tz: str = DEFAULT_TZ) -> np.ndarray:
    """UTC offset in seconds of ``tz`` at each Unix time (vectorised over the array)."""
    secs = np.asarray(seconds, dtype=np.int64)
    if secs.size == 0:
        return np.zeros(0, dtype=np.int64)
    zone = ZoneInfo(tz)
    lo, hi = int(secs.min()), int(secs.max())
    # Sample every 6 hours, then locate offset changes: DST changes are at least weeks apart.
    grid = np.arange(lo - 86400, hi + 2 * 86400, 6 * 3600, dtype=np.int64)
    offs = np.array([_offset(zone, int(g)) for g in grid], dtype=np.int64)
    change = np.flatnonzero(np.diff(offs)) + 1
    bounds = [lo - 86400]
    values = [offs[0]]
    for c in change:
        # Refine the transition instant within the 6-hour window by bisection on seconds.
        a, b = int(grid[c - 1]), int(grid[c])
        while b - a > 1:
            m = (a + b) // 2
            if _offset(zone, m) == offs[c - 1]:
                a = m
            else:
                b = m
        bounds.append(b)
        values.append(offs[c])
    idx = np.searchsorted(np.asarray(bounds), secs, side="right") - 1
    return np.asarray(values, dtype=np.int64)[idx]


def _offset(zone: ZoneInfo, second: int) -> int:
    offset = dt.datetime.fromtimestamp(second, UTC).astimezone(zone).utcoffset()
    assert offset is not None  # an aware datetime always has one
    return int(offset.total_seconds())


def format_utc(times) -> list[str]:
    """ISO 8601 strings with an explicit ``+00:00`` offset."""
    return [f"{t}+00:00" for t in np.asarray(times, dtype="datetime64[s]").astype(str)]


def format_local(times, tz: str = DEFAULT_TZ) -> list[str]:
    """ISO 8601 local strings with their UTC offset (unambiguous across DST changes)."""
    secs = to_epoch_seconds(times)
    offs = utc_offsets(secs, tz)
    local = (secs + offs).astype("datetime64[s]").astype(str)
    return [f"{t}{'+' if o >= 0 else '-'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}"
            for t, o in zip(local, offs.tolist())]
