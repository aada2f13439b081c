"""The roof's clear-sky shape, in numpy only (pure: no I/O, no clock).

Closing spreads the energy a gap in the inverter's readings holds over the gap's steps in
proportion to what the array makes under a clear sky (``meters/energy.py``), and knows that
nothing is made while the sun is down. The daemon may not import pvlib (its memory budget,
docs/design.md §1), so this module computes a light clear-sky model itself:

* the sun's position from the low-precision formulas of the Astronomical Almanac (NOAA /
  Michalsky 1988; about 0.01° of declination, ample here), the apparent elevation with
  Bennett's refraction;
* global irradiance on the horizontal plane by Haurwitz (1945), beam irradiance by Meinel
  (1976) with the Kasten–Young (1989) air mass, the diffuse part as their difference;
* irradiance on the array's plane: beam × cos(angle of incidence) + isotropic sky diffuse +
  ground reflection (albedo 0.2).

Only the **shape** matters (the index fixes the amount): ``tests/test_clearsky.py`` checks it
against pvlib's Ineichen model on the array's plane. Exactly zero while the sun's apparent
elevation is ≤ 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Ground reflectance used for the plane-of-array irradiance.
ALBEDO = 0.2


def sun_position(times_s, latitude: float, longitude: float) -> tuple[np.ndarray, np.ndarray]:
    """Apparent elevation and azimuth of the sun, degrees.

    Parameters
    ----------
    times_s : array_like of float
        UTC Unix seconds.
    latitude, longitude : float
        Degrees (north, east positive).

    Returns
    -------
    elevation_deg : numpy.ndarray
        Apparent elevation (refraction included), degrees.
    azimuth_deg : numpy.ndarray
        Azimuth from north, clockwise (180 = south), degrees.
    """
    t = np.asarray(times_s, dtype=float)
    n = t / 86400.0 + 2440587.5 - 2451545.0           # days since J2000.0
    rad = np.pi / 180.0
    mean_lon = np.mod(280.460 + 0.9856474 * n, 360.0)
    g = np.mod(357.528 + 0.9856003 * n, 360.0) * rad  # mean anomaly
    ecl_lon = (mean_lon + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g)) * rad
    obliquity = (23.439 - 0.0000004 * n) * rad
    ra = np.arctan2(np.cos(obliquity) * np.sin(ecl_lon), np.cos(ecl_lon))
    dec = np.arcsin(np.sin(obliquity) * np.sin(ecl_lon))
    gmst_h = np.mod(18.697374558 + 24.06570982441908 * n, 24.0)
    hour_angle = (gmst_h * 15.0 + longitude) * rad - ra
    lat = latitude * rad
    sin_el = np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(hour_angle)
    el = np.arcsin(np.clip(sin_el, -1.0, 1.0)) / rad
    az = np.arctan2(np.sin(hour_angle),
                    np.cos(hour_angle) * np.sin(lat) - np.tan(dec) * np.cos(lat)) / rad + 180.0
    # Bennett's refraction (arcmin), for the apparent elevation near the horizon
    h = np.clip(el, -1.0, 90.0)
    refraction = np.where(el > -1.0, 1.02 / np.tan((h + 10.3 / (h + 5.11)) * rad) / 60.0, 0.0)
    return el + refraction, np.mod(az, 360.0)


def poa_clear_sky_w_m2(times_s, latitude: float, longitude: float, tilt_deg: float,
                       azimuth_deg: float) -> np.ndarray:
    """Clear-sky irradiance on a plane (tilt from horizontal, azimuth from north), W/m²;
    zero while the sun is down.
    """
    el, az = sun_position(times_s, latitude, longitude)
    rad = np.pi / 180.0
    up = el > 0.0
    zen = 90.0 - np.where(up, el, 90.0)
    cos_z = np.cos(zen * rad)
    ghi = np.where(up, 1098.0 * cos_z * np.exp(-0.057 / np.maximum(cos_z, 1e-3)), 0.0)
    air_mass = 1.0 / (cos_z + 0.50572 * (96.07995 - zen) ** -1.6364)
    dni = np.where(up, 1353.0 * 0.7 ** (air_mass ** 0.678), 0.0)
    dni = np.minimum(dni, ghi / np.maximum(cos_z, 1e-3))   # beam never above the global
    dhi = np.maximum(ghi - dni * cos_z, 0.0)
    tilt = tilt_deg * rad
    cos_aoi = cos_z * np.cos(tilt) + np.sin(zen * rad) * np.sin(tilt) * \
        np.cos((az - azimuth_deg) * rad)
    poa = dni * np.maximum(cos_aoi, 0.0) + dhi * (1 + np.cos(tilt)) / 2 \
        + ALBEDO * ghi * (1 - np.cos(tilt)) / 2
    return np.where(up, poa, 0.0)


@dataclass(frozen=True)
class ArrayShape:
    """The array's clear-sky power, W (kWp × plane-of-array irradiance / 1000 W/m²): the
    shape closing spreads a gap's energy by. Call it with UTC Unix seconds.
    """

    latitude: float
    longitude: float
    tilt_deg: float
    azimuth_deg: float
    kwp: float

    def __call__(self, times_s) -> np.ndarray:
        """The clear-sky power at each time (UTC Unix s), W."""
        return self.kwp * poa_clear_sky_w_m2(times_s, self.latitude, self.longitude,
                                             self.tilt_deg, self.azimuth_deg)

    @classmethod
    def from_config(cls, cfg) -> ArrayShape:
        """The shape of ``cfg``'s array at its site."""
        return cls(cfg.site.latitude, cfg.site.longitude, cfg.array.tilt_deg,
                   cfg.array.azimuth_deg, cfg.array.kwp)
