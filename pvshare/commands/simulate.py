"""``pvshare simulate inverter|meters|tic|building``: device simulators (no hardware)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Simulators of the building's devices (no hardware needed).",
                  no_args_is_help=True)

# --- simulator commands: one line each, `app.command("name")(module.cli_function)` ------
from simulators import meters as _meters; app.command("meters")(_meters.cli_meters)  # noqa: E402,E702
from simulators import inverter as _inverter; app.command("inverter")(_inverter.cli_inverter)  # noqa: E402,E702
from simulators import tic as _tic; app.command("tic")(_tic.cli_tic)  # noqa: E402,E702
from simulators import building as _building; app.command("building")(_building.cli_building)  # noqa: E402,E702
# --- end of simulator commands -----------------------------------------------------------
