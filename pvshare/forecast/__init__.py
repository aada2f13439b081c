"""Forecast of the rooftop production.

- :mod:`pvshare.forecast.model`: the array as pvlib sees it (location, PVWatts system, clear
  sky, AC power from weather, energy per step).

Importing this package imports nothing heavy: pandas and pvlib are loaded only by the
submodules that need them, so that the long-running daemon can stay small.
"""
