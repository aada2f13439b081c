"""The PV array as pvlib sees it, built from the site configuration.

Pure functions (no I/O, no clock): give them the :class:`pvshare.config.Config` and a
weather table, get AC power and energy per step back.

The model is PVWatts (:func:`pvlib.pvsystem.pvwatts_dc`, :func:`pvlib.inverter.pvwatts`)
inside a :class:`pvlib.modelchain.ModelChain`:

- DC: ``cfg.array.kwp`` at 1,000 W/m2 and 25 °C, temperature coefficient
  ``cfg.array.temperature_coefficient_per_c`` (1/°C), cell temperature from the SAPM model
  (open rack, glass/polymer);
- losses: ``cfg.array.losses_percent`` as the PVWatts system losses (wiring, soiling,
  mismatch... lumped into one figure);
- AC: a PVWatts inverter whose AC limit is ``cfg.array.inverter_kw`` (nominal efficiency
  0.96); without an inverter size, the AC limit is 0.96 × kWp;
- an optional horizon profile ``cfg.array.horizon`` (``[[azimuth_deg, elevation_deg], ...]``,
  azimuth from north, 180 = south): while the sun is behind it, the beam is blocked and only
  the diffuse light reaches the array;
- clear sky: Ineichen with pvlib's monthly Linke turbidity table.

Weather tables are :class:`pandas.DataFrame` objects with a time-zone aware index and the
columns ``ghi``, ``dni``, ``dhi`` (W/m2), optionally ``temp_air`` (°C, default 20) and
``wind_speed`` (m/s, default 0). Power is in W, energy in Wh.

References
----------
.. [1] A. P. Dobos, "PVWatts Version 5 Manual", NREL/TP-6A20-62641, 2014.
.. [2] P. Ineichen and R. Perez, "A new airmass independent formulation for the Linke
   turbidity coefficient", Solar Energy 73(3), 151-157, 2002.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pvlib.location import Location
from pvlib.modelchain import ModelChain
from pvlib.pvsystem import Array, FixedMount, PVSystem
from pvlib.temperature import TEMPERATURE_MODEL_PARAMETERS

from pvshare.i18n import _
from pvshare.timegrid import step_seconds

if TYPE_CHECKING:  # pragma: no cover
    from pvshare.config import Config

#: Nominal inverter efficiency of the PVWatts inverter model (unitless).
ETA_INV_NOM = 0.96
#: Cell temperature model: SAPM, open rack, glass/polymer modules.
TEMPERATURE_MODEL = TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
#: Clear-sky thresholds (W/m2) under which a clear-sky index is not computed: the ratio of
#: two small numbers near sunrise and sunset says nothing about the clouds.
CLEAR_SKY_MIN_W_M2 = {"ghi": 20.0, "dni": 20.0, "dhi": 10.0}
#: Upper bounds of the clear-sky indices (cloud enhancement; diffuse under clouds can be
#: several times the clear-sky diffuse).
CLEAR_SKY_INDEX_MAX = {"ghi": 1.6, "dni": 1.4, "dhi": 6.0}
IRRADIANCE = ("ghi", "dni", "dhi")


def location(cfg: Config) -> Location:
    """The site as a :class:`pvlib.location.Location`.

    Parameters
    ----------
    cfg : Config
        Site configuration: ``cfg.site.latitude``, ``longitude`` (degrees),
        ``altitude_m`` (m) and ``timezone``.

    Returns
    -------
    pvlib.location.Location
    """
    s = cfg.site
    return Location(s.latitude, s.longitude, tz=s.timezone, altitude=s.altitude_m,
                    name=s.name)


def ac_limit_w(cfg: Config) -> float:
    """AC power limit of the inverter, W (``inverter_kw``, else 0.96 × kWp)."""
    a = cfg.array
    if a.inverter_kw is not None:
        return float(a.inverter_kw) * 1000.0
    return ETA_INV_NOM * float(a.kwp) * 1000.0


def losses_parameters(cfg: Config) -> dict[str, float]:
    """PVWatts loss terms (%) whose total equals ``cfg.array.losses_percent``.

    :func:`pvlib.pvsystem.pvwatts_losses` combines its terms as
    ``100 * (1 - prod(1 - term / 100))``; the configuration gives one lumped figure, so it
    is passed as a single term and every other term is zero.
    """
    terms = dict.fromkeys(("soiling", "shading", "snow", "mismatch", "wiring", "connections",
                           "lid", "nameplate_rating", "age", "availability"), 0.0)
    terms["wiring"] = float(cfg.array.losses_percent)
    return terms


def pv_system(cfg: Config) -> PVSystem:
    """The array and inverter as a PVWatts :class:`pvlib.pvsystem.PVSystem`.

    Parameters
    ----------
    cfg : Config
        ``cfg.array``: ``kwp`` (kW DC), ``tilt_deg`` (degrees from horizontal),
        ``azimuth_deg`` (degrees from north, 180 = south), ``inverter_kw`` (kW AC, optional),
        ``losses_percent`` (%), ``temperature_coefficient_per_c`` (1/°C).

    Returns
    -------
    pvlib.pvsystem.PVSystem
        One fixed array; ``module_parameters = {pdc0 [W], gamma_pdc [1/°C]}``,
        ``inverter_parameters = {pdc0 [W DC], eta_inv_nom}`` sized so that the AC limit is
        :func:`ac_limit_w`.
    """
    a = cfg.array
    array = Array(
        mount=FixedMount(surface_tilt=float(a.tilt_deg), surface_azimuth=float(a.azimuth_deg)),
        module_parameters={"pdc0": float(a.kwp) * 1000.0,
                           "gamma_pdc": float(a.temperature_coefficient_per_c)},
        temperature_model_parameters=dict(TEMPERATURE_MODEL),
        name="roof",
    )
    return PVSystem(
        arrays=[array],
        inverter_parameters={"pdc0": ac_limit_w(cfg) / ETA_INV_NOM, "eta_inv_nom": ETA_INV_NOM},
        losses_parameters=losses_parameters(cfg),
        name=cfg.site.name,
    )


def model_chain(cfg: Config) -> ModelChain:
    """A PVWatts :class:`pvlib.modelchain.ModelChain` of the site's array.

    DC and AC PVWatts, PVWatts losses, Hay-Davies transposition, physical AOI losses,
    no spectral correction, SAPM cell temperature.
    """
    return ModelChain.with_pvwatts(pv_system(cfg), location(cfg),
                                   aoi_model="physical", spectral_model="no_loss",
                                   losses_model="pvwatts", name=cfg.site.name)


def _as_index(times) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(times)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx


def _epoch_s(idx: pd.DatetimeIndex) -> np.ndarray:
    """Unix seconds (float) of a time-zone aware index, whatever its pandas unit."""
    return idx.tz_convert("UTC").as_unit("ns").asi8 / 1e9


def clear_sky_at(latitude: float, longitude: float, altitude_m: float, times) -> pd.DataFrame:
    """Ineichen clear-sky irradiance at any place, with pvlib's Linke turbidity table.

    Parameters
    ----------
    latitude, longitude : float
        Degrees (north and east positive).
    altitude_m : float
        Metres above sea level.
    times : array-like of datetimes
        Time-zone aware; naive values are taken as UTC.

    Returns
    -------
    pandas.DataFrame
        Columns ``ghi``, ``dni``, ``dhi`` in W/m2, indexed by ``times``; zero when the sun
        is below the horizon.
    """
    idx = _as_index(times)
    loc = Location(latitude, longitude, tz="UTC", altitude=altitude_m)
    cs = loc.get_clearsky(idx, model="ineichen")
    return cs[list(IRRADIANCE)].clip(lower=0.0).fillna(0.0)


def clear_sky(cfg: Config, times) -> pd.DataFrame:
    """Ineichen clear-sky irradiance at the site (see :func:`clear_sky_at`).

    Parameters
    ----------
    cfg : Config
        Site configuration.
    times : array-like of datetimes
        Time-zone aware; naive values are taken as UTC.

    Returns
    -------
    pandas.DataFrame
        ``ghi``, ``dni``, ``dhi`` in W/m2.
    """
    s = cfg.site
    return clear_sky_at(s.latitude, s.longitude, s.altitude_m, times)


def solar_position(cfg: Config, times) -> pd.DataFrame:
    """Sun position at the site: ``apparent_elevation``, ``azimuth`` ... in degrees."""
    return location(cfg).get_solarposition(_as_index(times))


def horizon_elevation_deg(cfg: Config, azimuth_deg) -> np.ndarray:
    """Elevation of the horizon profile (degrees) at the given azimuths (degrees from north).

    Linear interpolation around the circle between the profile's points; zero everywhere
    without a profile.
    """
    az = np.asarray(azimuth_deg, dtype=float)
    prof = cfg.array.horizon
    if not prof:
        return np.zeros_like(az)
    pts = np.asarray(prof, dtype=float).reshape(-1, 2)
    order = np.argsort(pts[:, 0] % 360.0)
    return np.interp(az % 360.0, pts[order, 0] % 360.0, pts[order, 1], period=360.0)


def apply_horizon(cfg: Config, weather: pd.DataFrame) -> pd.DataFrame:
    """Block the beam while the sun is behind the horizon profile.

    Where the sun's apparent elevation is below the profile at its azimuth, ``dni`` becomes
    0 and ``ghi`` becomes ``dhi`` (the diffuse sky is kept). Returns a new frame; without a
    profile the weather is returned unchanged.
    """
    if not cfg.array.horizon:
        return weather
    sp = solar_position(cfg, weather.index)
    hidden = (sp["apparent_elevation"].to_numpy()
              < horizon_elevation_deg(cfg, sp["azimuth"].to_numpy()))
    out = weather.copy()
    out["dni"] = np.where(hidden, 0.0, out["dni"].to_numpy(dtype=float))
    out["ghi"] = np.where(hidden, out["dhi"].to_numpy(dtype=float),
                          out["ghi"].to_numpy(dtype=float))
    return out


def _check_weather(weather: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(weather, pd.DataFrame):
        raise TypeError(f"weather must be a pandas DataFrame, got {type(weather).__name__}")
    missing = [c for c in IRRADIANCE if c not in weather.columns]
    if missing:
        raise ValueError(_("weather: missing column(s) {missing} (need ghi, dni, dhi in "
                           "W/m2; got {columns})").format(
                               missing=", ".join(missing),
                               columns=", ".join(map(str, weather.columns))))
    if not isinstance(weather.index, pd.DatetimeIndex):
        raise ValueError(_("weather: the index must be a DatetimeIndex"))
    if weather.index.tz is None:
        raise ValueError(_("weather: the index must be time-zone aware (e.g. UTC)"))
    return weather


def ac_power_w(cfg: Config, weather: pd.DataFrame) -> pd.Series:
    """AC power of the array, W, at each time of ``weather``.

    Parameters
    ----------
    cfg : Config
        Site configuration (array, location, optional horizon).
    weather : pandas.DataFrame
        Time-zone aware index; ``ghi``, ``dni``, ``dhi`` in W/m2 (instantaneous or mean over
        a short interval around the index time), optional ``temp_air`` (°C) and
        ``wind_speed`` (m/s).

    Returns
    -------
    pandas.Series
        AC power in W, same index, ``0 <= p <= ac_limit_w(cfg)``; NaN where the irradiance
        is NaN (missing weather is never turned into zero production).

    Raises
    ------
    ValueError
        If a column is missing or the index is not time-zone aware.
    """
    weather = _check_weather(weather)
    if len(weather) == 0:
        return pd.Series([], index=weather.index, dtype=float, name="ac_power_w")
    cols = [c for c in (*IRRADIANCE, "temp_air", "wind_speed") if c in weather.columns]
    w = weather[cols].astype(float)
    nan = w[list(IRRADIANCE)].isna().any(axis=1).to_numpy()
    w = w.fillna({"ghi": 0.0, "dni": 0.0, "dhi": 0.0})
    w[list(IRRADIANCE)] = w[list(IRRADIANCE)].clip(lower=0.0)
    w = apply_horizon(cfg, w)
    mc = model_chain(cfg)
    mc.run_model(w)
    ac = np.asarray(mc.results.ac, dtype=float)
    # PVWatts' efficiency curve turns negative far above the inverter's DC rating (a DC/AC
    # ratio of tens): a real inverter clips at its AC limit there instead.
    dc = np.asarray(mc.results.dc, dtype=float)
    limit = ac_limit_w(cfg)
    ac = np.where(dc >= limit / ETA_INV_NOM, limit, ac)
    ac = np.clip(np.nan_to_num(ac, nan=0.0), 0.0, limit)
    ac[nan] = np.nan
    return pd.Series(ac, index=weather.index, name="ac_power_w")


def interpolate_weather(cfg: Config, weather: pd.DataFrame, times,
                        source: tuple[float, float, float] | None = None) -> pd.DataFrame:
    """Weather at other times (e.g. hourly samples to 5-minute values) through clear-sky indices.

    Each irradiance component is divided by its clear-sky value at the sample times (at the
    place where it was measured), the clear-sky indices are interpolated linearly in time,
    then multiplied by the clear-sky value **at the site** at the new times. The day's shape
    (sunrise, noon, sunset) comes from the sun, the clouds from the samples. Other columns
    (``temp_air``, ``wind_speed``) are interpolated linearly.

    Parameters
    ----------
    cfg : Config
        Site configuration (where the result applies).
    weather : pandas.DataFrame
        Time-zone aware index giving the instant each sample refers to (shift it first if
        the data says so, e.g. PVGIS's "irradiance time offset"); ``ghi``, ``dni``, ``dhi``
        in W/m2.
    times : array-like of datetimes
        The new times (naive values are taken as UTC).
    source : (latitude, longitude, altitude_m), optional
        Where the weather was measured, if not at the site: degrees, degrees, metres.

    Returns
    -------
    pandas.DataFrame
        ``ghi``, ``dni``, ``dhi`` (W/m2) and the other numeric columns, indexed by ``times``
        (UTC). Indices where the clear sky is too small to say anything (night, twilight)
        are taken from the nearest samples in time; beyond the samples, the first or last
        index is kept.
    """
    weather = _check_weather(weather)
    idx = _as_index(times).tz_convert("UTC")
    s = cfg.site
    src = source if source is not None else (s.latitude, s.longitude, s.altitude_m)
    cs_src = clear_sky_at(*src, weather.index)
    cs_dst = clear_sky(cfg, idx)
    x_src = _epoch_s(weather.index)
    x_dst = _epoch_s(idx)
    out = {}
    for c in IRRADIANCE:
        ref = cs_src[c].to_numpy()
        val = weather[c].to_numpy(dtype=float)
        ok = (ref >= CLEAR_SKY_MIN_W_M2[c]) & np.isfinite(val)
        if ok.any():
            k = np.clip(val[ok] / ref[ok], 0.0, CLEAR_SKY_INDEX_MAX[c])
            k_dst = np.interp(x_dst, x_src[ok], k)
        else:
            k_dst = np.ones(len(idx))
        out[c] = k_dst * cs_dst[c].to_numpy()
    for c in weather.columns:
        if c in IRRADIANCE or not pd.api.types.is_numeric_dtype(weather[c]):
            continue
        val = weather[c].to_numpy(dtype=float)
        ok = np.isfinite(val)
        out[c] = (np.interp(x_dst, x_src[ok], val[ok]) if ok.any()
                  else np.full(len(idx), np.nan))
    return pd.DataFrame(out, index=idx)


def step_energy_wh(power_w: pd.Series, step: str = "PT30M") -> pd.Series:
    """Energy per settlement step, Wh, from a power series in W.

    Each value is taken as the mean power over the interval that **starts** at its time and
    lasts until the next value (regular sampling). Values finer than the step are averaged
    within each UTC step (steps aligned on the Unix epoch, labelled by their start); values
    coarser than the step (e.g. hourly) are spread over the steps they cover.

    Parameters
    ----------
    power_w : pandas.Series
        Power in W, time-zone aware (or naive UTC) regular index, at least 2 values.
    step : str
        ``"PT30M"`` (default) or ``"PT15M"``.

    Returns
    -------
    pandas.Series
        Energy in Wh per step, indexed by the UTC step starts; NaN for a step with any
        missing value or not fully covered by the input.

    Raises
    ------
    ValueError
        If the index is not regular or has fewer than 2 values.
    """
    step_s = step_seconds(step)
    idx = _as_index(power_w.index).tz_convert("UTC")
    if len(idx) < 2:
        raise ValueError(_("power_w: need at least 2 values to know the sampling interval"))
    t = np.floor(_epoch_s(idx)).astype(np.int64)
    dt = np.diff(t)
    if np.any(dt != dt[0]) or dt[0] <= 0:
        raise ValueError(_("power_w: the index must be regular and increasing"))
    dt_s = int(dt[0])
    p = power_w.to_numpy(dtype=float)
    if dt_s <= step_s:
        if step_s % dt_s:
            raise ValueError(_("power_w: sampling interval {seconds} s does not divide the "
                               "step").format(seconds=dt_s))
        per = step_s // dt_s
        start = t - t % step_s
        first = np.flatnonzero(t == start)
        if first.size == 0:
            raise ValueError(_("power_w: no value starts a step"))
        i0 = int(first[0])
        n = (len(p) - i0) // per
        block = p[i0:i0 + n * per].reshape(n, per)
        energy = block.mean(axis=1) * step_s / 3600.0  # NaN propagates
        steps = start[i0] + np.arange(n, dtype=np.int64) * step_s
    else:
        if dt_s % step_s or t[0] % step_s:
            raise ValueError(_("power_w: sampling interval {seconds} s is not aligned on the "
                               "step").format(seconds=dt_s))
        per = dt_s // step_s
        energy = np.repeat(p, per) * step_s / 3600.0
        steps = t[0] + np.arange(len(energy), dtype=np.int64) * step_s
    index = pd.DatetimeIndex(steps.astype("datetime64[s]")).tz_localize("UTC")
    return pd.Series(energy, index=index, name="energy_wh")


__all__ = ["location", "pv_system", "model_chain", "clear_sky", "clear_sky_at",
           "solar_position", "ac_limit_w", "losses_parameters", "horizon_elevation_deg",
           "apply_horizon", "ac_power_w", "interpolate_weather", "step_energy_wh"]
