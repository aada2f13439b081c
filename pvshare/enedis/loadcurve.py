"""Read a load curve (courbe de charge): Enedis "Mes données" exports or a plain CSV.

Three layouts are accepted, all giving the **average power in W** over each step, with
timestamps marking the **end** of each interval (the first value of a day is at 00:30):

``enedis-preamble``
    ``Identifiant PRM;Type de donnees;Date de debut;...;Unite;Pas en minutes``, one data line,
    a blank line, then ``Horodate;Valeur`` rows such as ``2024-03-31T03:00:00+02:00;264``.
``enedis-rows``
    one row per value with every field (``Identifiant PRM;Date de début;Date de fin;Grandeur
    physique;Grandeur métier;Etape métier;Unité;Horodate;Valeur;Nature;Pas;...``); the
    Horodate is local time **without** offset (``2023-03-13 00:30:00``) and the ambiguous hour
    of the October clock change is resolved from the order of the rows.
``csv``
    a plain ``time,power_w`` CSV (``,`` or ``;``), ``time`` with an offset
    (``2024-03-31T03:00:00+02:00`` or ``...Z``) or in local time without offset (resolved like
    ``enedis-rows``), marking the end of the interval like the Enedis files.

Everything is converted to UTC **step starts** (see :mod:`pvshare.timegrid`) and to energy
per step: ``energy_wh = power_w * step_s / 3600``. Bad input raises
:class:`pvshare.errors.InputError` naming the file and the line: unknown layout, a value that
is not a number, duplicated or out-of-order rows, missing steps (gaps), a local time that does
not exist (spring clock change) or an October day without its repeated hour.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.errors import InputError
from pvshare.timegrid import DEFAULT_TZ, from_epoch_seconds, utc_offsets

UTC = dt.UTC

#: Steps a load curve may use, in minutes.
ALLOWED_STEP_MIN = (5, 10, 15, 30, 60)

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$")
_PAS_RE = re.compile(r"^P?T?(\d+)\s*(M|MIN|MINUTES?)?$", re.IGNORECASE)


@dataclass(frozen=True)
class LoadCurve:
    """A load curve on the UTC step grid.

    Attributes
    ----------
    times : numpy.ndarray of datetime64[s], shape (T,)
        UTC **start** of each step, every step present (no holes).
    energy_wh : numpy.ndarray of float, shape (T,)
        Energy drawn during each step, Wh. NaN where a value is missing (only when the file was
        read with ``allow_gaps=True``).
    step_s : int
        Step length, seconds.
    prm : str or None
        The meter's PRM when the file names it (14 digits, leading zeros kept).
    layout : str
        ``enedis-preamble``, ``enedis-rows`` or ``csv``.
    source : str
        The file it was read from.
    """

    times: np.ndarray
    energy_wh: np.ndarray
    step_s: int
    prm: str | None
    layout: str
    source: str

    @property
    def power_w(self) -> np.ndarray:
        """Average power over each step, W."""
        return self.energy_wh * 3600.0 / self.step_s

    @property
    def missing_steps(self) -> int:
        """Number of steps without a value."""
        return int(np.isnan(self.energy_wh).sum())


# -- entry point ------------------------------------------------------------------------------

def read_load_curve(path: str | Path, *, tz: str = DEFAULT_TZ,
                    allow_gaps: bool = False) -> LoadCurve:
    """Read a load-curve file in any of the accepted layouts.

    Parameters
    ----------
    path : str or Path
        The file (plain or gzip-compressed text, UTF-8 or Windows-1252).
    tz : str
        Time zone of timestamps written without an offset (Enedis: ``Europe/Paris``).
    allow_gaps : bool
        If False (default) a missing step is an error; if True missing steps are kept as NaN
        so that a report can show the data completeness.

    Returns
    -------
    LoadCurve

    Raises
    ------
    InputError
        Naming the file and the line of the first problem found.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", source=source) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=source) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"damaged gzip file: {exc}", source=source) from None
    text = _decode(raw)
    return parse_load_curve(text, source=source, tz=tz, allow_gaps=allow_gaps)


def parse_load_curve(text: str, *, source: str = "<text>", tz: str = DEFAULT_TZ,
                     allow_gaps: bool = False) -> LoadCurve:
    """Parse the text of a load-curve file (see :func:`read_load_curve`)."""
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise InputError("the file is empty", source=source)
    header = _norm(lines[first])
    if header.startswith("identifiant prm") and "horodate" in header and "valeur" in header:
        rows = _rows_layout(lines, first, source)
    elif header.startswith("identifiant prm"):
        rows = _preamble_layout(lines, first, source)
    elif "time" in header.split(",")[0] or "time" in header.split(";")[0] \
            or header.startswith(("horodate", "date")):
        rows = _csv_layout(lines, first, source)
    else:
        raise InputError(
            "unknown file layout: expected an Enedis load-curve export (first line starting "
            "with 'Identifiant PRM') or a CSV with a header 'time,power_w'; "
            f"the first line is {lines[first][:80]!r}", source=source, line=first + 1)
    return _to_grid(rows, source=source, tz=tz, allow_gaps=allow_gaps)


# -- layouts: each returns a _Rows ------------------------------------------------------------

@dataclass
class _Rows:
    layout: str
    prm: str | None
    step_min: int | None            # declared step, if the file says it
    line_no: list[int]              # 1-based line of each value
    stamps: list[str]               # timestamp text
    values: list[str]               # value text ('' = missing)
    scale: float = 1.0              # to W


def _preamble_layout(lines: list[str], first: int, source: str) -> _Rows:
    head = [c.strip() for c in lines[first].split(";")]
    if first + 1 >= len(lines) or not lines[first + 1].strip():
        raise InputError("the line under the 'Identifiant PRM;...' header is missing",
                         source=source, line=first + 2)
    data = [c.strip() for c in lines[first + 1].split(";")]
    meta = {_norm(h): (data[i] if i < len(data) else "") for i, h in enumerate(head)}
    prm = meta.get("identifiant prm") or None
    step_min = None
    pas = meta.get("pas en minutes") or meta.get("pas")
    if pas:
        step_min = _parse_pas(pas, source, first + 2)
    scale = _unit_scale(meta.get("unite", ""), source, first + 2)
    i = first + 2
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        raise InputError("no 'Horodate;Valeur' table after the header", source=source, line=i)
    cols = [_norm(c) for c in lines[i].split(";")]
    if len(cols) < 2 or cols[0] != "horodate" or cols[1] != "valeur":
        raise InputError(f"expected the line 'Horodate;Valeur', got {lines[i][:60]!r}",
                         source=source, line=i + 1)
    rows = _Rows("enedis-preamble", prm, step_min, [], [], [], scale)
    for j in range(i + 1, len(lines)):
        ln = lines[j]
        if not ln.strip():
            continue
        parts = ln.split(";")
        if len(parts) < 2:
            raise InputError(f"expected 'Horodate;Valeur', got {ln[:60]!r}",
                             source=source, line=j + 1)
        rows.line_no.append(j + 1)
        rows.stamps.append(parts[0].strip())
        rows.values.append(parts[1].strip())
    return rows


def _rows_layout(lines: list[str], first: int, source: str) -> _Rows:
    cols = [_norm(c) for c in lines[first].split(";")]
    need = {"identifiant prm": None, "horodate": None, "valeur": None}
    for k in need:
        if k not in cols:
            raise InputError(f"the header line has no column {k!r}", source=source,
                             line=first + 1)
        need[k] = cols.index(k)
    i_unit = cols.index("unite") if "unite" in cols else None
    i_pas = cols.index("pas") if "pas" in cols else None
    i_qty = cols.index("grandeur physique") if "grandeur physique" in cols else None
    quantity = None
    i_prm, i_time, i_val = need["identifiant prm"], need["horodate"], need["valeur"]
    width = max(i for i in (i_prm, i_time, i_val, i_unit, i_pas, i_qty) if i is not None)
    rows = _Rows("enedis-rows", None, None, [], [], [])
    unit = None
    for j in range(first + 1, len(lines)):
        ln = lines[j]
        if not ln.strip():
            continue
        parts = ln.split(";")
        if len(parts) <= width:
            raise InputError(f"{len(parts)} fields, expected {len(cols)} "
                             f"(like the header line)", source=source, line=j + 1)
        prm = parts[i_prm].strip()
        if rows.prm is None:
            rows.prm = prm
        elif prm != rows.prm:
            raise InputError(f"a second meter appears (PRM {prm}, the file started with "
                             f"{rows.prm}): export one meter per file", source=source,
                             line=j + 1, field="Identifiant PRM")
        if i_pas is not None:
            step = _parse_pas(parts[i_pas].strip(), source, j + 1)
            if rows.step_min is None:
                rows.step_min = step
            elif step != rows.step_min:
                raise InputError(f"the step changes from {rows.step_min} to {step} minutes: "
                                 "export one step length per file", source=source,
                                 line=j + 1, field="Pas")
        if i_qty is not None:
            q = parts[i_qty].strip()
            if quantity is None:
                quantity = q
            elif q != quantity:
                raise InputError(f"a second quantity appears ({q!r} after {quantity!r}): "
                                 "export the consumption load curve alone", source=source,
                                 line=j + 1, field="Grandeur physique")
        if i_unit is not None:
            u = parts[i_unit].strip()
            if unit is None:
                unit = u
                rows.scale = _unit_scale(u, source, j + 1)
            elif u != unit:
                raise InputError(f"the unit changes from {unit!r} to {u!r}", source=source,
                                 line=j + 1, field="Unité")
        rows.line_no.append(j + 1)
        rows.stamps.append(parts[i_time].strip())
        rows.values.append(parts[i_val].strip())
    return rows


def _csv_layout(lines: list[str], first: int, source: str) -> _Rows:
    sep = ";" if lines[first].count(";") > lines[first].count(",") else ","
    cols = [_norm(c) for c in lines[first].split(sep)]
    if len(cols) < 2:
        raise InputError("expected two columns 'time,power_w'", source=source, line=first + 1)
    if cols[1] not in ("power_w", "puissance_w", "valeur", "value", "power"):
        raise InputError(f"the second column must be 'power_w' (average power in W over the "
                         f"step), got {cols[1]!r}", source=source, line=first + 1)
    rows = _Rows("csv", None, None, [], [], [])
    for j in range(first + 1, len(lines)):
        ln = lines[j]
        if not ln.strip():
            continue
        parts = ln.split(sep)
        if len(parts) < 2:
            raise InputError(f"expected 'time{sep}power_w', got {ln[:60]!r}",
                             source=source, line=j + 1)
        rows.line_no.append(j + 1)
        rows.stamps.append(parts[0].strip().strip('"'))
        rows.values.append(parts[1].strip().strip('"'))
    return rows


# -- conversion to the UTC grid ---------------------------------------------------------------

def _to_grid(rows: _Rows, *, source: str, tz: str, allow_gaps: bool) -> LoadCurve:
    n = len(rows.stamps)
    if n == 0:
        raise InputError("no values in the file", source=source)
    power_w = np.empty(n)
    for k, v in enumerate(rows.values):
        if v == "":
            power_w[k] = np.nan
            continue
        try:
            power_w[k] = float(v.replace(",", ".").replace("\u202f", "").replace(" ", ""))
        except ValueError:
            raise InputError(f"the value {v[:30]!r} is not a number", source=source,
                             line=rows.line_no[k], field="Valeur") from None
        if not np.isfinite(power_w[k]) or power_w[k] < 0:
            raise InputError(f"the value {v[:30]!r} must be a power ≥ 0 in W", source=source,
                             line=rows.line_no[k], field="Valeur")
    power_w *= rows.scale
    end_s = _parse_times(rows, source=source, tz=tz)
    if n < 2 and rows.step_min is None:
        raise InputError("a single value and no step length: cannot tell the step",
                         source=source)

    # Order and duplicates.
    d = np.diff(end_s)
    bad = np.flatnonzero(d <= 0)
    if bad.size:
        k = int(bad[0]) + 1
        what = "is repeated" if d[k - 1] == 0 else "goes back in time"
        hint = ""
        if d[k - 1] == 0 and _is_dst_change(end_s[k], tz):
            hint = " (on the October clock change the local hour 02:00-03:00 happens twice: " \
                   "its two occurrences must follow each other in order)"
        raise InputError(f"the time {rows.stamps[k]!r} {what}: previous row at line "
                         f"{rows.line_no[k - 1]} has {rows.stamps[k - 1]!r}{hint}",
                         source=source, line=rows.line_no[k])

    # Step length: declared or the most common difference.
    if rows.step_min is not None:
        step_s = rows.step_min * 60
    else:
        vals, counts = np.unique(d, return_counts=True)
        step_s = int(vals[np.argmax(counts)])
        if step_s % 60 or step_s // 60 not in ALLOWED_STEP_MIN:
            raise InputError(f"cannot tell the step: the most common interval between rows is "
                             f"{step_s} s; expected one of {ALLOWED_STEP_MIN} minutes",
                             source=source, line=rows.line_no[0])
    if step_s // 60 not in ALLOWED_STEP_MIN:
        raise InputError(f"unsupported step of {step_s // 60} minutes", source=source)
    off = np.flatnonzero(end_s % step_s)
    if off.size:
        k = int(off[0])
        raise InputError(f"the time {rows.stamps[k]!r} is not on the {step_s // 60}-minute grid",
                         source=source, line=rows.line_no[k])
    irregular = np.flatnonzero(d % step_s)
    if irregular.size:
        k = int(irregular[0]) + 1
        raise InputError(f"the time {rows.stamps[k]!r} is not a whole number of "
                         f"{step_s // 60}-minute steps after the previous row "
                         f"({rows.stamps[k - 1]!r})", source=source, line=rows.line_no[k])
    gaps = np.flatnonzero(d > step_s)
    if gaps.size and not allow_gaps:
        k = int(gaps[0]) + 1
        missing = int(d[k - 1] // step_s) - 1
        hint = ""
        if _dst_between(end_s[k - 1], end_s[k], tz):
            hint = (" This is around a clock change: on the October change the hour 02:00-03:00 "
                    "happens twice and the file must hold it twice (50 half-hours that day).")
        raise InputError(
            f"{missing} missing step(s) of {step_s // 60} min between {rows.stamps[k - 1]!r} "
            f"(line {rows.line_no[k - 1]}) and {rows.stamps[k]!r}; "
            f"{gaps.size} gap(s) in the file in all.{hint} "
            "Export the period again, or accept the gaps (--allow-gaps) to see the data "
            "completeness in the report.", source=source, line=rows.line_no[k])

    start_s = end_s - step_s
    grid = np.arange(start_s[0], start_s[-1] + step_s, step_s, dtype=np.int64)
    energy = np.full(grid.size, np.nan)
    energy[(start_s - start_s[0]) // step_s] = power_w * step_s / 3600.0
    return LoadCurve(times=from_epoch_seconds(grid), energy_wh=energy, step_s=int(step_s),
                     prm=rows.prm, layout=rows.layout, source=source)


def _parse_times(rows: _Rows, *, source: str, tz: str) -> np.ndarray:
    """Unix seconds of each timestamp; local times without offset resolved from row order."""
    n = len(rows.stamps)
    secs = np.empty(n, dtype=np.int64)
    naive = np.zeros(n, dtype=bool)
    for k, s in enumerate(rows.stamps):
        m = _ISO_RE.match(s)
        if m is None:
            raise InputError(f"cannot read the time {s[:40]!r}: expected "
                             "'YYYY-MM-DDThh:mm:ss+02:00' or 'YYYY-MM-DD hh:mm:ss'",
                             source=source, line=rows.line_no[k], field="Horodate")
        y, mo, d, h, mi, se, zone = m.groups()
        try:
            base = dt.datetime(int(y), int(mo), int(d), 0, 0, tzinfo=UTC)
        except ValueError:
            raise InputError(f"the date in {s[:40]!r} does not exist", source=source,
                             line=rows.line_no[k], field="Horodate") from None
        hh, mm, ss = int(h), int(mi), int(se or 0)
        if hh > 24 or mm > 59 or ss > 59 or (hh == 24 and (mm or ss)):
            raise InputError(f"the time of day in {s[:40]!r} does not exist", source=source,
                             line=rows.line_no[k], field="Horodate")
        t = int(base.timestamp()) + hh * 3600 + mm * 60 + ss
        if zone is None:
            naive[k] = True
        elif zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            z = zone[1:].replace(":", "")
            t -= sign * (int(z[:2]) * 3600 + int(z[2:]) * 60)
        secs[k] = t
    if naive.any():
        idx = np.flatnonzero(naive)
        secs[idx] = _local_to_utc(secs[idx], [rows.line_no[i] for i in idx],
                                  [rows.stamps[i] for i in idx], source=source, tz=tz)
    return secs


def _local_to_utc(local_s: np.ndarray, line_no: list[int], stamps: list[str], *, source: str,
                  tz: str) -> np.ndarray:
    """UTC seconds of naive local times (given as seconds "as if UTC"), vectorised.

    Each local time maps to 0, 1 or 2 instants. None: the time does not exist (spring
    change). Two: the repeated hour of the autumn change; the first occurrence in row order is
    the earlier instant (summer time), the next one the later instant.
    """
    lo, hi = int(local_s.min()) - 2 * 86400, int(local_s.max()) + 2 * 86400
    offsets = np.unique(utc_offsets(np.arange(lo, hi, 3600, dtype=np.int64), tz))
    # candidates[k, j] = local - offset_j, valid if the zone's offset at that instant is offset_j
    cand = local_s[:, None] - offsets[None, :]
    valid = utc_offsets(cand.ravel(), tz).reshape(cand.shape) == offsets[None, :]
    nvalid = valid.sum(axis=1)
    none = np.flatnonzero(nvalid == 0)
    if none.size:
        k = int(none[0])
        raise InputError(
            f"the local time {stamps[k]!r} does not exist: that night the clocks jump forward "
            "one hour (02:00 becomes 03:00, the day has 23 hours, 46 half-hours)",
            source=source, line=line_no[k], field="Horodate")
    # Earliest valid instant for every row (offsets sorted ascending → last valid column is
    # the earliest instant); rows whose local time was already seen take the later instant.
    first_instant = np.where(valid, cand, np.iinfo(np.int64).max).min(axis=1)
    last_instant = np.where(valid, cand, np.iinfo(np.int64).min).max(axis=1)
    out = first_instant.copy()
    amb = np.flatnonzero(nvalid > 1)
    if amb.size:
        seen: dict[int, int] = {}
        for k in amb.tolist():
            c = seen.get(int(local_s[k]), 0)
            if c == 1:
                out[k] = last_instant[k]
            elif c > 1:
                raise InputError(f"the local time {stamps[k]!r} appears more than twice "
                                 "(the hour of the October clock change happens twice, "
                                 "never three times)", source=source, line=line_no[k],
                                 field="Horodate")
            seen[int(local_s[k])] = c + 1
    return out


def _is_dst_change(t_s: int, tz: str) -> bool:
    return _dst_between(int(t_s) - 86400, int(t_s) + 86400, tz)


def _dst_between(a_s: int, b_s: int, tz: str) -> bool:
    o = utc_offsets(np.array([a_s, b_s], dtype=np.int64), tz)
    return bool(o[0] != o[1])


# -- small helpers ----------------------------------------------------------------------------

def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


_ACCENTS = str.maketrans("éèêëàâäîïôöùûüç", "eeeeaaaiioouuuc")


def _norm(s: str) -> str:
    return s.strip().strip('"').strip().lower().translate(_ACCENTS)


def _parse_pas(text: str, source: str, line: int) -> int:
    m = _PAS_RE.match(text.strip())
    if m is None:
        raise InputError(f"cannot read the step {text!r} (expected PT30M or 30)", source=source,
                         line=line, field="Pas")
    step = int(m.group(1))
    if step not in ALLOWED_STEP_MIN:
        raise InputError(f"unsupported step of {step} minutes (expected one of "
                         f"{ALLOWED_STEP_MIN})", source=source, line=line, field="Pas")
    return step


def _unit_scale(unit: str, source: str, line: int) -> float:
    u = unit.strip().lower()
    if u in ("", "w"):
        return 1.0
    if u == "kw":
        return 1000.0
    if u in ("wh", "kwh", "va"):
        raise InputError(f"the unit is {unit!r}: this reader expects a load curve of average "
                         "power in W (courbe de charge), not energy indices", source=source,
                         line=line, field="Unité")
    raise InputError(f"unknown unit {unit!r} (expected W or kW)", source=source, line=line,
                     field="Unité")
