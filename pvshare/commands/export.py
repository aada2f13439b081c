"""``pvshare export``: tables of the store as CSV or Parquet files (thin: the work is
:func:`pvshare.store.export.export_store`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from pvshare.i18n import _
from pvshare.store.export import ExportFormat, Table


def export(
    config: Path = typer.Option(..., "--config", "-c", envvar="PVSHARE_CONFIG",
                                help="The site's TOML configuration file."),
    what: Table = typer.Option(..., "--what", help="readings | steps | allocation | figures (each participant's month: kWh, "
                                "completeness, total and saving, as billed)"),
    from_: str = typer.Option(..., "--from", help="Start (ISO 8601; without an offset = the "
                              "site's local time), included."),
    to: str = typer.Option(..., "--to", help="End (ISO 8601), excluded."),
    fmt: ExportFormat = typer.Option(ExportFormat.CSV, "--format", help="csv | parquet"),
    out: Path = typer.Option(..., "--out", help="Output file."),
    meter: list[str] = typer.Option(None, "--meter", help="Only this meter (repeatable; "
                                    "readings and steps)."),
) -> None:
    """Export readings, step energies or allocation results of the store to a file."""
    from pvshare.store.export import export_store
    rows = export_store(config, what.value, from_, to, fmt.value, out, meter or None)
    typer.echo(_("{file}: {n} rows ({what}, {format})").format(
        file=out, n=rows, what=what.value, format=fmt.value))
