"""Build the bundled sample year of the building (deterministic: same inputs, same files).

    .venv/bin/python scripts/build_sample_year.py            # rewrites pvshare/data/sample_year
    .venv/bin/python scripts/build_sample_year.py --out DIR  # somewhere else

Writes, for one calendar year in 30-minute UTC steps labelled by their start:

- ``production.csv.gz``: ``time,production_wh``: the rooftop array of the example config,
  modelled with pvlib (PVWatts) and driven by the real PVGIS typical year;
- ``consumption.csv.gz``: ``time,<participant>,...``: Wh per step for each participant of
  the example config, built from ONE real household (UCI, Sceaux) resampled: every tenant
  takes different real weeks (same season, same weekdays), with its own time-of-day shift
  of up to an hour, scaled to a yearly total drawn between 1,500 and 2,500 kWh.

Values are rounded to 0.1 Wh; the gzip headers carry no time stamp, so a rebuild gives
byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pvshare import timegrid  # noqa: E402
from pvshare.config import load_config  # noqa: E402
from pvshare.data import bundled as weather  # noqa: E402
from pvshare.forecast import model  # noqa: E402

# pvlib 0.16 still calls pandas' deprecated ``dayofyear``: keep the summary readable.
warnings.filterwarnings("ignore", message=".*dayofyear is deprecated.*")

DEFAULT_CONFIG = ROOT / "config" / "example.toml"
DEFAULT_OUT = ROOT / "pvshare" / "data" / "sample_year"
YEAR = 2025
SEED = 20250101
STEP = "PT30M"
#: Sub-steps per 30-minute step for the power model (5-minute resolution).
SUBSTEPS = 6
#: Yearly consumption of a student studio, kWh (drawn uniformly per tenant).
TENANT_KWH = (1500.0, 2500.0)
#: Source weeks a tenant may draw from: same week of another year, shifted by up to this
#: many weeks either way (keeps the season).
WEEK_SHIFT_MAX = 4
#: Per-tenant shift of the daily routine, in half-hours (up to an hour earlier or later).
ROUTINE_SHIFT_MAX = 2


def step_times(year: int, step: str = STEP) -> np.ndarray:
    """UTC step starts of one calendar year (``datetime64[s]``)."""
    return timegrid.step_range(np.datetime64(f"{year}-01-01T00:00:00"),
                               np.datetime64(f"{year + 1}-01-01T00:00:00"), step)


def production_wh(cfg, times: np.ndarray, tmy: pd.DataFrame, step: str = STEP) -> np.ndarray:
    """Energy (Wh) produced by the configured array in each step.

    The TMY (hourly, irradiance at HH:00 + the PVGIS offset) is put on the steps' year,
    moved to the site through clear-sky indices at 5-minute resolution (sub-step centres),
    turned into AC power, then averaged over each step.
    """
    step_s = timegrid.step_seconds(step)
    years = np.unique(times.astype("datetime64[Y]").astype(int) + 1970)
    hourly = pd.concat([weather.tmy_for_year(tmy, int(y)) for y in years])
    hourly.attrs = dict(tmy.attrs)
    samples = hourly.set_axis(weather.irradiance_instants(hourly))
    sub_s = step_s // SUBSTEPS
    starts = timegrid.to_epoch_seconds(times)
    centres = (starts[:, None] + sub_s * np.arange(SUBSTEPS) + sub_s // 2).ravel()
    idx = pd.DatetimeIndex(centres.astype("datetime64[s]")).tz_localize("UTC")
    source = (tmy.attrs["latitude"], tmy.attrs["longitude"], tmy.attrs["elevation_m"])
    w = model.interpolate_weather(cfg, samples, idx, source=source)
    power = model.ac_power_w(cfg, w).to_numpy()
    return power.reshape(len(times), SUBSTEPS).mean(axis=1) * step_s / 3600.0


def consumption_wh(times: np.ndarray, n_tenants: int, rng: np.random.Generator,
                   household: pd.Series, tz: str = "Europe/Paris",
                   step: str = STEP) -> np.ndarray:
    """(T, N) energy (Wh) per step for ``n_tenants`` tenants drawn from one household.

    Each tenant, for each local week (Monday to Sunday), takes a real week of the household
    from the same time of year (another year, shifted by up to ``WEEK_SHIFT_MAX`` weeks;
    weekdays stay aligned), read by LOCAL time of day: a UTC step gets the household's
    value for the same local date and half-hour. On the spring DST day the missing local
    hour is skipped (46 steps), on the autumn day the repeated hour is read twice (50 steps).
    Each tenant's routine is also shifted by up to ``ROUTINE_SHIFT_MAX`` half-hours.
    """
    step_s = timegrid.step_seconds(step)
    if step_s != 1800:
        raise ValueError("the household series has 30-minute values: build at PT30M")
    first_day, days_w = weather.household_days(household)  # (D, 48) W
    n_days = days_w.shape[0]
    secs = timegrid.to_epoch_seconds(times)
    local = secs + timegrid.utc_offsets(secs, tz)
    local_day = local // 86400  # days since the epoch, local calendar
    slot = (local % 86400) // 1800  # local half-hour of the day, 0..47
    # Local weeks, Monday-based (1970-01-01 was a Thursday: day 4 is Monday 1970-01-05).
    monday = local_day - (local_day - 4) % 7
    weeks, week_of_step = np.unique(monday, return_inverse=True)
    # Candidate source weeks: the same week k years back, rounded to whole weeks, shifted.
    hh0 = int(first_day.astype(np.int64))
    mid = dt.date(1970, 1, 1) + dt.timedelta(days=int(weeks[len(weeks) // 2]))
    first = dt.date(1970, 1, 1) + dt.timedelta(days=hh0)
    last = first + dt.timedelta(days=n_days - 1)
    back = [7 * round((dt.date(mid.year, 1, 1) - dt.date(y, 1, 1)).days / 7)
            for y in range(first.year, last.year + 1)]
    shifts = 7 * np.arange(-WEEK_SHIFT_MAX, WEEK_SHIFT_MAX + 1)
    offsets = (np.asarray(back)[:, None] + shifts[None, :]).ravel()  # days back
    cand = weeks[:, None] - offsets[None, :] - hh0  # (K, M) index of the source Monday
    # A candidate week must fit whole, with room for the routine shift at both ends.
    valid = (cand >= 1) & (cand + 7 < n_days - 1)
    if not valid.any(axis=1).all():
        raise ValueError("household series too short for the requested year")
    u = rng.random((n_tenants, *cand.shape))
    choice = np.argmax(np.where(valid[None], u, -1.0), axis=2)  # (N, K)
    src_monday = np.take_along_axis(cand[None].repeat(n_tenants, 0), choice[..., None],
                                    axis=2)[..., 0]  # (N, K)
    routine = rng.integers(-ROUTINE_SHIFT_MAX, ROUTINE_SHIFT_MAX + 1, size=n_tenants)
    day_in_week = local_day - monday  # (T,)
    src_day = src_monday[:, week_of_step] + day_in_week[None, :]  # (N, T)
    flat = src_day * 48 + slot[None, :] + routine[:, None]
    power_w = days_w.ravel()[flat]  # (N, T)
    energy = power_w.T * step_s / 3600.0  # (T, N)
    target_wh = rng.uniform(*TENANT_KWH, size=n_tenants) * 1000.0
    # Keep the rounded totals inside the range: aim 0.5 % inside its bounds.
    lo, hi = TENANT_KWH[0] * 1005.0, TENANT_KWH[1] * 995.0
    target_wh = np.clip(target_wh, lo, hi)
    return energy * (target_wh / energy.sum(axis=0))[None, :]


def _write_csv_gz(path: Path, frame: pd.DataFrame) -> None:
    text = frame.to_csv(index=False, float_format="%.1f", lineterminator="\n")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                               compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("ascii"))
    tmp.replace(path)


def build(config_path: Path, out_dir: Path, year: int = YEAR, seed: int = SEED) -> dict:
    """Build both files into ``out_dir``; return a small summary."""
    cfg = load_config(config_path)
    times = step_times(year)
    prod = np.round(production_wh(cfg, times, weather.read_tmy()), 1)
    ids = [p.id for p in cfg.participants]
    rng = np.random.default_rng(seed)
    cons = np.round(consumption_wh(times, len(ids), rng, weather.read_household(),
                                   tz=cfg.site.timezone), 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamps = timegrid.format_utc(times)
    _write_csv_gz(out_dir / "production.csv.gz",
                  pd.DataFrame({"time": stamps, "production_wh": prod}))
    _write_csv_gz(out_dir / "consumption.csv.gz",
                  pd.concat([pd.DataFrame({"time": stamps}),
                             pd.DataFrame(cons, columns=ids)], axis=1))
    return {"steps": len(times), "production_kwh": prod.sum() / 1000,
            "kwp": cfg.array.kwp, "tenant_kwh": cons.sum(axis=0) / 1000, "ids": ids}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--year", type=int, default=YEAR)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    s = build(args.config, args.out, args.year, args.seed)
    kwh = s["tenant_kwh"]
    print(f"{s['steps']} steps of 30 min in {args.year}, written to {args.out}")
    print(f"production: {s['production_kwh']:,.0f} kWh "
          f"({s['production_kwh'] / s['kwp']:,.0f} kWh/kWp)")
    print(f"consumption: {len(kwh)} tenants, {kwh.sum():,.0f} kWh in total, "
          f"{kwh.min():,.0f} to {kwh.max():,.0f} kWh each "
          f"(lowest {s['ids'][int(kwh.argmin())]}, highest {s['ids'][int(kwh.argmax())]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
