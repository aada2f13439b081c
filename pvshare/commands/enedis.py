"""``pvshare enedis …``: Enedis files for the energy advisor.

``pvshare enedis curves FILE... --out consumption.csv``: households' load-curve exports (one
per meter) → the consumption CSV that ``pvshare allocate`` reads.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Enedis files: households' load curves, key files.",
                  no_args_is_help=True)


@app.command("curves")
def curves(
    files: list[Path] = typer.Argument(..., help="One Enedis load-curve export per meter "
                                       "(either layout, .csv or .csv.gz)."),
    out: Path = typer.Option(..., "--out", help="The consumption CSV to write: "
                             "time,<PRM>,<PRM>,… in Wh per step (empty = missing)."),
    step: str = typer.Option("PT30M", "--step", help="PT30M or PT15M."),
    prm: list[str] = typer.Option(None, "--prm", help="The PRM of each file, in the same order "
                                  "(default: from the file, else from its name)."),
    quantity: str = typer.Option("consumption", "--quantity",
                                 help="consumption or production (Grandeur métier)."),
    max_kva: float = typer.Option(36.0, "--max-kva", min=1,
                                  help="Largest plausible average power, kVA (36: household)."),
) -> None:
    """Turn households' load curves into the consumption CSV of ``pvshare allocate``."""
    from pvshare.enedis.curves import curves_to_consumption
    from pvshare.timegrid import format_utc

    t = curves_to_consumption(files, out, step=step, prms=prm or None, quantity=quantity,
                              max_kva=max_kva)
    typer.echo(f"{len(t.prms)} meter(s), {t.times.size} steps of {step} "
               f"({format_utc(t.times[:1])[0][:16]} to {format_utc(t.times[-1:])[0][:16]} UTC)")
    for s in t.summaries:
        origin = {"file": "", "name": " (PRM from the file name)",
                  "option": " (PRM from --prm)"}[s.prm_from]
        names = ", ".join(Path(x).name for x in s.source.split(", "))
        typer.echo(
            f"  {s.prm}{origin}  {names}: {format_utc([s.first])[0][:16]} to "
            f"{format_utc([s.last])[0][:16]} UTC, {s.values} values, {s.missing} missing, "
            f"steps of {'/'.join(map(str, s.steps_min))} min; estimated {s.estimated}, "
            f"corrected {s.corrected}, doubtful {s.doubtful}, spread {s.spread}")
        for w in s.warnings:
            typer.echo(f"  warning: {w}")
    typer.echo(f"written: {out}")
