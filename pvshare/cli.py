"""The ``pvshare`` command line. Thin: parse, call one function, print.

Errors a person can fix (:class:`pvshare.errors.PvshareError`) are printed as one clear
message and exit with code 2; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import sys

import typer

from pvshare.errors import PvshareError

app = typer.Typer(
    name="pvshare",
    help="Collective solar self-consumption (ACC): meters, allocation keys, Enedis files, reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,      # usage errors as click prints them: short, plain, exit 2
    add_completion=True,                 # pvshare --install-completion (bash, zsh, fish)
    epilog="Exit codes: 0 done; 2 a problem you can fix (configuration, input file, missing "
           "extra), explained in one message; `pvshare status`: 3 a meter is stale, 4 steps "
           "pending past their grace, 5 the outbox is backing up; anything else is a bug.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version
        try:
            v = version("pvshare")
        except PackageNotFoundError:       # running from a source tree
            from pvshare import __version__ as v
        typer.echo(f"pvshare {v}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Collective solar self-consumption (ACC): meters, allocation keys, Enedis files, reports."""

# --- command groups: one module each under pvshare/commands/ --------------------------------
from pvshare.commands import allocate as _allocate  # noqa: E402
from pvshare.commands import config as _config  # noqa: E402
from pvshare.commands import export as _export  # noqa: E402
from pvshare.commands import forecast as _forecast  # noqa: E402
from pvshare.commands import simulate as _simulate  # noqa: E402
from pvshare.commands import store as _store  # noqa: E402
from pvshare.commands import tic as _tic  # noqa: E402

app.add_typer(_config.app, name="config")
app.add_typer(_simulate.app, name="simulate")
app.add_typer(_tic.app, name="tic")
app.command("allocate")(_allocate.allocate)
app.add_typer(_store.app, name="store")
app.command("export")(_export.export)
app.add_typer(_forecast.app, name="forecast")
from pvshare.commands import daemon as _daemon  # noqa: E402
from pvshare.commands import report as _report  # noqa: E402

app.add_typer(_report.app, name="report")
app.command("run")(_daemon.run)
app.command("status")(_daemon.status)
app.command("demo")(_daemon.demo)
app.add_typer(__import__("pvshare.commands.meters", fromlist=["app"]).app, name="meters")
app.add_typer(__import__("pvshare.commands.enedis", fromlist=["app"]).app, name="enedis")
app.command("bill")(__import__("pvshare.commands.bill", fromlist=["bill"]).bill)
app.add_typer(__import__("pvshare.commands.web", fromlist=["app"]).app, name="web")
app.add_typer(__import__("pvshare.commands.service", fromlist=["app"]).app, name="service")
app.command("tariffs")(__import__("pvshare.commands.tariffs", fromlist=["tariffs"]).tariffs)
app.add_typer(__import__("pvshare.commands.households", fromlist=["app"]).app,
              name="households")
# --- end of command groups ---------------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    try:
        try:
            app()
        except ModuleNotFoundError as exc:     # a library of an extra that is not installed
            from pvshare.extras import missing_extra
            command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
            raise (missing_extra(exc, command) or exc) from None
    except PvshareError as exc:
        from rich.console import Console
        from rich.markup import escape

        from pvshare.i18n import _
        from pvshare.secrets import redact
        Console(stderr=True).print(f"[bold red]{escape(_('error:'))}[/] {escape(redact(str(exc)))}",
                                   highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
