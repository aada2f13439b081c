"""Tenant statements carry the bill's amounts (the same billing code as ``pvshare bill``), and
``pvshare report tenant --format json`` gives the statement's figures for other tools.

The operation is the constructed June 2025 of tests/pmo_support.py (hand-computed bills in
tests/test_bill.py); the Enedis file is tests/fixtures/enedis_pmo/enedis_rows_2025-06.csv.
"""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest

from tests.pmo_support import CONFIG, make_site
from tests.report_support import figure_texts, figures, pvshare

MONTH = "2025-06"
ROWS = Path(__file__).parent / "fixtures" / "enedis_pmo" / "enedis_rows_2025-06.csv"
AMOUNTS = ("energy_cents", "excise_cents", "fee_cents", "before_tax_cents", "vat_cents",
           "total_cents", "supplier_cents", "saving_cents")


def _run(*args):
    r = pvshare(*args, timeout=180)
    assert r.returncode == 0, r.stderr
    return r


def _bill_csv(config: Path, out: Path, *extra) -> dict[str, list[dict]]:
    _run("bill", "--config", config, "--month", MONTH, "--out", out, "--allow-incomplete",
         *extra)
    lines: dict[str, list[dict]] = {}
    with open(out, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            lines.setdefault(row["participant"], []).append(row)
    return lines


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    config = make_site(folder)
    out = folder / "json"
    _run("report", "tenant", "--config", config, "--month", MONTH, "--all", "--format", "json",
         "--out", out)
    records = {p.name.split("-")[1]: json.loads(p.read_text(encoding="utf-8"))
               for p in out.glob("releve-*.json")}
    return folder, config, out, records


def test_json_amounts_are_the_bill_csv_lines(site):
    folder, config, _, records = site
    bills = _bill_csv(config, folder / "bills.csv")
    assert set(records) == set(bills) == {"A", "B", "C", "E", "F"}
    for pid, rec in records.items():
        assert rec["participant"] == pid and rec["month"] == MONTH
        assert rec["source"] == "pvshare" and rec["bill"]["source"] == "pvshare"
        (line,) = bills[pid]                                 # one price, one line each
        (jline,) = rec["bill"]["lines"]
        assert (jline["from"], jline["to"]) == (line["from"], line["to"])
        assert jline["kwh_selfconsumed"] == float(line["kwh_selfconsumed"])
        for k in AMOUNTS:
            assert jline[k] == int(line[k]) == rec["bill"][k], (pid, k)
    # The hand-computed lines of tests/test_bill.py: A 124 + 25 + 100 = 249 before tax,
    # VAT 50, total 299, supplier 247, saving -52.
    a = records["A"]["bill"]
    assert (a["before_tax_cents"], a["vat_cents"], a["total_cents"], a["saving_cents"]) == \
        (249, 50, 299, -52)
    assert sum(r["bill"]["total_cents"] for r in records.values()) == 169 + 34 + 450 + 131


def test_json_energies_equal_the_export_sums(site):
    folder, config, _, records = site
    out = folder / "alloc.csv"
    _run("export", "--config", config, "--what", "allocation", "--from", "2025-06-01",
         "--to", "2025-07-01", "--out", out)
    cons: dict[str, float] = {}
    auto: dict[str, float] = {}
    days: dict[str, set] = {}
    with open(out, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            p = row["participant"]
            days.setdefault(p, set())
            if row["consumption_wh"] == "":                   # not measured (B, step s2)
                continue
            cons[p] = cons.get(p, 0.0) + float(row["consumption_wh"])
            auto[p] = auto.get(p, 0.0) + float(row["allocated_wh"])
    for pid, rec in records.items():
        assert rec["consumption_kwh"] == pytest.approx(cons[pid] / 1000, abs=1e-6), pid
        assert rec["autocons_kwh"] == pytest.approx(auto[pid] / 1000, abs=1e-6), pid
        assert sum(d["consumption_kwh"] for d in rec["daily"]) == \
            pytest.approx(rec["consumption_kwh"], abs=1e-6)
    # By hand (tests/pmo_support.py): A consumed 13 kWh and got 12.345 kWh from the roof.
    a = records["A"]
    assert (a["consumption_kwh"], a["autocons_kwh"]) == (13.0, 12.345)
    assert a["complement_kwh"] == pytest.approx(0.655) and a["share"] == pytest.approx(
        12.345 / 13, abs=1e-6)
    assert a["period"] == {"from": "2025-06-01", "to": "2025-07-01"} and len(a["daily"]) == 30


def test_json_covers_the_tenants_own_days_and_is_private(site):
    _, _, out, records = site
    c = records["C"]                                          # joined on 16 June
    assert c["period"] == {"from": "2025-06-16", "to": "2025-07-01"}
    assert [d["date"] for d in c["daily"]][:2] == ["2025-06-16", "2025-06-17"]
    assert len(c["daily"]) == 15
    day20 = next(d for d in c["daily"] if d["date"] == "2025-06-20")
    assert (day20["consumption_kwh"], day20["autocons_kwh"]) == (3.333, 3.333)
    assert c["bill"]["fee_cents"] == 50                       # half the month's 1 € fee
    for p in out.glob("*.json"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert not list(out.glob(".*.tmp"))


def test_page_shows_the_bill_amounts_and_their_source(site, tmp_path):
    folder, config, _, _ = site
    _run("report", "tenant", "--config", config, "--month", MONTH, "--participant", "C",
         "--format", "html", "--out", tmp_path)
    html = (tmp_path / f"releve-C-{MONTH}.html").read_text(encoding="utf-8")
    got = figures(html)
    # C's line (tests/test_bill.py): 3.333 kWh; before tax 90 c, VAT 18 c, total 108 c,
    # saving 67 - 108 = -41 c.
    assert (got["bill_kwh"], got["bill_before_tax_eur"], got["bill_vat_eur"],
            got["bill_total_eur"], got["bill_saving_eur"]) == (3.333, 0.90, 0.18, 1.08, -0.41)
    assert got["saved_eur"] == -0.41
    assert "mesures de pvshare" in html and "du 16 juin 2025 au 30 juin 2025" in html
    assert "cost_eur" not in figure_texts(html)


def test_statement_on_enedis_figures(site, tmp_path):
    folder, config, _, _ = site
    only = CONFIG.split("[[participants]]")
    text = only[0] + "".join("[[participants]]" + b for b in only[1:]
                             if any(f'id = "{i}"' in b for i in "ACE"))
    sub = tmp_path / "ace"
    sub.mkdir()
    config = make_site(sub, text)
    bills = _bill_csv(config, sub / "bills.csv", "--enedis", ROWS)
    _run("report", "tenant", "--config", config, "--month", MONTH, "--all", "--format", "json",
         "--out", sub / "json", "--enedis", ROWS)
    _run("report", "tenant", "--config", config, "--month", MONTH, "--participant", "A",
         "--format", "html", "--out", sub / "html", "--enedis", ROWS)
    for pid in "ACE":
        rec = json.loads((sub / "json" / f"releve-{pid}-{MONTH}.json").read_text())
        assert rec["source"] == "enedis"
        (line,) = bills[pid]
        assert line["source"] == "enedis"
        for k in AMOUNTS:
            assert rec["bill"][k] == int(line[k]), (pid, k)
    # Enedis's AUTOCONS for A is 12.36 kWh (pvshare measured 12.345): billed on Enedis's.
    a = json.loads((sub / "json" / f"releve-A-{MONTH}.json").read_text())
    assert a["bill"]["kwh_selfconsumed"] == 12.36 and a["autocons_kwh"] == 12.345
    html = (sub / "html" / f"releve-A-{MONTH}.html").read_text(encoding="utf-8")
    assert "chiffres d'Enedis" in html and figures(html)["bill_kwh"] == 12.36


def test_without_prices_no_bill_and_no_euros(tmp_path):
    text = CONFIG.split("[[prices]]")[0] + "[[participants]]" + \
        CONFIG.split("[[participants]]", 1)[1]
    config = make_site(tmp_path, text)
    _run("report", "tenant", "--config", config, "--month", MONTH, "--participant", "A",
         "--format", "json", "--out", tmp_path / "out")
    rec = json.loads((tmp_path / "out" / f"releve-A-{MONTH}.json").read_text())
    assert rec["bill"] is None and rec["source"] == "pvshare"
    _run("report", "tenant", "--config", config, "--month", MONTH, "--participant", "A",
         "--format", "html", "--out", tmp_path / "out")
    got = figures((tmp_path / "out" / f"releve-A-{MONTH}.html").read_text(encoding="utf-8"))
    assert "bill_total_eur" not in got and "saved_eur" not in got   # no price, no euro
    assert rec["saving_cents"] is None and rec["autocons_wh"] == 12345
    r = pvshare("report", "tenant", "--config", config, "--month", MONTH, "--participant", "A",
                "--format", "json", "--out", tmp_path / "out", "--enedis", ROWS)
    assert r.returncode == 2 and "[[prices]]" in r.stderr
