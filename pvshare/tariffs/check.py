"""The tariff check: a load curve's cost under each regulated option and power, and the best.

Pure: arrays and tables in, a :class:`TariffCheck` out; no I/O, no clock. Vectorised over the
steps with numpy; the money is summed exactly (:class:`fractions.Fraction`) and rounded to the
cent once per option. Rules (docs/design.md, "Tariff check"):

* a step's price follows its **local start time** (Europe/Paris): the price row of its local
  date, the Heures creuses period of its local time of day, and for Tempo the colour of its
  Tempo day (the day D runs from 06:00 on D to 06:00 on D+1) and the off-peak hours
  22:00-06:00;
* the subscription costs the **monthly price × 12 / 365 per local day** (the yearly price /
  365); a local day only partly covered by the curve costs the covered share of it (its
  seconds over the day's 23, 24 or 25 hours), so costs add up over any split of the period;
* energy is taken in whole joules (Wh × 3600, rounded: 0.28 mWh, a ten-millionth of a euro),
  each step's joules times its price, all summed as exact fractions;
* each option's subscription, energy and total are rounded to the cent (half up) from the
  exact sums: the total is not the sum of the two rounded parts;
* the lower powers tried are the standard powers P with ``P × 1000 ≥ peak × PEAK_MARGIN``,
  ``peak`` the highest mean power of one step (W) of the curve;
* the best choice is the cheapest computed (option, power), the current one on a tie; its
  yearly difference is (current − best) × 365 / the days covered;
* a price, subscription or colour missing for any step makes that (option, power)
  unavailable (listed with the reason); for the household's own option and power it is an
  error. Never a silent zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from pvshare.billing.prices import parse_hour_ranges
from pvshare.errors import InputError
from pvshare.i18n import _
from pvshare.tariffs.prices import OPTIONS, PERIODS, STANDARD_KVA, PriceTable
from pvshare.tariffs.tempo import DAY_START_HOUR, TempoCalendar
from pvshare.timegrid import DEFAULT_TZ, utc_offsets

#: The household's off-peak hours when its bill does not say (Heures creuses).
DEFAULT_OFFPEAK_HOURS = "22:00-06:00"
#: Tempo's off-peak hours (fixed by the offer), seconds of the local day.
TEMPO_OFFPEAK = ((22 * 3600, 6 * 3600),)
#: Headroom kept over the curve's highest step mean power when trying a lower power: a
#: 30-minute mean hides the instantaneous peaks that trip the meter (oven and kettle for ten
#: minutes, a heater starting), so a power P kVA is proposed only if P × 1000 W is at least
#: 1.5 × that mean (docs/design.md, "Tariff check"). The meter's own daily maximum power
#: (Enedis "puissance maximale atteinte") is the check to make before lowering.
PEAK_MARGIN = 1.5
J_PER_KWH = 3_600_000
DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class OptionCost:
    """What one option at one power costs over the curve's period.

    Euro amounts are rounded to the cent from the exact sums (``exact_*``, in euros).
    ``kwh_by_period`` gives the energy of each of the option's periods, kWh.
    """

    option: str
    kva: int
    subscription_eur: Decimal
    energy_eur: Decimal
    total_eur: Decimal
    kwh_by_period: dict[str, float]
    exact_subscription: Fraction
    exact_energy: Fraction

    @property
    def exact_total(self) -> Fraction:
        """The exact total, euros."""
        return self.exact_subscription + self.exact_energy

    def to_json(self) -> dict:
        """``{"option", "kva", "subscription_eur", "energy_eur", "total_eur"}``."""
        return {"option": self.option, "kva": self.kva,
                "subscription_eur": float(self.subscription_eur),
                "energy_eur": float(self.energy_eur), "total_eur": float(self.total_eur)}


@dataclass(frozen=True)
class Unavailable:
    """An (option, power) that could not be priced, and why: ``reason`` is ``no_price`` (no
    price row, a gap row, or past the table's validity) or ``no_color`` (a Tempo day without
    a colour); ``first_day`` the first such local (or Tempo) day, ``days`` how many.
    """

    option: str
    kva: int
    reason: str
    first_day: dt.date
    days: int


@dataclass(frozen=True)
class TariffCheck:
    """The result of :func:`check_tariffs`.

    Attributes
    ----------
    start_utc, end_utc : numpy.datetime64
        UTC start of the first step and end of the last one.
    step_minutes : int
    kwh : float
        Energy of the period, kWh.
    days : fractions.Fraction
        Local days covered (a partly covered day counts its share).
    peak_w : float
        Highest mean power of one step, W.
    peak_margin : float
    kva, option : the household's current power and option.
    offpeak_hours : tuple of (int, int)
        The household's Heures creuses, seconds of the local day.
    allowed_kva : tuple of int
        The powers tried: the current one and every lower standard power its peaks allow.
    options : tuple of OptionCost
        Every (option, power) priced, by option then power.
    current, best : OptionCost
    saving_eur_per_year : decimal.Decimal
        (current − best) × 365 / days, rounded to the cent; 0 when the current is the best.
    unavailable : tuple of Unavailable
    tempo_days : dict
        Days of each colour in the period (``{"bleu": n, "blanc": n, "rouge": n}``; empty
        when the colours are not known).
    prices_source, tempo_source : str
    """

    start_utc: np.datetime64
    end_utc: np.datetime64
    step_minutes: int
    kwh: float
    days: Fraction
    peak_w: float
    peak_margin: float
    kva: int
    option: str
    offpeak_hours: tuple[tuple[int, int], ...]
    allowed_kva: tuple[int, ...]
    options: tuple[OptionCost, ...]
    current: OptionCost
    best: OptionCost
    saving_eur_per_year: Decimal
    unavailable: tuple[Unavailable, ...]
    tempo_days: dict[str, int]
    prices_source: str
    tempo_source: str

    def to_json(self, tz: str = DEFAULT_TZ) -> dict:
        """The JSON of ``pvshare tariffs --json`` (docs/reports.md): ``from``/``to`` local ISO
        times with their offset, ``kwh``, ``options``, ``current``, ``best``.
        """
        return {
            "from": _local_iso(self.start_utc, tz), "to": _local_iso(self.end_utc, tz),
            "kwh": round(self.kwh, 3),
            "options": [o.to_json() for o in self.options],
            "current": {"option": self.current.option, "kva": self.current.kva,
                        "total_eur": float(self.current.total_eur)},
            "best": {"option": self.best.option, "kva": self.best.kva,
                     "total_eur": float(self.best.total_eur),
                     "saving_eur_per_year": float(self.saving_eur_per_year)},
        }


def _local_iso(t: np.datetime64, tz: str) -> str:
    from zoneinfo import ZoneInfo
    s = int(np.asarray(t, dtype="datetime64[s]").astype(np.int64))
    return dt.datetime.fromtimestamp(s, dt.UTC).astimezone(ZoneInfo(tz)).isoformat()


def cents(x: Fraction) -> Decimal:
    """``x`` euros rounded to the cent, half away from zero."""
    c = int(abs(x) * 100 + Fraction(1, 2))       # floor of a positive number
    return Decimal(c if x >= 0 else -c).scaleb(-2)


def allowed_kvas(peak_w: float, kva: int, margin: float = PEAK_MARGIN) -> tuple[int, ...]:
    """The household's power and every lower standard power ``P`` with
    ``P × 1000 ≥ peak_w × margin``, ascending.
    """
    lower = [k for k in STANDARD_KVA if k < kva and k * 1000 >= peak_w * margin]
    return tuple(lower) + (kva,)


def offpeak_ranges(offpeak_hours) -> tuple[tuple[int, int], ...]:
    """The off-peak hours as (start, end) seconds of the local day, from ``"22:00-06:00,…"``
    or a sequence of such ranges or of pairs; :class:`ValueError` saying what is wrong.
    """
    if isinstance(offpeak_hours, str):
        parts = [p for p in offpeak_hours.replace(";", ",").split(",") if p.strip()]
        offpeak_hours = parts
    if offpeak_hours and isinstance(offpeak_hours[0], str):
        ranges = tuple(parse_hour_ranges(list(offpeak_hours)))
    else:
        ranges = tuple((int(a), int(b)) for a, b in offpeak_hours)
    if not ranges:
        raise ValueError(_("no off-peak hours"))
    return ranges


def _in_ranges(sod: np.ndarray, ranges) -> np.ndarray:
    mask = np.zeros(sod.shape, dtype=bool)
    for a, b in ranges:
        mask |= ((sod >= a) & (sod < b)) if a < b else ((sod >= a) | (sod < b))
    return mask


def check_tariffs(start_utc, wh_per_step, step_minutes: int, kva: int, option: str,
                  offpeak_hours: str | Sequence = DEFAULT_OFFPEAK_HOURS, prices: PriceTable | None = None,
                  tempo: TempoCalendar | None = None, *, peak_margin: float = PEAK_MARGIN,
                  tz: str = DEFAULT_TZ) -> TariffCheck:
    """Cost of the curve under Base, Heures creuses and Tempo at the household's power and at
    every lower standard power its peaks allow, and the best choice.

    Parameters
    ----------
    start_utc : numpy.datetime64 or datetime.datetime
        UTC start of the first step (a naive datetime is UTC).
    wh_per_step : array_like of float, shape (T,)
        Energy drawn in each consecutive step, Wh (no NaN: fill or cut gaps first).
    step_minutes : int
        Step length (a divisor of 60, or 60).
    kva : int
        The household's subscribed power (a standard power).
    option : str
        Its option: ``base``, ``hphc`` or ``tempo``.
    offpeak_hours : str or sequence
        Its Heures creuses: ``"22:00-06:00"``, several ranges separated by commas
        (``"01:30-07:30,12:30-14:30"``), a list of such strings, or (start, end) seconds.
    prices : PriceTable
        The TRV table (:func:`pvshare.tariffs.prices.load_prices`).
    tempo : TempoCalendar or None
        The colours; None makes Tempo unavailable.
    peak_margin : float
        See :data:`PEAK_MARGIN`.

    Raises
    ------
    ValueError
        Bad arguments (unknown option, non-standard power, NaN or negative energy, bad
        off-peak hours).
    pvshare.errors.InputError
        The household's own option and power cannot be priced for the whole period (a price
        or a Tempo colour is missing), naming the table and the first day missing.
    """
    if prices is None:
        raise ValueError(_("prices are required (pvshare.tariffs.load_prices())"))
    if option not in OPTIONS:
        raise ValueError(_("unknown option {value!r} (expected {expected})").format(
            value=option, expected=", ".join(OPTIONS)))
    if kva not in STANDARD_KVA:
        raise ValueError(_("{kva} kVA is not a standard power ({powers})").format(
            kva=kva, powers=", ".join(map(str, STANDARD_KVA))))
    if not isinstance(step_minutes, int | np.integer) or step_minutes <= 0 or \
            (60 % step_minutes and step_minutes % 60):
        raise ValueError(_("unsupported step of {n} minutes").format(n=step_minutes))
    wh = np.asarray(wh_per_step, dtype=float)
    if wh.ndim != 1 or wh.size == 0:
        raise ValueError(_("wh_per_step must be a non-empty 1-D array"))
    if not np.all(np.isfinite(wh)):
        raise ValueError(_("{n} steps have no value: the check needs a complete curve")
                         .format(n=int(np.sum(~np.isfinite(wh)))))
    if np.any(wh < 0):
        raise ValueError(_("negative energy in the curve"))
    ranges = offpeak_ranges(offpeak_hours)

    step_s = int(step_minutes) * 60
    start = np.datetime64(start_utc, "s") if not isinstance(start_utc, dt.datetime) else \
        np.datetime64(start_utc.astimezone(dt.UTC).replace(tzinfo=None) if start_utc.tzinfo
                      else start_utc, "s")
    s0 = int(start.astype(np.int64))
    secs = s0 + np.arange(wh.size, dtype=np.int64) * step_s
    local = secs + utc_offsets(secs, tz)
    local_day = local // 86400                         # days since 1970-01-01, local
    sod = local % 86400
    tempo_day = (local - DAY_START_HOUR * 3600) // 86400
    joules = np.rint(wh * 3600).astype(np.int64)

    # Days covered, and the share of each (23, 24 or 25 hours long): covered seconds and
    # length of each local day (midnight is never inside a clock change).
    udays, counts = np.unique(local_day, return_counts=True)
    bounds = np.append(udays, udays[-1] + 1) * 86400
    midnights = bounds - utc_offsets(bounds - utc_offsets(bounds, tz), tz)
    day_len = np.diff(midnights)
    covered = counts.astype(np.int64) * step_s
    days = _sum_shares(covered, day_len, np.zeros(udays.size, dtype=np.int64))[0]
    udays64 = udays.astype("datetime64[D]")
    peak_w = float(wh.max()) * 3600 / step_s

    masks = {"base": np.ones(wh.size, dtype=bool)}
    hc = _in_ranges(sod, ranges)
    masks["hp"], masks["hc"] = ~hc, hc
    colors = None
    tempo_days: dict[str, int] = {}
    if tempo is not None:
        colors = tempo.color_codes(tempo_day.astype("datetime64[D]"))
        t_hc = _in_ranges(sod, TEMPO_OFFPEAK)
        for k, c in enumerate(("bleu", "blanc", "rouge")):
            masks[f"{c}_hp"] = (colors == k) & ~t_hc
            masks[f"{c}_hc"] = (colors == k) & t_hc
        utd = np.unique(tempo_day)
        codes = tempo.color_codes(utd.astype("datetime64[D]"))
        if np.all(codes >= 0):
            tempo_days = {c: int(np.sum(codes == k)) for k, c in
                          enumerate(("bleu", "blanc", "rouge"))}

    allowed = allowed_kvas(peak_w, kva, peak_margin)
    priced: list[OptionCost] = []
    missing: list[Unavailable] = []
    for opt in OPTIONS:
        for k in allowed:
            if opt == "tempo" and (colors is None or np.any(colors < 0)):
                if colors is None:
                    miss_days = np.unique(tempo_day)
                else:
                    miss_days = np.unique(tempo_day[colors < 0])
                missing.append(Unavailable(opt, k, "no_color", _date(miss_days[0]),
                                           len(miss_days)))
                continue
            cost = _price(opt, k, prices, masks, joules, local_day, udays64, covered, day_len)
            if isinstance(cost, Unavailable):
                missing.append(cost)
            else:
                priced.append(cost)
    current = next((c for c in priced if c.option == option and c.kva == kva), None)
    if current is None:
        u = next(m for m in missing if m.option == option and m.kva == kva)
        if u.reason == "no_color":
            raise InputError(_("no Tempo colour for {days} day(s) of the curve, the first "
                               "{first}: give the colours with --tempo FILE").format(
                                   days=u.days, first=u.first_day),
                             source=tempo.source if tempo is not None else None)
        raise InputError(_("no {option} price at {kva} kVA for {days} day(s) of the curve, "
                           "the first {first}: give the prices with --prices FILE").format(
                               option=option, kva=kva, days=u.days, first=u.first_day),
                         source=prices.source)
    best = min(priced, key=lambda c: (c.exact_total, c is not current))
    saving = (current.exact_total - best.exact_total) * DAYS_PER_YEAR / days
    return TariffCheck(
        start_utc=np.datetime64(s0, "s"), end_utc=np.datetime64(int(secs[-1]) + step_s, "s"),
        step_minutes=int(step_minutes), kwh=float(joules.sum()) / J_PER_KWH, days=days,
        peak_w=peak_w, peak_margin=float(peak_margin), kva=kva, option=option,
        offpeak_hours=ranges, allowed_kva=allowed, options=tuple(priced), current=current,
        best=best, saving_eur_per_year=cents(saving), unavailable=tuple(missing),
        tempo_days=tempo_days, prices_source=prices.source,
        tempo_source=tempo.source if tempo is not None else "")


def _date(day_number) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day_number))


def _sum_shares(covered: np.ndarray, day_len: np.ndarray, group: np.ndarray) -> dict:
    """Exact sum of the days' shares (covered seconds / day length) per group, computed once
    per distinct (group, covered, length): a year has only a handful of them.
    """
    keys, n = np.unique(np.stack([group, covered, day_len]), axis=1, return_counts=True)
    out: dict[int, Fraction] = {}
    for (g, c, length), k in zip(keys.T.tolist(), n.tolist(), strict=True):
        out[g] = out.get(g, Fraction(0)) + Fraction(c * k, length)
    return out


def _price(option: str, kva: int, prices: PriceTable, masks: dict, joules: np.ndarray,
           local_day: np.ndarray, udays64: np.ndarray, covered: np.ndarray,
           day_len: np.ndarray):
    """OptionCost of one option at one power, or Unavailable."""
    energy = Fraction(0)
    kwh_by_period = {}
    for period in PERIODS[option]:
        m = masks[period]
        days = local_day[m]
        idx = prices.lookup(option, kva, period, days.astype("datetime64[D]"))
        if np.any(idx < 0):
            bad = np.unique(days[idx < 0])
            return Unavailable(option, kva, "no_price", _date(bad[0]), len(bad))
        rows = prices.series(option, kva, period)
        # Integer joules summed per price row: exact in float64 below 2**53 J (285 GWh).
        per_row = np.bincount(idx, weights=joules[m], minlength=len(rows))
        for r, j in zip(rows, per_row, strict=True):
            if j:
                assert r.eur_per_kwh is not None           # a gap row is never looked up
                energy += Fraction(int(j)) * r.eur_per_kwh / J_PER_KWH
        kwh_by_period[period] = float(joules[m].sum()) / J_PER_KWH
    sub_idx, yearly = prices.subscriptions(option, kva, udays64)
    if np.any(sub_idx < 0):
        bad = udays64[sub_idx < 0]
        return Unavailable(option, kva, "no_price", bad[0].astype(dt.date), len(bad))
    subscription = Fraction(0)
    for i, share in _sum_shares(covered, day_len, sub_idx).items():
        y = yearly[i]
        assert y is not None                       # gaps were reported above
        subscription += y * share / DAYS_PER_YEAR
    return OptionCost(option, kva, cents(subscription), cents(energy),
                      cents(subscription + energy), kwh_by_period, subscription, energy)
