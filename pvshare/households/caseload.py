"""The caseload: every household of the register followed, its visits' effects and its
tariff check, and the caseload report for the association and its funders (HTML, PDF, CSV,
JSON, French, households named by their code only).

The figures of each household come from :func:`follow_household` (one function behind the
household report's follow-up and the caseload report); the totals from
:func:`pvshare.households.followup.total_saving`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from statistics import NormalDist

import numpy as np

from pvshare.households.followup import (
    LEVEL,
    Daily,
    VisitEffect,
    daily_kwh,
    heating_degree_days,
    total_saving,
    visits_effects,
)
from pvshare.households.register import INTERVENTIONS, STEP_S, Curve, Household, Register
from pvshare.households.weather import Temperatures

#: The tariff check looks at the last year of the curve (its last gap-free stretch in it).
TARIFF_DAYS = 365
#: A shorter gap-free stretch is not checked.
TARIFF_MIN_DAYS = 28
BASENAME = "bilan-suivi"


@dataclass
class Followup:
    """One household's follow-up: its whole days, the effect of each visit, its tariff
    check (or why there is none), and the price of a kWh it pays.
    """

    household: Household
    daily: Daily
    effects: list[VisitEffect]
    tariff: object | None = None                # pvshare.tariffs.TariffCheck
    tariff_reason: str = ""
    eur_per_kwh: float | None = None            # the current option's energy € / kWh
    steps: int = 0
    first_utc: str = ""
    last_utc: str = ""
    weather_label: str = ""

    @property
    def code(self) -> str:
        """The household's code."""
        return self.household.code

    def saving_eur(self, e: VisitEffect) -> tuple[float, float] | None:
        """(€ per year, its standard deviation) of a computed visit, at this household's
        kWh price; None without a price.
        """
        if not e.computed or self.eur_per_kwh is None:
            return None
        return (e.saving_kwh_per_year * self.eur_per_kwh,          # type: ignore[operator]
                e.saving_sd_kwh_per_year * self.eur_per_kwh)       # type: ignore[operator]

    def tariff_saving(self) -> float:
        """€ per year the best option and power would save (0 when the current is best or
        no check).
        """
        t = self.tariff
        return float(t.saving_eur_per_year) if t is not None else 0.0   # type: ignore[attr-defined]


def follow_household(h: Household, curve: Curve, temps: Temperatures, prices, tempo
                     ) -> Followup:
    """The follow-up of one household (pure given its inputs)."""
    daily = daily_kwh(curve.times, curve.wh)
    hdd = heating_degree_days(temps.at(daily.days))
    effects = visits_effects(daily, hdd, [(v.date, v.actions) for v in h.visits])
    f = Followup(h, daily, effects, steps=curve.size, weather_label=temps.label)
    if curve.size:
        f.first_utc, f.last_utc = str(curve.times[0]), str(curve.times[-1])
    f.tariff, f.tariff_reason = tariff_check(h, curve, prices, tempo)
    if f.tariff is not None:
        cur = f.tariff.current                                    # type: ignore[attr-defined]
        kwh = sum(cur.kwh_by_period.values())
        f.eur_per_kwh = float(cur.exact_energy) / kwh if kwh > 0 else None
    return f


def last_stretch(curve: Curve, days: int = TARIFF_DAYS) -> tuple[np.ndarray, np.ndarray]:
    """The last gap-free stretch of the curve within its last ``days`` days."""
    t = curve.times.astype(np.int64)
    if t.size == 0:
        return curve.times, curve.wh
    keep = t > t[-1] - days * 86400
    gaps = np.flatnonzero(np.diff(t) != STEP_S)
    start = int(gaps[-1]) + 1 if gaps.size else 0
    start = max(start, int(np.argmax(keep)))
    return curve.times[start:], curve.wh[start:]


def tariff_check(h: Household, curve: Curve, prices, tempo):
    """(TariffCheck, "") on the last year of the curve, or (None, why not) in French."""
    from pvshare.errors import InputError
    from pvshare.tariffs import DEFAULT_OFFPEAK_HOURS, check_tariffs
    times, wh = last_stretch(curve)
    if times.size < TARIFF_MIN_DAYS * 48:
        return None, (f"pas de période continue d'au moins {TARIFF_MIN_DAYS} jours dans la "
                      "dernière année de courbe")
    try:
        return check_tariffs(times[0], wh, STEP_S // 60, h.kva, h.option,
                             h.offpeak_hours or DEFAULT_OFFPEAK_HOURS, prices, tempo), ""
    except (InputError, ValueError) as exc:
        return None, str(exc)


@dataclass
class Caseload:
    """The caseload's figures (see :func:`analyse_caseload`)."""

    followups: list[Followup]
    weather_label: str
    interventions: dict = field(default_factory=dict)     # key -> count
    visits: int = 0
    saving_kwh: tuple = (0.0, 0.0, 0.0, 0)                # (saving, low, high, n)
    saving_eur: tuple = (0.0, 0.0, 0.0, 0)
    significant: int = 0
    tariff_households: list = field(default_factory=list)  # followups that would pay less
    tariff_total_eur: float = 0.0
    tariff_checked: int = 0


def analyse_caseload(followups: list[Followup], weather_label: str) -> Caseload:
    """Totals over the households (pure)."""
    c = Caseload(followups, weather_label)
    counts: Counter = Counter()
    effects = []
    eur, eur_sd = 0.0, []
    for f in followups:
        c.visits += len(f.household.visits)
        for v in f.household.visits:
            counts.update(v.actions)
        for e in f.effects:
            if e.computed:
                effects.append(e)
                c.significant += bool(e.significant)
                s = f.saving_eur(e)
                if s is not None:
                    eur += s[0]
                    eur_sd.append(s[1])
        if f.tariff is not None:
            c.tariff_checked += 1
            if f.tariff_saving() > 0:
                c.tariff_households.append(f)
    c.interventions = {k: counts[k] for k in INTERVENTIONS if counts[k]}
    c.saving_kwh = total_saving(effects)
    z = NormalDist().inv_cdf(0.5 + LEVEL / 2)
    sd = float(np.sqrt(np.sum(np.square(eur_sd)))) if eur_sd else 0.0
    c.saving_eur = (eur, eur - z * sd, eur + z * sd, len(eur_sd))
    c.tariff_households.sort(key=lambda f: -f.tariff_saving())
    c.tariff_total_eur = float(sum(Decimal(str(f.tariff_saving()))
                                   for f in c.tariff_households))
    return c


# -- the shell: read the register, write the files ------------------------------------------

def _follow(args) -> Followup:
    path, code, temps, prices_path, tempo_path = args
    from pvshare.tariffs import load_prices, load_tempo
    reg = Register(path)
    return follow_household(reg.household(code), reg.curve(code), temps,
                            _cached(load_prices, prices_path), _cached(load_tempo, tempo_path))


_CACHE: dict = {}


def _cached(loader, path):
    key = (loader.__name__, str(path))
    if key not in _CACHE:
        _CACHE[key] = loader(path)
    return _CACHE[key]


def follow_register(reg: Register, temps: Temperatures, *, prices: str | None = None,
                    tempo: str | None = None, codes: list[str] | None = None,
                    jobs: int = 1) -> list[Followup]:
    """The follow-up of every household (or of ``codes``), ``jobs`` processes."""
    reg.check()
    codes = reg.codes() if codes is None else codes
    args = [(reg.path, c, temps, prices, tempo) for c in codes]
    # Errors (bad prices, unknown code) raised once, before any worker starts.
    from pvshare.tariffs import load_prices, load_tempo
    _cached(load_prices, prices)
    _cached(load_tempo, tempo)
    if jobs <= 1 or len(args) < 4:
        return [_follow(a) for a in args]
    import multiprocessing as mp
    with mp.get_context("fork").Pool(jobs) as pool:
        return pool.map(_follow, args, chunksize=max(1, len(args) // (4 * jobs)))


def _f(x, n=1):
    return "" if x is None else f"{x:.{n}f}"


def visits_csv(c: Caseload) -> str:
    """One row per visit: code, date, interventions and what the visit changed."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["code", "date", "interventions", "jours_avant", "jours_apres",
                "avant_kwh_par_jour", "apres_kwh_par_jour", "variation_pct", "bas_pct",
                "haut_pct", "significatif", "economie_kwh_par_an", "economie_eur_par_an"])
    for f in c.followups:
        for e in f.effects:
            s = f.saving_eur(e)
            w.writerow([f.code, e.date, " ".join(e.actions), e.days_before, e.days_after,
                        _f(e.before_kwh_per_day, 2), _f(e.after_kwh_per_day, 2),
                        _f(e.change_percent), _f(e.low_percent), _f(e.high_percent),
                        "" if e.significant is None else ("oui" if e.significant else "non"),
                        _f(e.saving_kwh_per_year, 0), _f(s[0] if s else None, 0)])
    return out.getvalue()


def households_csv(c: Caseload) -> str:
    """One row per household: code, visits, the curve's period and the tariff check."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["code", "visites", "premiere_demi_heure_utc", "derniere_demi_heure_utc",
                "option", "kva", "meilleure_option", "meilleure_kva",
                "economie_tarif_eur_par_an"])
    for f in c.followups:
        t = f.tariff
        w.writerow([f.code, len(f.household.visits), f.first_utc, f.last_utc,
                    f.household.option, f.household.kva,
                    t.best.option if t else "", t.best.kva if t else "",     # type: ignore[attr-defined]
                    f"{t.saving_eur_per_year:.2f}" if t else ""])            # type: ignore[attr-defined]
    return out.getvalue()


def caseload_json(c: Caseload) -> dict:
    """The caseload's figures as JSON (docs/reports.md)."""
    def band(t, n=0):
        return {"value": round(t[0], n), "low": round(t[1], n), "high": round(t[2], n),
                "visits": t[3]}
    return {
        "households": len(c.followups),
        "visits": c.visits,
        "interventions": c.interventions,
        "weather": c.weather_label,
        "saving_kwh_per_year": band(c.saving_kwh),
        "saving_eur_per_year": band(c.saving_eur),
        "significant_visits": c.significant,
        "tariff": {"checked": c.tariff_checked,
                   "would_pay_less": len(c.tariff_households),
                   "saving_eur_per_year": round(c.tariff_total_eur, 2)},
        "by_household": [{
            "code": f.code,
            "visits": [e.to_json() for e in f.effects],
            "tariff": f.tariff.to_json() if f.tariff is not None else None,  # type: ignore[attr-defined]
            "tariff_reason": f.tariff_reason or None,
        } for f in c.followups],
    }


def write_caseload(c: Caseload, out: str | os.PathLike, fmt: str = "both") -> list[Path]:
    """Write the caseload report in ``out``: HTML and/or PDF, two CSV, one JSON (0600)."""
    from pvshare.files.atomic import write_atomic
    from pvshare.reports.render import render_html, write_report
    out = Path(out)
    html = render_html("caseload.html.j2", c=c, labels=INTERVENTIONS)
    paths = write_report(html, out, BASENAME, fmt)
    paths.append(write_atomic(out / f"{BASENAME}-visites.csv", visits_csv(c)))
    paths.append(write_atomic(out / f"{BASENAME}-foyers.csv", households_csv(c)))
    paths.append(write_atomic(out / f"{BASENAME}.json",
                              json.dumps(caseload_json(c), ensure_ascii=False, indent=1) + "\n"))
    return paths
