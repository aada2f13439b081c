"""Tables of the store as CSV or Parquet files (what ``pvshare export`` does).

- ``readings``: ``time,meter,import_wh,export_wh,power_w,quality`` (time to the millisecond);
- ``steps``: ``time,meter,energy_wh,flags`` (energy per step of each meter);
- ``allocation``: ``time,participant,consumption_wh,allocated_wh,complement_wh``, exactly the
  columns and number format of ``pvshare allocate``'s OUT.csv, so the two compare line by line;
- ``figures``: one row per local month and participant, the month's figures as the bill, the
  statement and the web page show them (:func:`pvshare.billing.figures.month_figures`):
  :data:`FIGURE_COLUMNS`, whole Wh and whole cents (empty without prices). Every month the
  window touches is exported whole.

Times are UTC ISO 8601 with ``+00:00``; steps are labelled by their start; an empty cell is a
missing value. The file is written atomically: on any error no partial file is left.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from pvshare.errors import InputError
from pvshare.i18n import _


class Table(enum.StrEnum):
    """What to export."""

    READINGS = "readings"
    STEPS = "steps"
    ALLOCATION = "allocation"
    FIGURES = "figures"


#: The columns of ``--what figures``.
FIGURE_COLUMNS = ["month", "participant", "prm", "from", "to", "source", "consumption_wh",
                  "autocons_wh", "complement_wh", "steps", "measured_steps",
                  "completeness_percent", "total_cents", "saving_cents"]


class ExportFormat(enum.StrEnum):
    """The file format of an export."""

    CSV = "csv"
    PARQUET = "parquet"


def parse_time(text: str, tz: str, option: str) -> int:
    """UTC Unix seconds of an ISO 8601 date or date-time; one without an offset is taken
    in the site's time zone ``tz`` (``2026-03-01`` = local midnight).
    """
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(_("not an ISO 8601 date or time: {text!r} (e.g. 2026-03-01 or "
                           "2026-03-01T00:00:00+01:00)").format(text=text),
                         field=option) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(tz))
    return int(t.timestamp())


def export_frame(store, what: str, from_s: int, to_s: int, meters: list[str] | None = None,
                 cfg=None):
    """The table to export, as a pandas DataFrame (long format, times as UTC strings).

    Parameters
    ----------
    store : pvshare.store.Store
    what : {'readings', 'steps', 'allocation'}
    from_s, to_s : int
        Window ``from_s <= time < to_s``, UTC Unix seconds.
    meters : list of str, optional
        Only these meters (readings and steps); default every meter of the store.
    cfg : pvshare.config.Config, optional
        With it, the allocation keeps each participant's rows within its period only.
    """
    import pandas as pd

    from pvshare.files.csvio import allocation_frame
    from pvshare.timegrid import format_utc, from_epoch_seconds

    if what == "figures":
        return figures_frame(store, from_s, to_s, cfg)
    table = {"readings": "readings", "steps": "step_energy", "allocation": "allocation"}[what]
    store.verify(table)
    expected = store.row_count(table, from_s, to_s, meters)
    if what == "allocation":
        a = store.allocation(from_s, to_s)
        _check_count(store, what, a.rows_read, expected)
        # Same table as `pvshare allocate` writes.
        times = from_epoch_seconds(a.step_starts_s)
        active = None
        if cfg is not None and a.participant_ids:
            known = cfg.active(times)
            cols = {p: i for i, p in enumerate(cfg.participant_ids)}
            active = np.column_stack([known[:, cols[p]] if p in cols else
                                      np.ones(len(times), bool) for p in a.participant_ids])
        return allocation_frame(times, a.participant_ids, a.consumption_wh, a.allocated_wh,
                                active=active)
    ids = meters or store.meter_ids()
    parts = []
    for mid in ids:
        if what == "readings":
            r = store.readings(mid, from_s, to_s)
            ms = np.round(r.time_s * 1000).astype(np.int64).astype("datetime64[ms]")
            parts.append(pd.DataFrame({
                "time": [f"{t}+00:00" for t in ms.astype(str)],
                "meter": mid, "import_wh": r.import_wh, "export_wh": r.export_wh,
                "power_w": r.power_w, "quality": r.quality.astype(np.int64)}))
        else:
            e = store.step_energy(mid, from_s, to_s)
            parts.append(pd.DataFrame({
                "time": format_utc(from_epoch_seconds(e.step_starts_s)), "meter": mid,
                "energy_wh": e.energy_wh, "flags": e.flags}))
    _check_count(store, what, sum(len(p) for p in parts), expected)
    cols = (["time", "meter", "import_wh", "export_wh", "power_w", "quality"]
            if what == "readings" else ["time", "meter", "energy_wh", "flags"])
    if not parts:
        return pd.DataFrame({c: [] for c in cols})
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["time", "meter"], kind="stable", ignore_index=True)[cols]


def figures_frame(store, from_s: int, to_s: int, cfg):
    """``--what figures``: each participant's figures of every local month touched by
    ``[from_s, to_s)`` (months with nothing stored are left out).
    """
    import pandas as pd

    from pvshare.billing.month import figures_for_month, month_from_store
    tz = cfg.site.timezone
    first = dt.datetime.fromtimestamp(from_s, ZoneInfo(tz))
    last = dt.datetime.fromtimestamp(to_s - 1, ZoneInfo(tz))
    rows = []
    for k in range(first.year * 12 + first.month - 1, last.year * 12 + last.month):
        month = f"{k // 12:04d}-{k % 12 + 1:02d}"
        m = month_from_store(cfg, month, store=store)
        if not m.stored.any():
            continue
        fig = figures_for_month(cfg, month, m=m)
        for p in fig.participants:
            rows.append({"month": month, "source": fig.source, **p.record()})
    frame = pd.DataFrame(rows, columns=FIGURE_COLUMNS)
    for col in ("total_cents", "saving_cents"):
        frame[col] = frame[col].astype("Int64")
    return frame


def _check_count(store, what: str, read: int, expected: int) -> None:
    """Fail rather than export fewer rows than the store holds (a damaged store)."""
    from pvshare.store import StoreError
    if read != expected:
        raise StoreError(_("{path}: read {read:,} {what} rows where the store counts "
                           "{expected:,}: the store is damaged, nothing was exported "
                           "(`pvshare store check`, then `pvshare store salvage --out "
                           "NEW.db`)").format(path=store.path, read=read, what=what,
                                              expected=expected))


def write_frame(frame, what: str, fmt: str, out: Path) -> None:
    """Write atomically as CSV (3 decimals for Wh/W, empty = missing) or Parquet."""
    from pvshare.files.atomic import atomic_writes
    from pvshare.files.csvio import write_allocation_csv, write_frame_csv
    with atomic_writes(out) as (tmp,):   # per-tenant data: private (0600)
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError(_("Parquet needs the pyarrow package: pip install pyarrow"),
                                 field="--format") from None
            frame.to_parquet(tmp, index=False)
        elif what == "allocation":
            write_allocation_csv(tmp, frame)
        elif what == "figures":
            frame.to_csv(tmp, index=False, na_rep="")
        else:
            write_frame_csv(tmp, frame, float_format="%.3f")


def export_store(config: str | os.PathLike, what: str, from_: str, to: str,
                 fmt: str, out: str | os.PathLike, meters: list[str] | None = None) -> int:
    """Export a table of the site's store to ``out`` (``pvshare export``).

    Parameters
    ----------
    config : str or os.PathLike
        The site's TOML configuration (its store, its time zone).
    what : {'readings', 'steps', 'allocation'}
    from_, to : str
        Window, ISO 8601 (without an offset: the site's local time); ``from_`` included,
        ``to`` excluded.
    fmt : {'csv', 'parquet'}
    out : str or os.PathLike
        The file written (atomically).
    meters : list of str, optional
        Only these meters (readings and steps).

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    InputError
        A bad time or window (naming the option), or no pyarrow for Parquet.
    """
    from pvshare.config import load_config
    from pvshare.store import Store

    for value, choices, option in ((what, Table, "--what"), (fmt, ExportFormat, "--format")):
        if value not in set(choices):
            raise InputError(_("must be one of {choices}, got {value!r}").format(
                choices=", ".join(choices), value=value), field=option)
    cfg = load_config(config)
    from_s = parse_time(from_, cfg.site.timezone, "--from")
    to_s = parse_time(to, cfg.site.timezone, "--to")
    if to_s <= from_s:
        raise InputError(_("--to ({to}) must be after --from ({from_})").format(
            to=to, from_=from_), field="--to")
    if Path(out).is_dir():
        raise InputError(_("is a folder: give a file name"), source=str(out), field="--out")
    if meters and what == "allocation":
        raise InputError(_("only for --what readings or steps (the allocation is per "
                           "participant)"), field="--meter")
    with Store.from_config(cfg, create=False, readonly=True) as store:
        if meters:                 # an unknown id would export nothing, without a word
            known = set(store.meter_ids()) | {m.id for m in cfg.meters}
            unknown = [m for m in meters if m not in known]
            if unknown:
                raise InputError(_("no meter {meter!r} in the store or the configuration "
                                   "(meters: {meters})").format(
                                       meter=unknown[0][:40],
                                       meters=", ".join(sorted(known))[:200]),
                                 field="--meter")
        frame = export_frame(store, what, from_s, to_s, meters or None, cfg=cfg)
    write_frame(frame, what, fmt, Path(out))
    return len(frame)
