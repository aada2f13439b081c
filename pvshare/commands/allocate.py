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
    kwp: float = typer.Option(None, "--kwp", min=0.001, max=100_000,
                              help="Peak power of the array, kW: a production above what it "
                              "can make in a step is refused"),
    kva: float = typer.Option(None, "--kva", min=0.1, max=250,
                              help="Subscribed power of the flats, kVA: a consumption above "
                              "what it allows in a step is refused"),
    config: Path = typer.Option(None, "--config", help="Site TOML: --kwp from [array] kwp and "
                                "--kva from [tariffs] subscribed_kva (the plausibility limits)"),
) -> None:
    """Allocate each step's production among the participants with an ACC key."""
    from rich.console import Console

    from pvshare.allocation.files import allocate_files
    from pvshare.allocation.summary import summary_table
    if config is not None:
        from pvshare.config import load_config
        cfg = load_config(config)
        kwp = kwp if kwp is not None else cfg.array.kwp
        kva = kva if kva is not None else cfg.tariffs.subscribed_kva

    done = allocate_files(production, consumption, key, out, coefficients=coefficients,
                          step=step, enedis_keys=enedis_keys, prm_map=prm_map, kwp=kwp,
                          kva=kva)
    console = Console()
    for note in done.notes:
        Console(stderr=True).print(f"[yellow]warning:[/] {note}", highlight=False,
                                   soft_wrap=True)
    console.print(summary_table(done.result, done.participants, title=f"Allocation — key '{key}'"))
    console.print(f"written: {out}" + (f", {enedis_keys}" if enedis_keys else ""))
