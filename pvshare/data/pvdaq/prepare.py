"""Rebuild the bundled PVDAQ system 50 subset from the raw files in ``shared/data/pv/``.

Run once by hand (it needs the optional ``data`` extra: ``pip install -e '.[data]'``, which
brings pvanalytics and, through it, scikit-image and statsmodels; pvshare itself never imports
it)::

    python pvshare/data/pvdaq/prepare.py ../shared/data/pv

What it keeps: 2012-01-01 .. 2013-12-31 (UTC), resampled from 15 to 30 min (mean of the two
quarter-hours, labelled by the start of the half-hour; a half-hour with a missing quarter is
left empty). What it removes, and why, is printed and written in ``README.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
START, END = "2012-01-01", "2014-01-01"


def fix_dst_labels(power_w: pd.Series) -> tuple[pd.Series, int]:
    """Undo the daylight-saving shift in the raw labels.

    The raw series is labelled UTC, but its labels are the site's local *clock* time
    (America/Denver, with DST) plus a fixed 7 h: from March to November every value is
    labelled one hour late (the array "produces" after sunset, and the best match with the
    PSM3 irradiance is at -1 h in summer and 0 h in winter). Re-localising the clock time
    fixes it; the repeated hour of the autumn change is dropped (its two hours cannot be told
    apart) and the skipped hour of the spring change stays empty.
    """
    clock = power_w.index.tz_localize(None) - pd.Timedelta(hours=7)
    local = clock.tz_localize("America/Denver", ambiguous="NaT", nonexistent="NaT")
    keep = ~local.isna()
    fixed = pd.Series(power_w.to_numpy()[keep], index=local[keep].tz_convert("UTC"),
                      name=power_w.name)
    fixed = fixed[~fixed.index.duplicated(keep="first")]
    shifted = int((local[keep].tz_convert("UTC") != power_w.index[keep]).sum())
    return fixed, shifted


def clean_power(power_w: pd.Series) -> tuple[pd.Series, dict]:
    """Flag and blank the bad 15-min values; return the cleaned series and the counts."""
    import pvlib
    from pvanalytics.quality.gaps import stale_values_diff

    counts = {"rows": int(len(power_w)), "missing": int(power_w.isna().sum())}
    # Stale values: the logger repeating the last non-zero reading (4 equal quarter-hours,
    # i.e. one hour, never happens with real irradiance on a 3.4 kW array). Zeros are the
    # night and are not stale.
    stale = stale_values_diff(power_w.fillna(-1.0), window=4) & (power_w > 1.0)
    counts["stale"] = int(stale.sum())
    # Night-time production: more than 1 % of capacity while the sun is below the horizon
    # all through the quarter-hour. (pvanalytics' own daytime detector, features.daytime,
    # does not run on pandas 3, so the sun's position from pvlib decides.)
    mid = power_w.index + pd.Timedelta("7min30s")
    elev = pvlib.solarposition.get_solarposition(mid, 39.7406, -105.1775)["apparent_elevation"]
    night_power = pd.Series(elev.to_numpy() < -2.0, index=power_w.index) & (power_w > 34.0)
    counts["night_power"] = int(night_power.sum())
    out = power_w.mask(stale | night_power)
    return out, counts


def main(src: str) -> None:
    src_dir = Path(src)
    raw = pd.read_csv(src_dir / "pvdaq_system50_ac_power_15min.csv.gz", index_col=0,
                      parse_dates=True)["ac_power_w"]
    raw, _ = fix_dst_labels(raw)
    raw = raw[(raw.index >= START) & (raw.index < END)]
    local_clock = raw.index.tz_convert("America/Denver")
    shifted = int(sum(1 for t in local_clock if t.dst()))
    full = pd.date_range(START, END, freq="15min", tz="UTC", inclusive="left")
    raw = raw.reindex(full)
    cleaned, counts = clean_power(raw)
    counts["relabelled_dst"] = shifted
    # 30-min means, only when both quarter-hours are there.
    n = cleaned.resample("30min").count()
    p30 = cleaned.resample("30min").mean().where(n == 2).round(1)
    counts["half_hours"] = int(len(p30))
    counts["half_hours_empty"] = int(p30.isna().sum())
    weather = pd.read_csv(src_dir / "pvdaq_system50_psm3_30min.csv.gz", index_col=0,
                          parse_dates=True)[["ghi", "temp_air"]]
    # PSM3 values are instantaneous at their label (they match the power of the half-hour
    # around it best); pvshare's weather files hold the mean over the step starting at
    # ``time``, so take the mean of the two instants that bound each half-hour.
    weather = (weather + weather.shift(-1)) / 2
    weather = weather[(weather.index >= START) & (weather.index < END)]
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    out = pd.DataFrame({"time": p30.index.strftime(fmt), "ac_power_w": p30.to_numpy()})
    out.to_csv(HERE / "system50_ac_power_30min.csv.gz", index=False, float_format="%.1f")
    wout = pd.DataFrame({"time": weather.index.strftime(fmt), "ghi": weather["ghi"].to_numpy(),
                         "temp_air": weather["temp_air"].to_numpy()})
    wout.to_csv(HERE / "system50_psm3_30min.csv.gz", index=False, float_format="%.1f")
    for k, v in counts.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE.parents[3] / "shared" / "data" / "pv"))
