"""The follow-up section of the household report (visits, before and after): its chart and
its figures, from :func:`pvshare.households.caseload.follow_household` (the caseload report
uses the same figures). Kept apart from the household page's other sections.
"""

from __future__ import annotations

import numpy as np

from pvshare.reports import charts


def weekly_chart(f) -> str:
    """Mean kWh per day of each week, the visits as vertical lines."""
    d = f.daily.days
    plt = charts.plt
    with plt.rc_context(charts._STYLE):
        fig, ax = charts._fig(7.0, 2.4)
        if d.size:
            week = (d.astype(np.int64) + 3) // 7          # weeks from Monday
            uniq, start = np.unique(week, return_index=True)
            mean = np.add.reduceat(f.daily.kwh, start) / np.diff(np.append(start, d.size))
            x = (uniq * 7 - 3).astype("datetime64[D]").astype("datetime64[s]").astype(object)
            ax.bar(x, mean, width=6, color=charts.CONS, label="kWh par jour (moyenne de la "
                                                             "semaine)")
        for k, v in enumerate(f.household.visits):
            ax.axvline(np.datetime64(v.date, "D").astype("datetime64[s]").astype(object),
                       color=charts.REF, lw=1.5, ls="--",
                       label="Visite" if k == 0 else None)
        ax.set_ylabel("kWh par jour")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, borderaxespad=0.2)
        fig.autofmt_xdate()
        return charts._svg(fig, "Consommation par semaine et visites")
