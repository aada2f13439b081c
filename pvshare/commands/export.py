"""``pvshare export``: tables of the store as CSV or Parquet files.

- ``readings``: ``time,meter,import_wh,export_wh,power_w,quality`` (time to the millisecond);
- ``steps``: ``time,meter,energy_wh,flags`` (energy per step of each meter);
- ``allocation``: ``time,participant,consumption_wh,allocated_wh,complement_wh``, exactly the
  columns and number format of ``pvshare allocate``'s OUT.csv, so the two compare line by line.

Times are UTC ISO 8601 with ``+00:00``; steps are labelled by their start; an empty cell is a
missing value. The file is written atomically: on any error no partial file is left.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import typer

from pvshare.errors import InputError

WHAT = ("readings", "steps", "allocation")
FORMATS = ("csv", "parquet")


def parse_time(text: str, tz: str, option: str) -> int:
    """UTC Unix seconds of an ISO 8601 date or date-time; one without an offset is taken
    in the site's time zone ``tz`` (``2026-03-01`` = local midnight).
    """
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"not an ISO 8601 date or time: {text!r} (e.g. 2026-03-01 or "
                         "2026-03-01T00:00:00+01:00)", field=option) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(tz))
    return int(t.timestamp())


def export_frame(store, what: str, from_s: int, to_s: int, meters: list[str] | None = None):
    """The table to export, as a pandas DataFrame (long format, times as UTC strings).

    Parameters
    ----------
    store : pvshare.store.Store
    what : {'readings', 'steps', 'allocation'}
    from_s, to_s : int
        Window ``from_s <= time < to_s``, UTC Unix seconds.
    meters : list of str, optional
        Only these meters (readings and steps); default every meter of the store.
    """
    import pandas as pd

    from pvshare.files.csvio import allocation_frame
    from pvshare.timegrid import format_utc, from_epoch_seconds

    if what == "allocation":
        a = store.allocation(from_s, to_s)
        # Same table as `pvshare allocate` writes.
        return allocation_frame(from_epoch_seconds(a.step_starts_s), a.participant_ids,
                                a.consumption_wh, a.allocated_wh)
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
    cols = (["time", "meter", "import_wh", "export_wh", "power_w", "quality"]
            if what == "readings" else ["time", "meter", "energy_wh", "flags"])
    if not parts:
        return pd.DataFrame({c: [] for c in cols})
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["time", "meter"], kind="stable", ignore_index=True)[cols]


def write_frame(frame, what: str, fmt: str, out: Path) -> None:
    """Write atomically as CSV (3 decimals for Wh/W, empty = missing) or Parquet."""
    from pvshare.files.csvio import atomic_writes, write_allocation_csv
    with atomic_writes(out) as (tmp,):
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError("Parquet needs the pyarrow package: pip install pyarrow",
                                 field="--format") from None
            frame.to_parquet(tmp, index=False)
        elif what == "allocation":
            write_allocation_csv(tmp, frame)
        else:
            frame.to_csv(tmp, index=False, float_format="%.3f", na_rep="")


def export(
    config: Path = typer.Option(..., "--config", "-c", envvar="PVSHARE_CONFIG", help="The site's TOML configuration file."),
    what: str = typer.Option(..., "--what", help="readings | steps | allocation"),
    from_: str = typer.Option(..., "--from", help="Start (ISO 8601; without an offset = the "
                              "site's local time), included."),
    to: str = typer.Option(..., "--to", help="End (ISO 8601), excluded."),
    fmt: str = typer.Option("csv", "--format", help="csv | parquet"),
    out: Path = typer.Option(..., "--out", help="Output file."),
    meter: list[str] = typer.Option(None, "--meter", help="Only this meter (repeatable; "
                                    "readings and steps)."),
) -> None:
    """Export readings, step energies or allocation results of the store to a file."""
    from pvshare.config import load_config
    from pvshare.store import Store

    if what not in WHAT:
        raise InputError(f"must be one of {', '.join(WHAT)}, got {what!r}", field="--what")
    if fmt not in FORMATS:
        raise InputError(f"must be one of {', '.join(FORMATS)}, got {fmt!r}", field="--format")
    cfg = load_config(config)
    from_s = parse_time(from_, cfg.site.timezone, "--from")
    to_s = parse_time(to, cfg.site.timezone, "--to")
    if to_s <= from_s:
        raise InputError(f"--to ({to}) must be after --from ({from_})", field="--to")
    with Store.from_config(cfg, create=False) as store:
        frame = export_frame(store, what, from_s, to_s, meter or None)
    write_frame(frame, what, fmt, out)
    typer.echo(f"{out}: {len(frame)} rows ({what}, {fmt})")
