"""What each page shows, picked out of a :class:`~pvshare.web.data.Snapshot`.

:func:`tenant_figures` and :func:`building_figures` return plain JSON-ready dicts (the
``?format=json`` answers); :func:`tenant_context` and :func:`building_context` add the French
wording and the charts for the templates. A tenant's figures are built from that tenant's
values and the building's totals only: nothing else of the snapshot reaches them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from pvshare.reports import fmt
from pvshare.web.data import STALE_AFTER_S, MonthTotals, Site, Snapshot

SUN = "#9a4a00"      # the roof's share (dark orange, 6.3:1 on white)
GRID = "#858b93"     # bought from the supplier (grey, 3.4:1 on white, 1.8:1 against the orange)


def iso(t: float | None) -> str | None:
    """UTC ISO 8601 with ``+00:00`` (as ``pvshare export`` writes), None stays None."""
    if t is None:
        return None
    return dt.datetime.fromtimestamp(int(t), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def _kwh(wh: float | None) -> float | None:
    return None if wh is None else round(wh / 1000.0, 3)


def _pct(num: float | None, den: float | None) -> float | None:
    if num is None or not den or den <= 0:
        return None
    return round(100.0 * num / den, 1)


def _month_figures(m: MonthTotals, pid: str, site: Site) -> dict:
    """The month block: the participant's figures of the month so far
    (:class:`pvshare.billing.figures.ParticipantFigures`, the bill's and the statement's),
    None where nothing was measured.
    """
    a, c = m.allocated_wh.get(pid), m.consumption_wh.get(pid)
    out: dict[str, Any] = {"month": f"{m.year:04d}-{m.month:02d}", "autocons_kwh": _kwh(a),
                           "consumption_kwh": _kwh(c), "share_pct": _pct(a, c),
                           "saving_eur": None, "total_eur": None}
    f = None if m.figures is None or c is None else m.figures.of(pid)
    if f is None:
        return {**out, "completeness_percent": None}
    r = f.record()
    return {**out, **{k: r[k] for k in ("autocons_wh", "consumption_wh", "complement_wh",
                                        "complement_kwh", "steps", "measured_steps",
                                        "completeness_percent", "total_cents",
                                        "saving_cents")},
            "saving_eur": None if f.saving_cents is None else f.saving_cents / 100,
            "total_eur": None if f.total_cents is None else f.total_cents / 100,
            "from": r["from"], "to": r["to"]}


def tenant_figures(snap: Snapshot, site: Site, pid: str) -> dict:
    """The tenant's page as data (the ``?format=json`` answer).

    Returns
    -------
    dict
        ``participant``, ``now`` (last closed step and the roof's power), ``today`` (one entry
        per stored step), ``green_hours`` (UTC start/end), ``month`` (this month so far:
        ``autocons_kwh``, ``consumption_kwh``, ``share_pct``, ``completeness_percent``,
        ``saving_eur``, ``total_eur``, and the same figures in whole Wh and cents) and
        ``months`` (the previous months, newest first). Energies in kWh or Wh as named, money
        in euros or cents as named; the month's figures are the bill's and the statement's
        (:func:`pvshare.billing.figures.month_figures`).
    """
    a, c = snap.last_allocated_wh.get(pid), snap.last_consumption_wh.get(pid)
    step = site.step_s
    now = {"time": iso(snap.now_s),
           "production_w": _r(snap.power_w, 1), "production_time": iso(snap.power_time_s),
           "step_start": iso(snap.last_step_s),
           "step_end": iso(None if snap.last_step_s is None else snap.last_step_s + step),
           "step_production_wh": _r(snap.last_production_wh), "consumption_wh": _r(c),
           "allocated_wh": _r(a), "share_pct": _pct(a, c)}
    today = [{"start": iso(s), "consumption_wh": _r(cw), "allocated_wh": _r(aw)}
             for s, cw, aw in zip(snap.today_steps, snap.today_consumption_wh[pid],
                                  snap.today_allocated_wh[pid])]
    green = [{"start": iso(a_), "end": iso(b_)} for a_, b_, _ in snap.green if b_ > snap.now_s]
    month = _month_figures(snap.months[0], pid, site)
    months = [_month_figures(m, pid, site) for m in snap.months[1:]]
    return {"participant": pid, "now": now, "today": today, "green_hours": green,
            "month": month, "months": [m for m in months if m["consumption_kwh"] is not None]}


def building_figures(snap: Snapshot, site: Site, *, names: bool) -> dict:
    """The building's page as data: totals, and each tenant's share of this month (with the
    participants' ids and names only when ``names``, i.e. for the PMO; otherwise sorted by
    share so that the order tells nothing).
    """
    ids = list(site.participant_ids)
    last_alloc = [v for v in snap.last_allocated_wh.values() if v is not None]
    today_auto = [sum(v[j] or 0.0 for v in snap.today_allocated_wh.values())
                  for j in range(len(snap.today_steps))]
    m = snap.months[0]
    auto = sum(v or 0.0 for v in m.allocated_wh.values())
    cons = sum(v or 0.0 for v in m.consumption_wh.values())
    shares = []
    for i, pid in enumerate(ids):
        a, c = m.allocated_wh.get(pid), m.consumption_wh.get(pid)
        row: dict[str, Any] = {"autocons_kwh": _kwh(a), "consumption_kwh": _kwh(c),
                               "share_pct": _pct(a, c)}
        if names:
            row = {"participant": pid, "name": site.participant_names[i], **row}
        shares.append(row)
    if not names:
        shares.sort(key=lambda r: (-(r["share_pct"] or -1.0), -(r["autocons_kwh"] or 0.0)))
    fresh = [(mid, t) for mid, t in snap.meters
             if t is not None and snap.now_s - t <= STALE_AFTER_S]
    stale = [(mid, t) for mid, t in snap.meters if (mid, t) not in fresh]
    out: dict[str, Any] = {
        "site": site.name, "now": {
            "time": iso(snap.now_s), "production_w": _r(snap.power_w, 1),
            "step_start": iso(snap.last_step_s),
            "step_production_wh": _r(snap.last_production_wh),
            "step_autocons_wh": _r(sum(last_alloc)) if last_alloc else None},
        "today": [{"start": iso(s), "production_wh": _r(p), "autocons_wh": _r(x)}
                  for s, p, x in zip(snap.today_steps, snap.today_production_wh, today_auto)],
        "green_hours": [{"start": iso(a_), "end": iso(b_)} for a_, b_, _ in snap.green
                        if b_ > snap.now_s],
        "month": {"month": f"{m.year:04d}-{m.month:02d}", "production_kwh": _kwh(m.production_wh),
                  "autocons_kwh": _kwh(auto), "consumption_kwh": _kwh(cons),
                  "autoprod_pct": _pct(auto, m.production_wh), "share_pct": _pct(auto, cons)},
        "months": [{"month": f"{x.year:04d}-{x.month:02d}", "production_kwh": _kwh(x.production_wh),
                    "autocons_kwh": _kwh(sum(v or 0.0 for v in x.allocated_wh.values()))}
                   for x in snap.months[1:]],
        "shares": shares,
        "meters": {"total": len(snap.meters), "fresh": len(fresh), "stale": len(stale)},
        "outbox_depth": snap.outbox_depth,
    }
    if names:
        out["meters"]["stale_meters"] = [{"meter": mid, "last_reading": iso(t)}
                                         for mid, t in stale]
    return out


# -- French wording ------------------------------------------------------------------------
def hour(t: float, zone: ZoneInfo, day0: dt.date | None = None) -> str:
    """``12 h``, ``12 h 30``; local midnight ending a day is ``minuit``."""
    d = dt.datetime.fromtimestamp(t, zone)
    if d.hour == 0 and d.minute == 0 and day0 is not None and d.date() > day0:
        return "minuit"
    return f"{d.hour} h" if d.minute == 0 else f"{d.hour} h {d.minute:02d}"


def green_sentences(snap: Snapshot, site: Site) -> list[str]:
    """The green hours in plain words, e.g. ``demain, le meilleur moment : 12 h – 15 h``."""
    zone = ZoneInfo(site.timezone)
    today = dt.datetime.fromtimestamp(snap.now_s, zone).date()
    if snap.forecast_issued_s is None:
        return ["Pas de prévision disponible pour l'instant."]
    out = []
    for a, b, _ in snap.green:
        if a <= snap.now_s < b:
            out.append(f"C'est le moment : le toit produit plus que l'immeuble ne consomme, "
                       f"jusqu'à {hour(b, zone, today)}.")
    for offset, word in ((0, "aujourd'hui"), (1, "demain")):
        day = today + dt.timedelta(days=offset)
        periods = [(max(a, snap.now_s), b, s) for a, b, s in snap.green
                   if b > snap.now_s and dt.datetime.fromtimestamp(a, zone).date() == day]
        if not periods:
            out.append(f"{word.capitalize()}, pas d'heure verte prévue"
                       f"{' pour le reste de la journée' if offset == 0 else ''}.")
            continue
        best = max(periods, key=lambda p: p[2])
        text = f"{word.capitalize()}, le meilleur moment : {hour(best[0], zone, day)} – " \
               f"{hour(best[1], zone, day)}"
        others = [p for p in periods if p is not best]
        if others:
            text += " (aussi " + ", ".join(f"{hour(a, zone, day)} – {hour(b, zone, day)}"
                                           for a, b, _ in others) + ")"
        out.append(text + ".")
    return out


def bars_svg(day0: int, day1: int, step_s: int, steps: list[int], low: list, high: list,
             label: str, zone: ZoneInfo) -> Markup:
    """A day as stacked bars, one per step: ``low`` (the roof's share, orange) below
    ``high - low`` (the rest, grey). Pure SVG with presentation attributes (no style, no
    script), sized by its viewBox.
    """
    n = max(1, (day1 - day0) // step_s)
    w, h, top, bottom = 6, 120, 6, 18
    width = n * w
    vals = [max(x or 0.0, y or 0.0) for x, y in zip(low, high)]
    scale = (h - top - bottom) / (max(vals) if vals and max(vals) > 0 else 1.0)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {h}" role="img" '
             f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="0" y1="{h - bottom}" x2="{width}" y2="{h - bottom}" '
             f'stroke="{GRID}" stroke-width="0.5"/>']
    base = h - bottom
    for s, lo, hi in zip(steps, low, high):
        x = (s - day0) // step_s * w
        lo_v, hi_v = max(lo or 0.0, 0.0), max(hi or 0.0, 0.0)
        rest = max(hi_v - lo_v, 0.0)
        if lo_v > 0:
            parts.append(f'<rect x="{x}" y="{base - lo_v * scale:.1f}" width="{w - 1}" '
                         f'height="{lo_v * scale:.1f}" fill="{SUN}"/>')
        if rest > 0:
            parts.append(f'<rect x="{x}" y="{base - (lo_v + rest) * scale:.1f}" width="{w - 1}"'
                         f' height="{rest * scale:.1f}" fill="{GRID}"/>')
    day = dt.datetime.fromtimestamp(day0, zone).date()
    for hh in (0, 6, 12, 18):
        tick = dt.datetime(day.year, day.month, day.day, hh, tzinfo=zone).timestamp()
        tx = (tick - day0) / step_s * w
        parts.append(f'<text x="{tx + 1:.0f}" y="{h - 4}" font-size="11" '
                     f'fill="#333333">{hh} h</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _month_label(m: dict) -> str:
    y, mm = m["month"].split("-")
    return fmt.month_name(int(y), int(mm))


def tenant_context(snap: Snapshot, site: Site, pid: str) -> dict:
    """Template context of the tenant's page (figures formatted in French)."""
    zone = ZoneInfo(site.timezone)
    f = tenant_figures(snap, site, pid)
    i = site.participant_ids.index(pid)
    now, month = f["now"], f["month"]
    local_now = dt.datetime.fromtimestamp(snap.now_s, zone)
    cons = snap.today_consumption_wh[pid]
    alloc = snap.today_allocated_wh[pid]
    today_cons = sum(x or 0.0 for x in cons)
    today_alloc = sum(x or 0.0 for x in alloc)
    chart = bars_svg(snap.today_start_s, snap.today_end_s, site.step_s, snap.today_steps,
                     alloc, cons, f"Aujourd'hui : {fmt.kwh(today_cons / 1000, 1)} consommés, "
                     f"dont {fmt.kwh(today_alloc / 1000, 1)} venus du toit", zone)
    step_text = None
    if snap.last_step_s is not None:
        step_text = f"{hour(snap.last_step_s, zone)} à {hour(snap.last_step_s + site.step_s, zone)}"
    return {
        "f": f, "fmt": fmt, "name": site.participant_names[i], "pid": pid, "site": site.name,
        "date": f"{fmt.WEEKDAYS[local_now.weekday()]} {local_now.day} "
                f"{fmt.month_name(local_now.year, local_now.month)}, {hour(snap.now_s, zone)}",
        "now": now, "step_text": step_text, "chart": chart,
        "today_cons": today_cons / 1000, "today_alloc": today_alloc / 1000,
        "green": green_sentences(snap, site),
        "month": month, "month_label": _month_label(month),
        "months": [{**m, "label": _month_label(m)} for m in f["months"]],
        "sun": SUN, "grid": GRID,
    }


def building_context(snap: Snapshot, site: Site, *, names: bool) -> dict:
    """Template context of the building's page."""
    zone = ZoneInfo(site.timezone)
    f = building_figures(snap, site, names=names)
    local_now = dt.datetime.fromtimestamp(snap.now_s, zone)
    today_auto = [x["autocons_wh"] for x in f["today"]]
    chart = bars_svg(snap.today_start_s, snap.today_end_s, site.step_s, snap.today_steps,
                     today_auto, snap.today_production_wh,
                     "Production du toit aujourd'hui et part consommée par les locataires", zone)
    stale = [{"meter": m["meter"], "last": "jamais" if m["last_reading"] is None else
              hour(dt.datetime.fromisoformat(m["last_reading"]).timestamp(), zone)}
             for m in f["meters"].get("stale_meters", [])]
    return {
        "f": f, "fmt": fmt, "names": names, "site": site.name,
        "date": f"{fmt.WEEKDAYS[local_now.weekday()]} {local_now.day} "
                f"{fmt.month_name(local_now.year, local_now.month)}, {hour(snap.now_s, zone)}",
        "chart": chart, "green": green_sentences(snap, site),
        "today_prod": sum(x or 0.0 for x in snap.today_production_wh) / 1000,
        "today_auto": sum(x or 0.0 for x in today_auto) / 1000,
        "month_label": _month_label(f["month"]),
        "months": [{**m, "label": _month_label(m)} for m in f["months"]],
        "stale": stale, "sun": SUN, "grid": GRID,
    }
