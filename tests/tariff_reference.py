"""An independent tariff calculation for the tests: a plain loop over the steps with
:mod:`datetime`, :mod:`zoneinfo`, :mod:`csv` and :class:`decimal.Decimal`, sharing no code with
``pvshare.tariffs`` (it reads the prices and colours CSV text itself).

It follows the rules of docs/design.md ("Tariff check") written out step by step: a step's
price is that of its local start time (its local date for the price row, its local hour for
the period; for Tempo, the colour of the day that started at 06:00 on or before it, off-peak
22:00-06:00), the subscription is yearly / 365 per local day (a day's share = its covered
hours / its length in hours), sums are exact, each total rounded to the cent (half up).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC
PERIODS = {"base": ["base"], "hphc": ["hp", "hc"],
           "tempo": ["bleu_hp", "bleu_hc", "blanc_hp", "blanc_hc", "rouge_hp", "rouge_hc"]}


def read_prices(text: str) -> dict:
    """{(option, kva, period): [(from_date, yearly Decimal or None, price Decimal or None)]}."""
    table: dict = {}
    for r in csv.DictReader(io.StringIO(text)):
        key = (r["option"], int(r["kva"]), r["period"])
        if r["eur_per_kwh"] == "":
            yearly = price = None
        else:
            price = Decimal(r["eur_per_kwh"])
            y = r.get("subscription_eur_per_year") or ""
            yearly = Decimal(y) if y else Decimal(r["subscription_eur_per_month"]) * 12
        table.setdefault(key, []).append((dt.date.fromisoformat(r["from"]), yearly, price))
    for v in table.values():
        v.sort(key=lambda x: x[0])
    return table


def read_colors(text: str) -> dict:
    """{date: "bleu" | "blanc" | "rouge"}."""
    return {dt.date.fromisoformat(r["date"]): r["color"]
            for r in csv.DictReader(io.StringIO(text))}


def _row(rows, day):
    found = None
    for start, yearly, price in rows:
        if start <= day:
            found = (yearly, price)
    return found


def _in(t: dt.time, ranges) -> bool:
    for a, b in ranges:
        if a < b and a <= t < b:
            return True
        if a > b and (t >= a or t < b):
            return True
    return False


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def reference(start_utc: dt.datetime, wh: list, step_min: int, option: str, kva: int,
              prices: dict, colors: dict, offpeak=((dt.time(22), dt.time(6)),),
              valid_until: dt.date | None = None):
    """(subscription, energy, total) rounded, and the exact total; None when not priceable."""
    energy = Decimal(0)
    covered: dict = {}
    for i, w in enumerate(wh):
        t = start_utc + dt.timedelta(minutes=step_min * i)
        local = t.astimezone(PARIS)
        day = local.date()
        covered[day] = covered.get(day, 0) + step_min * 60
        if option == "base":
            period = "base"
        elif option == "hphc":
            period = "hc" if _in(local.time(), offpeak) else "hp"
        else:
            tempo_day = (local - dt.timedelta(hours=6)).date()
            color = colors.get(tempo_day)
            if color is None:
                return None
            hc = local.time() >= dt.time(22) or local.time() < dt.time(6)
            period = f"{color}_{'hc' if hc else 'hp'}"
        if valid_until is not None and day > valid_until:
            return None
        row = _row(prices.get((option, kva, period), []), day)
        if row is None or row[1] is None:
            return None
        energy += Decimal(str(w)) * row[1] / 1000
    subscription = Decimal(0)
    for day, seconds in covered.items():
        rows = []
        for p in PERIODS[option]:
            rows += prices.get((option, kva, p), [])
        rows.sort(key=lambda x: x[0])
        row = _row(rows, day)
        if row is None or row[0] is None:
            return None
        a = dt.datetime.combine(day, dt.time(), PARIS).astimezone(UTC)
        b = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), PARIS).astimezone(UTC)
        day_seconds = int((b - a).total_seconds())
        subscription += row[0] / 365 * Decimal(seconds) / Decimal(day_seconds)
    exact = subscription + energy
    return cents(subscription), cents(energy), cents(exact), exact
