"""A tenant's monthly statement of the collective self-consumption operation (pure analysis).

Vocabulary (Enedis): CONS is what the flat consumed, AUTOCONS the part allocated from the
roof, COMPLEMENT = CONS − AUTOCONS what the supplier delivered. The month's figures (whole
Wh, completeness, bill lines, saving in cents) are the participant's
:class:`pvshare.billing.figures.ParticipantFigures`, the same as the bill's and the web
page's; the daily and monthly charts and the building's medians come from :func:`summarise`.

:func:`summarise` sums the building's arrays by local day and month once; each statement is
then a cheap selection, so the 48 statements of a month cost one pass over the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pvshare.billing.bill import PARTICIPANT_SUMS, ParticipantBill
from pvshare.billing.figures import ParticipantFigures
from pvshare.reports.localtime import group_sum, local_steps
from pvshare.timegrid import DEFAULT_TZ

#: The building's median is shown only when at least this many tenants have data, so that
#: no single tenant can be inferred from it.
MIN_GROUP = 5


@dataclass
class Summary:
    """Daily and monthly sums for every participant (kWh), local calendar.

    Shapes: D local days, M local months, N participants.
    """

    participant_ids: list
    days: np.ndarray            # datetime64[D] (D,)
    day_cons_kwh: np.ndarray    # (D, N)
    day_auto_kwh: np.ndarray    # (D, N)
    day_prod_kwh: np.ndarray    # (D,)
    months: np.ndarray          # datetime64[M] (M,)
    month_cons_kwh: np.ndarray  # (M, N)
    month_auto_kwh: np.ndarray  # (M, N)
    month_prod_kwh: np.ndarray  # (M,)
    month_cons_steps: np.ndarray  # (M, N) measured steps
    month_prod_steps: np.ndarray  # (M,)
    month_steps: np.ndarray     # (M,) steps on the grid in the data
    #: Steps each participant took part in (its period), (D, N) and (M, N); None = always.
    day_active_steps: np.ndarray | None = None
    month_active_steps: np.ndarray | None = None


def summarise(times, production_wh, consumption_wh, allocated_wh, participant_ids,
              tz: str = DEFAULT_TZ, active: np.ndarray | None = None) -> Summary:
    """Sum production (T,), consumption (T, N) and allocation (T, N), in Wh, by local day and
    month; NaN consumption counts as not measured (and its allocation as nothing).

    ``active`` (T, N) bool: the participants' periods; outside it a participant is left out
    (neither measured nor missing) and its statement covers its own days only.
    """
    times = np.asarray(times, dtype="datetime64[s]")
    prod = np.asarray(production_wh, dtype=float)
    cons = np.asarray(consumption_wh, dtype=float)
    if active is not None:
        cons = np.where(active, cons, np.nan)
    auto = np.where(np.isnan(cons), np.nan, np.asarray(allocated_wh, dtype=float))
    loc = local_steps(times, tz)
    n = cons.shape[1]
    extra = [] if active is None else [np.where(active, 0.0, np.nan)]
    both = np.concatenate([cons, auto, prod[:, None], np.zeros((prod.size, 1)), *extra],
                          axis=1) / 1000.0
    days, dsum, dcount = group_sum(loc.date, both)
    months, msum, mcount = group_sum(loc.month, both)
    act = {} if active is None else {"day_active_steps": dcount[:, 2 * n + 2:],
                                     "month_active_steps": mcount[:, 2 * n + 2:]}
    return Summary(**act,
        participant_ids=list(participant_ids), days=days,
        day_cons_kwh=dsum[:, :n], day_auto_kwh=dsum[:, n:2 * n], day_prod_kwh=dsum[:, 2 * n],
        months=months, month_cons_kwh=msum[:, :n], month_auto_kwh=msum[:, n:2 * n],
        month_prod_kwh=msum[:, 2 * n], month_cons_steps=mcount[:, :n],
        month_prod_steps=mcount[:, 2 * n], month_steps=mcount[:, 2 * n + 1])


@dataclass
class TenantStatement:
    """One tenant's month (kWh, %, €)."""

    participant_id: str
    month: np.datetime64
    consumed_kwh: float
    autocons_kwh: float
    complement_kwh: float
    self_sufficiency_percent: float
    saved_eur: float | None         # the bill's saving; None without prices
    completeness_percent: float
    days: np.ndarray                # datetime64[D] of the month
    day_cons_kwh: np.ndarray
    day_auto_kwh: np.ndarray
    trend_months: np.ndarray        # up to 12 months ending with this one
    trend_cons_kwh: np.ndarray
    trend_auto_kwh: np.ndarray
    median_consumed_kwh: float | None
    median_self_sufficiency_percent: float | None
    group_size: int
    #: The month's figures (:func:`pvshare.billing.figures.month_figures`).
    figures: ParticipantFigures
    #: The tenant's lines of the month's bills, when the config has ``[[prices]]``.
    bill: ParticipantBill | None = None


def tenant_statement(summary: Summary, participant: int, month,
                     figures: ParticipantFigures) -> TenantStatement:
    """The statement of participant index ``participant`` for local month ``month``.

    Parameters
    ----------
    summary : Summary
    participant : int
        Column of the participant.
    month : str or numpy.datetime64
        ``'YYYY-MM'``.
    figures : pvshare.billing.figures.ParticipantFigures
        The tenant's figures of the month: its kWh, completeness, bill lines and saving
        are these, to the Wh and the cent.

    Raises
    ------
    KeyError
        If the month is not in the data.
    """
    m = np.datetime64(month, "M")
    hit = np.flatnonzero(summary.months == m)
    if hit.size == 0:
        raise KeyError(str(m))
    k = int(hit[0])
    i = int(participant)
    f = figures
    in_month = summary.days.astype("datetime64[M]") == m
    if summary.day_active_steps is not None:           # the tenant's own days only
        in_month &= summary.day_active_steps[:, i] > 0
    first = max(0, k - 11)
    # The trend shows the months this tenant was measured (and always this one).
    seen = summary.month_cons_steps[first:k + 1, i] > 0
    seen[-1] = True
    # Anonymous comparison: medians over the participants measured this month.
    measured = summary.month_cons_steps[k] > 0
    group = int(measured.sum())
    med_cons = med_ss = None
    if group >= MIN_GROUP:
        c = summary.month_cons_kwh[k, measured]
        a = summary.month_auto_kwh[k, measured]
        med_cons = float(np.median(c))
        with np.errstate(invalid="ignore", divide="ignore"):
            ss = np.where(c > 0, 100.0 * a / np.where(c > 0, c, 1.0), 0.0)
        med_ss = float(np.median(ss))
    return TenantStatement(
        participant_id=summary.participant_ids[i], month=m,
        consumed_kwh=f.consumption_wh / 1000, autocons_kwh=f.autocons_wh / 1000,
        complement_kwh=f.complement_wh / 1000,
        self_sufficiency_percent=f.share_percent or 0.0,
        saved_eur=None if f.saving_cents is None else f.saving_cents / 100,
        completeness_percent=f.completeness_percent,
        days=summary.days[in_month], day_cons_kwh=summary.day_cons_kwh[in_month, i],
        day_auto_kwh=summary.day_auto_kwh[in_month, i],
        trend_months=summary.months[first:k + 1][seen],
        trend_cons_kwh=summary.month_cons_kwh[first:k + 1, i][seen],
        trend_auto_kwh=summary.month_auto_kwh[first:k + 1, i][seen],
        median_consumed_kwh=med_cons, median_self_sufficiency_percent=med_ss, group_size=group,
        figures=f, bill=f.bill)


def statement_record(s: TenantStatement, *, prm: str, origin: str) -> dict:
    """The statement's figures as a JSON-ready dict (``pvshare report tenant --format json``).

    The month's figures are :meth:`pvshare.billing.figures.ParticipantFigures.record`'s
    (whole Wh, their kWh, the steps measured, ``total_cents`` and ``saving_cents``); the
    bill's amounts are the integer cents of the bill CSV, unchanged; the daily kWh are rounded
    to 6 decimals (1 mWh). ``period`` is the tenant's own days of the month (``to``
    excluded); ``share`` is AUTOCONS / CONS (0 when nothing was consumed).
    """
    days = [str(d) for d in s.days]
    last = s.days[-1] + np.timedelta64(1, "D") if len(s.days) else None
    bill = None
    if s.bill is not None:
        keep = ("from", "to", "kwh_selfconsumed", "kwh_peak", "kwh_offpeak",
                *PARTICIPANT_SUMS, "completeness_percent")
        bill = {"source": s.bill.source,
                "lines": [{k: line[k] for k in keep} for line in s.bill.lines],
                **s.bill.sums}
    fig = s.figures.record()
    del fig["participant"], fig["prm"], fig["from"], fig["to"]
    return {
        "format": "pvshare-tenant-statement", "version": 2,
        "participant": s.participant_id, "prm": prm, "month": str(s.month),
        "period": {"from": days[0] if days else None,
                   "to": str(last) if last is not None else None},
        **fig,
        "share": round(s.autocons_kwh / s.consumed_kwh, 6) if s.consumed_kwh > 0 else 0.0,
        "daily": [{"date": d, "consumption_kwh": round(float(c), 6),
                   "autocons_kwh": round(float(a), 6)}
                  for d, c, a in zip(days, s.day_cons_kwh, s.day_auto_kwh)],
        "measured_by": origin,
        "source": s.bill.source if s.bill is not None else "pvshare",
        "bill": bill,
    }
