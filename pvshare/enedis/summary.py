"""What the key files' rounding costs, as a rich table for the ``pvshare allocate`` summary."""

from __future__ import annotations

from rich.table import Table

from pvshare.enedis.keyfile import KeyFiles
from pvshare.i18n import _


def _kwh(wh: float) -> str:
    return f"{wh / 1000:,.3f}".replace(",", " ")


def rounding_table(keys: KeyFiles, participants: list[str], prms: list[str] | None = None
                   ) -> Table:
    """Per participant: exact allocation, what Enedis gives back from the files, the loss.

    The title carries the total lost (kWh and % of the exact self-consumption).
    """
    exact, lost = float(keys.exact_wh.sum()), float(keys.lost_wh.sum())
    pct = 100 * lost / exact if exact > 0 else 0.0
    table = Table(title=_("Key files ({n}, {decimals} decimals): lost to rounding {lost} kWh "
                          "({pct} of {exact} kWh)").format(
                              n=len(keys.files), decimals=keys.decimals, lost=_kwh(lost),
                              pct=f"{pct:.4f} %", exact=_kwh(exact)),
                  title_justify="left")
    table.add_column(_("participant"))
    if prms is not None:
        table.add_column("PRM")
    table.add_column(_("exact kWh"), justify="right")
    table.add_column(_("Enedis kWh"), justify="right")
    table.add_column(_("lost kWh"), justify="right")
    for i, name in enumerate(participants):
        cells = [name] + ([prms[i]] if prms is not None else [])
        table.add_row(*cells, _kwh(keys.exact_wh[i]), _kwh(keys.enedis_wh[i]),
                      _kwh(keys.lost_wh[i]))
    return table
