"""``pvshare enedis …``: Enedis files for the energy advisor and the PMO.

- ``pvshare enedis curves FILE... --out consumption.csv``: households' load-curve exports (one
  per meter) → the consumption CSV that ``pvshare allocate`` reads;
- ``pvshare enedis keys --config F --month YYYY-MM --out DIR``: the month's key file from the
  store;
- ``pvshare enedis reconcile --config F --month YYYY-MM FILE...``: Enedis's monthly figures
  beside pvshare's.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pvshare.i18n import _

app = typer.Typer(help="Enedis files: households' load curves, key files, reconciliation.",
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
    typer.echo(_("{n} meter(s), {steps} steps of {step} ({first} to {last} UTC)").format(
        n=len(t.prms), steps=t.times.size, step=step, first=format_utc(t.times[:1])[0][:16],
        last=format_utc(t.times[-1:])[0][:16]))
    for s in t.summaries:
        origin = {"file": "", "name": _(" (PRM from the file name)"),
                  "option": _(" (PRM from --prm)")}[s.prm_from]
        names = ", ".join(Path(x).name for x in s.source.split(", "))
        typer.echo(_("  {prm}{origin}  {names}: {first} to {last} UTC, {values} values, "
                     "{missing} missing, steps of {steps} min; estimated {estimated}, "
                     "corrected {corrected}, doubtful {doubtful}, spread {spread}").format(
            prm=s.prm, origin=origin, names=names, first=format_utc([s.first])[0][:16],
            last=format_utc([s.last])[0][:16], values=s.values, missing=s.missing,
            steps="/".join(map(str, s.steps_min)), estimated=s.estimated,
            corrected=s.corrected, doubtful=s.doubtful, spread=s.spread))
        for w in s.warnings:
            typer.echo(_("  warning: {warning}").format(warning=w))
    typer.echo(_("written: {files}").format(files=out))


@app.command("reconcile")
def reconcile(
    files: list[Path] = typer.Argument(..., help="Enedis's files for the month (R15 ACC XML "
                                       "or per-step CSV)"),
    config: Path = typer.Option(..., "--config", help="Site configuration (TOML)"),
    month: str = typer.Option(..., "--month", help="YYYY-MM (local calendar month)"),
    out: Path = typer.Option(None, "--out", help="Also write the comparison as CSV"),
) -> None:
    """Per PRM: Enedis's CONS and AUTOCONS beside pvshare's, the gap and its likely cause."""
    from rich.console import Console
    from rich.table import Table

    from pvshare.enedis.reconcile import reconcile_files

    result = reconcile_files(config, month, files, out)
    table = Table(title=_("Enedis vs pvshare — {month} (AUTOCONS, kWh)").format(month=month),
                  title_justify="left")
    for n, c in enumerate(("#", "PRM", _("participants"), "Enedis", "pvshare", _("gap"),
                           _("gap %"))):
        table.add_column(c, justify="left" if n in (1, 2) else "right")
    causes = []
    for n, r in enumerate(result.rows, start=1):
        table.add_row(str(n), r["prm"], r["participants"],
                      *["" if r[c] is None else str(r[c]) for c in
                        ("enedis_autocons_kwh", "pvshare_autocons_kwh", "diff_autocons_kwh",
                         "diff_autocons_pct")])
        causes.append(f"{n}. {r['likely_cause']}")
    console = Console()
    console.print(table)
    console.print("\n".join(causes), markup=False, highlight=False, soft_wrap=True)
    for line in operation_lines(result.totals):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _kwh(value) -> str:
    return f"{value:g} kWh"


def operation_lines(t: dict) -> list[str]:
    """The operation's totals as printed by ``pvshare enedis reconcile``: every PRM of
    both sides counted, the gap on the totals, the PRMs found on one side only named.
    """
    pct = "" if t["diff_autocons_pct"] is None else f" ({t['diff_autocons_pct']:+g} %)"
    lines = [
        _("operation, every PRM of both sides: AUTOCONS Enedis {e}, pvshare {p}, gap {gap}"
          "{pct}; CONS Enedis {ec}, pvshare {pc}, gap {gc}").format(
            e=_kwh(t["enedis_autocons_kwh"]), p=_kwh(t["pvshare_autocons_kwh"]),
            gap=_kwh(t["diff_autocons_kwh"]), pct=pct, ec=_kwh(t["enedis_cons_kwh"]),
            pc=_kwh(t["pvshare_cons_kwh"]), gc=_kwh(t["diff_cons_kwh"]))]

    def named(r, side):
        who = "" if r["participants"] == "-" else f" {r['participants']}"
        auto = r[f"{side}_autocons_kwh"]
        return f"{r['prm']}{who} (AUTOCONS {'-' if auto is None else _kwh(auto)})"

    if t["only_enedis"]:
        lines.append(_("only at Enedis ({n} PRM, not participants this month in the config): "
                       "{prms}").format(n=len(t["only_enedis"]), prms=", ".join(
                           named(r, "enedis") for r in t["only_enedis"])))
    if t["only_pvshare"]:
        lines.append(_("only in pvshare ({n} PRM, absent from Enedis's files): {prms}").format(
            n=len(t["only_pvshare"]), prms=", ".join(named(r, "pvshare")
                                                      for r in t["only_pvshare"])))
    if not t["only_enedis"] and not t["only_pvshare"]:
        lines.append(_("every PRM is on both sides"))
    return lines


@app.command("keys")
def keys(
    config: Path = typer.Option(..., "--config", help="Site configuration (TOML)"),
    month: str = typer.Option(..., "--month", help="YYYY-MM (local calendar month)"),
    out: Path = typer.Option(..., "--out", help="Folder for the key file"),
    operation: str = typer.Option(None, "--operation", help="Enedis operation id (default: "
                                  "[operation] id of the config)"),
    enedis_time: str = typer.Option(None, "--enedis-time", help="local | iso (default: "
                                    "[operation] key_time)"),
    enedis_decimals: int = typer.Option(None, "--enedis-decimals", help="1 | 2 (default: "
                                        "[operation] key_decimals)"),
) -> None:
    """Write the month's key file from what the daemon stored (rounded without loss)."""
    from rich.console import Console

    from pvshare.config import load_config
    from pvshare.enedis.keyfile import write_month_key_files
    from pvshare.enedis.summary import rounding_table
    from pvshare.errors import InputError

    if enedis_time not in (None, "local", "iso"):
        raise InputError(_("must be local or iso, got {value!r}").format(value=enedis_time),
                         field="--enedis-time")
    if enedis_decimals not in (None, 1, 2):
        raise InputError(_("must be 1 or 2, got {value!r}").format(value=enedis_decimals),
                         field="--enedis-decimals")
    cfg = load_config(config)
    done = write_month_key_files(cfg, month, out, operation=operation,
                                 decimals=enedis_decimals, time_style=enedis_time)
    console = Console()
    console.print(rounding_table(done, cfg.participant_ids,
                                 [p.prm for p in cfg.participants]))
    console.print(_("written: {files}").format(
        files=", ".join(str(out / f.name) for f in done.files)))
