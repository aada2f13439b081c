"""Speed of a 48-hour forecast (target: under 1 s, cold import excluded).

The forecast is run on the example building with 8 weeks of measured history (so the
self-calibration and the persistence run too), and with a weather file. The baseline,
measured in the same run, is a bare pvlib Ineichen clear-sky call over the same 96 steps.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

TARGET_S = 1.0
ROOT = Path(__file__).resolve().parents[1]


def _best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> bool:
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd
    import pvlib

    from pvshare.config import load_config
    from pvshare.forecast.clearsky_index import clear_sky_power_w
    from pvshare.forecast.green_hours import baseline_energy_wh
    from pvshare.forecast.next48h import forecast_next_48h
    cold = time.perf_counter() - t0

    cfg = load_config(ROOT / "config" / "example.toml")
    now = pd.Timestamp("2026-06-20T10:00:00Z")
    hist_t = pd.date_range(now - pd.Timedelta(weeks=8), now, freq="30min", inclusive="left")
    rng = np.random.default_rng(0)
    cs = clear_sky_power_w(cfg, hist_t, 1800)
    hist = pd.Series(cs * 0.5 * np.repeat(rng.uniform(0.2, 1.0, hist_t.size // 6 + 1),
                                          6)[:hist_t.size], index=hist_t)
    wt = pd.date_range(now.floor("h"), periods=50, freq="1h")
    weather = pd.DataFrame({"ghi": np.clip(600 * np.sin(np.linspace(0, 6, 50)), 0, None),
                            "temp_air": 20.0}, index=wt)
    steps = pd.date_range(now, periods=96, freq="30min")
    loc = pvlib.location.Location(cfg.site.latitude, cfg.site.longitude,
                                  altitude=cfg.site.altitude_m)

    def baseline():
        loc.get_clearsky(steps, model="ineichen")

    def run(weather=None, history=hist):
        forecast_next_48h(cfg, history, now, weather=weather,
                          baseline_wh=lambda t: baseline_energy_wh(t, 1800, 96000.0))

    baseline()
    run()                      # warm-up (first call builds pvlib's lazy tables)
    b_best, b_med = _best(baseline)
    f_best, f_med = _best(run)
    n_best, n_med = _best(lambda: run(history=None))
    w_best, w_med = _best(lambda: run(weather=weather))
    print(f"cold import of pandas + pvlib + pvshare.forecast: {cold:.2f} s (excluded)")
    print(f"baseline: pvlib Ineichen clear sky over 96 steps: median {b_med * 1000:.1f} ms")
    for name, med in (("48-h forecast, 8 weeks of history", f_med),
                      ("48-h forecast, no history", n_med),
                      ("48-h forecast, 8 weeks of history + weather file", w_med)):
        print(f"{name}: median {med * 1000:.0f} ms = {med / b_med:.0f} x baseline "
              f"(target < {TARGET_S:.0f} s)")
    return max(f_med, n_med, w_med) < TARGET_S


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
