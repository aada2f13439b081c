"""Bills on hand-computed cases: integer cents, largest remainders, lines adding up."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvshare.billing.bill import compute_bills, largest_remainder, quantities_from_steps
from pvshare.billing.prices import Price, offpeak_mask, parse_hour_ranges, price_index
from tests.pmo_support import make_site

PVSHARE = str(Path(sys.executable).with_name("pvshare"))


def test_largest_remainder_by_hand():
    # 123.45 + 10.01 + 33.33 = 166.79 → 167; floors 166, one cent to the largest (.45).
    assert largest_remainder(np.array([123.45, 10.01, 33.33])).tolist() == [124, 10, 33]
    # 49.628 + 22.4024 + 17.9992 = 90.0296 → 90; floors 88, two cents: .9992 then .628.
    assert largest_remainder(np.array([49.628, 22.4024, 17.9992])).tolist() == [50, 22, 18]
    assert largest_remainder(np.array([0.5])).tolist() == [1]          # half up


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=30))
def test_largest_remainder_adds_up_within_a_cent(values):
    exact = np.array(values)
    got = largest_remainder(exact)
    assert got.sum() == int(np.floor(exact.sum() + 0.5 + 1e-9))
    assert (np.abs(got - exact) < 1 + 1e-6).all()


def test_bill_from_the_store_by_hand(tmp_path):
    # June 2025. A 12.345 kWh, B 1.001 kWh, C 3.333 kWh (C joined on 16 June: half the
    # month, half the 1 € fee). Prices 0.10 €/kWh, excise 0.02 €/kWh, VAT 20 %, supplier
    # 0.20 €/kWh. Exact cents and their rounding, by hand:
    #   energy  123.45  10.01  33.33
    #   excise   24.69   2.002  6.666
    #   fee     100     100     50
    #   VAT (20 % of 248.14, 112.012, 89.996) = 49.628 22.4024 17.9992
    #   supplier 246.9  20.02  66.66
    # E's 0.205 kWh and F's nothing are billed too; the rounding is over all five lines.
    config = make_site(tmp_path)
    out = tmp_path / "bills.csv"
    # B's consumption is missing on one step of the month's 1440: refused without the flag.
    r = subprocess.run([PVSHARE, "bill", "--config", str(config), "--month", "2025-06",
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "B 0.1 % missing (1 of 1440 steps)" in r.stderr, r.stderr
    assert "--allow-incomplete" in r.stderr and not out.exists()
    r = subprocess.run([PVSHARE, "bill", "--config", str(config), "--month", "2025-06",
                        "--out", str(out), "--allow-incomplete"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        lines = {row["participant"]: row for row in csv.DictReader(f)}
    assert set(lines) == {"A", "B", "C", "E", "F"}
    # 1439 of 1440 steps measured: 99.93 %, shown rounded down so that 100.0 means all.
    assert {p: row["completeness_percent"] for p, row in lines.items()} == {
        "A": "100.0", "B": "99.9", "C": "100.0", "E": "100.0", "F": "100.0"}
    a, b, c = lines["A"], lines["B"], lines["C"]
    assert a["source"] == "pvshare" and a["kwh_selfconsumed"] == "12.345"
    assert (a["from"], a["to"]) == ("2025-06-01", "2025-07-01")
    assert (c["from"], c["to"]) == ("2025-06-16", "2025-07-01")        # C's own days
    # With E (0.205 kWh: energy 2.05, excise 0.41, fee 100, VAT 20.492, supplier 4.1) and
    # F (0 kWh: fee 100, VAT 20) in the operation, the totals and remainders are:
    #   energy 168.84 → 169: floors 123 10 33 2 0 = 168, +1 to A (.45)
    #   excise 33.768 → 34: floors 24 2 6 0 0 = 32, +1 A (.69), +1 C (.666)
    #   fee 450; VAT 130.5216 → 131: floors 49 22 17 20 20 = 128, +3: C .9992, A .628, E .492
    #   supplier 337.68 → 338: floors 246 20 66 4 0 = 336, +2: A .9, C .66
    def cents(row, *keys):
        return [int(row[k]) for k in keys]
    keys = ("energy_cents", "excise_cents", "fee_cents", "vat_cents", "supplier_cents")
    assert cents(a, *keys) == [124, 25, 100, 50, 247]
    assert cents(b, *keys) == [10, 2, 100, 22, 20]
    assert cents(c, *keys) == [33, 7, 50, 18, 67]
    assert cents(lines["E"], *keys) == [2, 0, 100, 21, 4]
    assert cents(lines["F"], *keys) == [0, 0, 100, 20, 0]
    for row in lines.values():
        assert int(row["before_tax_cents"]) == sum(cents(row, *keys[:3]))
        assert int(row["total_cents"]) == int(row["before_tax_cents"]) + int(row["vat_cents"])
        assert int(row["saving_cents"]) == int(row["supplier_cents"]) - int(row["total_cents"])
    assert sum(int(r["total_cents"]) for r in lines.values()) == 169 + 34 + 450 + 131
    assert "pvshare" in r.stdout and "7,84 €" in r.stdout


def test_peak_offpeak_and_a_price_change():
    tz = "Europe/Paris"
    # 22:00-06:00 local is off-peak. 2025-06-10T21:00Z = 23:00 local (off-peak);
    # 10:00Z = 12:00 local (peak). A new price from 2025-06-11.
    times = np.array(["2025-06-10T10:00:00", "2025-06-10T21:00:00", "2025-06-11T10:00:00"],
                     dtype="datetime64[s]")
    hours = tuple(parse_hour_ranges(["22:00-06:00"]))
    assert offpeak_mask(times, hours, tz).tolist() == [False, True, False]
    p1 = Price(dt.date(2025, 1, 1), 0.15, 0.05, hours, 20.0, 0.0, 0.0, 0.2)
    p2 = Price(dt.date(2025, 6, 11), 0.10, 0.10, (), 5.5, 0.0, 0.0, 0.2)
    assert price_index(times, [p1, p2], tz).tolist() == [0, 0, 1]
    autocons = np.array([[1000.0], [2000.0], [3000.0]])
    q = quantities_from_steps(times, autocons, np.ones((3, 1), bool), [p1, p2], 1440, tz)
    assert [(x.price, x.wh_peak, x.wh_offpeak) for x in q] == [(0, 1000, 2000), (1, 3000, 0)]
    bills = compute_bills(q, [p1, p2], ["A"], ["30000000000001"], "pvshare")
    # Line 1: 1 kWh × 15 c + 2 kWh × 5 c = 25 c, VAT 20 % = 5 c.
    # Line 2: 3 kWh × 10 c = 30 c, VAT 5.5 % = 1.65 c; VAT total 6.65 → 7: floors 5 + 1,
    # one more to line 2 (.65).
    assert [(x["energy_cents"], x["vat_cents"], x["total_cents"]) for x in bills.lines] == \
        [(25, 5, 30), (30, 2, 32)]
    assert bills.lines[0]["to"] == "2025-06-11" and bills.lines[1]["from"] == "2025-06-11"


def test_bill_needs_prices(tmp_path):
    from tests.pmo_support import CONFIG
    text = CONFIG.split("[[prices]]")[0] + "[[participants]]" + CONFIG.split("[[participants]]", 1)[1]
    config = make_site(tmp_path, text)
    r = subprocess.run([PVSHARE, "bill", "--config", str(config), "--month", "2025-06",
                        "--out", str(tmp_path / "b.csv")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "[[prices]]" in r.stderr
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize("bad,message", [
    ('energy_eur_per_kwh = 0.10', "needs energy_eur_per_kwh"),
])
def test_price_config_errors(tmp_path, bad, message):
    from pvshare.config import load_config
    from pvshare.errors import ConfigError
    from tests.pmo_support import CONFIG
    path = tmp_path / "site.toml"
    path.write_text(CONFIG.replace(bad, 'offpeak_hours = ["25:00-06:00"]'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(p.startswith("prices[0]") for p in info.value.problems), info.value.problems
