"""What each ``pvshare report`` command does, as one function: find the data, analyse it,
write the files. The CLI (:mod:`pvshare.commands.report`) only parses options and prints
the paths returned.

Errors a person can fix raise :class:`pvshare.errors.PvshareError` naming the option.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pvshare.errors import InputError, PvshareError
from pvshare.i18n import _
from pvshare.reports.batch import Progress, write_tenant_reports


def month_bounds(month: str, tz: str) -> tuple[int, int]:
    """UTC Unix seconds of the start and end of a local month ``YYYY-MM``.

    Raises
    ------
    PvshareError
        When ``month`` is not ``YYYY-MM``.
    """
    from pvshare.timegrid import local_month_bounds, to_epoch_seconds
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", month or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise PvshareError(_("--month: expected YYYY-MM (e.g. 2025-06), got {month!r}")
                           .format(month=month))
    a, b = local_month_bounds(int(m.group(1)), int(m.group(2)), tz)
    return int(to_epoch_seconds(a)), int(to_epoch_seconds(b))


def shift_month(month: str, delta: int) -> str:
    """``YYYY-MM`` moved by ``delta`` months (``shift_month("2025-01", -1) == "2024-12"``)."""
    y, m = map(int, month.split("-"))
    k = y * 12 + (m - 1) + delta
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def building_data(cfg, from_s: int, to_s: int, sample_year: bool, need_from_s: int,
                  period: str):
    """The building's data of ``[from_s, to_s)`` (the store, or the bundled sample year).

    Raises
    ------
    PvshareError
        When ``[need_from_s, to_s)`` holds no measurement at all (a report of zeros would
        mislead), or there is no store.
    """
    import numpy as np

    from pvshare.reports import sources
    from pvshare.timegrid import to_epoch_seconds
    data = sources.from_sample_year(cfg, from_s, to_s) if sample_year \
        else sources.from_store(cfg, from_s, to_s)
    sel = to_epoch_seconds(data.times) >= need_from_s
    if not (np.isfinite(data.production_wh[sel]).any()
            or np.isfinite(data.consumption_wh[sel]).any()):
        raise PvshareError(_("no data for {period} ({origin})").format(
            period=period, origin=data.origin))
    return data


def current_price(cfg, today=None):
    """The ``[[prices]]`` entry in effect today (the first one before they start; None
    without prices): the household report's advice is about the months to come.
    """
    import datetime as dt

    from pvshare.billing.figures import Terms
    prices = Terms.from_config(cfg).prices
    if not prices:
        return None
    today = today or dt.date.today()
    started = [p for p in prices if p.start <= today]
    return started[-1] if started else prices[0]


def household_report(load_curve: str | os.PathLike, out: str | os.PathLike, fmt: str = "both", *,
                     income: float | None = None, surface: float | None = None,
                     occupants: float | None = None, heating: str = "other",
                     kva: float | None = None, config: str | os.PathLike | None = None,
                     in_operation: bool = False, allow_gaps: bool = False,
                     name: str = "", option: str = "base",
                     offpeak_hours: str = "22:00-06:00", code: str | None = None,
                     register: str | os.PathLike | None = None,
                     temperatures: str | os.PathLike | None = None) -> list[Path]:
    """``pvshare report household``: the energy-coaching report of one load curve.

    Parameters
    ----------
    load_curve : str or os.PathLike
        Enedis load-curve export (either layout) or a CSV ``time,power_w``.
    out : str or os.PathLike
        Folder of the files (``rapport-foyer-<PRM or file name>``).
    fmt : {'html', 'pdf', 'both'}
    income, surface, occupants, heating, kva
        Describe the household (see :func:`pvshare.reports.household.analyse_household`).
    config : str or os.PathLike, optional
        A site config: its supplier subscription (``[tariffs]``), its prices (``[[prices]]``,
        the entry in effect today: the supplier's price and, with ``in_operation``, the
        saving of a kWh moved into the solar hours) and time zone (and, with
        ``in_operation``, its array gives the solar hours).
    in_operation : bool
        The household takes part in the building's collective self-consumption.
    allow_gaps : bool
        Accept missing values.
    name : str
        A label printed under the title.
    option, offpeak_hours
        The household's tariff option (``base``, ``hphc``, ``tempo``) and off-peak hours, for
        the section "Votre option tarifaire" (:func:`household_tariff_check`).
    code, register, temperatures : optional
        A household of the register (``--register``, or the config's ``[households]
        register``): its curve, description and follow-up (visits, before and after, with
        the daily temperatures of ``temperatures``); ``load_curve`` is then not needed.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if code is not None:
        return _register_household_report(code, register, out, fmt, income=income,
                                          config=config, in_operation=in_operation,
                                          temperatures=temperatures)
    if load_curve is None:
        raise PvshareError(_("give the load curve with --input FILE, or a household of the "
                             "register with --code CODE"))
    from pvshare.config import Tariffs, load_config
    from pvshare.enedis.loadcurve import read_load_curve
    from pvshare.reports.household import SOLAR_HOURS, analyse_household, green_hours
    from pvshare.reports.pages import household_page
    from pvshare.reports.render import write_report
    tariffs, tz, cfg, price = Tariffs(), "Europe/Paris", None, None
    if config is not None:
        cfg = load_config(config)
        tariffs, tz = cfg.tariffs, cfg.site.timezone
        price = current_price(cfg)
    lc = read_load_curve(load_curve, tz=tz, allow_gaps=allow_gaps)
    solar_hours = SOLAR_HOURS
    if in_operation and cfg is not None:
        # The building's green hours: where its array's clear-sky production is best.
        from pvshare.forecast.clearsky_index import clear_sky_power_w
        solar_hours = green_hours(lc.times, clear_sky_power_w(cfg, lc.times, lc.step_s), tz)
    try:
        a = analyse_household(lc.times, lc.energy_wh, lc.step_s, tariffs=tariffs, price=price,
                              tz=tz,
                              occupants=occupants, surface_m2=surface, heating=heating,
                              income_eur_per_year=income, subscribed_kva=kva,
                              in_operation=in_operation, solar_hours=solar_hours,
                              flags=lc.flags)
    except ValueError as exc:
        raise InputError(str(exc), source=str(load_curve)) from None
    label = name or (f"compteur {lc.prm}" if lc.prm else "")
    base = "rapport-foyer-" + re.sub(r"[^A-Za-z0-9_-]+", "-", lc.prm or Path(load_curve).stem)
    check, why = household_tariff_check(lc, a.subscribed_kva, option, offpeak_hours)
    return write_report(household_page(a, label, tariff=check, tariff_note=why), out, base,
                        fmt)


def household_tariff_check(lc, kva: float, option: str, offpeak_hours: str):
    """The tariff check of a household's curve with the bundled regulated prices and Tempo
    colours: ``(TariffCheck, "")``, or ``(None, why)`` in French when it cannot be made (a
    power that is not a standard one, missing values, prices unknown for the period).
    """
    import numpy as np

    from pvshare.tariffs import STANDARD_KVA, check_tariffs, load_prices, load_tempo
    if float(kva) not in [float(k) for k in STANDARD_KVA]:
        return None, (f"la puissance souscrite ({kva:g} kVA) n'est pas une puissance du tarif "
                      "bleu : la vérification de l'option tarifaire n'est pas faite.")
    if not np.all(np.isfinite(lc.energy_wh)):
        return None, ("des mesures manquent dans la courbe : la vérification de l'option "
                      "tarifaire demande une courbe complète.")
    try:
        check = check_tariffs(lc.times[0], lc.energy_wh, lc.step_s // 60, int(kva), option,
                              offpeak_hours, load_prices(), load_tempo())
    except (InputError, ValueError) as exc:
        return None, ("les tarifs réglementés intégrés à pvshare ne couvrent pas toute la "
                      f"période de la courbe ({getattr(exc, 'message', str(exc))}) : "
                      "utilisez pvshare tariffs avec --prices.")
    return check, ""


def _register_household_report(code: str, register, out, fmt: str, *, income, config,
                               in_operation: bool, temperatures) -> list[Path]:
    """The household report of a household of the register, with its follow-up."""
    import numpy as np

    from pvshare.config import Tariffs, load_config
    from pvshare.households.caseload import follow_register
    from pvshare.households.register import STEP_S, Register, register_path
    from pvshare.households.weather import temperatures as temps_of
    from pvshare.reports.household import analyse_household
    from pvshare.reports.pages import household_page
    from pvshare.reports.render import write_report
    reg = Register(register_path(register, config)).check()
    f = follow_register(reg, temps_of(temperatures, reg.path), codes=[code])[0]
    curve = reg.curve(code)
    if curve.size == 0:
        raise PvshareError(_("household {code!r} has no curve yet: add an Enedis export "
                             "with `pvshare households add-curve {code} FILE`").format(
                                 code=code))
    tariffs = load_config(config).tariffs if config is not None else Tariffs()
    t = curve.times.astype(np.int64)
    k = (t - t[0]) // STEP_S
    times = (t[0] + np.arange(k[-1] + 1) * STEP_S).astype("datetime64[s]")
    wh = np.full(times.size, np.nan)
    wh[k] = curve.wh
    flags = np.zeros(times.size, np.uint8)
    flags[k] = curve.flags
    h = f.household
    a = analyse_household(times, wh, STEP_S, tariffs=tariffs, occupants=h.occupants,
                          surface_m2=h.surface_m2, heating=h.heating,
                          income_eur_per_year=income, subscribed_kva=h.kva,
                          in_operation=in_operation, flags=flags)
    note = f"la vérification de l'option tarifaire n'est pas faite : {f.tariff_reason}." \
        if f.tariff is None else ""
    return write_report(household_page(a, f"foyer {code}", tariff=f.tariff, tariff_note=note,
                                       followup=f), out,
                        f"rapport-foyer-{code}", fmt)


def tenant_reports(config: str | os.PathLike, month: str, out: str | os.PathLike,
                   fmt: str = "both", *, participant: str | None = None,
                   all_participants: bool = False, sample_year: bool = False, jobs: int = 1,
                   progress: Progress | None = None,
                   enedis_files: list[str | os.PathLike] | None = None) -> list[Path]:
    """``pvshare report tenant``: the monthly statement of one tenant, or of all of them.

    The analysis covers the twelve months up to ``month`` (the statement compares them).

    Parameters
    ----------
    config : str or os.PathLike
        The site's TOML configuration.
    month : str
        ``YYYY-MM``.
    out : str or os.PathLike
        Folder of the files (``releve-<id>-<month>``).
    fmt : {'html', 'pdf', 'both', 'json'}
        ``json``: the statement's figures for other tools, one file per tenant.
    participant : str, optional
        One participant id; or
    all_participants : bool
        every participant of the config (rendered by ``jobs`` processes).
    sample_year : bool
        Use the bundled sample year (allocated with the config's key) instead of the store.
    jobs : int
        Worker processes for ``all_participants``.
    progress : callable, optional
        ``progress(done, total)`` (see :data:`pvshare.reports.batch.Progress`).
    enedis_files : list of path-like, optional
        Enedis's files for the month: the bill amounts are then computed on Enedis's
        AUTOCONS, as ``pvshare bill --enedis`` does.

    With ``[[prices]]`` in the config, each statement shows its tenant's lines of the
    month's bills, computed by :func:`pvshare.billing.month.month_bills` (the code behind
    ``pvshare bill``) over the whole operation, so the amounts are the bill CSV's.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if bool(participant) == bool(all_participants):
        raise PvshareError(_("give either --participant ID or --all"))
    from pvshare.config import load_config
    cfg = load_config(config)
    ids = cfg.participant_ids
    if participant and participant not in ids:
        raise PvshareError(_("--participant: no participant {id!r} in {config}").format(
            id=participant, config=config))
    tz = cfg.site.timezone
    month_s, to_s = month_bounds(month, tz)
    from_s, _to_s = month_bounds(shift_month(month, -11), tz)
    data = building_data(cfg, from_s, to_s, sample_year, month_s, month)
    which = ids if all_participants else [participant]
    figures = month_figures_for_reports(cfg, month, data, sample_year, enedis_files)
    return write_tenant_reports(cfg, data, month, which, out, fmt,
                                jobs=jobs if all_participants else 1, progress=progress,
                                figures=figures)


def month_figures_for_reports(cfg, month: str, data, sample_year: bool, enedis_files=None):
    """The month's figures for the statements and the building report.

    The same function as ``pvshare bill``: from the store (or Enedis's files); with the
    sample year, from the sample year's allocation.
    """
    from pvshare.billing.month import figures_for_month, has_prices, month_from_data
    if enedis_files and not has_prices(cfg):
        raise PvshareError(_("--enedis: the config has no [[prices]], so there is no bill "
                             "to show"))
    m = None
    if sample_year:
        m = month_from_data(cfg, month, data.times, data.production_wh, data.consumption_wh,
                            data.allocated_wh)
    return figures_for_month(cfg, month, [Path(f) for f in enedis_files or []] or None, m=m)


def _figures_if_stored(cfg, month: str, data, sample_year: bool):
    """The month's figures (as ``pvshare bill`` computes them), None when nothing is stored."""
    from pvshare.billing.month import figures_for_month, month_from_data, month_from_store
    m = (month_from_data(cfg, month, data.times, data.production_wh, data.consumption_wh,
                         data.allocated_wh) if sample_year else month_from_store(cfg, month))
    if not m.stored.any():
        return None
    return figures_for_month(cfg, month, m=m)


def building_report(config: str | os.PathLike, out: str | os.PathLike, fmt: str = "both", *,
                    month: str | None = None, year: int | None = None,
                    sample_year: bool = False) -> list[Path]:
    """``pvshare report building``: the building's report over a month or a year.

    Parameters
    ----------
    config : str or os.PathLike
        The site's TOML configuration.
    out : str or os.PathLike
        Folder of the files (``bilan-immeuble-<period>``).
    fmt : {'html', 'pdf', 'both', 'json'}
        ``json``: the figures per participant and the operation's totals
        (:func:`pvshare.reports.building.building_record`).
    month : str, optional
        ``YYYY-MM``; or
    year : int, optional
        a whole year.
    sample_year : bool
        Use the bundled sample year instead of the store.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if (month is None) == (year is None):
        raise PvshareError(_("give either --month YYYY-MM or --year YYYY"))
    if year is not None and not 1970 <= year <= 2200:
        raise PvshareError(_("--year: expected a year from 1970 to 2200, got {year}")
                           .format(year=year))
    from pvshare.config import load_config
    from pvshare.reports.building import analyse_building
    from pvshare.reports.fmt import month_name
    from pvshare.reports.pages import building_page
    from pvshare.reports.render import write_report
    from pvshare.timegrid import from_epoch_seconds
    cfg = load_config(config)
    tz = cfg.site.timezone
    if month is not None:
        from_s, to_s = month_bounds(month, tz)
        period, label = month, month_name(int(month[:4]), int(month[5:]))
    else:
        from_s, _jan_end = month_bounds(f"{year:04d}-01", tz)
        _dec_start, to_s = month_bounds(f"{year:04d}-12", tz)
        period, label = f"{year:04d}", f"année {year}"
    data = building_data(cfg, from_s, to_s, sample_year, from_s, period)
    months = [month] if month is not None else [f"{year:04d}-{k:02d}" for k in range(1, 13)]
    figures = [f for f in (_figures_if_stored(cfg, mo, data, sample_year) for mo in months)
               if f is not None]
    b = analyse_building(data.times, data.production_wh, data.consumption_wh,
                         data.allocated_wh, cfg.participants,
                         start=from_epoch_seconds(from_s), end=from_epoch_seconds(to_s),
                         step_s=data.step_s, figures=figures, period=period,
                         forecast_wh=data.forecast_wh, tz=tz)
    if fmt == "json":
        import json

        from pvshare.files.atomic import write_atomic
        from pvshare.reports.building import building_record
        Path(out).mkdir(parents=True, exist_ok=True)
        text = json.dumps(building_record(b), ensure_ascii=False, indent=1) + "\n"
        return [write_atomic(Path(out) / f"bilan-immeuble-{period}.json", text)]
    html = building_page(b, site_name=cfg.site.name, period_label=label,
                         producer_prm=cfg.producer.prm)
    return write_report(html, out, f"bilan-immeuble-{period}", fmt)
