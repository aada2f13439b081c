"""``pvshare bill``: the month's bills, one line per participant and period."""

from __future__ import annotations

from pathlib import Path

import typer


def bill(
    config: Path = typer.Option(..., "--config", help="Site configuration (TOML) with [[prices]]"),
    month: str = typer.Option(..., "--month", help="YYYY-MM (local calendar month)"),
    out: Path = typer.Option(..., "--out", help="Output CSV, one line per participant and period"),
    enedis: list[Path] = typer.Option(None, "--enedis",
                                      help="Enedis's files for the month (bill on Enedis's "
                                      "AUTOCONS instead of pvshare's store); repeatable"),
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete",
                                          help="Bill a month whose steps are not all "
                                          "measured (each line carries its completeness)"),
) -> None:
    """Bill the participants for a month, in integer cents that add up to the total.

    A month whose steps are not all measured is refused (exit code 2, naming the
    participants and the share of steps missing) unless --allow-incomplete.
    """
    from rich.console import Console

    from pvshare.billing.month import bill_month
    from pvshare.config import load_config

    cfg = load_config(config)
    fig = bill_month(cfg, month, out, enedis_files=list(enedis or []),
                     allow_incomplete=allow_incomplete)
    bills = fig.bills
    assert bills is not None
    t = bills.totals
    source = bills.lines[0]["source"] if bills.lines else "-"

    from pvshare.billing.month import unmeasured
    incomplete = unmeasured(fig)

    def eur(c: int) -> str:
        return f"{c / 100:,.2f} €".replace(",", " ").replace(".", ",")

    from pvshare.i18n import _
    summary = _("{month}: {n} lines from {source}'s figures, {kwh} kWh; before tax {ht}, "
                "VAT {vat}, total {total}, saving {saving}").format(
        month=month, n=len(bills.lines), source=source, kwh=f"{t['kwh_selfconsumed']:.3f}",
        ht=eur(t["before_tax_cents"]), vat=eur(t["vat_cents"]), total=eur(t["total_cents"]),
        saving=eur(t["saving_cents"]))
    if incomplete:
        summary += _("; {n} participant(s) not fully measured (column "
                     "completeness_percent)").format(n=len(incomplete))
    Console().print(summary + "\n" + _("written: {files}").format(files=out),
                    highlight=False, soft_wrap=True)
