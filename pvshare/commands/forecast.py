"""``pvshare forecast``: the next 48 h of production; ``pvshare forecast evaluate``: a backtest."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pvshare.i18n import _

app = typer.Typer(help="Production forecast (pvlib): the next 48 h, and its backtest on "
                       "measured data.", invoke_without_command=True)



def day_names() -> tuple[str, ...]:
    """Short day names, Monday first, in the user's language."""
    return (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))


@app.callback()
def forecast(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", "-c", envvar="PVSHARE_CONFIG", help="Site TOML file."),
    at: str | None = typer.Option(None, "--at", help="Issue time, ISO 8601 (default: now)."),
    weather: Path | None = typer.Option(
        None, "--weather", help="Irradiance forecast CSV: time,ghi[,temp_air,wind_speed]."),
    production: Path | None = typer.Option(
        None, "--production", help="Measured production CSV: time,production_wh or "
                                   "time,ac_power_w (self-calibration, persistence)."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG chart here."),
    kwh_per_year: float = typer.Option(
        2000.0, "--kwh-per-year", help="Yearly consumption of one flat (kWh), for the "
                                        "green hours."),
    all_steps: bool = typer.Option(False, "--all", help="Also list the night steps."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead (every step)."),
) -> None:
    """The next 48 h of production, step by step, with its P10–P90 band and green hours."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        raise typer.BadParameter(_("--config is required"), param_hint="--config")
    import datetime as dt

    from rich.console import Console
    from rich.table import Table

    from pvshare.config import load_config
    from pvshare.errors import InputError
    from pvshare.forecast import files
    from pvshare.forecast.green_hours import baseline_energy_wh, green_periods
    from pvshare.forecast.next48h import forecast_next_48h
    from pvshare.timegrid import format_local, format_utc, step_seconds

    cfg = load_config(config)
    step_s = step_seconds(cfg.site.step)
    if at:
        try:
            now = dt.datetime.fromisoformat(at)
        except ValueError:
            raise InputError(_("not an ISO 8601 time: {value}").format(value=repr(at)),
                             field="--at") from None
    else:
        now = dt.datetime.now(dt.UTC)
    hist = files.read_production_wh(production, step_s) if production else None
    wx = files.read_weather(weather) if weather else None
    yearly = kwh_per_year * len(cfg.participants)
    fc = forecast_next_48h(cfg, hist, now, weather=wx,
                           baseline_wh=lambda t: baseline_energy_wh(t, step_s, yearly,
                                                                    cfg.site.timezone))
    tz = cfg.site.timezone
    times = fc.index.tz_localize(None).to_numpy().astype("datetime64[s]")
    local = format_local(times, tz)
    cal = fc.attrs["calibration"]
    if as_json:
        import json
        typer.echo(json.dumps({
            "site": cfg.site.name, "issued": now.isoformat(),
            "calibration": {"factor": cal.factor, "calibrated": cal.calibrated},
            "steps": [{"start": s, "p10_wh": round(r.p10_wh, 1), "p50_wh": round(r.p50_wh, 1),
                       "p90_wh": round(r.p90_wh, 1), "baseline_wh": round(r.baseline_wh, 1),
                       "green": bool(r.green), "prior": r.prior}
                      for s, r in zip(format_utc(times), fc.itertuples())]}, indent=1))
        return
    con = Console()
    days = day_names()
    table = Table(title=_("Production forecast — {site} ({kwp} kWp)").format(
                      site=cfg.site.name, kwp=f"{cfg.array.kwp:g}"),
                  caption=_("kWh per step; P10–P90: 8 chances in 10; ★ = green hour"))
    for col, just in ((_("local time"), "left"), ("P10", "right"), ("P50", "right"),
                      ("P90", "right"), (_("usual consumption"), "right"), ("", "center")):
        table.add_column(col, justify=just)
    day_total: dict[str, float] = {}
    for i, row in enumerate(fc.itertuples()):
        day = local[i][:10]
        day_total[day] = day_total.get(day, 0.0) + row.p50_wh / 1000.0
        if not all_steps and row.clear_sky_wh <= 0:
            continue
        d = dt.date.fromisoformat(day)
        table.add_row(f"{days[d.weekday()]} {d:%d/%m} {local[i][11:16]}",
                      f"{row.p10_wh / 1000:.2f}", f"{row.p50_wh / 1000:.2f}",
                      f"{row.p90_wh / 1000:.2f}", f"{row.baseline_wh / 1000:.2f}",
                      "★" if row.green else "", style="green" if row.green else None)
    con.print(table)
    for day, kwh in day_total.items():
        con.print("  " + _("{day}: {kwh} kWh forecast (P50)").format(day=day, kwh=f"{kwh:.1f}"))
    periods = green_periods(times, fc["green"].to_numpy(), step_s)
    if periods:
        spans = []
        for a, b in periods:
            la, lb = format_local([a], tz)[0], format_local([b], tz)[0]
            d = dt.date.fromisoformat(la[:10])
            spans.append(f"{days[d.weekday()]} {la[11:16]}–{lb[11:16]}")
        con.print(_("Green hours (run the machines): {spans}").format(spans=", ".join(spans)))
    else:
        con.print(_("No green hour ahead: production will not exceed consumption."))
    prior = _("weather given") if (fc["prior"] == "weather").any() else _("climatology")
    if cal.calibrated:
        calib = _("calibrated on the history: factor {factor} ({n} clear-sky steps)").format(
            factor=f"{cal.factor:.3f}", n=cal.clear_steps)
    elif cal.days < 14:
        calib = _("not calibrated ({days} days of history, 14 needed)").format(
            days=f"{cal.days:.0f}")
    else:
        calib = _("not calibrated (too few clear-sky steps: {n})").format(n=cal.clear_steps)
    con.print(_("Model: pvlib × {prior}; {calibration}.").format(prior=prior, calibration=calib),
              highlight=False)
    if plot:
        from pvshare.forecast.chart import plot_forecast
        plot_forecast(fc, plot, tz, _("Forecast solar production — {site}").format(
            site=cfg.site.name))
        con.print(_("Chart: {file}").format(file=plot))


@app.command("evaluate")
def evaluate(
    production: Path = typer.Option(..., "--production", help="Measured production CSV "
                                    "(time,ac_power_w or time,production_wh)."),
    latitude: float = typer.Option(..., "--latitude", help="Degrees north."),
    longitude: float = typer.Option(..., "--longitude", help="Degrees east."),
    tilt: float = typer.Option(..., "--tilt", help="Array tilt, degrees."),
    azimuth: float = typer.Option(..., "--azimuth", help="Array azimuth, degrees from north."),
    kwp: float = typer.Option(..., "--kwp", help="Nameplate DC power, kW."),
    inverter_kw: float | None = typer.Option(None, "--inverter-kw", help="AC limit, kW."),
    altitude: float = typer.Option(0.0, "--altitude", help="Metres above sea level."),
    weather: Path | None = typer.Option(
        None, "--weather", help="Irradiance CSV (time,ghi[,temp_air,wind_speed]) used as a "
                                "perfect day-ahead weather forecast."),
    train_until: str | None = typer.Option(
        None, "--train-until", help="Start of the test period (ISO); default: the middle."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Backtest on a measured series: nMAE / nRMSE per horizon band and method, with skill."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from pvshare.errors import InputError
    from pvshare.forecast import files
    from pvshare.forecast.evaluate import BANDS, METHODS, array_config, backtest

    cfg = array_config(latitude, longitude, tilt, azimuth, kwp, inverter_kw=inverter_kw,
                       altitude_m=altitude)
    power, step_s = files.read_production(production)
    wx = files.read_weather(weather) if weather else None
    err = Console(stderr=True)
    with Progress(console=err, transient=True) as prog:
        task = prog.add_task("backtest", total=None)
        try:
            res = backtest(cfg, power, step_s, weather=wx, train_until=train_until,
                           progress=lambda d, t: prog.update(task, completed=d, total=t))
        except ValueError as exc:
            raise InputError(str(exc), str(production)) from None
    if as_json:
        typer.echo(json.dumps({b: {m: {k: round(v, 4) for k, v in res.scores[b][m].items()}
                                   for m in METHODS} for b in BANDS}))
        return
    con = Console()
    con.print(_("fitted on {a} .. {b}, scored on {c} .. {d}; daytime steps, errors in percent "
                "of {kwp} kWp").format(a=res.train_period[0], b=res.train_period[1],
                                    c=res.test_period[0], d=res.test_period[1],
                                    kwp=f"{kwp:g}"), highlight=False)
    cal = res.forecaster.calibration
    if cal.calibrated:
        con.print(_("self-calibration: effective capacity {kw} kWp (factor {factor}, "
                    "{n} clear steps)").format(kw=f"{cal.factor * kwp:.2f}",
                                               factor=f"{cal.factor:.3f}", n=cal.clear_steps),
                  highlight=False)
    table = Table(caption=_("skill = 1 - error / error of the reference"))
    for n, col in enumerate((_("band"), _("method"), "nMAE %", "nRMSE %",
                             _("RMSE skill\nvs smart pers."), _("MAE skill\nvs climatology"))):
        table.add_column(col, justify="left" if n < 2 else "right", no_wrap=n == 1)
    for b in BANDS:
        for i, m in enumerate(METHODS):
            s = res.scores[b][m]
            table.add_row(b if i == 0 else "", m,
                          f"{100 * s['nmae']:.1f}", f"{100 * s['nrmse']:.1f}",
                          f"{100 * res.skill(b, m, 'smart_persistence', 'nrmse'):+.1f}%",
                          f"{100 * res.skill(b, m, 'climatology', 'nmae'):+.1f}%",
                          style="bold" if m == "pvshare" else None,
                          end_section=i == len(METHODS) - 1)
    con.print(table)
    con.print(_("forecasts scored: {counts}").format(
        counts=", ".join(f"{b} {n:,}" for b, n in res.counts.items())), highlight=False)
    cov = ", ".join(_("{band}: {below}% below P10, {above}% above P90").format(
        band=b, below=f"{100 * c['below_p10']:.0f}", above=f"{100 * c['above_p90']:.0f}")
        for b, c in res.coverage.items())
    con.print(_("band coverage (expected: 10% below P10, 10% above P90): {coverage}").format(coverage=cov),
              highlight=False)
