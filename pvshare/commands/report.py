"""``pvshare report household|tenant|building``: reports in French, as HTML and PDF.

Thin: the work is :mod:`pvshare.reports.run` (and :mod:`pvshare.reports.batch` for
``--all``).
"""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from pvshare import i18n
from pvshare.commands.tariffs import Option as TariffOption
from pvshare.reports.household import Heating
from pvshare.reports.render import ReportFormat

app = typer.Typer(help="Reports in French for the energy advisor, the tenants and the PMO "
                       "(self-contained HTML and PDF).", no_args_is_help=True)

_FORMAT_HELP = "html, pdf or both."


class TenantFormat(enum.StrEnum):
    """What ``pvshare report tenant`` writes: the pages, or the figures as JSON."""

    HTML = "html"
    PDF = "pdf"
    BOTH = "both"
    JSON = "json"


class BuildingFormat(enum.StrEnum):
    """What ``pvshare report building`` writes: the pages, or the figures as JSON."""

    HTML = "html"
    PDF = "pdf"
    BOTH = "both"
    JSON = "json"


def _echo_written(paths) -> None:
    for p in paths:
        typer.echo(i18n._("written: {files}").format(files=p))


@app.command("household")
def household(
    input: Path = typer.Option(None, "--input", "-i", help="Enedis load-curve export "
                               "(either layout) or a CSV 'time,power_w'."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the report files."),
    format: ReportFormat = typer.Option(ReportFormat.BOTH, "--format", help=_FORMAT_HELP),
    income: float = typer.Option(None, "--income", min=1,
                                 help="Household income, € per year (gives the "
                                      "energy-effort rate)."),
    surface: float = typer.Option(None, "--surface", min=1, help="Living area, m²."),
    occupants: float = typer.Option(None, "--occupants", min=1, help="Number of people."),
    heating: Heating = typer.Option(Heating.OTHER, "--heating", help="electric, gas or other."),
    kva: float = typer.Option(None, "--kva", min=1,
                              help="Subscribed power, kVA (default: the tariffs' value)."),
    config: Path = typer.Option(None, "--config", "-c", envvar="PVSHARE_CONFIG",
                                help="Take the tariffs from this site config."),
    in_operation: bool = typer.Option(False, "--in-operation", help="The household takes "
                                      "part in the building's collective self-consumption "
                                      "(with --config: solar hours from the site's array)."),
    allow_gaps: bool = typer.Option(False, "--allow-gaps",
                                    help="Accept missing values (shown as data completeness)."),
    name: str = typer.Option("", "--name", help="A label printed under the title."),
    option: TariffOption = typer.Option("base", "--option", help="The tariff option on the bill: "
                               "base, hphc or tempo (for the section on the tariff check)."),
    offpeak_hours: str = typer.Option("22:00-06:00", "--offpeak-hours",
                                      help="The household's off-peak hours, from the bill."),
    code: str = typer.Option(None, "--code", help="A household of the register (instead of "
                             "--input): its curve, and its visits before and after."),
    register: Path = typer.Option(None, "--register", "-r", envvar="PVSHARE_REGISTER",
                                  help="The register of households (pvshare households)."),
    temperatures: Path = typer.Option(None, "--temperatures", help="With --code: daily "
                                      "mean temperatures, CSV date,temp_c."),
) -> None:
    """Energy-coaching report for one household, from its load curve."""
    from pvshare.reports.run import household_report
    _echo_written(household_report(
        input, out, format.value, income=income, surface=surface, occupants=occupants,
        heating=heating.value, kva=kva, config=config, in_operation=in_operation,
        allow_gaps=allow_gaps, name=name, option=option.value,
        offpeak_hours=offpeak_hours, code=code, register=register,
        temperatures=temperatures))


@app.command("tenant")
def tenant(
    config: Path = typer.Option(..., "--config", "-c", envvar="PVSHARE_CONFIG", help="The site's TOML configuration."),
    month: str = typer.Option(..., "--month", help="The month, YYYY-MM."),
    participant: str = typer.Option(None, "--participant", help="Participant id (see the config)."),
    all_: bool = typer.Option(False, "--all", help="Every participant (with a progress bar)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the report files."),
    format: TenantFormat = typer.Option(TenantFormat.BOTH, "--format",
                                        help="html, pdf, both, or json (the figures and the "
                                             "bill amounts, for other tools)."),
    sample_year: bool = typer.Option(False, "--sample-year", help="Use the bundled sample "
                                     "year (allocated with the config's key) instead of "
                                     "the store."),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Reports rendered in parallel (--all)."),
    enedis: list[Path] = typer.Option(None, "--enedis", help="Enedis's files for the month: "
                                      "the bill amounts shown are then computed on Enedis's "
                                      "figures, as `pvshare bill --enedis` does; repeatable."),
) -> None:
    """Monthly statement of a tenant (or of every tenant with --all)."""
    from pvshare.reports.run import tenant_reports
    bar = _ProgressBar(month) if all_ else None
    try:
        paths = tenant_reports(config, month, out, format.value, participant=participant,
                               all_participants=all_, sample_year=sample_year, jobs=jobs,
                               progress=bar, enedis_files=list(enedis or []))
    finally:
        if bar is not None:
            bar.stop()
    if not all_:
        _echo_written(paths)
    else:
        typer.echo(i18n._("{n} file(s) written in {folder}").format(n=len(paths), folder=out))


class _ProgressBar:
    """A rich progress bar driven by the library's ``progress(done, total)`` callback;
    started at the first call (after the worker processes were forked).
    """

    def __init__(self, month: str):
        self.month = month
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )
            self.bar = Progress(TextColumn("relevés {task.fields[month]}"), BarColumn(),
                                MofNCompleteColumn(), TimeRemainingColumn())
            self.bar.start()
            self.task = self.bar.add_task("", total=total, month=self.month)
        self.bar.update(self.task, completed=done)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command("building")
def building(
    config: Path = typer.Option(..., "--config", "-c", envvar="PVSHARE_CONFIG", help="The site's TOML configuration."),
    month: str = typer.Option(None, "--month", help="A month, YYYY-MM."),
    year: int = typer.Option(None, "--year", help="A whole year, YYYY."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the report files."),
    format: BuildingFormat = typer.Option(BuildingFormat.BOTH, "--format",
                                          help="html, pdf, both, or json (each participant's "
                                               "figures and the operation's totals)."),
    sample_year: bool = typer.Option(False, "--sample-year", help="Use the bundled sample "
                                     "year (allocated with the config's key) instead of "
                                     "the store."),
) -> None:
    """Building report for the PMO and the landlord, over a month or a year."""
    from pvshare.reports.run import building_report
    _echo_written(building_report(config, out, format.value, month=month, year=year,
                                  sample_year=sample_year))
