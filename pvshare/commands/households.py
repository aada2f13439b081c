"""``pvshare households …``: the energy advisor's register of households (docs/reports.md).

Thin: parse, call :mod:`pvshare.households`, print (French through the catalogue).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path

import typer

from pvshare.i18n import _

app = typer.Typer(help="The energy advisor's register of households: visits, Enedis curves, "
                       "what each visit changed, the caseload report.",
                  no_args_is_help=True)

_REGISTER = typer.Option(None, "--register", "-r", envvar="PVSHARE_REGISTER",
                         help="The register folder.")
_CONFIG = typer.Option(None, "--config", "-c", help="Take the register from this site "
                       "config's [households] register.")


class Heating(enum.StrEnum):
    """How the home is heated."""

    ELECTRIC = "electric"
    GAS = "gas"
    OTHER = "other"


class Option(enum.StrEnum):
    """The tariff option of the bill."""

    BASE = "base"
    HPHC = "hphc"
    TEMPO = "tempo"


def _open(register: Path | None, config: Path | None):
    from pvshare.households.register import Register, register_path
    return Register(register_path(register, config)).check()


@app.command("init")
def init(folder: Path = typer.Argument(..., help="A new, empty folder.")) -> None:
    """Create an empty register."""
    from pvshare.households.register import Register
    reg = Register.init(folder)
    typer.echo(_("register created: {path}").format(path=reg.path))


@app.command("add")
def add(code: str = typer.Argument(..., help="An anonymous code (never a name), e.g. F07."),
        kva: int = typer.Option(..., "--kva", help="Subscribed power on the bill, kVA."),
        option: Option = typer.Option(Option.BASE, "--option", help="Tariff option on the "
                                      "bill: base, hphc or tempo."),
        offpeak_hours: str = typer.Option("", "--offpeak-hours", help="Off-peak hours on "
                                          "the bill (hphc), e.g. 22:00-06:00 or "
                                          "01:30-07:30,12:30-14:30."),
        occupants: int = typer.Option(None, "--occupants", help="Number of people."),
        surface: float = typer.Option(None, "--surface", help="Living area, m²."),
        heating: Heating = typer.Option(Heating.OTHER, "--heating", help="electric, gas or "
                                        "other."),
        since: str = typer.Option(None, "--since", help="Followed since (YYYY-MM-DD; "
                                  "default today)."),
        register: Path = _REGISTER, config: Path = _CONFIG) -> None:
    """Add a household to the register."""
    from pvshare.households.register import Household, check_date
    reg = _open(register, config)
    reg.add(Household(code=code, kva=kva, option=option.value, offpeak_hours=offpeak_hours,
                      occupants=occupants, surface_m2=surface, heating=heating.value,
                      since=check_date(since, "--since") if since else
                      dt.date.today().isoformat()))
    typer.echo(_("household {code} added").format(code=code))


@app.command("visit")
def visit(code: str = typer.Argument(..., help="The household's code."),
          date: str = typer.Option(..., "--date", help="The visit's date, YYYY-MM-DD."),
          action: list[str] = typer.Option(..., "--action", "-a", help="An intervention "
                                           "(repeatable): led, power_strip, tap_aerator, "
                                           "shower_head, water_heater, fridge, heating, "
                                           "thermometer, draught_strips, advice, tariff, "
                                           "other."),
          note: str = typer.Option("", "--note", help="Free text (kept in the register and "
                                   "the household's report, never in the caseload report)."),
          register: Path = _REGISTER, config: Path = _CONFIG) -> None:
    """Record a home visit and its interventions."""
    from pvshare.households.register import Visit
    reg = _open(register, config)
    h = reg.add_visit(code, Visit(date=date, actions=list(action), note=note))
    typer.echo(_("visit of {date} recorded for {code} ({n} visit(s))").format(
        date=date, code=code, n=len(h.visits)))


@app.command("add-curve")
def add_curve(code: str = typer.Argument(..., help="The household's code."),
              files: list[Path] = typer.Argument(..., help="Enedis load-curve exports (any "
                                                 "layout pvshare reads) or CSV "
                                                 "'time,power_w', added in this order."),
              other_meter: bool = typer.Option(False, "--other-meter", help="The export is "
                                               "from another meter than the previous ones "
                                               "(the household moved)."),
              jobs: int = typer.Option(2, "--jobs", min=1, help="Files read in parallel."),
              register: Path = _REGISTER, config: Path = _CONFIG) -> None:
    """Add Enedis exports to the household's curve (overlaps merged, never counted twice;
    all or nothing).
    """
    reg = _open(register, config)
    for imp, warnings in reg.add_curves(code, list(files), today=dt.date.today(),
                                        other_meter=other_meter, jobs=jobs):
        if imp is not None:
            typer.echo(_("{code}: {steps} half-hours read from {file}, {new} new").format(
                code=code, steps=imp.steps, file=imp.file, new=imp.new_steps))
        for w in warnings:
            typer.echo(_("note: {text}").format(text=w))
    c = reg.curve(code)
    if c.size:
        typer.echo(_("{code}: the curve has {total} half-hours ({days} days) from {first} to "
                     "{last} (UTC)").format(code=code, total=c.size, days=round(c.size / 48),
                                            first=str(c.times[0])[:16],
                                            last=str(c.times[-1])[:16]))


@app.command("show")
def show(code: str = typer.Argument(None, help="One household (default: the list)."),
         json_: bool = typer.Option(False, "--json", help="The household's follow-up as "
                                    "JSON: each visit's effect."),
         temperatures: Path = typer.Option(None, "--temperatures", help="Daily mean "
                                           "temperatures, CSV date,temp_c (default: meteo.csv "
                                           "of the register, else the typical year)."),
         register: Path = _REGISTER, config: Path = _CONFIG) -> None:
    """List the households, or show one with what each visit changed."""
    reg = _open(register, config)
    if code is None:
        for c in reg.codes():
            h = reg.household(c)
            n = reg.curve(c).size
            typer.echo(_("{code}: {option} {kva} kVA, {visits} visit(s), {days} days of "
                         "curve").format(code=c, option=h.option, kva=h.kva,
                                         visits=len(h.visits), days=round(n / 48)))
        return
    from pvshare.households.caseload import follow_register
    from pvshare.households.weather import temperatures as temps_of
    f = follow_register(reg, temps_of(temperatures, reg.path), codes=[code])[0]
    if json_:
        typer.echo(json.dumps({"code": code, "visits": [e.to_json() for e in f.effects],
                               "tariff": f.tariff.to_json() if f.tariff else None},
                              ensure_ascii=False, indent=1))
        return
    h = f.household
    typer.echo(_("{code}: {option} {kva} kVA, {visits} visit(s), {days} whole days of "
                 "curve").format(code=code, option=h.option, kva=h.kva, visits=len(h.visits),
                                 days=f.daily.days.size))
    for e in f.effects:
        if e.computed:
            typer.echo(_("  {date} ({actions}): {before:.1f} → {after:.1f} kWh/day, "
                         "{change:+.1f} % [{low:+.1f} ; {high:+.1f}] {verdict}").format(
                date=e.date, actions=", ".join(e.actions), before=e.before_kwh_per_day,
                after=e.after_kwh_per_day, change=e.change_percent, low=e.low_percent,
                high=e.high_percent,
                verdict=_("significant") if e.significant else _("not significant")))
        else:
            typer.echo(_("  {date} ({actions}): not computed, {before} days before and "
                         "{after} after (8 weeks needed on each side)").format(
                date=e.date, actions=", ".join(e.actions), before=e.days_before,
                after=e.days_after))
    if f.tariff is not None:
        t = f.tariff
        typer.echo(_("  tariff: {option} {kva} kVA {cur} € over the last {days} days; best "
                     "{best} {bkva} kVA, {saving} € per year less").format(
            option=t.current.option, kva=t.current.kva, cur=t.current.total_eur,
            days=round(float(t.days)), best=t.best.option, bkva=t.best.kva,
            saving=t.saving_eur_per_year))
    else:
        typer.echo(_("  tariff: not checked ({why})").format(why=f.tariff_reason))


class Format(enum.StrEnum):
    """The pages of the caseload report."""

    HTML = "html"
    PDF = "pdf"
    BOTH = "both"


@app.command("report")
def report(out: Path = typer.Option(..., "--out", help="Folder of the report's files."),
           format: Format = typer.Option(Format.BOTH, "--format", help="html, pdf or both "
                                         "(the CSV and JSON files are always written)."),
           temperatures: Path = typer.Option(None, "--temperatures", help="Daily mean "
                                             "temperatures, CSV date,temp_c (default: "
                                             "meteo.csv of the register, else the typical "
                                             "year)."),
           prices: Path = typer.Option(None, "--prices", help="Tariff prices CSV (default: "
                                       "the bundled regulated tariffs)."),
           tempo: Path = typer.Option(None, "--tempo", help="Tempo colours CSV (default: "
                                      "the bundled calendar)."),
           jobs: int = typer.Option(2, "--jobs", min=1, help="Households analysed in "
                                    "parallel."),
           register: Path = _REGISTER, config: Path = _CONFIG) -> None:
    """The caseload report for the association and its funders (HTML, PDF, CSV, JSON)."""
    from pvshare.households.caseload import analyse_caseload, follow_register, write_caseload
    from pvshare.households.weather import temperatures as temps_of
    reg = _open(register, config)
    temps = temps_of(temperatures, reg.path)
    followups = follow_register(reg, temps, prices=prices, tempo=tempo, jobs=jobs)
    c = analyse_caseload(followups, temps.label)
    for p in write_caseload(c, out, format.value):
        typer.echo(_("written: {files}").format(files=p))
