"""The embedded store (SQLite, system of record) and the outbox towards InfluxDB.

See :mod:`pvshare.store.db` for the API (:class:`Store`), :mod:`pvshare.store.schema` for the
tables and migrations, and :mod:`pvshare.store.lineproto` for the InfluxDB measurements.
"""

from pvshare.store.db import Allocation, Forecast, ReadingArrays, Store, StoreError
from pvshare.store.schema import SCHEMA_VERSION

__all__ = ["Allocation", "Forecast", "ReadingArrays", "SCHEMA_VERSION", "Store", "StoreError"]
