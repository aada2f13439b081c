"""Charts of the reports, drawn with matplotlib and returned as inline SVG text.

SVG keeps the pages self-contained and sharp in the PDF; the text of the charts stays text
(``svg.fonttype = 'none'``), in French, with French number formatting on the axes.
"""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from pvshare.reports.fmt import MONTHS_SHORT, number  # noqa: E402

ROOF = "#e8a317"        # from the roof (AUTOCONS)
SUPPLIER = "#8a99a8"    # from the supplier (COMPLEMENT)
CONS = "#1f5f8b"        # consumption
REF = "#c0392b"         # reference / forecast
WEEKEND = "#7fb3d5"

_STYLE = {
    "svg.fonttype": "none", "svg.hashsalt": "pvshare", "font.family": "DejaVu Sans",
    "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "axes.grid.axis": "y", "grid.color": "#dddddd", "grid.linewidth": 0.6,
    "axes.axisbelow": True, "legend.frameon": False,
}
_HEAD = re.compile(r"^.*?(?=<svg)", re.S)
_FR = FuncFormatter(lambda v, _pos: number(v, 0 if abs(v) >= 10 or v == int(v) else 1))


def _svg(fig, label: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = _HEAD.sub("", buf.getvalue(), count=1)
    # Scalable in the page, labelled for screen readers.
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', svg, count=1)
    return svg.replace("<svg", f'<svg role="img" aria-label="{label}" class="chart"', 1)


def _fig(w=7.0, h=2.8):
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(w, h))
        fig.subplots_adjust(left=0.12, right=0.97, top=0.86, bottom=0.2)
    ax.yaxis.set_major_formatter(_FR)
    return fig, ax


def _month_labels(months) -> list[str]:
    m = np.asarray(months, dtype="datetime64[M]").astype(int)
    return [f"{MONTHS_SHORT[k % 12]}\n{1970 + k // 12}" if (k % 12 == 0 or i == 0)
            else MONTHS_SHORT[k % 12] for i, k in enumerate(m)]


def monthly_against_reference(months, kwh, reference_kwh) -> str:
    """Bars of monthly consumption with the reference as a line (household report)."""
    with plt.rc_context(_STYLE):
        fig, ax = _fig()
        x = np.arange(len(kwh))
        ax.bar(x, kwh, color=CONS, width=0.7, label="Votre consommation")
        ax.plot(x, reference_kwh, color=REF, marker="o", ms=3, lw=1.5,
                label="Logements comparables")
        ax.set_xticks(x, _month_labels(months))
        ax.set_ylabel("kWh par mois")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, borderaxespad=0.2)
        return _svg(fig, "Consommation mensuelle comparée à la référence")


def daily_profile(hours, weekday_w, weekend_w, solar_hours) -> str:
    """Average power through the day, weekdays and weekend, solar hours shaded."""
    with plt.rc_context(_STYLE):
        fig, ax = _fig()
        ax.axvspan(solar_hours[0], solar_hours[1], color=ROOF, alpha=0.18, lw=0,
                   label="Heures solaires")
        step = hours[1] - hours[0] if len(hours) > 1 else 0.5
        ax.step(np.append(hours, 24), np.append(weekday_w, weekday_w[-1]), where="post",
                color=CONS, lw=1.6, label="Semaine")
        ax.step(np.append(hours, 24), np.append(weekend_w, weekend_w[-1]), where="post",
                color=WEEKEND, lw=1.6, ls="--", label="Week-end")
        ax.set_xlim(0, 24 if step else 24)
        ax.set_xticks(range(0, 25, 3), [f"{h} h" for h in range(0, 25, 3)])
        ax.set_ylabel("Puissance moyenne (W)")
        ax.set_ylim(bottom=0)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=3, borderaxespad=0.2)
        return _svg(fig, "Profil journalier moyen, semaine et week-end")


def roof_and_supplier_bars(labels, cons_kwh, auto_kwh, *, monthly: bool,
                           median_kwh: float | None = None, title: str = "") -> str:
    """Stacked bars: part from the roof, part from the supplier (tenant statement)."""
    with plt.rc_context(_STYLE):
        fig, ax = _fig(7.0, 2.1)
        x = np.arange(len(cons_kwh))
        comp = np.asarray(cons_kwh) - np.asarray(auto_kwh)
        ax.bar(x, auto_kwh, color=ROOF, width=0.75, label="Du toit")
        ax.bar(x, comp, bottom=auto_kwh, color=SUPPLIER, width=0.75, label="Du fournisseur")
        _period_axis(ax, x, labels, monthly)
        if median_kwh is not None:
            ax.axhline(median_kwh, color=REF, lw=1.2, ls="--",
                       label="Médiane de l'immeuble")
        ax.set_ylabel("kWh")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=3, borderaxespad=0.2)
        return _svg(fig, title or "Consommation, part du toit et part du fournisseur")


def _period_axis(ax, x, labels, monthly: bool) -> None:
    """Months as French names, or every other day of the month as its number."""
    if monthly:
        ax.set_xticks(x, _month_labels(labels))
    else:
        d = np.asarray(labels, dtype="datetime64[D]")
        day = (d - d.astype("datetime64[M]")).astype(int) + 1
        ax.set_xticks(x[::2], [str(v) for v in day[::2]])
        ax.set_xlabel("Jour du mois")


def building_series(labels, prod_kwh, auto_kwh, cons_kwh, forecast_kwh=None, *,
                    monthly: bool) -> str:
    """Production, shared production and consumption per day or per month."""
    with plt.rc_context(_STYLE):
        fig, ax = _fig(7.0, 2.8)
        x = np.arange(len(prod_kwh))
        w = 0.4
        ax.bar(x - w / 2, prod_kwh, width=w, color=ROOF, alpha=0.55, label="Production")
        ax.bar(x - w / 2, auto_kwh, width=w, color=ROOF, label="Partagée (autoconsommée)")
        ax.bar(x + w / 2, cons_kwh, width=w, color=CONS, label="Consommation des logements")
        if forecast_kwh is not None:
            ax.plot(x - w / 2, forecast_kwh, color=REF, marker="_", ls="none", ms=10,
                    mew=1.6, label="Prévision")
        _period_axis(ax, x, labels, monthly)
        ax.set_ylabel("kWh")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=4, borderaxespad=0.2)
        return _svg(fig, "Production, partage et consommation de l'immeuble")
