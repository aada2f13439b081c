"""Bills: one line per participant and period, in integer cents that add up.

Rounding (documented in ``docs/pmo-month.md``):

1. every amount of every line is first computed exactly (floating point, in cents): energy
   = kWh × price, excise = kWh × duty, fee = monthly fee × the share of the month's steps
   the participant took part in, VAT = rate × (energy + excise + fee), supplier = kWh × the
   supplier's price (all taxes included);
2. the operation's total of each amount is rounded to the nearest cent (half up);
3. each line gets the floor of its exact amount, and the cents still missing to reach the
   operation's total go one each to the lines with the largest remainders (ties: the
   earlier line). So the lines add up exactly to the operation's total and no line is more
   than one cent away from its exact amount;
4. before tax = energy + excise + fee; total = before tax + VAT; saving = supplier − total
   (:func:`saving_cents`, the one definition of the saving, ``docs/design.md`` §"Saving").

The kWh of a line are whole Wh: a participant's lines share its month's Wh (rounded half up)
by largest remainders, so they add up to the same figure every other output shows; the
amounts are computed on these Wh.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from pvshare.billing.prices import Price, local_seconds, offpeak_mask, price_index
from pvshare.i18n import _

COLUMNS = ["participant", "prm", "from", "to", "source", "kwh_selfconsumed", "kwh_peak",
           "kwh_offpeak", "energy_cents", "excise_cents", "fee_cents", "before_tax_cents",
           "vat_cents", "total_cents", "supplier_cents", "saving_cents", "completeness_percent"]


def round_half_up(x) -> np.ndarray:
    """Nearest integer, halves up (``0.5`` → 1), as int64; the Wh and cents of every output."""
    return np.floor(np.asarray(x, dtype=float) + 0.5 + 1e-9).astype(np.int64)


def completeness_percent(measured: int, steps: int) -> float:
    """Share of ``steps`` measured, in percent, rounded **down** to 0.1 (so 100.0 only when
    every step is measured); 100.0 when there is no step to measure.
    """
    if steps <= 0:
        return 100.0
    return float(int(1000 * int(measured) // int(steps))) / 10


def saving_cents(supplier_cents, total_cents):
    """The saving: what the kWh would have cost at the supplier's price (all taxes included)
    minus what the participant pays the operation for them (``total_cents``: energy, excise,
    the operation's monthly fee, VAT). Negative when the operation costs more.
    """
    return supplier_cents - total_cents


def largest_remainder(exact_cents: np.ndarray) -> np.ndarray:
    """Integer cents adding up to the rounded total (half up) of ``exact_cents`` (K,).

    Each value is the floor or the ceiling of its exact amount; the spare cents go to the
    largest remainders, ties to the lower index.
    """
    exact = np.asarray(exact_cents, dtype=float)
    if exact.size == 0:
        return np.zeros(0, dtype=np.int64)
    return apportion(exact, int(np.floor(exact.sum() + 0.5 + 1e-9)))


def apportion(exact: np.ndarray, total: int) -> np.ndarray:
    """Integers adding up to ``total``, each the floor or ceiling of its ``exact`` value (when
    ``total`` is within one unit per value of their sum): spare units to the largest
    remainders, ties to the lower index.
    """
    exact = np.asarray(exact, dtype=float)
    if exact.size == 0:
        return np.zeros(0, dtype=np.int64)
    floor = np.floor(exact + 1e-9).astype(np.int64)
    spare = total - int(floor.sum())
    frac = exact - floor
    order = np.argsort(-frac, kind="stable")
    out = floor.copy()
    if spare > 0:
        out[order[:spare]] += 1
    elif spare < 0:                       # only through float noise; take from the smallest
        out[order[::-1][:-spare]] -= 1
    return out


@dataclass(frozen=True)
class Quantity:
    """What one bill line charges for: a participant over one price period of the month."""

    participant: int                      # index into the participants
    price: int                            # index into the prices
    wh_peak: float
    wh_offpeak: float
    fee_share: float                      # share of the month's monthly fee, 0..1
    first_day: dt.date
    last_day: dt.date                     # included
    steps: int = 0                        # steps of the line's period the participant is in
    measured_steps: int = 0               # of which measured


def quantity_completeness(q: Quantity) -> float:
    """A line's completeness (:func:`completeness_percent` of its steps)."""
    return completeness_percent(q.measured_steps, q.steps)


def quantities_from_steps(times, autocons_wh: np.ndarray, active: np.ndarray,
                          prices: list[Price], month_steps: int, tz: str = "Europe/Paris",
                          measured: np.ndarray | None = None) -> list[Quantity]:
    """Per-step self-consumption (T, N) → one :class:`Quantity` per participant and price.

    ``times`` are the month's steps the data covers; ``active`` (T, N) the participation;
    ``month_steps`` the number of steps in the whole month (for the fee's share);
    ``measured`` (T, N) the steps measured (default: every active step).
    A step before the first price raises ValueError.
    """
    a = np.where(active, np.nan_to_num(np.asarray(autocons_wh, dtype=float)), 0.0)
    meas = active if measured is None else (np.asarray(measured, dtype=bool) & active)
    pidx = price_index(times, prices, tz)
    if (pidx < 0).any() and active[pidx < 0].any():
        first = prices[0].start if prices else None
        raise ValueError(_("no price for the steps before {first}: add a [[prices]] entry "
                           "whose 'from' is on or before the month's first day").format(
                               first=first))
    days = (local_seconds(times, tz) // 86400).astype("datetime64[D]")
    out = []
    for k, price in enumerate(prices):
        in_k = pidx == k
        if not in_k.any():
            continue
        off = offpeak_mask(times, price.offpeak_hours, tz) & in_k
        peak = in_k & ~off
        wh_off = a[off].sum(axis=0)
        wh_peak = a[peak].sum(axis=0)
        on = active & in_k[:, None]
        steps_on = on.sum(axis=0)
        for i in np.flatnonzero(steps_on):
            d = days[on[:, i]]
            out.append(Quantity(int(i), k, float(wh_peak[i]), float(wh_off[i]),
                                float(steps_on[i]) / month_steps, d.min().item(),
                                d.max().item(), int(steps_on[i]),
                                int((meas[:, i] & in_k).sum())))
    out.sort(key=lambda q: (q.participant, q.first_day))
    return out


#: The amounts of a line that a participant's statement shows and adds up.
PARTICIPANT_SUMS = ("energy_cents", "excise_cents", "fee_cents", "before_tax_cents",
                    "vat_cents", "total_cents", "supplier_cents", "saving_cents")


@dataclass(frozen=True)
class ParticipantBill:
    """One participant's lines of the month's bills, as the bill CSV has them, and their sums.

    ``sums`` holds the integer cents of :data:`PARTICIPANT_SUMS` added over the lines and
    ``kwh_selfconsumed``; ``source`` is ``"enedis"`` or ``"pvshare"``.
    """

    participant: str
    source: str
    lines: list[dict]
    sums: dict


@dataclass(frozen=True)
class Bills:
    """The bill lines (dicts with :data:`COLUMNS`) and the operation's totals."""

    lines: list[dict]
    totals: dict

    def of(self, participant: str) -> ParticipantBill | None:
        """The lines of ``participant`` (None when it has none this month)."""
        mine = [line for line in self.lines if line["participant"] == participant]
        if not mine:
            return None
        sums: dict = {k: int(sum(line[k] for line in mine)) for k in PARTICIPANT_SUMS}
        sums["kwh_selfconsumed"] = sum(round(1000 * line["kwh_selfconsumed"])
                                       for line in mine) / 1000
        steps = sum(line["steps"] for line in mine)
        sums["completeness_percent"] = completeness_percent(
            sum(line["measured_steps"] for line in mine), steps)
        return ParticipantBill(participant, mine[0]["source"], mine, sums)


def line_wh(quantities: list[Quantity], participant_wh: dict[int, int] | None = None):
    """Whole Wh of each line (peak, off-peak): a participant's lines share its Wh (by default
    the rounded sum of its lines) by largest remainders; within a line the peak Wh are
    rounded half up and the off-peak Wh are the rest.
    """
    exact_peak = np.array([x.wh_peak for x in quantities], dtype=float)
    exact = exact_peak + np.array([x.wh_offpeak for x in quantities], dtype=float)
    total = np.zeros(len(quantities), dtype=np.int64)
    who = np.array([x.participant for x in quantities], dtype=np.int64)
    for i in np.unique(who):
        sel = np.flatnonzero(who == i)
        target = (participant_wh or {}).get(int(i))
        if target is None:
            target = int(round_half_up(exact[sel].sum()))
        total[sel] = apportion(exact[sel], target)
    peak = np.clip(round_half_up(exact_peak), 0, total) if len(quantities) else total
    return peak, total - peak


def compute_bills(quantities: list[Quantity], prices: list[Price], participants: list[str],
                  prms: list[str], source: str,
                  participant_wh: dict[int, int] | None = None) -> Bills:
    """Amounts of every line in integer cents (see the module docstring for the rounding).

    ``participant_wh``: each participant's whole Wh that its lines must add up to (the
    month's figures); default the rounded sum of its lines.
    """
    q = quantities
    wh_peak, wh_off = line_wh(q, participant_wh)
    kwh_peak = wh_peak / 1000
    kwh_off = wh_off / 1000
    kwh = kwh_peak + kwh_off
    pr = [prices[x.price] for x in q]
    energy = 100 * (kwh_peak * np.array([p.peak_eur_per_kwh for p in pr])
                    + kwh_off * np.array([p.offpeak_eur_per_kwh for p in pr]))
    excise = 100 * kwh * np.array([p.excise_eur_per_kwh for p in pr])
    fee = 100 * np.array([x.fee_share * p.monthly_fee_eur for x, p in zip(q, pr)])
    vat = (energy + excise + fee) * np.array([p.vat_percent / 100 for p in pr])
    supplier = 100 * kwh * np.array([p.supplier_eur_per_kwh for p in pr])
    cents = {name: largest_remainder(v) for name, v in
             [("energy", energy), ("excise", excise), ("fee", fee), ("vat", vat),
              ("supplier", supplier)]}
    before = cents["energy"] + cents["excise"] + cents["fee"]
    total = before + cents["vat"]
    lines = []
    for j, x in enumerate(q):
        lines.append({
            "participant": participants[x.participant], "prm": prms[x.participant],
            "from": x.first_day.isoformat(),
            "to": (x.last_day + dt.timedelta(days=1)).isoformat(), "source": source,
            "kwh_selfconsumed": int(wh_peak[j] + wh_off[j]) / 1000,
            "kwh_peak": int(wh_peak[j]) / 1000, "kwh_offpeak": int(wh_off[j]) / 1000,
            "energy_cents": int(cents["energy"][j]), "excise_cents": int(cents["excise"][j]),
            "fee_cents": int(cents["fee"][j]), "before_tax_cents": int(before[j]),
            "vat_cents": int(cents["vat"][j]), "total_cents": int(total[j]),
            "supplier_cents": int(cents["supplier"][j]),
            "saving_cents": int(saving_cents(cents["supplier"][j], total[j])),
            "completeness_percent": quantity_completeness(x),
            "steps": x.steps, "measured_steps": x.measured_steps,
        })
    totals = {k: int(sum(line[k] for line in lines)) for k in COLUMNS if k.endswith("_cents")}
    totals["kwh_selfconsumed"] = int(wh_peak.sum() + wh_off.sum()) / 1000
    return Bills(lines, totals)


def saving_of_kwh(price: Price, kwh: float, *, offpeak: bool = False) -> int:
    """The saving (:func:`saving_cents`) on ``kwh`` taken from the roof at ``price`` rather
    than bought from the supplier, whole cents, with no share of the monthly fee (it is paid
    either way): what the household report's advice of moving consumption into the solar
    hours is worth. Priced at the peak price unless ``offpeak``.
    """
    wh = float(kwh) * 1000
    q = Quantity(0, 0, 0.0 if offpeak else wh, wh if offpeak else 0.0, 0.0,
                 price.start, price.start)
    return int(compute_bills([q], [price], ["-"], ["-"], "estimate").totals["saving_cents"])
