"""Step-series CSV files: read with checks that name the file, line and column of any
problem; write atomically (a temporary file renamed at the end, so a failed run leaves no
partial output behind).

Formats (DESIGN.md §2, issue 2):

* production: ``time,production_wh``
* consumption: ``time,<participant>,<participant>,…`` in Wh per step; an empty cell means
  the value is missing
* coefficients: ``participant,coefficient[,rank]``; for the ``custom`` key,
  ``time,<participant>,…`` with coefficients from 0 to 1
* allocation output: ``time,participant,consumption_wh,allocated_wh,complement_wh``

``time`` is ISO 8601 with a UTC offset and labels the step **start**.

Read with the standard library's :mod:`csv` and numpy (no pandas: ``pvshare allocate`` runs
on the base install).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.errors import InputError
from pvshare.timegrid import format_utc, step_seconds

_OFFSET_RE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
#: Decimal places written for energies (Wh): a milliwatt-hour.
WH_DECIMALS = 3


@dataclass(frozen=True)
class StepSeries:
    """Values per step read from a CSV file."""

    times: np.ndarray            # (T,) datetime64[s], UTC step starts
    columns: list[str]           # value column names
    values: np.ndarray           # (T, K) float; NaN = empty cell
    source: str


class _Table:
    """The cells of a CSV file as text: ``columns`` (header, stripped) and one row per
    data line (blank lines skipped, as spreadsheets write them).
    """

    def __init__(self, columns: list[str], rows: list[list[str]]):
        self.columns = columns
        self.cells = np.array(rows, dtype=object).reshape(len(rows), len(columns))

    def __len__(self) -> int:
        return len(self.cells)

    def col(self, name: str) -> np.ndarray:
        """One column's cells, stripped of surrounding spaces (object array of str)."""
        j = self.columns.index(name)
        return np.array([c.strip() for c in self.cells[:, j]], dtype=object)


def _read_raw(path: Path) -> _Table:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", source=str(path))
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, skipinitialspace=True, strict=True)
            header = None
            rows: list[list[str]] = []
            for record in reader:
                if not record or record == [""]:
                    continue
                if header is None:
                    header = [c.strip() for c in record]
                    continue
                if len(record) > len(header):
                    raise InputError(f"not a valid CSV table (expected {len(header)} fields, "
                                     f"saw {len(record)})", source=str(path),
                                     line=reader.line_num)
                rows.append(record + [""] * (len(header) - len(record)))
    except csv.Error as exc:
        raise InputError(f"not a valid CSV table ({exc})", source=str(path),
                         line=reader.line_num) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", source=str(path)) from None
    if header is None:
        raise InputError("the file is empty", source=str(path))
    return _Table(header, rows)


def _iso_seconds(text: str) -> float:
    """UTC Unix seconds of an ISO 8601 time with an offset; NaN if it is not one."""
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return np.nan
    return t.timestamp() if t.tzinfo is not None else np.nan


def _parse_times(text: np.ndarray, source: str, step: str, column: str = "time") -> np.ndarray:
    step_s = step_seconds(step)
    no_offset = np.array([_OFFSET_RE.search(t) is None for t in text], dtype=bool)
    if no_offset.any():
        i = int(np.flatnonzero(no_offset)[0])
        raise InputError(f"time {text[i]!r} has no UTC offset (write e.g. "
                         f"2025-06-01T12:00:00+00:00)", source=source, line=i + 2, field=column)
    parsed = np.array([_iso_seconds(t) for t in text], dtype=np.float64)
    bad = np.isnan(parsed)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"not an ISO 8601 time: {text[i]!r}", source=source,
                         line=i + 2, field=column)
    secs = np.floor(parsed).astype(np.int64)
    misaligned = (secs % step_s != 0) | (parsed != secs)
    if misaligned.any():
        i = int(np.flatnonzero(misaligned)[0])
        raise InputError(f"time {text[i]!r} is not the start of a {step} step "
                         f"(steps start at multiples of {step_s // 60} minutes, UTC)",
                         source=source, line=i + 2, field=column)
    if secs.size > 1:
        d = np.diff(secs)
        if (d == 0).any():
            i = int(np.flatnonzero(d == 0)[0]) + 1
            raise InputError(f"duplicate time {text[i]!r} (also on line {i + 1})",
                             source=source, line=i + 2, field=column)
        if (d < 0).any():
            i = int(np.flatnonzero(d < 0)[0]) + 1
            raise InputError(f"time {text[i]!r} is earlier than the line before: "
                             "rows must be in increasing time order", source=source,
                             line=i + 2, field=column)
    return secs.astype("datetime64[s]")


def _number(text: str) -> float:
    if "_" in text:                     # float() takes 1_000; a CSV number does not
        return np.nan
    try:
        return float(text)
    except ValueError:
        return np.nan


def _parse_numbers(frame: _Table, columns: list[str], source: str, *,
                   allow_empty: bool, low: float | None = 0.0,
                   high: float | None = None) -> np.ndarray:
    """Conversion of text cells to floats, with the first bad cell reported."""
    if not columns:
        return np.zeros((len(frame), 0))
    text = np.stack([frame.col(c) for c in columns], axis=1).reshape(len(frame), len(columns))
    values = np.array([[_number(t) for t in row] for row in text],
                      dtype=float).reshape(text.shape)
    empty = text == ""
    problems = []
    bad_text = np.isnan(values) & ~empty
    if bad_text.any():
        problems.append((bad_text, lambda r, c: f"not a number: {text[r, c]!r}"))
    if not allow_empty and empty.any():
        problems.append((empty, lambda r, c: "empty cell: a value is required here"))
    inf = np.isinf(values)
    if inf.any():
        problems.append((inf, lambda r, c: f"not a finite number: {text[r, c]!r}"))
    with np.errstate(invalid="ignore"):
        if low is not None and (values < low).any():
            problems.append((values < low, lambda r, c: f"must be >= {low:g}, got {text[r, c]}"))
        if high is not None and (values > high).any():
            problems.append((values > high, lambda r, c: f"must be <= {high:g}, got {text[r, c]}"))
    if problems:
        # Report the problem that comes first in the file.
        firsts = [(tuple(np.argwhere(mask)[0]), msg) for mask, msg in problems]
        (r, c), msg = min(firsts, key=lambda x: x[0])
        raise InputError(msg(r, c), source=source, line=int(r) + 2, field=columns[c])
    return values


def _require_columns(frame: _Table, source: str, first: str, expected: str) -> None:
    if len(frame.columns) == 0 or frame.columns[0] != first:
        got = ",".join(frame.columns[:3]) if len(frame.columns) else "nothing"
        raise InputError(f"the header must start with '{first}' ({expected}), got '{got}'",
                         source=source, line=1)
    dup = [c for i, c in enumerate(frame.columns) if c in frame.columns[:i]]
    if dup:
        raise InputError(f"column {dup[0]!r} appears twice in the header", source=source, line=1)
    if len(frame) == 0:
        raise InputError("no data rows after the header", source=source, line=2)


def read_production(path: str | os.PathLike, step: str = "PT30M") -> StepSeries:
    """Read ``time,production_wh`` (Wh per step, ≥ 0, no empty cell)."""
    source = str(path)
    frame = _read_raw(Path(path))
    _require_columns(frame, source, "time", "time,production_wh")
    if list(frame.columns) != ["time", "production_wh"]:
        raise InputError(f"the header must be 'time,production_wh', got "
                         f"'{','.join(frame.columns)}'", source=source, line=1)
    times = _parse_times(frame.col("time"), source, step)
    values = _parse_numbers(frame, ["production_wh"], source, allow_empty=False)
    return StepSeries(times, ["production_wh"], values, source)


def read_consumption(path: str | os.PathLike, step: str = "PT30M") -> StepSeries:
    """Read ``time,<participant>,…`` (Wh per step, ≥ 0; an empty cell = missing)."""
    source = str(path)
    frame = _read_raw(Path(path))
    _require_columns(frame, source, "time", "time,<participant>,<participant>,…")
    participants = list(frame.columns[1:])
    if not participants:
        raise InputError("no participant column after 'time'", source=source, line=1)
    times = _parse_times(frame.col("time"), source, step)
    values = _parse_numbers(frame, participants, source, allow_empty=True)
    return StepSeries(times, participants, values, source)


def check_same_steps(a: StepSeries, b: StepSeries) -> None:
    """Both files must cover exactly the same steps."""
    if a.times.shape == b.times.shape and (a.times == b.times).all():
        return
    only_a = np.setdiff1d(a.times, b.times)
    only_b = np.setdiff1d(b.times, a.times)
    if only_a.size:
        t = format_utc(only_a[:1])[0]
        line = int(np.searchsorted(a.times, only_a[0])) + 2
        raise InputError(f"step {t} is not in {b.source} (both files must cover the same steps)",
                         source=a.source, line=line, field="time")
    t = format_utc(only_b[:1])[0]
    line = int(np.searchsorted(b.times, only_b[0])) + 2
    raise InputError(f"step {t} is not in {a.source} (both files must cover the same steps)",
                     source=b.source, line=line, field="time")


@dataclass(frozen=True)
class Coefficients:
    coefficients: np.ndarray | None     # (N,) or (T, N)
    ranks: np.ndarray | None            # (N,) int


def read_coefficients(path: str | os.PathLike, participants: list[str], key: str,
                      times: np.ndarray | None = None, step: str = "PT30M") -> Coefficients:
    """Read the key's coefficients for the given participants.

    ``participant,coefficient[,rank]`` for ``static``, ``reallocated`` and ``priority``
    (every participant of the consumption file must be listed, once); for ``custom``,
    ``time,<participant>,…`` covering the same steps as the consumption.
    """
    source = str(path)
    frame = _read_raw(Path(path))
    if key == "custom":
        _require_columns(frame, source, "time", "time,<participant>,… coefficients 0..1")
        cols = list(frame.columns[1:])
        unknown = [c for c in cols if c not in participants]
        if unknown:
            raise InputError(f"participant {unknown[0]!r} is not in the consumption file",
                             source=source, line=1, field=unknown[0])
        absent = [p for p in participants if p not in cols]
        if absent:
            raise InputError(f"no column for participant {absent[0]!r} of the consumption file",
                             source=source, line=1)
        series = StepSeries(_parse_times(frame.col("time"), source, step), cols,
                            _parse_numbers(frame, cols, source, allow_empty=False, high=1.0), source)
        if times is not None:
            check_same_steps(series, StepSeries(times, [], np.zeros((len(times), 0)), "the consumption file"))
        k = series.values[:, [cols.index(p) for p in participants]]
        over = k.sum(axis=1) > 1 + 1e-9
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise InputError(f"coefficients of this step sum to {k[i].sum():.6g}, must be at most 1",
                             source=source, line=i + 2)
        return Coefficients(k, None)

    _require_columns(frame, source, "participant", "participant,coefficient[,rank]")
    allowed = ["participant", "coefficient", "rank"]
    extra = [c for c in frame.columns if c not in allowed]
    if extra or "coefficient" not in frame.columns:
        raise InputError(f"the header must be 'participant,coefficient[,rank]', got "
                         f"'{','.join(frame.columns)}'", source=source, line=1)
    names = frame.col("participant").tolist()
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name not in participants:
            raise InputError(f"participant {name!r} is not in the consumption file",
                             source=source, line=i + 2, field="participant")
        if name in seen:
            raise InputError(f"participant {name!r} is listed twice (also on line {seen[name]})",
                             source=source, line=i + 2, field="participant")
        seen[name] = i + 2
    absent = [p for p in participants if p not in seen]
    if absent:
        raise InputError(f"participant {absent[0]!r} of the consumption file has no coefficient",
                         source=source)
    values = _parse_numbers(frame, ["coefficient"], source, allow_empty=False, high=1.0)[:, 0]
    order = [names.index(p) for p in participants]
    k = values[order]
    ranks = None
    if "rank" in frame.columns:
        r = _parse_numbers(frame, ["rank"], source, allow_empty=False, low=1.0)[:, 0]
        frac = r != np.round(r)
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise InputError(f"rank must be a whole number, got {frame.col('rank')[i]!r}",
                             source=source, line=i + 2, field="rank")
        ranks = r[order].astype(int)
    if key == "priority":
        if ranks is None:
            raise InputError("the 'priority' key needs a 'rank' column "
                             "(participant,coefficient,rank)", source=source, line=1)
    elif k.sum() > 1 + 1e-9:
        raise InputError(f"coefficients sum to {k.sum():.6g}, must be at most 1", source=source)
    return Coefficients(k, ranks)


def read_prm_map(path: str | os.PathLike, participants: list[str]) -> list[str]:
    """Read ``participant,prm`` and return the PRMs in the order of ``participants``."""
    source = str(path)
    frame = _read_raw(Path(path))
    if list(frame.columns) != ["participant", "prm"]:
        raise InputError(f"the header must be 'participant,prm', got '{','.join(frame.columns)}'",
                         source=source, line=1)
    prms: dict[str, str] = {}
    for i, (name, prm) in enumerate(zip(frame.col("participant"), frame.col("prm"))):
        if not re.fullmatch(r"\d{14}", prm):
            raise InputError(f"PRM must be 14 digits, got {prm!r}", source=source, line=i + 2,
                             field="prm")
        if name in prms:
            raise InputError(f"participant {name!r} is listed twice", source=source, line=i + 2,
                             field="participant")
        prms[name] = prm
    absent = [p for p in participants if p not in prms]
    if absent:
        raise InputError(f"participant {absent[0]!r} has no PRM", source=source)
    chosen = [prms[p] for p in participants]
    if len(set(chosen)) != len(chosen):
        raise InputError("two participants have the same PRM", source=source)
    return chosen


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_writes(*paths: str | os.PathLike):
    """Yield temporary paths beside each target; rename them all onto their targets only
    when the block succeeds, delete them otherwise. Nothing partial is left behind.
    """
    temps = []
    try:
        for p in paths:
            p = Path(p)
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~_umask())           # as a plain open() would create it
            temps.append(Path(tmp))
        yield temps
        for tmp, p in zip(temps, paths):
            os.replace(tmp, p)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@dataclass(frozen=True)
class AllocationTable:
    """The long allocation table (see :func:`allocation_table`)."""

    times: np.ndarray              # (T,) datetime64[s]
    participants: list[str]        # N
    consumption_wh: np.ndarray     # (T, N)
    allocated_wh: np.ndarray       # (T, N)

    def __len__(self) -> int:
        return self.consumption_wh.size


def allocation_table(times: np.ndarray, participants: list[str], consumption_wh: np.ndarray,
                     allocated_wh: np.ndarray) -> AllocationTable:
    """The long allocation table: one row per step and participant (step-major), with
    ``time,participant,consumption_wh,allocated_wh,complement_wh``; missing consumption and
    its complement are NaN (written as empty cells). No pandas needed.
    """
    return AllocationTable(np.asarray(times), list(participants),
                           np.asarray(consumption_wh, dtype=float),
                           np.asarray(allocated_wh, dtype=float))


def allocation_frame(times: np.ndarray, participants: list[str], consumption_wh: np.ndarray,
                     allocated_wh: np.ndarray):
    """:func:`allocation_table` as a pandas DataFrame (``pvshare export``: Parquet)."""
    import pandas as pd
    T, N = consumption_wh.shape
    stamps = np.asarray(format_utc(times), dtype=object)
    return pd.DataFrame({
        "time": np.repeat(stamps, N),
        "participant": np.tile(np.asarray(participants, dtype=object), T),
        "consumption_wh": consumption_wh.reshape(-1),
        "allocated_wh": allocated_wh.reshape(-1),
        "complement_wh": (consumption_wh - allocated_wh).reshape(-1),
    })


def _wh(values: np.ndarray) -> list[str]:
    return ["" if v != v else f"{v:.{WH_DECIMALS}f}" for v in values.tolist()]


def write_allocation_csv(path: str | os.PathLike, table) -> None:
    """Write :func:`allocation_table` (or :func:`allocation_frame`) output as CSV (Wh with 3
    decimals, empty = missing). Used by ``pvshare allocate`` and ``pvshare export --what
    allocation`` alike, so that the two can be compared line by line.
    """
    if hasattr(table, "to_csv"):                      # a DataFrame
        table.to_csv(path, index=False, float_format=f"%.{WH_DECIMALS}f", na_rep="")
        return
    T, N = table.consumption_wh.shape
    stamps = format_utc(table.times)
    cons = table.consumption_wh.reshape(-1)
    alloc = table.allocated_wh.reshape(-1)
    columns = [np.repeat(np.asarray(stamps, dtype=object), N).tolist(),
               np.tile(np.asarray(table.participants, dtype=object), T).tolist(),
               _wh(cons), _wh(alloc), _wh(cons - alloc)]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["time", "participant", "consumption_wh", "allocated_wh", "complement_wh"])
        w.writerows(zip(*columns))
