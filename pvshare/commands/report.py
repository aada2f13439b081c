"""``pvshare report household|tenant|building``: reports in French, as HTML and PDF."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from pvshare import i18n
from pvshare.errors import InputError, PvshareError

app = typer.Typer(help="Reports in French for the energy advisor, the tenants and the PMO "
                       "(self-contained HTML and PDF).", no_args_is_help=True)

_FORMAT_HELP = "html, pdf or both."


def _check_format(fmt: str) -> str:
    if fmt not in ("html", "pdf", "both"):
        raise PvshareError(f"--format: expected html, pdf or both, got {fmt!r}")
    return fmt


def _month_bounds(month: str, tz: str) -> tuple[int, int]:
    from pvshare.timegrid import local_month_bounds, to_epoch_seconds
    m = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise PvshareError(f"--month: expected YYYY-MM (e.g. 2025-06), got {month!r}")
    a, b = local_month_bounds(int(m.group(1)), int(m.group(2)), tz)
    return int(to_epoch_seconds(a)), int(to_epoch_seconds(b))


def _shift_month(month: str, delta: int) -> str:
    y, m = map(int, month.split("-"))
    k = y * 12 + (m - 1) + delta
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def _load(cfg, from_s: int, to_s: int, sample_year: bool, need_from_s: int, period: str):
    """The building's data of ``[from_s, to_s)``; an error if ``[need_from_s, to_s)`` holds
    no measurement at all (a report of zeros would mislead).
    """
    import numpy as np

    from pvshare.reports import sources
    from pvshare.timegrid import to_epoch_seconds
    data = sources.from_sample_year(cfg, from_s, to_s) if sample_year \
        else sources.from_store(cfg, from_s, to_s)
    sel = to_epoch_seconds(data.times) >= need_from_s
    if not (np.isfinite(data.production_wh[sel]).any()
            or np.isfinite(data.consumption_wh[sel]).any()):
        raise PvshareError(f"no data for {period} ({data.origin})")
    return data


def _echo_written(paths) -> None:
    for p in paths:
        typer.echo(i18n._("written: {files}").format(files=p))


@app.command("household")
def household(
    input: Path = typer.Option(..., "--input", "-i", help="Enedis load-curve export "
                               "(either layout) or a CSV 'time,power_w'."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the report files."),
    format: str = typer.Option("both", "--format", help=_FORMAT_HELP),
    income: float = typer.Option(None, "--income", min=1,
                                 help="Household income, € per year (gives the "
                                      "energy-effort rate)."),
    surface: float = typer.Option(None, "--surface", min=1, help="Living area, m²."),
    occupants: float = typer.Option(None, "--occupants", min=1, help="Number of people."),
    heating: str = typer.Option("other", "--heating", help="electric, gas or other."),
    kva: float = typer.Option(None, "--kva", min=1,
                              help="Subscribed power, kVA (default: the tariffs' value)."),
    config: Path = typer.Option(None, "--config", "-c", envvar="PVSHARE_CONFIG", help="Take the tariffs from this site config."),
    in_operation: bool = typer.Option(False, "--in-operation", help="The household takes "
                                      "part in the building's collective self-consumption "
                                      "(with --config: solar hours from the site's array)."),
    allow_gaps: bool = typer.Option(False, "--allow-gaps",
                                    help="Accept missing values (shown as data completeness)."),
    name: str = typer.Option("", "--name", help="A label printed under the title."),
) -> None:
    """Energy-coaching report for one household, from its load curve."""
    _check_format(format)
    if heating not in ("electric", "gas", "other"):
        raise PvshareError(f"--heating: expected electric, gas or other, got {heating!r}")
    from pvshare.config import Tariffs, load_config
    from pvshare.enedis.loadcurve import read_load_curve
    from pvshare.reports.household import SOLAR_HOURS, analyse_household, green_hours
    from pvshare.reports.pages import household_page
    from pvshare.reports.render import write_report
    tariffs, tz = Tariffs(), "Europe/Paris"
    if config is not None:
        cfg = load_config(config)
        tariffs, tz = cfg.tariffs, cfg.site.timezone
    lc = read_load_curve(input, tz=tz, allow_gaps=allow_gaps)
    solar_hours = SOLAR_HOURS
    if in_operation and config is not None:
        # The building's green hours: where its array's clear-sky production is best.
        from pvshare.forecast.clearsky_index import clear_sky_power_w
        solar_hours = green_hours(lc.times, clear_sky_power_w(cfg, lc.times, lc.step_s), tz)
    try:
        a = analyse_household(lc.times, lc.energy_wh, lc.step_s, tariffs=tariffs, tz=tz,
                              occupants=occupants, surface_m2=surface, heating=heating,
                              income_eur_per_year=income, subscribed_kva=kva,
                              in_operation=in_operation, solar_hours=solar_hours)
    except ValueError as exc:
        raise InputError(str(exc), source=str(input)) from None
    label = name or (f"compteur {lc.prm}" if lc.prm else "")
    base = "rapport-foyer-" + re.sub(r"[^A-Za-z0-9_-]+", "-", lc.prm or input.stem)
    _echo_written(write_report(household_page(a, label), out, base, format))


@app.command("tenant")
def tenant(
    config: Path = typer.Option(..., "--config", "-c", envvar="PVSHARE_CONFIG", help="The site's TOML configuration."),
    month: str = typer.Option(..., "--month", help="The month, YYYY-MM."),
    participant: str = typer.Option(None, "--participant", help="Participant id (see the config)."),
    all_: bool = typer.Option(False, "--all", help="Every participant (with a progress bar)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the report files."),
    format: str = typer.Option("both", "--format", help=_FORMAT_HELP),
    sample_year: bool = typer.Option(False, "--sample-year", help="Use the bundled sample "
                                     "year (allocated with the config's key) instead of "
                                     "the store."),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Reports rendered in parallel (--all)."),
) -> None:
    """Monthly statement of a tenant (or of every tenant with --all)."""
    _check_format(format)
    if bool(participant) == bool(all_):
        raise PvshareError("give either --participant ID or --all")
    from pvshare.config import load_config
    cfg = load_config(config)
    ids = cfg.participant_ids
    if participant and participant not in ids:
        raise PvshareError(f"--participant: no participant {participant!r} in {config}")
    tz = cfg.site.timezone
    month_s, to_s = _month_bounds(month, tz)
    from_s, _ = _month_bounds(_shift_month(month, -11), tz)
    data = _load(cfg, from_s, to_s, sample_year, month_s, month)
    which = ids if all_ else [participant]
    paths = tenant_reports(cfg, data, month, which, out, format, progress=all_,
                           jobs=jobs if all_ else 1)
    if not all_:
        _echo_written(paths)
    else:
        typer.echo(i18n._("{n} file(s) written in {folder}").format(n=len(paths), folder=out))


def tenant_reports(cfg, data, month: str, which, out, fmt: str, progress: bool = False,
                   jobs: int = 1) -> list:
    """Write the statements of ``which`` (participant ids) for ``month``.

    One pass of analysis for all of them (:func:`~pvshare.reports.tenant.summarise`), then
    one page each, rendered by ``jobs`` worker processes (the PDF rendering dominates).
    """
    from pvshare.reports.tenant import summarise, tenant_statement
    tz = cfg.site.timezone
    summary = summarise(data.times, data.production_wh, data.consumption_wh,
                        data.allocated_wh, data.participant_ids, tz)
    by_id = {p.id: p for p in cfg.participants}
    tasks = []
    for pid in which:
        try:
            st = tenant_statement(summary, data.participant_ids.index(pid), month, cfg.tariffs)
        except KeyError:
            raise PvshareError(f"no data for {month} ({data.origin})") from None
        tasks.append((st, cfg.site.name, by_id[pid].name or "", str(out),
                      f"releve-{pid}-{month}", fmt))
    paths: list = []
    bar = task = None
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )
        bar = Progress(TextColumn("relevés {task.fields[month]}"), BarColumn(),
                       MofNCompleteColumn(), TimeRemainingColumn())
    jobs = max(1, min(int(jobs), len(tasks)))
    if jobs == 1:
        if bar is not None:
            bar.start()
            task = bar.add_task("", total=len(tasks), month=month)
        try:
            for t in tasks:
                paths.extend(_render_tenant(*t))
                if bar is not None:
                    bar.advance(task)
        finally:
            if bar is not None:
                bar.stop()
        return paths
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    # Workers are forked when the tasks are submitted, before the progress bar's thread runs.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_render_tenant, *t) for t in tasks]
        if bar is not None:
            bar.start()
            task = bar.add_task("", total=len(tasks), month=month)
        try:
            for f in futures:
                paths.extend(f.result())
                if bar is not None:
                    bar.advance(task)
        finally:
            if bar is not None:
                bar.stop()
    return paths


def _render_tenant(statement, site_name: str, flat_label: str, out: str, base: str,
                   fmt: str) -> list:
    from pvshare.reports.pages import tenant_page
    from pvshare.reports.render import write_report
    html = tenant_page(statement, site_name=site_name, flat_label=flat_label)
    return write_report(html, out, base, fmt)


@app.command("building")
def building(
    config: Path = typer.Option(..., "--config", "-c", envvar="PVSHARE_CONFIG", help="The site's TOML configuration."),
    month: str = typer.Option(None, "--month", help="A month, YYYY-MM."),
    year: int = typer.Option(None, "--year", help="A whole year, YYYY."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the report files."),
    format: str = typer.Option("both", "--format", help=_FORMAT_HELP),
    sample_year: bool = typer.Option(False, "--sample-year", help="Use the bundled sample "
                                     "year (allocated with the config's key) instead of "
                                     "the store."),
) -> None:
    """Building report for the PMO and the landlord, over a month or a year."""
    _check_format(format)
    if (month is None) == (year is None):
        raise PvshareError("give either --month YYYY-MM or --year YYYY")
    from pvshare.config import load_config
    from pvshare.reports.building import analyse_building
    from pvshare.reports.fmt import month_name
    from pvshare.reports.pages import building_page
    from pvshare.reports.render import write_report
    from pvshare.timegrid import from_epoch_seconds
    cfg = load_config(config)
    tz = cfg.site.timezone
    if month is not None:
        from_s, to_s = _month_bounds(month, tz)
        period, label = month, month_name(int(month[:4]), int(month[5:]))
    else:
        from_s, _ = _month_bounds(f"{year:04d}-01", tz)
        _, to_s = _month_bounds(f"{year:04d}-12", tz)
        period, label = f"{year:04d}", f"année {year}"
    data = _load(cfg, from_s, to_s, sample_year, from_s, period)
    b = analyse_building(data.times, data.production_wh, data.consumption_wh,
                         data.allocated_wh, cfg.participants,
                         start=from_epoch_seconds(from_s), end=from_epoch_seconds(to_s),
                         step_s=data.step_s, tariffs=cfg.tariffs, period=period,
                         forecast_wh=data.forecast_wh, tz=tz)
    html = building_page(b, site_name=cfg.site.name, period_label=label,
                         producer_prm=cfg.producer.prm)
    _echo_written(write_report(html, out, f"bilan-immeuble-{period}", format))
