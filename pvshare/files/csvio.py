"""Step-series CSV files: read with checks that name the file, line and column of any
problem. Outputs are written through :mod:`pvshare.files.atomic` (a temporary file renamed
at the end, so a failed run leaves no partial output behind).

Formats (docs/design.md §2 and §3, issue 2):

* production: ``time,production_wh``
* consumption: ``time,<participant>,<participant>,…`` in Wh per step; an empty cell means
  the value is missing
* coefficients: ``participant,coefficient[,rank]``; for the ``custom`` key,
  ``time,<participant>,…`` with coefficients from 0 to 1
* allocation output: ``time,participant,consumption_wh,allocated_wh,complement_wh``

``time`` is ISO 8601 with a UTC offset and labels the step **start**.

Read with the standard library's :mod:`csv` and numpy: no pandas, since ``pvshare allocate``
runs on the base install (pandas is only imported, lazily, by :func:`allocation_frame`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.errors import InputError
from pvshare.i18n import _
from pvshare.identifiers import participant_id, prm_problem
from pvshare.timegrid import format_utc, step_seconds

# [0-9], not \d (which takes Arabic-Indic and fullwidth digits, and int() reads them).
_OFFSET_RE = re.compile(r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$")
_SHORT_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})([T ].*)", re.DOTALL)
#: Decimal places written for energies (Wh): a milliwatt-hour.
WH_DECIMALS = 3


@dataclass(frozen=True)
class StepSeries:
    """Values per step read from a CSV file."""

    times: np.ndarray            # (T,) datetime64[s], UTC step starts
    columns: list[str]           # value column names
    values: np.ndarray           # (T, K) float; NaN = empty cell
    source: str
    notes: tuple[str, ...] = ()  # warnings for a person (e.g. a last line without line end)


#: Longest line read, bytes: a year of 48 flats is about 400 bytes a line.
MAX_LINE_BYTES = 1 << 20
#: Largest file read, bytes.
MAX_FILE_BYTES = 512 << 20
#: Most columns, and longest column name.
MAX_COLUMNS = 10_000
MAX_NAME = 64
#: Latest year accepted in a time column (the earliest is 1970).
MAX_YEAR = 2200
#: No step of a building holds more energy than this, Wh (20 MW for 30 min).
MAX_WH_PER_STEP = 1e7

def excerpt(text: str, n: int = 40) -> str:
    """At most ``n`` characters of ``text``, quoted, with the length when cut."""
    text = str(text)
    if len(text) <= n:
        return repr(text)
    return repr(text[:n]) + _("… ({n:,} characters)").format(n=len(text))


def _open_text_bytes(path: Path, source: str):
    """The file opened for reading bytes; a gzip-compressed file (``.csv.gz``, recognised by
    its first bytes) is decompressed as it is read, so its limits apply to what it unpacks to.
    """
    import gzip
    if path.is_dir():
        raise InputError(_("is a folder, not a CSV file"), source=source)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise InputError(_("file not found"), source=source) from None
    except OSError as exc:
        raise InputError(_("cannot read: {why}").format(why=exc.strerror), source=source) from None
    if fh.read(2) == b"\x1f\x8b":
        fh.seek(0)
        return gzip.GzipFile(fileobj=fh, mode="rb")
    fh.seek(0)
    return fh


def _read_lines(path: Path, source: str) -> list[str]:
    """The file's lines, each checked for length, NUL bytes and UTF-8, in bounded memory
    (a line longer than MAX_LINE_BYTES stops the reading there). Plain or gzip-compressed.
    """
    import gzip
    import zlib
    fh = _open_text_bytes(path, source)
    lines: list[str] = []
    total = 0
    with fh:
        while True:
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise InputError(_("damaged gzip file ({why})").format(why=excerpt(str(exc))),
                                 source=source, line=len(lines) + 1) from None
            if not raw:
                break
            n = len(lines) + 1
            if len(raw) > MAX_LINE_BYTES:
                if raw.count(b"\r") > 1:
                    raise _lone_cr(source)
                if b"\0" in raw:                     # /dev/zero, a binary file
                    raise InputError(_("contains NUL bytes: a binary file, not CSV text"),
                                     source=source, line=n)
                raise InputError(_("line longer than {mb} MB (starts with {start}): not a "
                                   "pvshare CSV file").format(
                                     mb=MAX_LINE_BYTES >> 20,
                                     start=excerpt(raw[:40].decode('utf-8', 'replace'))),
                                 source=source, line=n)
            total += len(raw)
            if total > MAX_FILE_BYTES:
                raise InputError(_("larger than {mb} MB").format(mb=MAX_FILE_BYTES >> 20),
                                 source=source, line=n)
            if b"\0" in raw:
                raise InputError(_("contains NUL bytes: a binary file, not CSV text"),
                                 source=source, line=n)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(_("not UTF-8 text (save the file as CSV UTF-8)"),
                                 source=source, line=n) from None
            if n == 1:
                text = text.removeprefix("\ufeff")
            lines.append(text)
    return lines


def _lone_cr(source: str) -> InputError:
    return InputError(_("its lines end with a lone CR (carriage return, as old Mac files "
                        "do): save it with ordinary line ends (LF or CRLF)"),
                      source=source, line=1)


class _Table:
    """The cells of a CSV file as text: ``columns`` (the header, stripped), one row per data
    line (blank lines skipped, short rows padded with empty cells) and ``notes`` (warnings
    for a person).
    """

    def __init__(self, columns: list[str], rows: list[list[str]], notes: list[str]):
        self.columns = columns
        self.notes = notes
        self._index = {c: k for k, c in enumerate(columns)}
        self.cells = np.empty((len(rows), len(columns)), dtype=object)
        if rows:
            self.cells[:, :] = rows

    def __len__(self) -> int:
        return len(self.cells)

    def col(self, name: str) -> np.ndarray:
        """One column's cells, stripped of surrounding spaces (object array of str)."""
        return self.block([name])[:, 0]

    def block(self, names: list[str]) -> np.ndarray:
        """The cells of these columns, stripped, as an (rows, len(names)) object array."""
        idx = [self._index[n] for n in names]
        sub = self.cells[:, idx]
        return np.array([c.strip() for c in sub.ravel().tolist()],
                        dtype=object).reshape(sub.shape)


def _read_raw(path: Path) -> _Table:
    path = Path(path)
    source = str(path)
    lines = _read_lines(path, source)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputError(_("the file is empty"), source=source)
    reader = csv.reader(lines, skipinitialspace=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        if any("\r" in ln.rstrip("\r\n") for ln in lines):
            raise _lone_cr(source) from None
        raise InputError(_("not a valid CSV table ({why})").format(
                             why=str(exc).split(' - ')[0]),
                         source=source, line=reader.line_num or None) from None
    header = [c.strip() for c in rows[0]]
    if len(header) > MAX_COLUMNS:
        raise InputError(_("{n:,} columns: at most {max:,}").format(n=len(header),
                                                                      max=MAX_COLUMNS),
                         source=source, line=1)
    for k, name in enumerate(header):
        if not name:
            raise InputError(_("a column has no name in the header"), source=source, line=1)
        if "\n" in name or "\r" in name:
            raise InputError(_("the header runs over several lines from column {name}: a "
                               "quote (\") is not closed").format(name=excerpt(name, 20)),
                             source=source, line=1)
        if len(name) > MAX_NAME:
            raise InputError(_("column name {name} is longer than {n} characters").format(
                                 name=excerpt(name), n=MAX_NAME), source=source, line=1)
        try:                                  # participants' names: one canonical form
            header[k] = participant_id(name, _("column name"))
        except ValueError as exc:
            raise InputError(str(exc), source=source, line=1) from None
    seen: dict[str, str] = {}
    for raw, name in zip(rows[0], header):
        if name in seen:
            same = "" if seen[name] == raw.strip() else \
                _(" (written with other Unicode characters that look the same)")
            raise InputError(_("column {name!r} appears twice in the header{same}").format(
                                 name=name, same=same), source=source, line=1)
        seen[name] = raw.strip()
    width = len(header)
    body = []
    for i, row in enumerate(rows[1:], start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) > width:
            raise InputError(_("{n} cells where the header has {width} columns (extra cell "
                               "{cell})").format(n=len(row), width=width,
                                                 cell=excerpt(row[width])),
                             source=source, line=i)
        if len(row) < width:
            if i == len(rows) and not lines[-1].endswith(("\n", "\r")):
                raise InputError(_("the last line has {n} of {width} cells and no line end: "
                                   "the file was cut short").format(n=len(row), width=width),
                                 source=source, line=i)
            row = row + [""] * (width - len(row))
        body.append(row)
    notes = []
    if not lines[-1].endswith(("\n", "\r")):
        notes.append(
            _("{file}, line {n}: the last line has no line end: the file may have been cut "
              "short (check its last value)").format(file=source, n=len(rows)))
    return _Table(header, body, notes)


def _iso_seconds(text: str) -> float:
    """UTC Unix seconds of an ISO 8601 time with an offset; NaN if it is not one (a week date
    such as 2025-W01-1 is not taken, nor a time without a date).
    """
    if "W" in text or "w" in text:
        return np.nan
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        short = _SHORT_DATE_RE.match(text)       # 2025-6-1T…: month or day on one digit
        if short is None:
            return np.nan
        y, m, d, rest = short.groups()
        try:
            t = dt.datetime.fromisoformat(f"{y}-{int(m):02d}-{int(d):02d}{rest}")
        except ValueError:
            return np.nan
    if t.tzinfo is None:
        return np.nan
    # Exact whole seconds since 1970 (datetime.timestamp() rounds through a float).
    delta = t - _EPOCH
    return delta.days * 86400.0 + delta.seconds + delta.microseconds / 1e6


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _parse_times(text: np.ndarray, source: str, step: str, column: str = "time") -> np.ndarray:
    """Step starts (datetime64[s]) of a column of stripped time cells, checked."""
    try:
        step_s = step_seconds(step)
    except ValueError as exc:
        raise InputError(str(exc), field="--step") from None
    cells = text.tolist()
    search = _OFFSET_RE.search
    no_offset = np.array([search(t) is None for t in cells], dtype=bool)
    if no_offset.any():
        i = int(np.flatnonzero(no_offset)[0])
        raise InputError(_("time {time} has no UTC offset (write e.g. "
                           "2025-06-01T12:00:00+00:00)").format(time=excerpt(text[i])),
                         source=source, line=i + 2, field=column)
    parsed = np.array([_iso_seconds(t) for t in cells], dtype=np.float64).reshape(len(cells))
    bad = np.isnan(parsed)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(_("not an ISO 8601 time: {value}").format(value=excerpt(text[i])),
                         source=source, line=i + 2, field=column)
    secs = np.floor(parsed).astype(np.int64)
    limit = int(np.datetime64(f"{MAX_YEAR}-01-01", "s").astype(np.int64))
    out = (secs < 0) | (secs >= limit)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise InputError(_("time {time} is outside 1970–{year}").format(
                             time=excerpt(text[i]), year=MAX_YEAR),
                         source=source, line=i + 2, field=column)
    misaligned = (secs % step_s != 0) | (parsed != secs)     # a fraction of a second too
    if misaligned.any():
        i = int(np.flatnonzero(misaligned)[0])
        raise InputError(_("time {time!r} is not the start of a {step} step (steps start "
                           "at multiples of {minutes} minutes, UTC)").format(
                             time=text[i], step=step, minutes=step_s // 60),
                         source=source, line=i + 2, field=column)
    if secs.size > 1:
        d = np.diff(secs)
        if (d == 0).any():
            i = int(np.flatnonzero(d == 0)[0]) + 1
            raise InputError(_("duplicate time {time!r} (also on line {line})").format(
                                 time=text[i], line=i + 1),
                             source=source, line=i + 2, field=column)
        if (d < 0).any():
            i = int(np.flatnonzero(d < 0)[0]) + 1
            raise InputError(_("time {time!r} is earlier than the line before: rows must "
                               "be in increasing time order").format(time=text[i]),
                             source=source, line=i + 2, field=column)
        if d.min() > step_s:
            raise InputError(_("the rows are at least {apart} minutes apart but the step is "
                               "{step} ({minutes} min): give --step to match the file").format(
                                 apart=int(d.min()) // 60, step=step, minutes=step_s // 60),
                             source=source, line=3, field=column)
    return secs.astype("datetime64[s]")


def _number(text: str) -> float:
    """A CSV number (ASCII, no ``_``: ``float()`` alone takes ``1_000`` and other digits);
    NaN when it is not one.
    """
    if "_" in text or not text.isascii():
        return np.nan
    try:
        return float(text)
    except ValueError:
        return np.nan


#: Longest cell converted by numpy at once (a number is at most about 25 characters).
_FAST_CELL = 32


def _to_floats(text: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Floats of stripped text cells (NaN where empty or not a number), vectorised: numpy
    converts the whole block at once; cell by cell only when some cell is not a number.
    """
    flat = text.ravel().tolist()
    joined = "".join(flat)
    # numpy's text array is as wide as the longest cell: only short cells go that way (a long
    # one, not a number anyway, would make it cells × its length).
    if flat and max(map(len, flat)) <= _FAST_CELL and "_" not in joined and joined.isascii():
        filled = np.where(empty, "nan", text).astype(str)
        try:
            return filled.astype(np.float64)
        except ValueError:
            pass
    return np.array([_number(t) for t in flat], dtype=np.float64).reshape(text.shape)


def _parse_numbers(frame: _Table, columns: list[str], source: str, *,
                   allow_empty: bool, low: float | None = 0.0,
                   high: float | None = None, why: str = "") -> np.ndarray:
    """Vectorised conversion of text cells to floats, with the first bad cell reported."""
    if not columns:
        return np.zeros((len(frame), 0))
    text = frame.block(columns)
    empty = text == ""
    values = _to_floats(text, empty)
    problems = []
    bad_text = np.isnan(values) & ~empty
    if bad_text.any():
        problems.append((bad_text, lambda r, c: _("not a number: {value}").format(
            value=excerpt(str(text[r, c])))))
    if not allow_empty and empty.any():
        problems.append((empty, lambda r, c: _("empty cell: a value is required here")))
    inf = np.isinf(values)
    if inf.any():
        problems.append((inf, lambda r, c: _("not a finite number: {value}").format(
            value=excerpt(text[r, c]))))
    with np.errstate(invalid="ignore"):
        if low is not None and (values < low).any():
            problems.append((values < low, lambda r, c: _("must be >= {low:g}, got {value}")
                             .format(low=low, value=text[r, c])))
        if high is not None and (values > high).any():
            # (two sentences: 10,000,000 in English, 10000000 in French)
            most = _("must be <= {high:,.0f}{why}, got {value}") if high >= 1000 else \
                _("must be <= {high:g}{why}, got {value}")
            problems.append((values > high, lambda r, c: most.format(
                high=high, why=why, value=excerpt(text[r, c]))))
    if problems:
        # Report the problem that comes first in the file.
        firsts = [(tuple(np.argwhere(mask)[0]), msg) for mask, msg in problems]
        (r, c), msg = min(firsts, key=lambda x: x[0])
        raise InputError(msg(r, c), source=source, line=int(r) + 2, field=columns[c])
    # Column-major, as the reader always gave it: the allocation's sums over participants
    # then add in the same order, so the output stays the same to the last bit.
    # (+ 0.0: a cell written -0 is zero, not a negative zero that would print as -0.000.)
    return np.asfortranarray(values + 0.0)


def _participant_column(frame: _Table, source: str) -> list[str]:
    """The ``participant`` column, each name in its canonical form (NFC, visible)."""
    names = frame.col("participant").tolist()
    for i, name in enumerate(names):
        try:
            names[i] = participant_id(name)
        except ValueError as exc:
            raise InputError(str(exc), source=source, line=i + 2, field="participant") from None
    return names


def _prm_column(frame: _Table, source: str) -> list[str]:
    """The ``prm`` column, each exactly 14 ASCII digits (plain spaces or tabs around a cell
    are CSV padding; a line break, another space, other digits are refused: they would hide
    a duplicate PRM or reach Enedis' key file).
    """
    raw = frame.cells[:, frame.columns.index("prm")].tolist()
    prms = []
    for i, cell in enumerate(raw):
        prm = cell.strip(" \t")
        problem = prm_problem(prm)
        if problem:
            raise InputError(_("PRM {problem}").format(problem=problem), source=source,
                             line=i + 2, field="prm")
        prms.append(prm)
    return prms


def _require_columns(frame: _Table, source: str, first: str, expected: str) -> None:
    if len(frame.columns) == 0 or frame.columns[0] != first:
        got = ",".join(frame.columns[:3]) if len(frame.columns) else _("nothing")
        raise InputError(_("the header must start with '{first}' ({expected}), got '{got}'")
                         .format(first=first, expected=expected, got=got),
                         source=source, line=1)
    if len(frame) == 0:
        raise InputError(_("no data rows after the header"), source=source, line=2)


def read_production(path: str | os.PathLike, step: str = "PT30M",
                    max_wh: float | None = None) -> StepSeries:
    """Read ``time,production_wh`` (Wh per step, ≥ 0, no empty cell, at most ``max_wh``:
    what the array can make in a step; default :data:`MAX_WH_PER_STEP`).
    """
    source = str(path)
    frame = _read_raw(Path(path))
    _require_columns(frame, source, "time", "time,production_wh")
    if list(frame.columns) != ["time", "production_wh"]:
        raise InputError(_("the header must be 'time,production_wh', got '{header}'").format(
                             header=','.join(frame.columns)), source=source, line=1)
    times = _parse_times(frame.col("time"), source, step)
    values = _parse_numbers(frame, ["production_wh"], source, allow_empty=False,
                            high=max_wh or MAX_WH_PER_STEP,
                            why=_(" (more than the array can make in a step)") if max_wh
                            else _(" (not a building's production)"))
    return StepSeries(times, ["production_wh"], values, source, tuple(frame.notes))


def read_consumption(path: str | os.PathLike, step: str = "PT30M",
                     max_wh: float | None = None) -> StepSeries:
    """Read ``time,<participant>,…`` (Wh per step, ≥ 0, at most ``max_wh``: what the
    subscribed power allows in a step; an empty cell = missing).
    """
    source = str(path)
    frame = _read_raw(Path(path))
    _require_columns(frame, source, "time", "time,<participant>,<participant>,…")
    participants = list(frame.columns[1:])
    if not participants:
        raise InputError(_("no participant column after 'time'"), source=source, line=1)
    times = _parse_times(frame.col("time"), source, step)
    values = _parse_numbers(frame, participants, source, allow_empty=True,
                            high=max_wh or MAX_WH_PER_STEP,
                            why=_(" (more than the subscribed power allows in a step)")
                            if max_wh else _(" (not a flat's consumption)"))
    # Each cell is plausible; their sum must be too (2,000 columns of 9,999,999 Wh would be
    # a 20 GWh step).
    total = np.nansum(values, axis=1)
    over = np.flatnonzero(total > MAX_WH_PER_STEP)
    if over.size:
        r = int(over[0])
        raise InputError(_("the participants' consumption adds up to {total:,.0f} Wh in this "
                           "step: more than an operation draws (at most {max:,.0f} Wh a step)")
                         .format(total=total[r], max=MAX_WH_PER_STEP),
                         source=source, line=r + 2)
    return StepSeries(times, participants, values, source, tuple(frame.notes))


def check_same_steps(a: StepSeries, b: StepSeries) -> None:
    """Both files must cover exactly the same steps."""
    if a.times.shape == b.times.shape and (a.times == b.times).all():
        return
    only_a = np.setdiff1d(a.times, b.times)
    only_b = np.setdiff1d(b.times, a.times)
    if only_a.size:
        t = format_utc(only_a[:1])[0]
        line = int(np.searchsorted(a.times, only_a[0])) + 2
        raise InputError(_("step {time} is not in {file} (both files must cover the same "
                           "steps)").format(time=t, file=b.source),
                         source=a.source, line=line, field="time")
    t = format_utc(only_b[:1])[0]
    line = int(np.searchsorted(b.times, only_b[0])) + 2
    raise InputError(_("step {time} is not in {file} (both files must cover the same "
                       "steps)").format(time=t, file=a.source),
                     source=b.source, line=line, field="time")


@dataclass(frozen=True)
class Coefficients:
    """A key's coefficients read from a file: ``(N,)`` or ``(T, N)`` (custom), and the
    ``(N,)`` ranks of a priority key (``None`` when the file has no rank column).
    """

    coefficients: np.ndarray | None     # (N,) or (T, N)
    ranks: np.ndarray | None            # (N,) int


def read_coefficients(path: str | os.PathLike, participants: list[str], key: str,
                      times: np.ndarray | None = None, step: str = "PT30M",
                      tz: str = "Europe/Paris") -> Coefficients:
    """Read the key's coefficients for the given participants.

    ``participant,coefficient[,rank]`` for ``static``, ``reallocated`` and ``priority``
    (every participant of the consumption file must be listed, once); for ``custom``,
    ``time,<participant>,…`` covering the same steps as the consumption.

    With ``from,to`` columns (keys that change; local dates or ISO times, ``from`` included,
    ``to`` excluded, empty = open), a participant may be listed once per period; the result
    is then per step, (T, N), 0 outside every listed period (needs ``times``).
    """
    source = str(path)
    frame = _read_raw(Path(path))
    if key == "custom":
        _require_columns(frame, source, "time", _("time,<participant>,… coefficients 0..1"))
        cols = list(frame.columns[1:])
        known, given = set(participants), set(cols)
        unknown = [c for c in cols if c not in known]
        if unknown:
            raise InputError(_("participant {name!r} is not in the consumption file").format(
                                 name=unknown[0]), source=source, line=1, field=unknown[0])
        absent = [p for p in participants if p not in given]
        if absent:
            raise InputError(_("no column for participant {name!r} of the consumption file")
                             .format(name=absent[0]), source=source, line=1)
        series = StepSeries(_parse_times(frame.col("time"), source, step), cols,
                            _parse_numbers(frame, cols, source, allow_empty=False, high=1.0), source)
        if times is not None:
            check_same_steps(series, StepSeries(times, [], np.zeros((len(times), 0)),
                                                _("the consumption file")))
        where = {c: k for k, c in enumerate(cols)}
        k = series.values[:, [where[p] for p in participants]]
        over = k.sum(axis=1) > 1 + 1e-9
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise InputError(_("coefficients of this step sum to {total:.6g}, must be at most 1")
                             .format(total=k[i].sum()), source=source, line=i + 2)
        return Coefficients(k, None)

    _require_columns(frame, source, "participant", "participant,coefficient[,rank]")
    allowed = ["participant", "coefficient", "rank", "from", "to"]
    extra = [c for c in frame.columns if c not in allowed]
    if extra or "coefficient" not in frame.columns:
        raise InputError(_("the header must be 'participant,coefficient[,rank][,from,to]', "
                           "got '{header}'").format(header=','.join(frame.columns)),
                         source=source, line=1)
    if "from" in frame.columns or "to" in frame.columns:
        return _read_dated_coefficients(frame, source, participants, key, times, tz)
    names = _participant_column(frame, source)
    known = set(participants)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name not in known:
            raise InputError(_("participant {name!r} is not in the consumption file").format(
                                 name=name), source=source, line=i + 2, field="participant")
        if name in seen:
            raise InputError(_("participant {name!r} is listed twice (also on line {line})")
                             .format(name=name, line=seen[name]),
                             source=source, line=i + 2, field="participant")
        seen[name] = i + 2
    absent = [p for p in participants if p not in seen]
    if absent:
        raise InputError(_("participant {name!r} of the consumption file has no coefficient")
                         .format(name=absent[0]), source=source)
    values = _parse_numbers(frame, ["coefficient"], source, allow_empty=False, high=1.0)[:, 0]
    order = [seen[p] - 2 for p in participants]
    k = values[order]
    ranks = None
    if "rank" in frame.columns:
        r = _parse_numbers(frame, ["rank"], source, allow_empty=False, low=1.0,
                           high=1e6)[:, 0]
        frac = r != np.round(r)
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise InputError(_("rank must be a whole number, got {value!r}").format(
                                 value=frame.cells[i, frame.columns.index('rank')]),
                             source=source, line=i + 2, field="rank")
        ranks = r[order].astype(int)
    if key == "priority":
        if ranks is None:
            raise InputError(_("the 'priority' key needs a 'rank' column "
                               "(participant,coefficient,rank)"), source=source, line=1)
    elif k.sum() > 1 + 1e-9:
        raise InputError(_("coefficients sum to {total:.6g}, must be at most 1").format(
                             total=k.sum()), source=source)
    return Coefficients(k, ranks)


def read_prm_map(path: str | os.PathLike, participants: list[str]) -> list[str]:
    """Read ``participant,prm`` and return the PRMs in the order of ``participants``."""
    source = str(path)
    frame = _read_raw(Path(path))
    if list(frame.columns) != ["participant", "prm"]:
        raise InputError(_("the header must be 'participant,prm', got '{header}'").format(
                             header=','.join(frame.columns)), source=source, line=1)
    prms: dict[str, str] = {}
    line_of: dict[str, int] = {}
    for i, (name, prm) in enumerate(zip(_participant_column(frame, source),
                                        _prm_column(frame, source))):
        if name in prms:
            raise InputError(_("participant {name!r} is listed twice (also on line {line})")
                             .format(name=name, line=line_of[name]), source=source,
                             line=i + 2, field="participant")
        prms[name] = prm
        line_of[name] = i + 2
    absent = [p for p in participants if p not in prms]
    if absent:
        raise InputError(_("participant {name!r} has no PRM").format(name=absent[0]),
                         source=source)
    owner: dict[str, str] = {}
    for p in sorted(participants, key=line_of.__getitem__):
        other = owner.setdefault(prms[p], p)
        if other != p:
            raise InputError(_("PRM {prm} is also participant {other!r}'s (line {line}): two "
                               "participants have the same PRM").format(
                                 prm=prms[p], other=other, line=line_of[other]),
                             source=source, line=line_of[p], field="prm")
    return [prms[p] for p in participants]


def _bounds_column(frame: _Table, column: str, source: str, tz: str) -> list[int | None]:
    from pvshare.allocation.periods import parse_bound
    if column not in frame.columns:
        return [None] * len(frame)
    out = []
    for i, text in enumerate(frame.col(column).tolist()):
        try:
            out.append(parse_bound(text, tz))
        except ValueError as exc:
            raise InputError(str(exc), source=source, line=i + 2, field=column) from None
    return out


def _periods(frame, source: str, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``from``/``to`` columns as (N,) int64 Unix seconds (open ends: int64 min/max),
    each ``to`` after its ``from``.
    """
    from pvshare.allocation.periods import bounds_array, describe
    starts, ends = bounds_array(_bounds_column(frame, "from", source, tz),
                                _bounds_column(frame, "to", source, tz))
    for i in np.flatnonzero(starts >= ends)[:1]:
        raise InputError(_("'to' must be after 'from' ({period})").format(
                             period=describe(starts[i], ends[i], tz)),
                         source=source, line=int(i) + 2, field="to")
    return starts, ends


def _read_dated_coefficients(frame: _Table, source: str, participants: list[str],
                             key: str, times: np.ndarray | None, tz: str) -> Coefficients:
    """``participant,coefficient[,rank],from,to``: per-step coefficients (T, N)."""
    from pvshare.allocation.periods import active_mask, overlapping_pairs
    if times is None:
        raise InputError(_("coefficients with from,to need the steps of the consumption file"),
                         source=source)
    names = _participant_column(frame, source)
    column_of = {p: k for k, p in enumerate(participants)}
    for i, name in enumerate(names):
        if name not in column_of:
            raise InputError(_("participant {name!r} is not in the consumption file").format(
                                 name=name), source=source, line=i + 2, field="participant")
    starts, ends = _periods(frame, source, tz)
    for j, i in overlapping_pairs(names, starts, ends)[:1]:
        raise InputError(_("participant {name!r} has two coefficients over overlapping "
                           "periods (also line {line})").format(name=names[i], line=j + 2),
                         source=source, line=i + 2, field="from")
    values = _parse_numbers(frame, ["coefficient"], source, allow_empty=False, high=1.0)[:, 0]
    on = active_mask(times, starts, ends)                       # (T, rows)
    col = np.array([column_of[n] for n in names], dtype=np.int64)
    k = np.zeros((len(times), len(participants)))
    for r in range(len(names)):                                  # rows of the file, not steps
        k[on[:, r], col[r]] = values[r]
    ranks = None
    if "rank" in frame.columns:
        r_values = _parse_numbers(frame, ["rank"], source, allow_empty=False, low=1.0)[:, 0]
        ranks = np.ones(len(participants), dtype=int)
        for r, c in zip(r_values.astype(int), col):
            ranks[c] = r
    if key == "priority" and ranks is None:
        raise InputError(_("the 'priority' key needs a 'rank' column"), source=source, line=1)
    over = k.sum(axis=1) > 1 + 1e-9
    if key != "priority" and over.any():
        t = int(np.flatnonzero(over)[0])
        raise InputError(_("coefficients sum to {total:.6g} at {time}, must be at most 1")
                         .format(total=k[t].sum(), time=format_utc(times[t:t + 1])[0]),
                         source=source)
    return Coefficients(k, ranks)


@dataclass(frozen=True)
class Participants:
    """``participant,prm,from,to`` read for the columns of a consumption file."""

    prms: list[str]              # (N,) in the order of the consumption columns
    starts: np.ndarray           # (N,) int64 Unix seconds (open = int64 min)
    ends: np.ndarray             # (N,) int64 Unix seconds (open = int64 max)


def read_participants(path: str | os.PathLike, participants: list[str],
                      times: np.ndarray, tz: str = "Europe/Paris") -> Participants:
    """Read ``participant,prm,from,to`` (``from`` included, ``to`` excluded; local dates or
    ISO times with an offset; empty = open) for the participants of a consumption file.

    Every consumption column must be listed once; a listed participant that takes part in
    any of ``times`` must have a consumption column; one PRM may be shared by participants
    whose periods do not overlap (a flat's successive tenants).
    """
    from pvshare.allocation.periods import active_mask, overlapping_pairs
    source = str(path)
    frame = _read_raw(Path(path))
    if list(frame.columns) not in (["participant", "prm", "from", "to"], ["participant", "prm"]):
        raise InputError(_("the header must be 'participant,prm,from,to', got '{header}'")
                         .format(header=','.join(frame.columns)), source=source, line=1)
    names = _participant_column(frame, source)
    prms = _prm_column(frame, source)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InputError(_("participant {name!r} is listed twice (also on line {line})")
                             .format(name=name, line=seen[name]),
                             source=source, line=i + 2, field="participant")
        seen[name] = i + 2
    starts, ends = _periods(frame, source, tz)
    for i, j in overlapping_pairs(prms, starts, ends):
        raise InputError(_("PRM {prm} is also participant {other!r}'s (line {line}) over an "
                           "overlapping period: a flat's new tenant starts ('from') when the "
                           "former one leaves ('to')").format(prm=prms[j], other=names[i],
                                                              line=i + 2),
                         source=source, line=j + 2, field="from")
    absent = [p for p in participants if p not in seen]
    if absent:
        raise InputError(_("participant {name!r} of the consumption file is not listed")
                         .format(name=absent[0]), source=source)
    on = np.any(active_mask(times, starts, ends), axis=0).reshape(-1)
    known = set(participants)
    for i, name in enumerate(names):
        if on[i] and name not in known:
            raise InputError(_("participant {name!r} takes part during these steps but has "
                               "no column in the consumption file").format(name=name),
                             source=source, line=i + 2, field="participant")
    order = [seen[p] - 2 for p in participants]
    return Participants([prms[i] for i in order], starts[order], ends[order])


#: Columns of the allocation output.
ALLOCATION_COLUMNS = ["time", "participant", "consumption_wh", "allocated_wh", "complement_wh"]


@dataclass(frozen=True)
class AllocationTable:
    """The long allocation table (see :func:`allocation_table`), kept as arrays."""

    times: np.ndarray              # (T,) datetime64[s]
    participants: list[str]        # N
    consumption_wh: np.ndarray     # (T, N); NaN = missing
    allocated_wh: np.ndarray       # (T, N)
    active: np.ndarray | None = None   # (T, N) bool: the rows written; None = all

    def __len__(self) -> int:
        if self.active is None:
            return int(self.consumption_wh.size)
        return int(np.count_nonzero(self.active))


def allocation_table(times: np.ndarray, participants: list[str], consumption_wh: np.ndarray,
                     allocated_wh: np.ndarray, active: np.ndarray | None = None
                     ) -> AllocationTable:
    """The long allocation table: one row per step and participant (step-major), with
    ``time,participant,consumption_wh,allocated_wh,complement_wh``; missing consumption and
    its complement are NaN (written as empty cells). With ``active`` (T, N) bool, only the
    rows of participants taking part in the step. No pandas needed (``pvshare allocate``).
    """
    cons = np.asarray(consumption_wh, dtype=float)
    return AllocationTable(np.asarray(times), list(participants), cons,
                           np.asarray(allocated_wh, dtype=float),
                           None if active is None else
                           np.asarray(active, dtype=bool).reshape(cons.shape))


def allocation_frame(times: np.ndarray, participants: list[str], consumption_wh: np.ndarray,
                     allocated_wh: np.ndarray, active: np.ndarray | None = None):
    """:func:`allocation_table` as a pandas DataFrame (for ``pvshare export``: Parquet, JSON;
    pandas is imported here only, from the export extra).
    """
    import pandas as pd
    T, N = consumption_wh.shape
    stamps = np.asarray(format_utc(times), dtype=object)
    frame = pd.DataFrame({
        "time": np.repeat(stamps, N),
        "participant": np.tile(np.asarray(participants, dtype=object), T),
        "consumption_wh": consumption_wh.reshape(-1),
        "allocated_wh": allocated_wh.reshape(-1),
        "complement_wh": (consumption_wh - allocated_wh).reshape(-1),
    })
    if active is not None:
        frame = frame[np.asarray(active, dtype=bool).reshape(-1)].reset_index(drop=True)
    return frame


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV
#: Injection"): = + - @, and tab and carriage return.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A plain number: a cell such as -12.5 is a number to a spreadsheet, never a formula.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def safe_cell(value):
    """A cell as pvshare writes it to CSV: text that a spreadsheet would run as a formula
    (starting with = + - @, tab or CR; e.g. a participant named ``=HYPERLINK(…)``) gets a
    leading ``'``, as OWASP's CSV-injection advice says, so it shows as the text it is.
    Numbers (``-12.5`` as a number or as text), a lone ``-`` (the "none" of some tables)
    and other values are returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START) and value not in "-+" \
            and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv_field(text: str) -> str:
    """``text`` as the csv module writes it (quoted only when needed, as pandas does), made
    safe for spreadsheets (:func:`safe_cell`).
    """
    text = safe_cell(text)
    if "\r" in text:          # csv quotes only the line terminator's "\n": a CR too, here
        return '"' + text.replace('"', '""') + '"'
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([text])
    return out.getvalue()[:-1]


def _safe_frame(frame):
    """A DataFrame whose text cells went through :func:`safe_cell` (number columns as they
    are: a negative number is a number).
    """
    from pandas.api.types import is_object_dtype, is_string_dtype
    out = frame
    for c in frame.columns:
        col = frame[c]
        if not (is_object_dtype(col.dtype) or is_string_dtype(col.dtype)):
            continue
        try:
            risky = col.str.startswith(FORMULA_START, na=False).to_numpy(dtype=bool)
        except AttributeError:                  # an object column without any text
            continue
        if risky.any():                         # rare: only those cells, one by one
            if out is frame:
                out = frame.copy()
            fixed = col.astype(object).copy()
            fixed[risky] = [safe_cell(v) for v in col[risky].tolist()]
            out[c] = fixed
    return out


def write_frame_csv(path: str | os.PathLike, frame, float_format: str = "%.3f") -> None:
    """Write a DataFrame as CSV (no index, empty = missing), its text cells made safe for
    spreadsheets (:func:`safe_cell`). Every table pvshare writes with pandas goes here.
    """
    frame = _safe_frame(frame)
    # csv quotes a cell holding "\n" (the line end) but not one holding a lone "\r", which
    # a spreadsheet takes as a line end: such a table (rare: ids cannot hold one) is written
    # cell by cell, each text cell as _csv_field writes it (the same bytes otherwise).
    for c in frame.columns:
        try:
            cr = bool(frame[c].str.contains("\r", regex=False, na=False).any())
        except AttributeError:                  # not a text column
            continue
        if cr:
            _write_frame_slowly(path, frame, float_format)
            return
    frame.to_csv(path, index=False, float_format=float_format, na_rep="")


def _write_frame_slowly(path: str | os.PathLike, frame, float_format: str) -> None:
    def cell(v) -> str:
        if isinstance(v, str):
            return _csv_field(v)
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        if isinstance(v, float | np.floating):
            return float_format % v
        return _csv_field(str(v))
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(_csv_field(str(c)) for c in frame.columns) + "\n")
        for row in frame.itertuples(index=False, name=None):
            f.write(",".join(cell(v) for v in row) + "\n")


def _wh(values: np.ndarray) -> list[str]:
    """Wh with :data:`WH_DECIMALS` decimals; NaN as an empty cell."""
    out = list(map(f"{{:.{WH_DECIMALS}f}}".format, values.tolist()))
    for i in np.flatnonzero(np.isnan(values)).tolist():
        out[i] = ""
    return out


#: Steps formatted at once when writing (bounded memory whatever the length of the file).
_WRITE_STEPS = 2048


def write_allocation_csv(path: str | os.PathLike, table) -> None:
    """Write :func:`allocation_table` (or :func:`allocation_frame`) output as CSV (Wh with 3
    decimals, empty = missing). Used by ``pvshare allocate`` and ``pvshare export --what
    allocation`` alike, so that the two can be compared line by line (the same bytes).
    """
    if hasattr(table, "to_csv"):                      # a DataFrame (pvshare export)
        write_frame_csv(path, table, float_format=f"%.{WH_DECIMALS}f")
        return
    T, N = table.consumption_wh.shape
    names = np.asarray([_csv_field(p) for p in table.participants], dtype=object)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(ALLOCATION_COLUMNS) + "\n")
        for a in range(0, T, _WRITE_STEPS):
            b = min(a + _WRITE_STEPS, T)
            stamps = np.asarray(format_utc(table.times[a:b]), dtype=object)
            cons = table.consumption_wh[a:b].reshape(-1)
            alloc = table.allocated_wh[a:b].reshape(-1)
            time_col = np.repeat(stamps, N)
            name_col = np.tile(names, b - a)
            if table.active is not None:
                keep = table.active[a:b].reshape(-1)
                time_col, name_col = time_col[keep], name_col[keep]
                cons, alloc = cons[keep], alloc[keep]
            rows = zip(time_col.tolist(), name_col.tolist(), _wh(cons), _wh(alloc),
                       _wh(cons - alloc))
            f.write("".join([",".join(r) + "\n" for r in rows]))


def write_rows_csv(path: str | os.PathLike, columns: list[str], rows: list[dict]) -> None:
    """Write ``rows`` (dicts keyed by ``columns``) as a CSV table, atomically and privately
    (0600: bills and reconciliations name participants).
    """
    from pvshare.files.atomic import atomic_writes
    with atomic_writes(path) as (tmp,), \
            open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows({k: safe_cell(v) for k, v in row.items()} for row in rows)
