"""The 48-hour forecast as a PNG chart (labels in the user's language), for the advisor and the tenants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pvshare.i18n import _


def plot_forecast(fc: pd.DataFrame, path, tz: str = "Europe/Paris", title: str = "") -> Path:
    """Draw P50 (line), the P10-P90 band and the green hours (shaded) of a forecast.

    Parameters
    ----------
    fc : pandas.DataFrame
        Output of :func:`pvshare.forecast.next48h.forecast_next_48h` (UTC step starts,
        ``p10_wh``, ``p50_wh``, ``p90_wh``, optional ``baseline_wh`` and ``green``).
    path : str or Path
        PNG file to write.
    tz : str
        Time zone of the axis labels.
    title : str
        Chart title.

    Returns
    -------
    Path
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    idx = fc.index.tz_convert(tz)
    step = (fc.index[1] - fc.index[0]) if len(fc) > 1 else pd.Timedelta(minutes=30)
    mid = (idx + step / 2).tz_localize(None)
    kwh = 1000.0
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=110)
    if "green" in fc:
        first = True
        g = fc["green"].to_numpy(dtype=bool)
        d = np.diff(np.concatenate([[0], g.astype(np.int8), [0]]))
        for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            ax.axvspan(idx[a].tz_localize(None), (idx[b - 1] + step).tz_localize(None),
                       color="#b8e0b0", alpha=0.6, lw=0,
                       label=_("green hours (production > consumption)") if first else None)
            first = False
    ax.fill_between(mid, fc["p10_wh"] / kwh, fc["p90_wh"] / kwh, color="#f4b942", alpha=0.35,
                    lw=0, label=_("P10–P90 band (8 chances in 10)"))
    ax.plot(mid, fc["p50_wh"] / kwh, color="#d9822b", lw=2, label=_("forecast production (P50)"))
    if "baseline_wh" in fc:
        ax.plot(mid, fc["baseline_wh"] / kwh, color="#4a6fa5", lw=1.2, ls="--",
                label=_("the building's usual consumption"))
    ax.set_ylabel(_("energy per {minutes}-min step (kWh)").format(
        minutes=int(step.total_seconds() // 60)))
    ax.set_xlabel(_("local time ({tz})").format(tz=tz))
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 6)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m\n%Hh"))
    ax.grid(alpha=0.3)
    ax.set_title(title or _("Forecast solar production over 48 hours"))
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
