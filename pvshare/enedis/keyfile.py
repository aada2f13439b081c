"""The Enedis key files a PMO sends for dynamic keys, one per calendar month (docs/design.md §2).

Conventions (see ``docs/pmo-month.md`` for the evidence behind each one; no official Enedis
template could be found, the one public sample is
``vrogeon/RepartKey:Courbes/ACC00000001_15_01112024_30112024.txt``, kept in
``tests/fixtures/enedis_pmo/``):

* name ``ACC<operation>_<step minutes>_<first day ddmmyyyy>_<last day ddmmyyyy>.txt``, one
  file per calendar month in local time (Europe/Paris), covering the steps of that month;
* ``;``-separated, header ``Horodate;<PRM 1>;<PRM 2>…`` (the PRMs active that month), one row
  per step;
* ``Horodate`` is the step start in local time, by default ``01/11/2024 00:00`` with no
  offset (``time_style="local"``, as in the sample). On the October change the repeated hour
  is written as two rows with the same label, in time order; ``time_style="iso"`` writes
  ``2025-10-26T02:00:00+02:00`` / ``…+01:00`` instead, unambiguous;
* each coefficient in percent with a comma and 1 or 2 decimals (``50,81``), every row
  summing to at most 100, rounded without loss (:mod:`pvshare.enedis.rounding`); a step
  with no production writes zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pvshare.enedis.rounding import floor_units, grid_units
from pvshare.files.atomic import atomic_writes
from pvshare.i18n import _
from pvshare.timegrid import format_local, to_epoch_seconds, utc_offsets

TIME_STYLES = ("local", "iso")


def coefficients_permille(allocated_wh: np.ndarray, production_wh: np.ndarray) -> np.ndarray:
    """Each share floored to 0.1 % (pvshare's former rule; kept to measure what it lost)."""
    return floor_units(allocated_wh, production_wh, 1000)


def _local_seconds(times, tz: str) -> np.ndarray:
    secs = to_epoch_seconds(times)
    return secs + utc_offsets(secs, tz)


def format_times(times, style: str = "local", tz: str = "Europe/Paris") -> np.ndarray:
    """``Horodate`` labels of UTC step starts: ``dd/mm/yyyy HH:MM`` local, or ISO with offset.

    Vectorised: the local labels are rearranged from numpy's ISO strings as bytes.
    """
    if style == "iso":
        return np.asarray(format_local(times, tz), dtype=str)
    if style != "local":
        raise ValueError(_("time style must be one of {styles}, got {value!r}").format(
            styles=", ".join(TIME_STYLES), value=style))
    local = _local_seconds(times, tz).astype("datetime64[s]")
    iso = np.datetime_as_string(local, unit="m").astype("S16")     # YYYY-MM-DDTHH:MM
    b = iso.view(np.uint8).reshape(-1, 16)
    out = np.empty((len(iso), 16), dtype=np.uint8)
    out[:, 0:2], out[:, 2], out[:, 3:5], out[:, 5] = b[:, 8:10], ord("/"), b[:, 5:7], ord("/")
    out[:, 6:10], out[:, 10], out[:, 11:16] = b[:, 0:4], ord(" "), b[:, 11:16]
    return out.view("S16").ravel().astype(str)


def _cell_table(decimals: int) -> np.ndarray:
    """Text of every grid value, ``0,00`` … ``100,00`` (index = grid units)."""
    grid = grid_units(decimals)
    scale = grid // 100
    return np.array([f"{u // scale},{u % scale:0{decimals}d}" for u in range(grid + 1)],
                    dtype=object)


def format_key_file(times, prms: list[str], units: np.ndarray, *, decimals: int = 2,
                    time_style: str = "local", tz: str = "Europe/Paris") -> str:
    """The text of one key file (newline line ends, a final newline).

    Parameters
    ----------
    times : array of datetime64, shape (T,)
        UTC step starts.
    prms : list of str
        The N PRMs, in column order.
    units : ndarray of int, shape (T, N)
        Coefficients in grid units (``10**(decimals+2)`` in 100 %).
    """
    units = np.asarray(units, dtype=np.int64)
    stamps = format_times(times, time_style, tz).astype(object)
    rows = np.empty((len(stamps), units.shape[1] + 1), dtype=object)
    rows[:, 0] = stamps
    rows[:, 1:] = _cell_table(decimals)[units]
    lines = [";".join(["Horodate", *prms])]
    lines += [";".join(r) for r in rows.tolist()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class KeyFile:
    """One month's key file: its name, its text and what it covers."""

    name: str
    text: str
    prms: list[str]
    steps: int


def file_name(operation: str, step_minutes: int, first: np.datetime64, last: np.datetime64) -> str:
    """``ACC<operation>_<step minutes>_<ddmmyyyy>_<ddmmyyyy>.txt`` (``first``/``last`` days)."""
    def ddmmyyyy(day: np.datetime64) -> str:
        y, m, d = str(day)[:10].split("-")
        return f"{d}{m}{y}"
    return f"ACC{operation}_{step_minutes}_{ddmmyyyy(first)}_{ddmmyyyy(last)}.txt"


def normalise_operation(operation: str) -> str:
    """The operation id as it goes after ``ACC`` in file names (a leading ``ACC`` dropped)."""
    op = str(operation).strip()
    if op.upper().startswith("ACC"):
        op = op[3:]
    # isascii: str.isalnum() takes fullwidth and Arabic-Indic digits, and accented letters.
    if not op or not op.isascii() or not op.replace("-", "").replace("_", "").isalnum():
        raise ValueError(_("operation id must be letters or digits A-Z, 0-9 (e.g. 00000001), "
                           "got {value!r}").format(value=operation))
    return op


def monthly_key_files(times, prms: list[str], units: np.ndarray, *, operation: str,
                      step_s: int, decimals: int = 2, time_style: str = "local",
                      tz: str = "Europe/Paris", active: np.ndarray | None = None
                      ) -> list[KeyFile]:
    """Split the key rows into one file per local calendar month.

    Parameters
    ----------
    times : array of datetime64, shape (T,)
        UTC step starts, increasing.
    prms : list of str
        N PRMs, in column order (the same PRM may appear twice for two participants with
        non-overlapping periods: their coefficients are added in the column of that PRM).
    units : ndarray of int, shape (T, N)
        Coefficients in grid units.
    operation : str
        Operation id (``ACC`` prefix optional).
    step_s : int
        Step length, seconds.
    active : ndarray of bool, shape (T, N), optional
        Participation of each participant per step; a month's file lists the PRMs active at
        least once that month. Default: everyone, always.
    """
    op = normalise_operation(operation)
    units = np.asarray(units, dtype=np.int64)
    t_count, n = units.shape
    if active is None:
        active = np.ones((t_count, n), dtype=bool)
    local_days = (_local_seconds(times, tz) // 86400).astype("datetime64[D]")
    months = local_days.astype("datetime64[M]")
    cuts = np.flatnonzero(months[1:] != months[:-1]) + 1
    files = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, t_count]):
        if hi <= lo:
            continue
        on = np.flatnonzero(active[lo:hi].any(axis=0))
        month_prms = list(dict.fromkeys(prms[i] for i in on))   # first-seen order, unique
        cols = np.zeros((hi - lo, len(month_prms)), dtype=np.int64)
        index = {p: j for j, p in enumerate(month_prms)}
        for i in on:
            cols[:, index[prms[i]]] += units[lo:hi, i]
        text = format_key_file(times[lo:hi], month_prms, cols, decimals=decimals,
                               time_style=time_style, tz=tz)
        files.append(KeyFile(file_name(op, step_s // 60, local_days[lo], local_days[hi - 1]),
                             text, month_prms, int(hi - lo)))
    return files


def parse_key_file(text: str) -> tuple[list[str], list[str], np.ndarray]:
    """Read a key file's text back: (time labels, PRMs, coefficients in percent (T, N)).

    Accepts both time styles and either decimal mark; used by tests and by reconciliation
    to apply Enedis's formula to what was sent.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    head = lines[0].lstrip("\ufeff").split(";") if lines else [""]
    if head[0] != "Horodate":
        raise ValueError(_("a key file starts with 'Horodate;<PRM>;…'"))
    labels, values = [], []
    for number, ln in enumerate(lines[1:], start=2):
        cells = ln.split(";")
        if len(cells) != len(head):
            raise ValueError(_("line {n}: {cells} cells, expected {expected}").format(
                n=number, cells=len(cells), expected=len(head)))
        labels.append(cells[0])
        try:
            values.append([float(c.replace(",", ".")) for c in cells[1:]])
        except ValueError:
            raise ValueError(_("line {n}: a coefficient is not a number").format(n=number)) \
                from None
    return labels, head[1:], np.array(values, dtype=float).reshape(len(labels), len(head) - 1)


@dataclass(frozen=True)
class KeyFiles:
    """The monthly key files of an allocation and what Enedis would give back from them.

    Attributes
    ----------
    files : list of KeyFile
        One per local calendar month.
    exact_wh : ndarray, shape (N,)
        The exact allocation per participant, Wh.
    enedis_wh : ndarray, shape (N,)
        What Enedis computes from the files (``Σ min(C, k·P)``), Wh.
    decimals : int
        Decimals of a percent written.
    """

    files: list[KeyFile]
    exact_wh: np.ndarray
    enedis_wh: np.ndarray
    decimals: int

    @property
    def lost_wh(self) -> np.ndarray:
        """Per participant, lost to rounding (negative: rounded up, gained), Wh, (N,)."""
        return self.exact_wh - self.enedis_wh


def build_key_files(times, prms: list[str], allocated_wh: np.ndarray, production_wh: np.ndarray,
                    consumption_wh: np.ndarray, *, operation: str, step_s: int,
                    decimals: int = 2, time_style: str = "local", tz: str = "Europe/Paris",
                    active: np.ndarray | None = None) -> KeyFiles:
    """Round an allocation to the grid without loss and split it into monthly key files.

    Shapes: ``times`` (T,), ``allocated_wh``/``consumption_wh`` (T, N), ``production_wh``
    (T,). See :func:`monthly_key_files` for ``active``.
    """
    from pvshare.enedis.rounding import enedis_allocation, optimal_units
    grid = grid_units(decimals)
    units = optimal_units(allocated_wh, production_wh, grid)
    files = monthly_key_files(times, prms, units, operation=operation, step_s=step_s,
                              decimals=decimals, time_style=time_style, tz=tz, active=active)
    enedis = enedis_allocation(units, production_wh, consumption_wh, grid).sum(axis=0)
    return KeyFiles(files, np.asarray(allocated_wh, dtype=float).sum(axis=0), enedis, decimals)


def write_month_key_files(cfg, month: str, out_dir, *, operation: str | None = None,
                          decimals: int | None = None, time_style: str | None = None,
                          store=None) -> KeyFiles:
    """The key file of a local month from the store's allocation (what the daemon computed).

    Options default to the config's ``[operation]``; the file is written atomically into
    ``out_dir``. ``store``: an open store (the daemon's); default: the config's, read-only.
    Raises :class:`pvshare.errors.InputError` when the operation id is missing or the store
    lacks a step of the month.
    """
    from pathlib import Path

    from pvshare.billing.month import month_from_store
    from pvshare.errors import InputError
    from pvshare.timegrid import step_seconds
    op = operation or cfg.operation.id
    if not op:
        raise InputError(_("no operation id: set [operation] id in the config or give "
                           "--operation"), source=cfg.source, field="operation.id")
    try:
        normalise_operation(op)
    except ValueError as exc:
        raise InputError(str(exc), field="--operation") from None
    m = month_from_store(cfg, month, store)
    if not m.stored.any():
        raise InputError(_("the store has no allocation for {month}").format(month=month),
                         field="--month")
    if not m.stored.all():
        missing = int((~m.stored).sum())
        raise InputError(_("the store lacks {n} step(s) of {month}: the key file must cover "
                           "the whole month (is the daemon behind?)").format(n=missing,
                                                                            month=month),
                         field="--month")
    unknown = int(np.isnan(m.production_wh[m.stored]).sum())
    if unknown:
        raise InputError(_("{n} step(s) of {month} were closed without the roof's production "
                           "(the inverter was silent past the pending horizon): their keys "
                           "would give Enedis nothing to share; see `pvshare status` and "
                           "docs/daemon.md (gaps, horizons)").format(n=unknown, month=month),
                         field="--month")
    prod = np.nan_to_num(m.production_wh)
    keys = build_key_files(m.times, m.prms, np.nan_to_num(m.allocated_wh), prod,
                           m.consumption_wh, operation=op,
                           step_s=step_seconds(cfg.site.step),
                           decimals=decimals or cfg.operation.key_decimals,
                           time_style=time_style or cfg.operation.key_time,
                           tz=cfg.site.timezone, active=m.active)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(_("is a file; give a folder"), source=str(out))
    with atomic_writes(*[out / f.name for f in keys.files]) as temps:
        for tmp, f in zip(temps, keys.files):
            tmp.write_text(f.text, encoding="utf-8")
    return keys


# -- the daemon's monthly job ---------------------------------------------------------------

def last_final_month(now_s: float, *, step_s: int, grace_s: float, window_s: float,
                     tz: str = "Europe/Paris") -> str:
    """The latest local month (``YYYY-MM``) whose every step is final at ``now_s``.

    A step is closed ``grace_s`` after its end and may be recomputed (late data) during the
    daemon's recompute window (:mod:`pvshare.live.closing`); steps that started before
    ``closable_until - window`` never change again. The month before the one holding that
    instant is therefore final.
    """
    end = int((now_s - grace_s) // step_s * step_s)
    final = int((end - window_s) // step_s * step_s)
    local = int(_local_seconds(np.array([final], dtype=np.int64).astype("datetime64[s]"),
                               tz)[0])
    month = np.datetime64(local, "s").astype("datetime64[M]") - np.timedelta64(1, "M")
    return str(month)


@dataclass(frozen=True)
class KeyJob:
    """What :func:`monthly_key_job` did: ``written`` is False when the file was already
    there (it is never rewritten).
    """

    month: str
    path: object                     # pathlib.Path
    written: bool


def monthly_key_job(cfg, store, now_s: float) -> KeyJob | None:
    """The daemon's monthly key file: once a local month is final, write its Enedis key file
    into ``[operation] key_dir``, exactly once.

    The same code as ``pvshare enedis keys`` (:func:`write_month_key_files`) on the daemon's
    open ``store``. The memory is the store (table ``key_files``, per month and file): a
    file once written is never written again, even if it was deleted since; a file of that
    name already in the folder (written by hand, or before pvshare remembered) is recorded
    and left as it is. The daemon calls this after every close and at start-up, so the file
    comes as soon as the month's last step is final. Returns None when the job is off (no ``key_dir``) or the store's
    first reading is after the month's start (the daemon was installed during the month).

    Raises
    ------
    pvshare.errors.InputError
        The store lacks some steps of the month (the daemon was stopped, or the inverter
        silent, for hours): no file is written; the PMO must build that month's keys otherwise (``pvshare allocate
        --enedis-keys`` from the meters' curves).
    """
    import logging
    from pathlib import Path

    from pvshare.billing.prices import month_bounds
    from pvshare.timegrid import step_seconds
    if not cfg.operation.key_dir:
        return None
    tz = cfg.site.timezone
    step_s = step_seconds(cfg.site.step)
    month = last_final_month(now_s, step_s=step_s, grace_s=cfg.daemon.grace_s,
                             window_s=cfg.daemon.recompute_window_h * 3600.0, tz=tz)
    a, b = month_bounds(month, tz)
    day1 = np.datetime64(month + "-01")
    last = (np.datetime64(month, "M") + np.timedelta64(1, "M")).astype("datetime64[D]") \
        - np.timedelta64(1, "D")
    folder = Path(cfg.relative(cfg.operation.key_dir))
    target = folder / file_name(normalise_operation(cfg.operation.id), step_s // 60, day1,
                                last)
    outcome = store.key_file_outcome(month, str(target))
    if outcome == "skipped":
        return None
    if outcome is not None:
        return KeyJob(month, target, False)
    if target.exists():                          # written by hand or by an older pvshare
        store.record_key_file(month, str(target), "found")
        return KeyJob(month, target, False)
    first = store.first_reading_time()
    if first is None:
        return None                              # nothing stored yet: nothing to say
    if first > a:
        # The daemon started during (or after) this month: it cannot have its keys. Not an
        # error (every installation starts so); the month's keys come from elsewhere.
        logging.getLogger("pvshare.enedis.keyfile").info(
            "no key file for %s: the store starts after the month's beginning", month)
        store.record_key_file(month, str(target), "skipped")
        return None
    keys = write_month_key_files(cfg, month, folder, store=store)
    store.record_key_file(month, str(target), "written")
    lost = float(keys.lost_wh.sum()) / 1000
    logging.getLogger("pvshare.enedis.keyfile").info(
        "key file for %s written: %s (%.3f kWh lost to rounding)", month, target, lost)
    return KeyJob(month, target, True)
