"""``pvshare allocate``: share production among participants from CSV files."""

from __future__ import annotations

from pathlib import Path

import typer


def allocate(
    production: Path = typer.Option(..., "--production", help="CSV: time,production_wh"),
    consumption: Path = typer.Option(..., "--consumption",
                                     help="CSV: time,<participant>,… (Wh; empty = missing)"),
    key: str = typer.Option(..., "--key",
                            help="prorata | static | reallocated | priority | custom"),
    out: Path = typer.Option(..., "--out", help="Output CSV: time,participant,consumption_wh,"
                             "allocated_wh,complement_wh"),
    coefficients: Path = typer.Option(None, "--coefficients",
                                      help="CSV: participant,coefficient[,rank]; for custom: "
                                      "time,<participant>,…"),
    step: str = typer.Option("PT30M", "--step", help="PT30M or PT15M"),
    enedis_keys: Path = typer.Option(None, "--enedis-keys",
                                     help="Also write the Enedis key file here (needs --prm-map)"),
    prm_map: Path = typer.Option(None, "--prm-map", help="CSV: participant,prm"),
) -> None:
    """Allocate each step's production among the participants with an ACC key."""
    from rich.console import Console

    from pvshare.allocation.files import allocate_files
    from pvshare.allocation.summary import summary_table

    done = allocate_files(production, consumption, key, out, coefficients=coefficients,
                          step=step, enedis_keys=enedis_keys, prm_map=prm_map)
    console = Console()
    from pvshare.i18n import _
    console.print(summary_table(done.result, done.participants,
                                title=_("Allocation — key '{key}'").format(key=key)))
    console.print(_("written: {files}").format(
        files=f"{out}" + (f", {enedis_keys}" if enedis_keys else "")), markup=False)
