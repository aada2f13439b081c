"""The tenants' web pages: ``pvshare web``.

A small server-rendered web application, in its own process, that reads the daemon's store
**read-only** (SQLite WAL readers never block the daemon) and shows each tenant, through a
private link, their share of the roof now, today, the green hours to come and this month;
and the building's page for the association and the landlord (PMO).

- :mod:`.links`: private links (random tokens stored hashed, revocation);
- :mod:`.data`: the figures, read from the store for every participant at once;
- :mod:`.app`: the Starlette application (pages, JSON, security headers, rate limiting);
- :mod:`.serve`: starting it under uvicorn, loopback only unless told otherwise.
"""
