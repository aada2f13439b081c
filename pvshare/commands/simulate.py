"""``pvshare simulate inverter|meters|tic|building``: device simulators (no hardware)."""

from __future__ import annotations

import typer

from pvshare_simulators import building, inverter, meters, tic

app = typer.Typer(help="Simulators of the building's devices (no hardware needed).",
                  no_args_is_help=True)
app.command("meters")(meters.cli_meters)
app.command("inverter")(inverter.cli_inverter)
app.command("tic")(tic.cli_tic)
app.command("building")(building.cli_building)
