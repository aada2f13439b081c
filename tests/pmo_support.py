"""A small operation for the PMO's month tests: a config, a store with a constructed June
2025, and Enedis's figures for it (see tests/test_bill.py and tests/test_enedis_reconcile.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvshare.store.db import Store

CONFIG = '''
[site]
name = "test-pmo"
latitude = 45.9
longitude = 5.3

[producer]
prm = "30000000000099"

[array]
kwp = 9.0
tilt_deg = 15
azimuth_deg = 180

[operation]
id = "00000001"
key_decimals = 1

[store]
path = "pvshare.db"

[[prices]]
from = 2025-01-01
energy_eur_per_kwh = 0.10
vat_percent = 20
excise_eur_per_kwh = 0.02
monthly_fee_eur = 1.00
supplier_eur_per_kwh = 0.20

[[participants]]
id = "A"
prm = "30000000000001"

[[participants]]
id = "B"
prm = "30000000000002"

[[participants]]
id = "C"
prm = "30000000000003"
from = 2025-06-16

[[participants]]
id = "E"
prm = "30000000000005"

[[participants]]
id = "F"
prm = "30000000000006"
'''

#: June 2025, UTC step starts: s1..s5 on 2 June from 10:00 (12:00 local), s6 on 20 June.
S = [np.datetime64("2025-06-02T10:00:00") + np.timedelta64(30 * k, "m") for k in range(5)]
S.append(np.datetime64("2025-06-20T10:00:00"))
STEPS_S = np.array(S, dtype="datetime64[s]").astype(np.int64)
IDS = ["A", "B", "C", "E", "F"]
NAN = np.nan
PRODUCTION = np.full(6, 20000.0)
#                 A      B     C     E    F
CONSUMPTION = np.array([
    [13000, 1001, 0, 100, 0],
    [0, NAN, 0, 100, 0],
    [0, 0, 0, 100, 0],
    [0, 0, 0, 100, 0],
    [0, 0, 0, 100, 0],
    [0, 0, 3333, 0, 0]], dtype=float)
ALLOCATED = np.array([
    [12345, 1001, 0, 41, 0],
    [0, 0, 0, 41, 0],
    [0, 0, 0, 41, 0],
    [0, 0, 0, 41, 0],
    [0, 0, 0, 41, 0],
    [0, 0, 3333, 0, 0]], dtype=float)


def make_site(folder: Path, config: str = CONFIG) -> Path:
    """Write the config and a store holding the constructed month; return the config path."""
    path = folder / "site.toml"
    path.write_text(config, encoding="utf-8")
    # Every step of June is stored (zeros), the six steps above with their values.
    june = np.arange(np.datetime64("2025-05-31T22:00:00"), np.datetime64("2025-06-30T22:00:00"),
                     np.timedelta64(30, "m")).astype("datetime64[s]").astype(np.int64)
    idx = np.searchsorted(june, STEPS_S)
    prod = np.zeros(len(june))
    cons = np.zeros((len(june), len(IDS)))
    alloc = np.zeros((len(june), len(IDS)))
    prod[idx], cons[idx], alloc[idx] = PRODUCTION, CONSUMPTION, ALLOCATED
    store = Store.open(folder / "pvshare.db")
    try:
        store.write_allocation(june, IDS, prod, cons, alloc, np.isnan(cons).any(axis=1),
                               "static")
    finally:
        store.close()
    return path
