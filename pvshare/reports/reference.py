"""Reference consumption of similar homes, month by month (for the household report).

A simple, documented model built from published averages, not a statistical benchmark:

- **Uses per home** (all-electric homes, France, 2012): heating 10 542 kWh/year, hot water
  2 054 kWh/year, cooking 1 171 kWh/year, other uses (lighting, appliances, electronics)
  3 208 kWh/year. Source: ADEME, *Chiffres clés du bâtiment*, 2013 edition (CEREN data
  for 2012).
- **Average home**: 2.19 persons per main residence (INSEE, 2019) and 91 m² (INSEE,
  *Enquête Logement* 2013). Cooking, other uses and hot water are scaled by the number of
  occupants, heating by the surface.
- **Heating by month**: heating degree-days (base 18 °C) computed from the PVGIS typical
  meteorological year at 45° N 8° E (EU JRC PVGIS; hourly air temperature, real months from
  2005-2023), the closest public climate year we have to the Plaine de l'Ain.

A home heated by gas, wood or a heating network ("other") gets the cooking and other uses
only (its hot water is assumed not electric either).
"""

from __future__ import annotations

import numpy as np

from pvshare.i18n import _

SOURCE = ("Modèle de référence : ADEME, Chiffres clés du bâtiment 2013 (données CEREN 2012) "
          "pour la consommation par usage ; INSEE (2,19 personnes et 91 m² par résidence "
          "principale) ; degrés-jours de chauffage base 18 °C de l'année météo type PVGIS "
          "(Commission européenne, JRC) à 45° N 8° E.")

USES_KWH_PER_YEAR = {"heating": 10542.0, "hot_water": 2054.0, "cooking": 1171.0,
                     "other": 3208.0}
AVERAGE_OCCUPANTS = 2.19
AVERAGE_SURFACE_M2 = 91.0
#: Heating degree-days (base 18 °C) per calendar month, PVGIS TMY 45° N 8° E.
HEATING_DEGREE_DAYS = np.array([397.0, 309.0, 287.0, 169.0, 35.0, 8.0, 0.0, 0.0, 16.0, 99.0,
                                351.0, 432.0])
HEATING = ("electric", "gas", "other")


def reference_annual_kwh(occupants: float | None = None, surface_m2: float | None = None,
                         heating: str = "other") -> dict[str, float]:
    """Yearly reference consumption by use, kWh/year, for a home like the one described.

    Parameters
    ----------
    occupants : float, optional
        Number of people (default: the French average, 2.19).
    surface_m2 : float, optional
        Living area, m² (default: 91 m²). Only used with electric heating.
    heating : {'electric', 'gas', 'other'}
        Main heating energy.

    Returns
    -------
    dict
        ``{'heating', 'hot_water', 'cooking', 'other'}`` in kWh/year (zeros for uses that are
        not electric).
    """
    if heating not in HEATING:
        raise ValueError(_("heating must be one of {choices}, got {value!r}").format(
            choices=HEATING, value=heating))
    occ = AVERAGE_OCCUPANTS if occupants is None else float(occupants)
    surf = AVERAGE_SURFACE_M2 if surface_m2 is None else float(surface_m2)
    people = occ / AVERAGE_OCCUPANTS
    electric = heating == "electric"
    return {
        "heating": USES_KWH_PER_YEAR["heating"] * surf / AVERAGE_SURFACE_M2 if electric else 0.0,
        "hot_water": USES_KWH_PER_YEAR["hot_water"] * people if electric else 0.0,
        "cooking": USES_KWH_PER_YEAR["cooking"] * people,
        "other": USES_KWH_PER_YEAR["other"] * people,
    }


def reference_monthly_kwh(months: np.ndarray, days: np.ndarray, uses: dict[str, float]
                          ) -> np.ndarray:
    """Reference consumption for given calendar months, kWh.

    Parameters
    ----------
    months : array of int, shape (M,)
        Calendar month 1..12 of each bar.
    days : array of float, shape (M,)
        Days covered in each month (a partial month gets a partial reference).
    uses : dict
        From :func:`reference_annual_kwh`.

    Returns
    -------
    numpy.ndarray, shape (M,)
        kWh: uses other than heating spread evenly over the 365 days; heating spread by the
        month's heating degree-days, pro rata of the days covered.
    """
    months = np.asarray(months, dtype=int)
    days = np.asarray(days, dtype=float)
    month_days = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[months - 1]
    flat = (uses["hot_water"] + uses["cooking"] + uses["other"]) * days / 365.25
    heat = uses["heating"] * HEATING_DEGREE_DAYS[months - 1] / HEATING_DEGREE_DAYS.sum() \
        * days / month_days
    return flat + heat
