"""Run the 48-hour forecast in a short-lived child process (JSON in, JSON out).

The daemon must stay small (its budget is 150 MB; pandas and pvlib add about 120 MB), so it
does not import this package's heavy parts: it starts ``python -m pvshare.forecast.child``,
writes one JSON request on its standard input and reads one JSON answer on its standard
output; the child then exits and gives the memory back.

Request::

    {"config": "/etc/pvshare/site.toml",          # path of the site configuration
     "now": 1780300800,                            # issue time, Unix seconds (UTC)
     "production": {"time_s": [...], "energy_wh": [...]},   # optional, step starts + Wh
     "weather": {"time_s": [...], "ghi": [...], "temp_air": [...]},  # optional
     "live_weather": true,                         # optional: ask [forecast.weather]
     "yearly_kwh": 96000}                          # optional, building consumption

Answer::

    {"time_s": [...], "p10_wh": [...], "p50_wh": [...], "p90_wh": [...],
     "baseline_wh": [...], "green": [true, ...], "prior": ["climatology", ...],
     "calibration": {"factor": 0.93, "calibrated": true, "clear_steps": 120, "reason": ""},
     "weather": {"source": "open-meteo" | "cache" | "none", "reason": "...", ...}}

Without a ``weather`` table in the request, the child asks the live weather source
(:mod:`pvshare.forecast.weather_source`, ``[forecast.weather]``); offline, the forecast rests on
climatology and ``weather.source`` is ``"none"`` with the reason.

On bad input the child writes ``{"error": "<message>"}`` and exits with code 2.
"""

from __future__ import annotations

import json
import sys


def run(request: dict) -> dict:
    """Answer one request (see the module docstring)."""
    import numpy as np
    import pandas as pd

    from pvshare.config import load_config
    from pvshare.forecast.green_hours import DEFAULT_KWH_PER_YEAR, baseline_energy_wh
    from pvshare.forecast.next48h import forecast_next_48h
    from pvshare.timegrid import step_seconds

    cfg = load_config(request["config"])
    step_s = step_seconds(cfg.site.step)

    def _idx(secs):
        return pd.DatetimeIndex(np.asarray(secs, dtype="int64").astype("datetime64[s]")) \
            .tz_localize("UTC")

    prod = request.get("production")
    hist = None
    if prod:
        hist = pd.Series(np.asarray(prod["energy_wh"], dtype=float), index=_idx(prod["time_s"]))
    wx = request.get("weather")
    weather = None
    live = None
    if not wx and request.get("live_weather", True):
        from pvshare.forecast.weather_source import get_weather
        live = get_weather(cfg, float(request["now"]))
        if live.time_s:
            wx = {"time_s": live.time_s, **live.columns}
    if wx:
        cols = {c: np.asarray(wx[c], dtype=float) for c in ("ghi", "temp_air", "wind_speed")
                if c in wx}
        weather = pd.DataFrame(cols, index=_idx(wx["time_s"]))
    yearly = float(request.get("yearly_kwh") or DEFAULT_KWH_PER_YEAR * len(cfg.participants))
    now = pd.Timestamp(int(request["now"]), unit="s", tz="UTC")
    fc = forecast_next_48h(cfg, hist, now, weather=weather,
                           baseline_wh=lambda t: baseline_energy_wh(t, step_s, yearly,
                                                                    cfg.site.timezone))
    cal = fc.attrs["calibration"]
    return {
        "time_s": (fc.index.as_unit("s").asi8).tolist(),
        **{c: np.round(fc[c].to_numpy(dtype=float), 1).tolist()
           for c in ("p10_wh", "p50_wh", "p90_wh", "baseline_wh")},
        "green": fc["green"].astype(bool).tolist(),
        "prior": fc["prior"].astype(str).tolist(),
        "calibration": {"factor": round(cal.factor, 4), "calibrated": cal.calibrated,
                        "clear_steps": cal.clear_steps, "reason": cal.reason},
        "weather": live.status() if live is not None else
        {"source": "request" if request.get("weather") else "none", "reason": ""},
    }


def main() -> int:
    """Read the request on stdin, forecast, write the answer on stdout; the exit code."""
    from pvshare.errors import PvshareError
    try:
        request = json.load(sys.stdin)
        answer = run(request)
    except (PvshareError, ValueError, KeyError, TypeError) as exc:
        json.dump({"error": f"{type(exc).__name__}: {exc}"}, sys.stdout)
        return 2
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
