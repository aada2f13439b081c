"""Reading the forecast's input files (the imperative shell): measured production, weather.

Every problem names the file, the line (header = line 1) and the column.

Production CSV (one of)::

    time,ac_power_w          # mean AC power over the interval starting at time, W
    time,production_wh       # energy of the interval starting at time, Wh

Weather CSV (an irradiance forecast, or measured irradiance for a backtest)::

    time,ghi[,temp_air,wind_speed]   # means over the interval starting at time

``time`` is ISO 8601 (``2026-06-01T06:00:00Z``, ``2026-06-01 08:00:00+02:00``); a time
without an offset is UTC. Rows must be regularly spaced (gaps allowed) and in order.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pvshare.errors import InputError
from pvshare.i18n import _

POWER_COLUMNS = ("ac_power_w", "production_wh")
WEATHER_COLUMNS = ("ghi", "temp_air", "wind_speed")


def _open(path: Path):
    if str(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _parse_time(text: str, src: str, line: int) -> int:
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(_("not an ISO 8601 time: {text!r}").format(text=text), src, line,
                         "time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp())


def _parse_value(text: str, src: str, line: int, col: str, allow_empty: bool = True) -> float:
    s = text.strip()
    if s == "" or s.lower() in ("nan", "na"):
        if allow_empty:
            return math.nan
        raise InputError(_("empty value"), src, line, col)
    try:
        v = float(s)
    except ValueError:
        raise InputError(_("not a number: {text!r}").format(text=text), src, line,
                         col) from None
    if not math.isfinite(v):
        raise InputError(_("not a finite number: {text!r}").format(text=text), src, line, col)
    return v


def read_table(path, wanted: tuple[str, ...], required: tuple[str, ...] = ()) -> tuple[
        np.ndarray, dict[str, np.ndarray]]:
    """Read ``time`` and the wanted numeric columns of a CSV file.

    Returns
    -------
    times_s : numpy.ndarray of int64
        Unix seconds of each row, strictly increasing.
    columns : dict
        Column name -> float array (NaN where empty); only the wanted columns present.

    Raises
    ------
    InputError
        Naming the file, the line and the column of the first problem.
    """
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise InputError(_("file not found"), src)
    try:
        with _open(path) as fh:
            rows = csv.reader(fh)
            try:
                header = [h.strip() for h in next(rows)]
            except StopIteration:
                raise InputError(_("empty file"), src, 1) from None
            if "time" not in header:
                raise InputError(_("no 'time' column in the header (got {header})").format(
                    header=", ".join(header)), src, 1)
            for c in required:
                if c not in header:
                    raise InputError(_("missing column '{column}' (header: {header})").format(
                        column=c, header=", ".join(header)), src, 1)
            cols = [c for c in wanted if c in header]
            if not cols:
                raise InputError(_("need one of the columns {columns} (header: {header})")
                                 .format(columns=", ".join(wanted), header=", ".join(header)),
                                 src, 1)
            ti = header.index("time")
            ci = [header.index(c) for c in cols]
            times: list[int] = []
            vals: list[list[float]] = [[] for _col in cols]
            for n, row in enumerate(rows, start=2):
                if not row or all(not x.strip() for x in row):
                    continue
                if len(row) < len(header):
                    raise InputError(_("{n} fields, the header has {header}").format(
                        n=len(row), header=len(header)), src, n)
                t = _parse_time(row[ti], src, n)
                if times and t <= times[-1]:
                    raise InputError(_("time {time!r} is not after the previous row").format(
                        time=row[ti].strip()), src, n, "time")
                times.append(t)
                for k, i in enumerate(ci):
                    vals[k].append(_parse_value(row[i], src, n, cols[k]))
    except UnicodeDecodeError as exc:
        raise InputError(_("not a UTF-8 text file ({why})").format(why=exc.reason),
                         src) from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(_("cannot read: {why}").format(why=exc), src) from None
    except csv.Error as exc:
        raise InputError(_("bad CSV: {why}").format(why=exc), src) from None
    if len(times) < 2:
        raise InputError(_("need at least 2 data rows"), src)
    return np.asarray(times, dtype=np.int64), {c: np.asarray(v) for c, v in zip(cols, vals)}


def _step_of(times_s: np.ndarray, src: str) -> int:
    d = np.diff(times_s)
    step = int(d.min())
    if step <= 0 or 86400 % step or np.any(d % step):
        bad = int(np.flatnonzero(d % step)[0]) + 3 if np.any(d % step) else 2
        raise InputError(_("rows are not on a regular grid of {step} s (a step must "
                           "divide a day, e.g. 15 or 30 min)").format(step=step), src, bad,
                         "time")
    if np.any(times_s % step):
        raise InputError(_("times are not aligned on the {minutes}-min grid").format(
            minutes=step // 60), src,
                         int(np.flatnonzero(times_s % step)[0]) + 2, "time")
    return step


def _index(times_s: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(times_s.astype("datetime64[s]")).tz_localize("UTC")


def read_production(path) -> tuple[pd.Series, int]:
    """Measured production as mean power per step.

    Returns
    -------
    power_w : pandas.Series
        Mean power per step, W, indexed by UTC step starts (gaps are NaN).
    step_s : int
        The file's step, seconds.
    """
    times, cols = read_table(path, POWER_COLUMNS)
    step = _step_of(times, str(path))
    name = "ac_power_w" if "ac_power_w" in cols else "production_wh"
    v = cols[name]
    neg = np.flatnonzero(v < 0)
    if neg.size:
        raise InputError(_("negative production {value:g}").format(value=v[neg[0]]),
                         str(path), int(neg[0]) + 2, name)
    if name == "production_wh":
        v = v * 3600.0 / step
    return pd.Series(v, index=_index(times), name="ac_power_w"), step


def read_production_wh(path, step_s: int) -> pd.Series:
    """Measured production as energy per settlement step, Wh (finer data are summed)."""
    power, step = read_production(path)
    energy = power * step / 3600.0
    if step < step_s:
        if step_s % step:
            raise InputError(_("step of {step} s does not divide the site's step").format(
                step=step), str(path))
        g = energy.groupby(energy.index.floor(pd.Timedelta(seconds=step_s)))
        full = g.count() == step_s // step
        return g.sum().where(full)
    if step > step_s:
        raise InputError(_("step of {minutes} min is coarser than the site's "
                           "{site}-min step").format(minutes=step // 60, site=step_s // 60),
                         str(path))
    return energy


def read_weather(path) -> pd.DataFrame:
    """Weather per interval: ``ghi`` (W/m2) [, ``temp_air`` (°C), ``wind_speed`` (m/s)]."""
    times, cols = read_table(path, WEATHER_COLUMNS, required=("ghi",))
    src = str(path)
    g = cols["ghi"]
    bad = np.flatnonzero((g < 0) | (g > 1500))
    if bad.size:
        raise InputError(_("ghi {value:g} W/m2 is outside 0..1500").format(value=g[bad[0]]),
                         src, int(bad[0]) + 2, "ghi")
    _step_of(times, src)
    return pd.DataFrame(cols, index=_index(times))
