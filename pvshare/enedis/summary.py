"""What the key files' rounding costs, as a rich table for the ``pvshare allocate`` summary."""

from __future__ import annotations

from rich.table import Table

from pvshare.enedis.keyfile import KeyFiles


def _kwh(wh: float) -> str:
    return f"{wh / 1000:,.3f}".replace(",", " ")


def rounding_table(keys: KeyFiles, participants: list[str], prms: list[str] | None = None
                   ) -> Table:
    """Per participant: exact allocation, what Enedis gives back from the files, the loss.

    The title carries the total lost (kWh and % of the exact self-consumption).
    """
    exact, lost = float(keys.exact_wh.sum()), float(keys.lost_wh.sum())
    pct = 100 * lost / exact if exact > 0 else 0.0
    table = Table(title=f"Key files ({len(keys.files)}, {keys.decimals} decimals): lost to "
                  f"rounding {_kwh(lost)} kWh ({pct:.4f} % of {_kwh(exact)} kWh)",
                  title_justify="left")
    table.add_column("participant")
    if prms is not None:
        table.add_column("PRM")
    table.add_column("exact kWh", justify="right")
    table.add_column("Enedis kWh", justify="right")
    table.add_column("lost kWh", justify="right")
    for i, name in enumerate(participants):
        cells = [name] + ([prms[i]] if prms is not None else [])
        table.add_row(*cells, _kwh(keys.exact_wh[i]), _kwh(keys.enedis_wh[i]),
                      _kwh(keys.lost_wh[i]))
    return table
