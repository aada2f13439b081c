"""The building's view for the PMO and the landlord, over a month or a year (pure analysis).

Enedis vocabulary: PROD (production), AUTOPROD (Σ allocated), SURPLUS = PROD − AUTOPROD;
CONS, AUTOCONS, COMPLEMENT per participant. Self-consumption rate = AUTOPROD / PROD;
self-sufficiency = AUTOPROD / CONS.

The energies, completeness and euros of the cards and of the table are the months' figures
(:func:`pvshare.billing.figures.month_figures`, added over the year's months), the same as
the bills, the statements and the web page; the daily or monthly chart comes from the steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pvshare.reports.localtime import group_sum, local_steps
from pvshare.timegrid import DEFAULT_TZ


@dataclass
class TenantRow:
    """One tenant's line in the building report's table."""

    id: str
    name: str
    prm: str
    consumed_kwh: float
    autocons_kwh: float
    complement_kwh: float
    self_sufficiency_percent: float
    saved_eur: float | None         # the bills' saving; None without prices
    completeness_percent: float
    record: dict                    # the figures (pvshare.billing.figures.period_records)


@dataclass
class BuildingAnalysis:
    """Figures of the building over the period (kWh, %, €)."""

    period: str                     # 'YYYY-MM' or 'YYYY'
    production_kwh: float
    autoprod_kwh: float
    surplus_kwh: float
    consumption_kwh: float
    complement_kwh: float
    self_consumption_percent: float
    self_sufficiency_percent: float
    saved_eur: float | None
    steps_expected: int
    production_completeness_percent: float
    consumption_completeness_percent: float
    incomplete_participants: list   # ids with less than 100 % of steps
    forecast_kwh: float | None
    forecast_error_percent: float | None
    series_labels: np.ndarray       # datetime64[D] (month report) or [M] (year report)
    series_prod_kwh: np.ndarray
    series_auto_kwh: np.ndarray
    series_cons_kwh: np.ndarray
    series_forecast_kwh: np.ndarray | None
    rows: list
    totals: dict                    # the operation's figures (period_records)


def analyse_building(times, production_wh, consumption_wh, allocated_wh, participants, *,
                     start, end, step_s: int, figures: list, period: str,
                     forecast_wh=None, tz: str = DEFAULT_TZ) -> BuildingAnalysis:
    """Sum the building's figures over ``[start, end)`` (UTC).

    Parameters
    ----------
    times : array of datetime64[s], shape (T,)
        UTC step starts (steps missing from the data count as incomplete).
    production_wh : array, shape (T,)
        PROD per step, Wh (NaN = not measured).
    consumption_wh, allocated_wh : arrays, shape (T, N)
        CONS and AUTOCONS per step and participant, Wh.
    participants : sequence
        N objects with ``id``, ``prm`` and ``name`` (the config's participants).
    start, end : datetime64
        The period, UTC.
    step_s : int
        Step length, s.
    figures : list of pvshare.billing.figures.MonthFigures
        The period's months' figures (one for a month report): the cards and the table.
    period : str
        ``'YYYY-MM'`` (daily series) or ``'YYYY'`` (monthly series).
    forecast_wh : array, shape (T,), optional
        Forecast production per step, Wh.
    """
    times = np.asarray(times, dtype="datetime64[s]")
    sel = (times >= np.datetime64(start, "s")) & (times < np.datetime64(end, "s"))
    t = times[sel]
    prod = np.asarray(production_wh, dtype=float)[sel]
    cons = np.asarray(consumption_wh, dtype=float)[sel]
    auto = np.where(np.isnan(cons), np.nan, np.asarray(allocated_wh, dtype=float)[sel])
    expected = int((np.datetime64(end, "s") - np.datetime64(start, "s")).astype(int) // step_s)
    from pvshare.billing.figures import period_records
    records, totals = period_records(figures)
    prod_kwh = totals["production_wh"] / 1000 if figures else float(np.nansum(prod)) / 1000.0
    autoprod = totals["autocons_kwh"]
    consumption = totals["consumption_kwh"]
    rows = []
    for p, r in zip(participants, records):
        rows.append(TenantRow(
            id=p.id, name=p.name or "", prm=p.prm, consumed_kwh=r["consumption_kwh"],
            autocons_kwh=r["autocons_kwh"], complement_kwh=r["complement_kwh"],
            self_sufficiency_percent=(100.0 * r["autocons_wh"] / r["consumption_wh"]
                                      if r["consumption_wh"] > 0 else 0.0),
            saved_eur=None if r["saving_cents"] is None else r["saving_cents"] / 100,
            completeness_percent=r["completeness_percent"], record=r))
    loc = local_steps(t, tz)
    keys = loc.date if len(period) == 7 else loc.month
    stack = np.column_stack([prod, np.nansum(auto, axis=1), np.where(
        np.isnan(cons).all(axis=1), np.nan, np.nansum(cons, axis=1))])
    fc_kwh = fc_err = None
    series_fc = None
    if forecast_wh is not None:
        fc = np.asarray(forecast_wh, dtype=float)[sel]
        stack = np.column_stack([stack, fc])
        fc_kwh = float(np.nansum(fc)) / 1000.0
        fc_err = 100.0 * (prod_kwh - fc_kwh) / fc_kwh if fc_kwh > 0 else None
    labels, sums, _ = group_sum(keys, stack / 1000.0)
    if forecast_wh is not None:
        series_fc = sums[:, 3]
    return BuildingAnalysis(
        period=period, production_kwh=prod_kwh, autoprod_kwh=autoprod,
        surplus_kwh=prod_kwh - autoprod, consumption_kwh=consumption,
        complement_kwh=consumption - autoprod,
        self_consumption_percent=100.0 * autoprod / prod_kwh if prod_kwh > 0 else 0.0,
        self_sufficiency_percent=100.0 * autoprod / consumption if consumption > 0 else 0.0,
        saved_eur=None if totals["saving_cents"] is None else totals["saving_cents"] / 100,
        steps_expected=expected,
        production_completeness_percent=100.0 * float((~np.isnan(prod)).sum()) / expected
        if expected else 0.0,
        consumption_completeness_percent=totals["completeness_percent"],
        incomplete_participants=[r.id for r in rows
                                 if r.record["measured_steps"] < r.record["steps"]],
        forecast_kwh=fc_kwh, forecast_error_percent=fc_err, series_labels=labels,
        series_prod_kwh=sums[:, 0], series_auto_kwh=sums[:, 1], series_cons_kwh=sums[:, 2],
        series_forecast_kwh=series_fc, rows=rows, totals=totals)


def building_record(b: BuildingAnalysis) -> dict:
    """The building report's figures as a JSON-ready dict (``report building --format
    json``): per participant and for the operation, whole Wh and their kWh, the steps
    measured, ``total_cents`` and ``saving_cents`` (None without prices) — the months'
    figures, as the bills have them.
    """
    return {"format": "pvshare-building-report", "version": 1, "period": b.period,
            "production_kwh": round(b.production_kwh, 3),
            "surplus_kwh": round(b.surplus_kwh, 3),
            "participants": [r.record for r in b.rows], "totals": b.totals}
