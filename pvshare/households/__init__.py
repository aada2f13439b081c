"""The energy advisor's caseload (issue 22): a register of households followed over the
years, what each visit changed, and the caseload report for the association's funders.

- :mod:`pvshare.households.register`: the register folder (households, visits, merged
  Enedis curves), read and written by the shell (``pvshare households …``);
- :mod:`pvshare.households.followup`: the pure core of "what a visit changed" (daily kWh
  against heating degree days, before and after);
- :mod:`pvshare.households.weather`: the daily temperatures behind the degree days;
- :mod:`pvshare.households.caseload`: the caseload report (figures, CSV, JSON, pages).
"""
