"""One participant's figures over a period: the one source of every kWh and euro a person sees.

:func:`month_figures` gives, for every participant of a :class:`~pvshare.billing.month.Month`
(a local month, or its first part up to now), CONS, AUTOCONS, COMPLEMENT in whole Wh, the
share of its steps measured, its lines of the month's bills and the saving in whole cents.
The web page, the statement (HTML, PDF, JSON), ``pvshare bill``, the building report (HTML,
JSON) and ``pvshare export --what figures`` all read these values; none recomputes them.

Pure: arrays in, integers out; no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from pvshare.billing.bill import (
    Bills,
    ParticipantBill,
    Quantity,
    completeness_percent,
    compute_bills,
    quantities_from_steps,
    round_half_up,
)
from pvshare.billing.prices import Price, local_seconds


@dataclass(frozen=True)
class Terms:
    """What the figures need from the configuration: the participants, their periods, the
    prices, the time zone and the step (no secrets).

    ``starts``/``ends`` are each participant's period, int64 Unix seconds (start included,
    end excluded; open bounds are the int64 extremes).
    """

    timezone: str
    step: str
    participants: tuple[str, ...]
    prms: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    prices: tuple[Price, ...] = ()

    @classmethod
    def from_config(cls, cfg) -> Terms:
        """The terms of a :class:`pvshare.config.Config` (its ``[[prices]]``)."""
        from pvshare.billing.prices import prices_from_config
        starts, ends = cfg.participant_bounds()
        return cls(cfg.site.timezone, cfg.site.step, tuple(cfg.participant_ids),
                   tuple(p.prm for p in cfg.participants),
                   tuple(int(x) for x in starts), tuple(int(x) for x in ends),
                   tuple(prices_from_config(cfg.prices)))

    def active(self, times) -> np.ndarray:
        """(T, N) bool: which participant takes part in which step (UTC ``times``)."""
        from pvshare.allocation.periods import active_mask
        return active_mask(times, np.asarray(self.starts, dtype=np.int64),
                           np.asarray(self.ends, dtype=np.int64))


@dataclass(frozen=True)
class ParticipantFigures:
    """One participant over the period: whole Wh, steps, its bill lines, whole cents.

    ``steps`` are the period's steps the participant takes part in, ``measured_steps`` those
    with a stored, measured consumption; energies are summed over the measured steps.
    ``bill`` is None without prices (then no euro figure exists). ``first_day`` and
    ``end_day`` (excluded) are its own local days in the period (None when it took no part).
    """

    participant: str
    prm: str
    consumption_wh: int
    autocons_wh: int
    steps: int
    measured_steps: int
    first_day: dt.date | None
    end_day: dt.date | None
    bill: ParticipantBill | None = None

    @property
    def complement_wh(self) -> int:
        """COMPLEMENT = CONS − AUTOCONS, Wh (what the supplier delivered)."""
        return self.consumption_wh - self.autocons_wh

    @property
    def completeness_percent(self) -> float:
        """Share of its steps measured (:func:`pvshare.billing.bill.completeness_percent`)."""
        return completeness_percent(self.measured_steps, self.steps)

    @property
    def complete(self) -> bool:
        """Every step of its period is measured."""
        return self.measured_steps == self.steps

    @property
    def share_percent(self) -> float | None:
        """AUTOCONS / CONS in percent (None when nothing was consumed)."""
        if self.consumption_wh <= 0:
            return None
        return 100.0 * self.autocons_wh / self.consumption_wh

    def cents(self, name: str) -> int | None:
        """A sum of its bill lines (``total_cents``, ``saving_cents``…), None without a bill."""
        return None if self.bill is None else int(self.bill.sums[name])

    @property
    def saving_cents(self) -> int | None:
        """The saving (``docs/design.md`` §"Saving"), whole cents; None without prices."""
        return self.cents("saving_cents")

    @property
    def total_cents(self) -> int | None:
        """What it pays the operation, all taxes included, whole cents; None without prices."""
        return self.cents("total_cents")

    def record(self) -> dict:
        """The figures as a JSON-ready dict (the same keys in every JSON output)."""
        return {
            "participant": self.participant, "prm": self.prm,
            "from": None if self.first_day is None else self.first_day.isoformat(),
            "to": None if self.end_day is None else self.end_day.isoformat(),
            "consumption_wh": self.consumption_wh, "autocons_wh": self.autocons_wh,
            "complement_wh": self.complement_wh,
            "consumption_kwh": self.consumption_wh / 1000,
            "autocons_kwh": self.autocons_wh / 1000,
            "complement_kwh": self.complement_wh / 1000,
            "steps": self.steps, "measured_steps": self.measured_steps,
            "completeness_percent": self.completeness_percent,
            "total_cents": self.total_cents, "saving_cents": self.saving_cents,
        }


#: The integer figures added up over participants (and over months, for a year).
SUMMED = ("consumption_wh", "autocons_wh", "steps", "measured_steps")


@dataclass(frozen=True)
class MonthFigures:
    """Every participant's figures over one period, and the operation's totals.

    ``source`` says whose figures the bill amounts come from (``pvshare`` or ``enedis``);
    ``production_wh`` is the roof's production over the stored steps, whole Wh.
    """

    month: str
    source: str
    participants: list[ParticipantFigures]
    production_wh: int
    bills: Bills | None = None
    _by_id: dict = field(default_factory=dict, repr=False, compare=False)

    def of(self, participant: str) -> ParticipantFigures:
        """The figures of ``participant`` (KeyError when it is not in the terms)."""
        if not self._by_id:
            self._by_id.update({p.participant: p for p in self.participants})
        return self._by_id[participant]

    @property
    def has_prices(self) -> bool:
        """True when there are bills (and so euro figures)."""
        return self.bills is not None

    def taking_part(self) -> list[ParticipantFigures]:
        """The participants with at least one step in the period."""
        return [p for p in self.participants if p.steps > 0]

    def incomplete(self) -> list[ParticipantFigures]:
        """The participants taking part whose steps are not all measured."""
        return [p for p in self.taking_part() if not p.complete]

    def totals(self) -> dict:
        """The operation's totals: whole Wh, steps and whole cents, added over participants."""
        parts = self.taking_part()
        out: dict = {k: int(sum(getattr(p, k) for p in parts)) for k in SUMMED}
        out["complement_wh"] = out["consumption_wh"] - out["autocons_wh"]
        out["production_wh"] = self.production_wh
        out["completeness_percent"] = completeness_percent(out["measured_steps"], out["steps"])
        for k in ("total_cents", "saving_cents"):
            out[k] = None if self.bills is None else int(self.bills.totals[k])
        return out


def month_figures(terms: Terms, m, *, quantities: list[Quantity] | None = None,
                  source: str = "pvshare") -> MonthFigures:
    """The figures of every participant of ``m`` (a :class:`~pvshare.billing.month.Month`).

    A step counts as measured for a participant when it takes part, the store has the step
    and its consumption is not missing; CONS and AUTOCONS are summed over those steps and
    rounded half up to whole Wh. With prices, the bill lines are computed on the same Wh
    (:func:`pvshare.billing.bill.compute_bills`), from ``quantities`` when given (Enedis's
    AUTOCONS) or else from the same steps.

    Raises
    ------
    ValueError
        A participant's step before the first price.
    """
    tz = terms.timezone
    active = np.asarray(m.active, dtype=bool)
    cons = np.asarray(m.consumption_wh, dtype=float)
    stored = np.asarray(m.stored, dtype=bool)[:, None]
    measured = active & stored & ~np.isnan(cons)
    auto = np.where(measured, np.nan_to_num(np.asarray(m.allocated_wh, dtype=float)), 0.0)
    cons_wh = round_half_up(np.where(measured, cons, 0.0).sum(axis=0))
    auto_wh = round_half_up(auto.sum(axis=0))
    steps = active.sum(axis=0)
    measured_steps = measured.sum(axis=0)
    days = (local_seconds(m.times, tz) // 86400).astype("datetime64[D]")
    bills = None
    if terms.prices:
        prices = list(terms.prices)
        month_steps = getattr(m, "month_steps", None) or len(m.times)
        if quantities is None:
            quantities = quantities_from_steps(m.times, auto, active, prices, month_steps, tz,
                                               measured=measured)
            wh = {i: int(auto_wh[i]) for i in range(len(m.participants))}
        else:
            wh = None
        bills = compute_bills(quantities, prices, list(m.participants), list(m.prms), source,
                              participant_wh=wh)
    out = []
    for i, pid in enumerate(m.participants):
        d = days[active[:, i]]
        first = d.min().item() if d.size else None
        end = d.max().item() + dt.timedelta(days=1) if d.size else None
        out.append(ParticipantFigures(
            pid, m.prms[i], int(cons_wh[i]), int(auto_wh[i]), int(steps[i]),
            int(measured_steps[i]), first, end, None if bills is None else bills.of(pid)))
    prod = np.asarray(m.production_wh, dtype=float)
    return MonthFigures(m.month, source, out,
                        int(round_half_up(np.where(stored[:, 0], np.nan_to_num(prod), 0).sum())),
                        bills)


def _derived(out: dict) -> dict:
    """Add COMPLEMENT, the kWh and the completeness to whole-Wh sums."""
    out["complement_wh"] = out["consumption_wh"] - out["autocons_wh"]
    for k in ("consumption", "autocons", "complement"):
        out[f"{k}_kwh"] = out[f"{k}_wh"] / 1000
    out["completeness_percent"] = completeness_percent(out["measured_steps"], out["steps"])
    return out


def period_records(months: list[MonthFigures]) -> tuple[list[dict], dict]:
    """Each participant's figures added over ``months`` (one month, or a year's), and the
    operation's totals: whole Wh, steps, whole cents (None without prices), as JSON-ready
    dicts with the keys of :meth:`ParticipantFigures.record`. Integers add exactly, so a
    year's figures are the sum of its months' bills.
    """
    if not months:
        return [], _derived({**dict.fromkeys(SUMMED, 0), "production_wh": 0,
                             "total_cents": None, "saving_cents": None})
    priced = all(m.has_prices for m in months)
    rows = []
    for i, p in enumerate(months[0].participants):
        mine = [m.participants[i] for m in months]
        row: dict = {"participant": p.participant, "prm": p.prm}
        row.update({k: int(sum(getattr(x, k) for x in mine)) for k in SUMMED})
        for k in ("total_cents", "saving_cents"):
            row[k] = int(sum(x.cents(k) or 0 for x in mine)) if priced else None
        rows.append(_derived(row))
    totals: dict = {k: int(sum(r[k] for r in rows)) for k in SUMMED}
    totals["production_wh"] = int(sum(m.production_wh for m in months))
    for k in ("total_cents", "saving_cents"):
        totals[k] = int(sum(r[k] for r in rows)) if priced else None
    return rows, _derived(totals)
