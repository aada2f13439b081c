"""``pvshare tariffs``: whether the household would pay less with another option or power.

Thin: read the curve (every layout :mod:`pvshare.enedis.loadcurve` reads), the prices and
the Tempo colours, call :func:`pvshare.tariffs.check_tariffs`, print (French text through the
catalogue, or JSON).
"""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer

from pvshare.i18n import _


class Option(enum.StrEnum):
    """The regulated options."""

    BASE = "base"
    HPHC = "hphc"
    TEMPO = "tempo"


def tariffs(
    input: Path = typer.Option(..., "--input", "-i", help="Enedis load-curve export (any "
                               "layout pvshare reads) or a CSV 'time,power_w'."),
    kva: int = typer.Option(..., "--kva", help="Subscribed power on the bill, kVA (3, 6, 9, "
                            "12, 15, 18, 24, 30 or 36)."),
    option: Option = typer.Option(..., "--option", help="Option on the bill: base, hphc or "
                                  "tempo."),
    offpeak_hours: str = typer.Option("22:00-06:00", "--offpeak-hours",
                                      help="The household's off-peak hours (Heures creuses), "
                                           "from the bill: '22:00-06:00', or several ranges "
                                           "'01:30-07:30,12:30-14:30'."),
    prices: Path = typer.Option(None, "--prices", help="Prices CSV 'from,option,kva,"
                                "subscription_eur_per_month,period,eur_per_kwh' (default: the "
                                "bundled regulated tariffs)."),
    tempo: Path = typer.Option(None, "--tempo", help="Tempo colours CSV 'date,color' (default: "
                               "the bundled RTE calendar)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Cost of the curve under Base, Heures creuses and Tempo, at the household's power and
    the lower ones its peaks allow, and the best choice.
    """
    from pvshare.enedis.loadcurve import read_load_curve
    from pvshare.errors import InputError
    from pvshare.tariffs import check_tariffs, load_prices, load_tempo
    from pvshare.tariffs.prices import STANDARD_KVA

    if kva not in STANDARD_KVA:
        raise InputError(_("{kva} kVA is not a standard power (3, 6, 9, 12, 15, 18, 24, 30 or "
                           "36)").format(kva=kva), field="--kva")
    lc = read_load_curve(input)
    table = load_prices(prices)
    colors = load_tempo(tempo)
    from pvshare.tariffs.check import offpeak_ranges
    try:
        offpeak = offpeak_ranges(offpeak_hours)
    except ValueError as exc:
        raise InputError(str(exc), field="--offpeak-hours") from None
    try:
        check = check_tariffs(lc.times[0], lc.energy_wh, lc.step_s // 60, kva, option.value,
                              offpeak, table, colors)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if as_json:
        for u in check.unavailable:
            typer.echo(unavailable_text(u), err=True)
        typer.echo(json.dumps(check.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(check_text(check))


OPTION_NAMES = {"base": "Base", "hphc": "Heures creuses", "tempo": "Tempo"}


def option_name(option: str) -> str:
    """The option's name for a person (catalogue)."""
    return _(OPTION_NAMES[option])


def unavailable_text(u) -> str:
    """One line saying why an (option, power) could not be priced."""
    if u.reason == "no_color":
        return _("{option} {kva} kVA: not priced, the Tempo colour of {days} day(s) is not "
                 "known (the first: {day})").format(option=option_name(u.option), kva=u.kva,
                                                     days=u.days, day=_date(u.first_day))
    return _("{option} {kva} kVA: not priced, no regulated price for {days} day(s) (the "
             "first: {day})").format(option=option_name(u.option), kva=u.kva, days=u.days,
                                     day=_date(u.first_day))


def _date(d) -> str:
    return d.strftime("%d/%m/%Y")


def check_text(check) -> str:
    """The check as text for a person (French through the catalogue)."""
    import datetime as dt

    from pvshare.reports import fmt

    def eur(x) -> str:
        return fmt.eur(float(x), 2)

    start = dt.datetime.fromisoformat(check.to_json()["from"])
    end = dt.datetime.fromisoformat(check.to_json()["to"])
    lines = [
        _("Period: {start} to {end} ({days} days), {kwh}").format(
            start=start.strftime("%d/%m/%Y %H:%M"), end=end.strftime("%d/%m/%Y %H:%M"),
            days=fmt.number(float(check.days), 1 if check.days.denominator != 1 else 0),
            kwh=fmt.kwh(check.kwh, 0)),
        _("Highest {step}-minute mean power: {peak}; powers tried (with a margin of "
          "{margin}): {kvas} kVA").format(
            step=check.step_minutes, peak=fmt.watts(check.peak_w),
            margin=fmt.number(check.peak_margin, 1),
            kvas=", ".join(str(k) for k in check.allowed_kva)),
    ]
    if check.tempo_days:
        lines.append(_("Tempo days: {bleu} blue, {blanc} white, {rouge} red").format(
            **check.tempo_days))
    lines.append("")
    head = (_("Option"), _("Power"), _("Subscription"), _("Energy"), _("Total"))
    rows = [head]
    for o in check.options:
        rows.append((option_name(o.option), f"{o.kva} kVA", eur(o.subscription_eur),
                     eur(o.energy_eur), eur(o.total_eur)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for k, r in enumerate(rows):
        mark = " ←" if k and check.options[k - 1] is check.current else ""
        lines.append("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
                               for i, c in enumerate(r)).rstrip() + mark)
    lines.append("")
    lines.append(_("Current: {option} {kva} kVA, {total}").format(
        option=option_name(check.current.option), kva=check.current.kva,
        total=eur(check.current.total_eur)))
    if check.best is check.current:
        lines.append(_("Best: the current option and power are the cheapest."))
    else:
        lines.append(_("Best: {option} {kva} kVA, {total}, that is {saving} less a year").format(
            option=option_name(check.best.option), kva=check.best.kva,
            total=eur(check.best.total_eur), saving=eur(check.saving_eur_per_year)))
    for u in check.unavailable:
        lines.append(unavailable_text(u))
    if check.days < 365:
        lines.append(_("Note: the period is shorter than a year; the yearly difference is "
                       "extrapolated and depends on the season (Tempo's red days are in "
                       "winter)."))
    lines.append(_("Prices: {prices}; Tempo colours: {tempo}").format(
        prices=check.prices_source, tempo=check.tempo_source or "-"))
    return "\n".join(lines)
