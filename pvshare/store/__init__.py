"""The embedded store (SQLite, system of record) and the outbox towards InfluxDB.

See :mod:`pvshare.store.db` for the API (:class:`Store`), :mod:`pvshare.store.schema` for the
tables and migrations, :mod:`pvshare.store.lineproto` for the InfluxDB measurements and line
format, :mod:`pvshare.store.forwarder` for their delivery, and :mod:`pvshare.store.export`
and :mod:`pvshare.store.admin` for what ``pvshare export`` and ``pvshare store`` do.
"""

from pvshare.store.db import (
                              Allocation,
                              Forecast,
                              NoStore,
                              ReadingArrays,
                              Store,
                              StoreError,
                              StoreGone,
)
from pvshare.store.schema import SCHEMA_VERSION

__all__ = ["Allocation", "Forecast", "NoStore", "ReadingArrays", "SCHEMA_VERSION", "Store",
           "StoreError", "StoreGone"]
