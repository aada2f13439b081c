"""``pvshare allocate``: share production among participants from CSV files."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from pvshare.allocation.spec import KeyName
from pvshare.timegrid import STEPS

#: The step lengths (ISO 8601 durations) pvshare works with.
Step = enum.StrEnum("Step", {s: s for s in STEPS})


def allocate(
    production: Path = typer.Option(..., "--production", help="CSV: time,production_wh"),
    consumption: Path = typer.Option(..., "--consumption",
                                     help="CSV: time,<participant>,… (Wh; empty = missing)"),
    key: KeyName = typer.Option(..., "--key", help="The allocation key."),
    out: Path = typer.Option(..., "--out", help="Output CSV: time,participant,consumption_wh,"
                             "allocated_wh,complement_wh"),
    coefficients: Path = typer.Option(None, "--coefficients",
                                      help="CSV: participant,coefficient[,rank]; for custom: "
                                      "time,<participant>,…"),
    step: Step = typer.Option("PT30M", "--step", case_sensitive=False,
                              help="Step length of the files."),
    enedis_keys: Path = typer.Option(None, "--enedis-keys",
                                     help="Also write the Enedis key file here (needs --prm-map)"),
    prm_map: Path = typer.Option(None, "--prm-map", help="CSV: participant,prm"),
) -> None:
    """Allocate each step's production among the participants with an ACC key."""
    from rich.console import Console

    from pvshare.allocation.files import allocate_files
    from pvshare.allocation.summary import summary_table

    done = allocate_files(production, consumption, key.value, out, coefficients=coefficients,
                          step=step.value, enedis_keys=enedis_keys, prm_map=prm_map)
    console = Console()
    console.print(summary_table(done.result, done.participants, title=f"Allocation — key '{key.value}'"))
    console.print(f"written: {out}" + (f", {enedis_keys}" if enedis_keys else ""))
