"""A short, readable summary of an allocation (rich renderables)."""

from __future__ import annotations

import numpy as np
from rich.table import Table


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
    table.add_row("steps", f"{t['steps']:,}".replace(",", " ")
                  + (f" ({t['incomplete_steps']} incomplete)" if t["incomplete_steps"] else ""))
    table.add_row("production (PROD)", kwh(t["production_wh"]))
    table.add_row("self-consumed (AUTOPROD)", kwh(t["self_consumed_wh"]))
    table.add_row("surplus (SURPLUS)", kwh(t["surplus_wh"]))
    table.add_row("consumption (CONS)", kwh(t["consumption_wh"]))
    table.add_row("from the supplier (COMPLEMENT)", kwh(t["complement_wh"]))
    table.add_row("self-consumption rate", f"{100 * t['self_consumption_rate']:.1f} %")
    table.add_row("self-sufficiency", f"{100 * t['self_sufficiency']:.1f} %")
    if participants:
        suff = per["self_sufficiency"]
        best, worst = int(np.argmax(suff)), int(np.argmin(suff))
        table.add_row("best served", f"{participants[best]}: {100 * suff[best]:.1f} % "
                      f"({kwh(per['allocated_wh'][best])} of {kwh(per['consumption_wh'][best])})")
        table.add_row("least served", f"{participants[worst]}: {100 * suff[worst]:.1f} % "
                      f"({kwh(per['allocated_wh'][worst])} of {kwh(per['consumption_wh'][worst])})")
    return table
