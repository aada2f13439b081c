"""A short, readable summary of an allocation (rich renderables)."""

from __future__ import annotations

import numpy as np
from rich.table import Table

from pvshare.i18n import _


def kwh(wh: float) -> str:
    """Wh as kWh with one decimal and a space between thousands ("1 234.6 kWh")."""
    return f"{wh / 1000:,.1f} kWh".replace(",", " ")


def summary_table(result, participants: list[str], title: str = "Allocation") -> Table:
    """Totals, the two rates, and the best- and least-served participants."""
    t = result.totals()
    per = result.per_participant()
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    incomplete = _(" ({n} incomplete)").format(n=t["incomplete_steps"])
    table.add_row(_("steps"), f"{t['steps']:,}".replace(",", " ")
                  + (incomplete if t["incomplete_steps"] else ""))
    table.add_row(_("production (PROD)"), kwh(t["production_wh"]))
    table.add_row(_("self-consumed (AUTOPROD)"), kwh(t["self_consumed_wh"]))
    table.add_row(_("surplus (SURPLUS)"), kwh(t["surplus_wh"]))
    table.add_row(_("consumption (CONS)"), kwh(t["consumption_wh"]))
    table.add_row(_("from the supplier (COMPLEMENT)"), kwh(t["complement_wh"]))
    table.add_row(_("self-consumption rate"), f"{100 * t['self_consumption_rate']:.1f} %")
    table.add_row(_("self-sufficiency"), f"{100 * t['self_sufficiency']:.1f} %")
    if participants:
        suff = per["self_sufficiency"]
        best, worst = int(np.argmax(suff)), int(np.argmin(suff))
        for label, i in ((_("best served"), best), (_("least served"), worst)):
            table.add_row(label, _("{who}: {pct} % ({got} of {used})").format(
                who=participants[i], pct=f"{100 * suff[i]:.1f}",
                got=kwh(per["allocated_wh"][i]), used=kwh(per["consumption_wh"][i])))
    return table
