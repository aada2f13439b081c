"""Energy coaching for one household, from its load curve (pure analysis, no I/O).

Everything here is computed from the 30-minute (or 15-minute) load curve of the last year
of data, in local time (Europe/Paris), priced at the supplier's price of the site's
``[[prices]]`` (and, for a participant of the operation, the saving of moving consumption into
the solar hours by :func:`pvshare.billing.bill.saving_of_kwh`). Estimates that
rest on a rule of thumb say so in :data:`ASSUMPTIONS`, which the report prints.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from pvshare.enedis.loadcurve import CORRECTED, DOUBTFUL, ESTIMATED, SPREAD
from pvshare.i18n import _
from pvshare.reports.localtime import group_sum, local_steps
from pvshare.reports.reference import SOURCE as REFERENCE_SOURCE
from pvshare.reports.reference import reference_annual_kwh, reference_monthly_kwh
from pvshare.timegrid import DEFAULT_TZ

#: Night window for the baseload (local hours, start inclusive, end exclusive).
NIGHT_HOURS = (1, 5)
#: Solar hours when no forecast is given (local hours): the roof's best hours.
SOLAR_HOURS = (11, 16)
#: A 30-minute average hides peaks of a few minutes: keep this margin on the subscription.
PEAK_MARGIN = 1.5
#: Baseload below this is hard to cut (internet box, fridge cycling, smoke alarms).
STANDBY_FLOOR_W = 30.0
#: Share of the reducible baseload a switchable power strip removes (rule of thumb).
STANDBY_CUT_SHARE = 1 / 3
#: Share of the consumption above baseload outside solar hours that can move (washing
#: machine, dishwasher, water heater timer, charging): rule of thumb.
SHIFTABLE_SHARE = 0.15
#: One degree less saves about 7 % of the heating energy (ADEME).
HEATING_SAVING_PER_DEGREE = 0.07
#: Everyday habits (lights, lids on pans, full loads): a cautious 5 %.
HABITS_SAVING_SHARE = 0.05
#: Cold appliances set right and defrosted: 10 % of the baseload energy.
COLD_SAVING_SHARE = 0.10
#: ONPE threshold of the energy-effort rate (energy bill / income).
EFFORT_THRESHOLD_PERCENT = 10.0

ASSUMPTIONS = [
    f"Consommation de veille : le minimum de puissance entre {NIGHT_HOURS[0]} h et "
    f"{NIGHT_HOURS[1]} h du matin, médiane sur toutes les nuits.",
    "Puissance souscrite : la courbe de charge donne des moyennes sur 30 minutes ; les pointes "
    f"de quelques minutes sont plus hautes, nous gardons donc une marge de "
    f"{round((PEAK_MARGIN - 1) * 100)} %.",
    f"Usages déplaçables : {round(SHIFTABLE_SHARE * 100)} % de la consommation au-dessus de la "
    "veille en dehors des heures solaires (lave-linge, lave-vaisselle, ballon d'eau chaude, "
    "recharges).",
    "Chauffage : baisser la température de 1 °C économise environ 7 % de l'énergie de "
    "chauffage (ADEME).",
    "Taux d'effort énergétique : facture d'électricité annuelle (consommation × prix du kWh + "
    "abonnement) divisée par le revenu ; seuil de 10 % utilisé par l'ONPE.",
]


@dataclass(frozen=True)
class Action:
    """One concrete action, with its estimated yearly saving."""

    key: str
    title: str
    detail: str
    saving_kwh: float
    saving_eur: float


@dataclass
class HouseholdAnalysis:
    """The figures of a household report (energies in kWh, powers in W, money in €)."""

    first_day: np.datetime64
    last_day: np.datetime64
    days_covered: float              # days with data in the analysed year
    completeness_percent: float
    total_kwh: float                 # measured in the window
    annual_kwh: float                # over a full year (extrapolated if less data)
    extrapolated: bool
    months: np.ndarray               # datetime64[M] (M,)
    month_kwh: np.ndarray            # (M,)
    month_days: np.ndarray           # days with data (M,)
    month_reference_kwh: np.ndarray  # (M,)
    reference_annual_kwh: float
    reference_uses: dict
    profile_hours: np.ndarray        # (S,) local hour (float) of each slot start
    profile_weekday_w: np.ndarray    # (S,) mean power, W
    profile_weekend_w: np.ndarray    # (S,)
    baseload_w: float
    baseload_kwh_year: float
    baseload_eur_year: float
    peak_w: float
    peak_time_local: str
    subscribed_kva: float
    recommended_kva: float
    can_lower_subscription: bool
    subscription_saving_eur: float
    solar_hours: tuple
    outside_solar_kwh_year: float
    shiftable_kwh_year: float
    shift_saving_eur: float
    top_hours: list                  # [(hour, mean W above baseload)], outside solar hours
    heating: str
    heating_kwh_year: float
    bill_eur_year: float
    income_eur_year: float | None
    effort_percent: float | None
    effort_threshold_percent: float = EFFORT_THRESHOLD_PERCENT
    in_operation: bool = False
    actions: list = field(default_factory=list)
    occupants: float | None = None
    surface_m2: float | None = None
    reference_source: str = REFERENCE_SOURCE
    assumptions: list = field(default_factory=lambda: list(ASSUMPTIONS))
    supplier_eur_per_kwh: float = 0.0
    shift_priced: bool = False       # in the operation, with its prices: the shift is priced
    quality: dict = field(default_factory=dict)   # steps estimated/corrected/… by Enedis
    peak_quality: str = ""                        # "estimée", "corrigée"… or ""


def green_hours(times, solar_power_w, tz: str = DEFAULT_TZ, share: float = 0.5
                ) -> tuple[int, int]:
    """The local hours when the roof gives most, from a production profile.

    Parameters
    ----------
    times : array of datetime64[s], shape (T,)
        UTC step starts.
    solar_power_w : array, shape (T,)
        Production of the roof (clear-sky model, forecast or measured), W.
    tz : str
        Local time zone.
    share : float
        An hour is "green" when its mean production is at least ``share`` of the best hour's.

    Returns
    -------
    (int, int)
        Local hours ``[start, end)`` spanning the green hours.
    """
    loc = local_steps(times, tz)
    hours, s, n = group_sum(loc.hour, np.asarray(solar_power_w, dtype=float))
    mean = s / np.maximum(n, 1)
    green = hours[mean >= share * mean.max()] if mean.max() > 0 else np.array([11, 15])
    return int(green.min()), int(green.max()) + 1


def subscription_eur(tariffs, kva: float) -> float:
    """Yearly subscription price for ``kva`` from ``tariffs.subscription_eur_per_year``
    (NaN if that power is not listed).
    """
    table = {float(k): v for k, v in tariffs.subscription_eur_per_year.items()}
    return float(table.get(float(kva), np.nan))


class Heating(enum.StrEnum):
    """How a home is heated (the reference of similar homes depends on it)."""

    ELECTRIC = "electric"
    GAS = "gas"
    OTHER = "other"


def analyse_household(times, energy_wh, step_s: int, *, tariffs, price=None,
                      tz: str = DEFAULT_TZ,
                      occupants: float | None = None, surface_m2: float | None = None,
                      heating: str = "other", income_eur_per_year: float | None = None,
                      subscribed_kva: float | None = None, in_operation: bool = False,
                      solar_hours: tuple[int, int] = SOLAR_HOURS,
                      flags=None) -> HouseholdAnalysis:
    """Analyse the last year of a household's load curve.

    Parameters
    ----------
    times : array of datetime64[s], shape (T,)
        UTC step starts, regular.
    energy_wh : array of float, shape (T,)
        Energy per step, Wh (NaN = missing).
    step_s : int
        Step length, s.
    tariffs : pvshare.config.Tariffs
        The supplier subscription (price by kVA, subscribed power).
    price : pvshare.billing.prices.Price, optional
        The operation's price in effect (``[[prices]]``): its supplier price prices the
        consumption (default :data:`pvshare.config.DEFAULT_SUPPLIER_EUR_PER_KWH`) and, with
        ``in_operation``, the saving of a kWh moved into the solar hours.
    tz : str
        Local time zone of the report.
    occupants, surface_m2, heating
        Describe the home, for the reference of similar homes.
    income_eur_per_year : float, optional
        Household income, €/year: gives the energy-effort rate.
    subscribed_kva : float, optional
        Subscribed power (default ``tariffs.subscribed_kva``).
    in_operation : bool
        The household takes part in the building's collective self-consumption: a kWh moved
        into solar hours is then paid at the operation's price instead of the supplier's
        (priced only with ``price``).
    solar_hours : (int, int)
        Local hours [start, end) of the solar window.
    flags : array of uint8, shape (T,), optional
        Quality bits of each step (:attr:`pvshare.enedis.loadcurve.LoadCurve.flags`): the
        report counts the estimated, corrected, doubtful and spread values and marks the peak.

    Returns
    -------
    HouseholdAnalysis
    """
    times = np.asarray(times, dtype="datetime64[s]")
    energy_wh = np.asarray(energy_wh, dtype=float)
    if times.size == 0:
        raise ValueError(_("no data"))
    from pvshare.config import DEFAULT_SUPPLIER_EUR_PER_KWH
    operation_price = price
    price = float(DEFAULT_SUPPLIER_EUR_PER_KWH if operation_price is None
                  else operation_price.supplier_eur_per_kwh)
    kva = float(subscribed_kva if subscribed_kva is not None else tariffs.subscribed_kva)
    loc = local_steps(times, tz)
    # The last 365 local days of data.
    last_day = loc.date[-1]
    keep = loc.date > last_day - np.timedelta64(365, "D")
    times, energy_wh = times[keep], energy_wh[keep]
    qual = np.zeros(times.size, np.uint8) if flags is None else np.asarray(flags)[keep]
    date, month = loc.date[keep], loc.month[keep]
    sod, weekday = loc.second_of_day[keep], loc.weekday[keep]
    step_h = step_s / 3600.0
    power_w = energy_wh / step_h
    valid = ~np.isnan(energy_wh)
    if not valid.any():
        raise ValueError(_("no measured value in the last year of data"))
    days_covered = valid.sum() * step_s / 86400.0
    span_steps = int((times[-1] - times[0]).astype(np.int64)) // step_s + 1
    total_kwh = float(np.nansum(energy_wh)) / 1000.0
    annual_kwh = total_kwh * 365.0 / days_covered
    extrapolated = days_covered < 364.0

    # Month by month, against the reference.
    months, m_wh, m_n = group_sum(month, energy_wh)
    m_days = m_n * step_s / 86400.0
    uses = reference_annual_kwh(occupants, surface_m2, heating)
    ref_m = reference_monthly_kwh(months.astype(int) % 12 + 1, m_days, uses)

    # Average daily profile: weekdays and weekend, by local slot.
    slots = 86400 // step_s
    slot = sod // step_s
    weekend = weekday >= 5
    prof = {}
    for name, mask in (("weekday", ~weekend), ("weekend", weekend)):
        _slots, s, n = group_sum(np.concatenate([slot[mask], np.arange(slots)]),
                            np.concatenate([power_w[mask], np.full(slots, np.nan)]))
        with np.errstate(invalid="ignore", divide="ignore"):
            prof[name] = np.where(n > 0, s / np.maximum(n, 1), np.nan)

    # Baseload: night-time minimum, median over nights.
    night = valid & (sod >= NIGHT_HOURS[0] * 3600) & (sod < NIGHT_HOURS[1] * 3600)
    if night.any():
        d, p = date[night], power_w[night]
        starts = np.concatenate([[0], np.flatnonzero(d[1:] != d[:-1]) + 1])
        baseload_w = float(np.median(np.minimum.reduceat(p, starts)))
    else:
        baseload_w = float(np.nanmin(power_w))
    baseload_kwh = baseload_w * 8.76
    # Peak against the subscription.
    k_peak = int(np.nanargmax(power_w))
    peak_w = float(power_w[k_peak])
    from pvshare.timegrid import format_local
    peak_time = format_local(times[k_peak:k_peak + 1] + np.timedelta64(step_s, "s"), tz)[0]
    options = sorted(float(k) for k in tariffs.subscription_eur_per_year)
    need_kva = peak_w * PEAK_MARGIN / 1000.0
    fitting = [o for o in options if o >= need_kva]
    recommended = fitting[0] if fitting else kva
    can_lower = recommended < kva
    sub_saving = subscription_eur(tariffs, kva) - subscription_eur(tariffs, recommended) \
        if can_lower else 0.0
    if not np.isfinite(sub_saving):
        sub_saving = 0.0

    # Solar hours: what could move into them.
    solar = (sod >= solar_hours[0] * 3600) & (sod < solar_hours[1] * 3600)
    above_wh = np.clip(energy_wh - baseload_w * step_h, 0.0, None)
    outside_kwh_year = float(np.nansum(np.where(solar, 0.0, above_wh))) / 1000.0 \
        * 365.0 / days_covered
    shiftable = SHIFTABLE_SHARE * outside_kwh_year
    shift_saving = 0.0
    if in_operation and operation_price is not None:
        from pvshare.billing.bill import saving_of_kwh
        shift_saving = saving_of_kwh(operation_price, shiftable) / 100
    hour = sod // 3600
    hours, h_sum, h_n = group_sum(hour, np.clip(power_w - baseload_w, 0.0, None))
    h_mean = h_sum / np.maximum(h_n, 1)
    outside = (hours < solar_hours[0]) | (hours >= solar_hours[1])
    order = np.argsort(-np.where(outside, h_mean, -1.0), kind="stable")[:3]
    top_hours = [(int(hours[i]), float(h_mean[i])) for i in order if outside[i]]

    # Electric heating: what the cold months add to the mildest month's daily level.
    heating_kwh = 0.0
    if heating == "electric":
        full = m_days >= 7
        if full.any():
            daily = m_wh[full] / 1000.0 / m_days[full]
            base = float(daily.min())
            heating_kwh = float(np.sum(np.clip(daily - base, 0, None) * m_days[full])) \
                * 365.0 / days_covered

    bill = annual_kwh * price + np.nan_to_num(subscription_eur(tariffs, kva))
    effort = None
    if income_eur_per_year:
        effort = 100.0 * bill / float(income_eur_per_year)

    a = HouseholdAnalysis(
        first_day=date[0], last_day=date[-1], days_covered=float(days_covered),
        completeness_percent=float(100.0 * valid.sum() / span_steps),
        total_kwh=total_kwh, annual_kwh=float(annual_kwh), extrapolated=bool(extrapolated),
        months=months, month_kwh=m_wh / 1000.0, month_days=m_days, month_reference_kwh=ref_m,
        reference_annual_kwh=float(sum(uses.values())), reference_uses=uses,
        profile_hours=np.arange(slots) * step_s / 3600.0,
        profile_weekday_w=prof["weekday"], profile_weekend_w=prof["weekend"],
        baseload_w=baseload_w, baseload_kwh_year=float(baseload_kwh),
        baseload_eur_year=float(baseload_kwh * price),
        peak_w=peak_w, peak_time_local=peak_time, subscribed_kva=kva,
        recommended_kva=float(recommended), can_lower_subscription=bool(can_lower),
        subscription_saving_eur=float(sub_saving), solar_hours=tuple(solar_hours),
        outside_solar_kwh_year=outside_kwh_year, shiftable_kwh_year=float(shiftable),
        shift_saving_eur=float(shift_saving), top_hours=top_hours, heating=heating,
        heating_kwh_year=heating_kwh, bill_eur_year=float(bill),
        income_eur_year=income_eur_per_year, effort_percent=effort, in_operation=in_operation,
        occupants=occupants, surface_m2=surface_m2, supplier_eur_per_kwh=price,
        shift_priced=in_operation and operation_price is not None)
    a.quality, a.peak_quality = _quality(qual, k_peak)
    a.actions = choose_actions(a, price)
    return a


_QUALITY = ((ESTIMATED, "estimée"), (CORRECTED, "corrigée"), (DOUBTFUL, "douteuse"),
            (SPREAD, "répartie"))


def _quality(flags: np.ndarray, k_peak: int) -> tuple[dict, str]:
    """Counts of flagged steps by French label, and the labels of the peak's step."""
    counts = {label: int(((flags & bit) != 0).sum()) for bit, label in _QUALITY}
    peak = ", ".join(label for bit, label in _QUALITY if flags.size and flags[k_peak] & bit)
    return {k: v for k, v in counts.items() if v}, peak


def choose_actions(a: HouseholdAnalysis, price_eur_per_kwh: float) -> list[Action]:
    """Three to five concrete actions, the largest estimated saving first."""
    cands: list[Action] = []
    reducible_w = max(0.0, a.baseload_w - STANDBY_FLOOR_W)
    kwh = reducible_w * 8.76 * STANDBY_CUT_SHARE
    if kwh > 0:
        cands.append(Action(
            "standby", "Couper les veilles la nuit",
            f"Votre logement consomme en permanence environ {round(a.baseload_w)} W, même la "
            "nuit. Branchez télévision, box TV, ordinateur et chargeurs sur une multiprise à "
            "interrupteur et éteignez-la le soir.", kwh, kwh * price_eur_per_kwh))
    if a.can_lower_subscription and a.subscription_saving_eur > 0:
        cands.append(Action(
            "subscription",
            f"Passer l'abonnement de {a.subscribed_kva:g} à {a.recommended_kva:g} kVA",
            f"Votre plus forte consommation sur une demi-heure a été de "
            f"{a.peak_w / 1000:.1f} kW".replace(".", ",") +
            f" : un abonnement de {a.recommended_kva:g} kVA suffit, avec une marge. "
            "Demandez le changement à votre fournisseur (c'est gratuit en général) et évitez "
            "de lancer en même temps four, lave-linge et chauffe-eau.", 0.0,
            a.subscription_saving_eur))
    if a.in_operation and a.shift_saving_eur > 0:
        cands.append(Action(
            "shift", f"Lancer les machines entre {a.solar_hours[0]} h et {a.solar_hours[1]} h",
            "Quand le soleil donne, l'électricité du toit coûte moins cher. Programmez "
            "lave-linge, lave-vaisselle et recharges pendant ces heures plutôt que le soir.",
            a.shiftable_kwh_year, a.shift_saving_eur))
    if a.heating == "electric" and a.heating_kwh_year > 0:
        kwh = a.heating_kwh_year * HEATING_SAVING_PER_DEGREE
        cands.append(Action(
            "heating", "Baisser le chauffage de 1 °C",
            "19 °C dans les pièces à vivre, 17 °C dans les chambres, et les radiateurs "
            "coupés quand la fenêtre est ouverte : chaque degré en moins économise environ "
            "7 % du chauffage.", kwh, kwh * price_eur_per_kwh))
    kwh = a.baseload_kwh_year * COLD_SAVING_SHARE
    cands.append(Action(
        "cold", "Régler et dégivrer réfrigérateur et congélateur",
        "+4 °C au réfrigérateur, −18 °C au congélateur, et dégivrer dès 3 mm de givre : "
        "le "
        "froid tourne jour et nuit.", kwh, kwh * price_eur_per_kwh))
    kwh = a.annual_kwh * HABITS_SAVING_SHARE
    cands.append(Action(
        "habits", "Les bons gestes du quotidien",
        "Éteindre la lumière en sortant, couvrir les casseroles, remplir les machines et "
        "laver à 30 °C.", kwh, kwh * price_eur_per_kwh))
    cands.sort(key=lambda x: -x.saving_eur)
    return [c for c in cands if c.saving_eur > 0][:5]
