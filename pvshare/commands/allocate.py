"""``pvshare allocate``: share production among participants from CSV files."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from pvshare.allocation.spec import KeyName
from pvshare.timegrid import STEPS

#: The step lengths (ISO 8601 durations) pvshare works with.
Step = enum.StrEnum("Step", {s: s for s in STEPS})


class EnedisTime(enum.StrEnum):
    local = "local"
    iso = "iso"


class EnedisDecimals(enum.StrEnum):
    one = "1"
    two = "2"


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
                                     help="Also write the Enedis key files, one per month, in "
                                     "this folder (needs --prm-map and --operation)"),
    prm_map: Path = typer.Option(None, "--prm-map", help="CSV: participant,prm"),
    participants: Path = typer.Option(None, "--participants",
                                      help="CSV: participant,prm,from,to (from included, to "
                                      "excluded; local dates or ISO times; empty = open)"),
    operation: str = typer.Option(None, "--operation",
                                  help="Enedis operation id, e.g. 00000001 (files ACC<id>_…)"),
    enedis_time: EnedisTime = typer.Option(EnedisTime.local, "--enedis-time",
                                           help="Horodate: local (01/11/2024 00:00) or iso "
                                           "(with UTC offset)"),
    enedis_decimals: EnedisDecimals = typer.Option(EnedisDecimals.two, "--enedis-decimals",
                                                   help="decimals of a percent in key files"),
    kwp: float = typer.Option(None, "--kwp", min=0.001, max=100_000,
                              help="Peak power of the array, kW: a production above what it "
                              "can make in a step is refused"),
    kva: float = typer.Option(None, "--kva", min=0.1, max=250,
                              help="Subscribed power of the flats, kVA: a consumption above "
                              "what it allows in a step is refused"),
    config: Path = typer.Option(None, "--config", help="Site TOML: --kwp from [array] kwp and "
                                "--kva from [tariffs] subscribed_kva (the plausibility limits); "
                                "the PRMs and --operation of the key files"),
) -> None:
    """Allocate each step's production among the participants with an ACC key."""
    from rich.console import Console
    from rich.markup import escape

    from pvshare.allocation.files import allocate_files
    from pvshare.allocation.summary import summary_table
    if config is not None:
        from pvshare.config import load_config
        cfg = load_config(config)
        kwp = kwp if kwp is not None else cfg.array.kwp
        kva = kva if kva is not None else cfg.tariffs.subscribed_kva
        config_prms = {p.id: p.prm for p in cfg.participants}
        operation = operation or cfg.operation.id
    else:
        config_prms = None

    done = allocate_files(production, consumption, key.value, out, coefficients=coefficients,
                          step=step.value, enedis_keys=enedis_keys, prm_map=prm_map,
                          operation=operation, enedis_time=enedis_time.value,
                          enedis_decimals=int(enedis_decimals.value),
                          participants=participants, kwp=kwp, kva=kva,
                          config_prms=config_prms, config_source=str(config))
    console = Console()
    from pvshare.i18n import _
    for note in done.notes:
        Console(stderr=True).print(_("[yellow]warning:[/] {note}").format(note=escape(note)),
                                   highlight=False, soft_wrap=True)
    console.print(summary_table(done.result, done.participants,
                                title=_("Allocation — key '{key}'").format(key=key.value)))
    written = [str(out)]
    if done.key_files is not None:
        from pvshare.enedis.summary import rounding_table
        console.print(rounding_table(done.key_files, done.participants, done.prms))
        written += [str(Path(enedis_keys) / f.name) for f in done.key_files.files]
    console.print(_("written: {files}").format(files=", ".join(written)), markup=False)
