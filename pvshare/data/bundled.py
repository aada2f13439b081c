"""Readers for the real weather and load data bundled with pvshare, and calendar helpers.

Bundled files (``pvshare/data``, attribution in the README next to each file):

- ``weather/pvgis_tmy_45N_8E.csv.gz``: the PVGIS typical meteorological year at 45N 8E
  (hourly, UTC; each month from a different real year), read with
  :func:`pvlib.iotools.read_pvgis_tmy`;
- ``weather/bsrn_payerne_2016-06_1min.csv.gz``: GHI, DNI, DHI measured every minute at the
  BSRN station of Payerne (Switzerland) in June 2016, for the variability within an hour;
- ``load/uci_household_sceaux_30min.csv.gz``: one real French household, mean power per
  30 minutes, 2006-12-16 .. 2010-11-26, naive local (Europe/Paris) time.

Times are UTC everywhere except the household series, which is kept in the naive local time
it was recorded in (its DST changes are not marked, so it cannot be put in UTC faithfully).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent
TMY_CSV = DATA_DIR / "weather" / "pvgis_tmy_45N_8E.csv.gz"
BSRN_CSV = DATA_DIR / "weather" / "bsrn_payerne_2016-06_1min.csv.gz"
HOUSEHOLD_CSV = DATA_DIR / "load" / "uci_household_sceaux_30min.csv.gz"

#: BSRN station Payerne (PAY): latitude, longitude (degrees), altitude (m).
PAYERNE = (46.815, 6.944, 491.0)
#: Under this clear-sky GHI (W/m2) the sun is too low for a meaningful clear-sky index.
VARIABILITY_MIN_CLEAR_SKY_W_M2 = 50.0
#: Bounds of the variability factor (unitless).
VARIABILITY_MAX = 3.0


def read_tmy(path: str | Path = TMY_CSV) -> pd.DataFrame:
    """Read a PVGIS typical meteorological year (CSV, plain or gzipped).

    Parameters
    ----------
    path : str or Path
        A PVGIS TMY file in CSV format (``.csv`` or ``.csv.gz``); the bundled one by default.

    Returns
    -------
    pandas.DataFrame
        8,760 hourly rows indexed by UTC time as written by PVGIS (each month carries the
        real year it was taken from). Columns with pvlib names: ``temp_air`` (°C),
        ``relative_humidity`` (%), ``ghi``, ``dni``, ``dhi``, ``IR(h)`` (W/m2),
        ``wind_speed`` (m/s), ``wind_direction`` (degrees), ``pressure`` (Pa).
        ``attrs``: ``latitude``, ``longitude`` (degrees), ``elevation_m`` (m),
        ``irradiance_time_offset_h`` (h: the irradiance of the row stamped HH:00 refers to
        the instant HH:00 + offset), ``months_selected`` (list of ``{month, year}``).
    """
    from pvlib.iotools import read_pvgis_tmy

    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as buf:
            data, meta = read_pvgis_tmy(buf, pvgis_format="csv")
    else:
        data, meta = read_pvgis_tmy(path)
    data = data.copy()
    data.index = pd.DatetimeIndex(data.index).tz_convert("UTC")
    data.index.name = "time"
    inputs = meta.get("inputs", meta)
    data.attrs = {
        "latitude": float(inputs["latitude"]),
        "longitude": float(inputs["longitude"]),
        "elevation_m": float(inputs["elevation"]),
        "irradiance_time_offset_h": float(inputs.get("irradiance time offset", 0.0)),
        "months_selected": list(meta.get("months_selected", [])),
        "source": str(path),
    }
    return data


def tmy_for_year(tmy: pd.DataFrame, year: int) -> pd.DataFrame:
    """Put a typical year on a real calendar year.

    A TMY's months come from different years; this keeps each row's month, day and hour and
    gives it ``year``. In a leap year, 29 February repeats 28 February.

    Parameters
    ----------
    tmy : pandas.DataFrame
        Hourly TMY from :func:`read_tmy` (8,760 rows, UTC).
    year : int
        The calendar year.

    Returns
    -------
    pandas.DataFrame
        One row per UTC hour of ``year`` (8,760 or 8,784), same columns and ``attrs``.

    Raises
    ------
    ValueError
        If a (month, day, hour) of the year is missing from the TMY.
    """
    idx = pd.DatetimeIndex(tmy.index).tz_convert("UTC")
    key = (idx.month * 100 + idx.day) * 100 + idx.hour
    if pd.Index(key).has_duplicates:
        raise ValueError("tmy: the same month, day and hour appears twice")
    hours = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", tz="UTC",
                          inclusive="left")
    day = np.where((hours.month == 2) & (hours.day == 29), 28, hours.day)
    want = (hours.month * 100 + day) * 100 + hours.hour
    pos = pd.Index(key).get_indexer(want)
    if (pos < 0).any():
        miss = hours[pos < 0][0]
        raise ValueError(f"tmy: no row for {miss:%m-%d %H}:00 UTC")
    out = tmy.iloc[pos].copy()
    out.index = hours.rename("time")
    out.attrs = dict(tmy.attrs)
    return out


def irradiance_instants(weather: pd.DataFrame) -> pd.DatetimeIndex:
    """The instants the irradiance values of a PVGIS table refer to.

    PVGIS stamps each hour HH:00 but its satellite irradiance refers to HH:00 plus the
    "Irradiance Time Offset" of the file header (``attrs['irradiance_time_offset_h']``, e.g.
    0.1761 h, about HH:10:34).
    """
    offset_h = float(weather.attrs.get("irradiance_time_offset_h", 0.0))
    return pd.DatetimeIndex(weather.index) + pd.Timedelta(seconds=round(offset_h * 3600))


def read_bsrn(path: str | Path = BSRN_CSV) -> pd.DataFrame:
    """Read the bundled 1-minute BSRN irradiance (``time,ghi,dni,dhi``).

    Returns
    -------
    pandas.DataFrame
        ``ghi``, ``dni``, ``dhi`` in W/m2 (NaN where the station has no value), indexed by
        the UTC minute.
    """
    df = pd.read_csv(path, dtype={"ghi": float, "dni": float, "dhi": float})
    df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("time"), utc=True), name="time")
    return df


def read_bsrn_variability(path: str | Path = BSRN_CSV) -> pd.Series:
    """A 1-minute variability factor from the real Payerne measurements.

    The clear-sky index ``kc = ghi / ghi_clear`` (Ineichen at Payerne) is divided by its
    centred 60-minute mean. The factor is therefore about 1 on average over any hour and
    carries only the fast changes (passing clouds): multiply a smooth, hourly-derived
    irradiance or power by it to get a realistic minute-by-minute series with the same
    hourly energy.

    Returns
    -------
    pandas.Series
        Unitless factor in ``[0, VARIABILITY_MAX]`` indexed by the UTC minute (June 2016,
        43,200 values); exactly 1 when the sun is low (clear-sky GHI under
        ``VARIABILITY_MIN_CLEAR_SKY_W_M2``) or the measurement is missing.
    """
    from pvshare.forecast.model import clear_sky_at

    bsrn = read_bsrn(path)
    cs = clear_sky_at(*PAYERNE, bsrn.index)["ghi"].to_numpy()
    ghi = bsrn["ghi"].to_numpy()
    sun = cs >= VARIABILITY_MIN_CLEAR_SKY_W_M2
    kc = np.where(sun & np.isfinite(ghi), np.clip(ghi, 0, None) / np.where(sun, cs, 1.0), np.nan)
    kc = pd.Series(kc, index=bsrn.index)
    mean = kc.rolling(61, center=True, min_periods=15).mean().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = kc.to_numpy() / mean
    factor = np.where(np.isfinite(factor), factor, 1.0)
    return pd.Series(np.clip(factor, 0.0, VARIABILITY_MAX), index=bsrn.index,
                     name="variability")


def variability_at(factor: pd.Series, times) -> np.ndarray:
    """Look up a 1-minute variability factor at any times, cycling over its days.

    The day is chosen by the number of days since the Unix epoch modulo the number of whole
    days in ``factor``, the minute by the UTC minute of the day: any date gets a real day's
    cloud pattern, deterministically.

    Parameters
    ----------
    factor : pandas.Series
        From :func:`read_bsrn_variability` (starts at midnight UTC, 1-minute steps).
    times : array-like of datetimes
        UTC (naive values are taken as UTC).

    Returns
    -------
    numpy.ndarray
        The factor (float) at each time.
    """
    values = factor.to_numpy(dtype=float)
    days = len(values) // 1440
    if days == 0:
        raise ValueError("variability factor: need at least one whole day of minutes")
    table = values[: days * 1440].reshape(days, 1440)
    idx = pd.DatetimeIndex(times)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    secs = idx.as_unit("s").asi8
    day = (secs // 86400) % days
    minute = (secs % 86400) // 60
    return table[day, minute]


def read_household(path: str | Path = HOUSEHOLD_CSV) -> pd.Series:
    """Read the real household's mean power per 30 minutes.

    Returns
    -------
    pandas.Series
        ``power_w``: mean active power (W) over each half-hour, indexed by the **naive local
        (Europe/Paris) time** of the half-hour's start, as recorded (48 half-hours every
        day, DST changes not marked).
    """
    df = pd.read_csv(path)
    idx = pd.DatetimeIndex(pd.to_datetime(df["time_local_paris"]), name="time_local")
    return pd.Series(df["active_power_w"].to_numpy(dtype=float), index=idx, name="power_w")


def household_days(power_w: pd.Series) -> tuple[np.datetime64, np.ndarray]:
    """The household series as whole local days.

    Returns
    -------
    first_day : numpy.datetime64
        The first whole local day (``datetime64[D]``).
    power_w : numpy.ndarray
        (D, 48) mean power (W) per local half-hour of each whole day, days consecutive.

    Raises
    ------
    ValueError
        If the series is not a gap-free 30-minute grid.
    """
    t = pd.DatetimeIndex(power_w.index).as_unit("s").asi8
    if len(t) < 96 or np.any(np.diff(t) != 1800):
        raise ValueError("household series: expected a gap-free 30-minute grid")
    first = int(-(-t[0] // 86400) * 86400)
    i0 = int((first - t[0]) // 1800)
    n_days = (len(t) - i0) // 48
    values = power_w.to_numpy(dtype=float)[i0: i0 + n_days * 48].reshape(n_days, 48)
    return np.datetime64(first // 86400, "D"), values
