"""One set of numbers: for any month, participants, periods and prices, every output shows a
tenant the same figures, to the Wh and the cent.

Hypothesis draws a month (DST months included), 2 to 4 participants with their periods, one
or two dated prices (flat or peak/off-peak, VAT, excise, fee), and a month of data with
missing steps and missing consumptions. A real store and a real config are written; then
each output is produced by its real code path and read back from what it wrote:
``pvshare bill``'s CSV, the statement's JSON and HTML, the web page's JSON and HTML, the
building report's JSON and HTML, and ``pvshare export --what figures``'s CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.billing.bill import saving_of_kwh
from pvshare.billing.prices import Price
from tests.report_support import figures, parse_fr

TZ = ZoneInfo("Europe/Paris")
IDS = ["P1", "P2", "P3", "P4"]


@st.composite
def prices(draw, month: dt.date) -> list[str]:
    """One or two [[prices]] entries, the second possibly starting inside the month."""
    n = draw(st.integers(1, 2))
    starts = [dt.date(2024, 1, 1)]
    if n == 2:
        starts.append(month + dt.timedelta(days=draw(st.integers(1, 27))))
    out = []
    money = st.integers(0, 3000).map(lambda x: x / 10000)        # 0 to 0.30 €, 4 decimals
    for start in starts:
        lines = [f"from = {start.isoformat()}"]
        if draw(st.booleans()):
            lines.append(f"energy_eur_per_kwh = {draw(money)}")
        else:
            lines += [f"peak_eur_per_kwh = {draw(money)}", f"offpeak_eur_per_kwh = {draw(money)}",
                      'offpeak_hours = ["22:00-06:00", "12:30-14:00"]']
        lines += [f"vat_percent = {draw(st.sampled_from([0, 5.5, 20]))}",
                  f"excise_eur_per_kwh = {draw(st.integers(0, 300)) / 10000}",
                  f"monthly_fee_eur = {draw(st.integers(0, 500)) / 100}",
                  f"supplier_eur_per_kwh = {draw(money)}"]
        out.append("[[prices]]\n" + "\n".join(lines) + "\n")
    return out


@st.composite
def operations(draw):
    month = draw(st.sampled_from([dt.date(2025, 2, 1), dt.date(2025, 3, 1),
                                  dt.date(2025, 6, 1), dt.date(2025, 10, 1)]))
    n = draw(st.integers(2, 4))
    parts = []
    for i in range(n):
        lines = [f'id = "{IDS[i]}"', f'prm = "3000000000000{i + 1}"']
        if draw(st.booleans()):                          # joins or leaves during the month
            day = draw(st.integers(2, 27))
            bound = "from" if draw(st.booleans()) else "to"
            lines.append(f"{bound} = {(month + dt.timedelta(days=day - 1)).isoformat()}")
        parts.append("[[participants]]\n" + "\n".join(lines) + "\n")
    return {"month": month, "n": n, "participants": parts,
            "prices": draw(prices(month)) if draw(st.integers(0, 4)) else [],
            "seed": draw(st.integers(0, 2**32 - 1)),
            "missing": draw(st.sampled_from([0.0, 0.01, 0.3])),
            "unstored": draw(st.sampled_from([0.0, 0.05]))}


CONFIG = '''
[site]
name = "prop"
latitude = 45.9
longitude = 5.3

[producer]
prm = "30000000000099"

[array]
kwp = 9.0
tilt_deg = 15
azimuth_deg = 180

[store]
path = "pvshare.db"

'''


def make_site(folder: Path, op) -> Path:
    from pvshare.store.db import Store
    path = folder / "site.toml"
    path.write_text(CONFIG + "".join(op["prices"]) + "".join(op["participants"]),
                    encoding="utf-8")
    m = op["month"]
    a = int(dt.datetime(m.year, m.month, 1, tzinfo=TZ).timestamp())
    nxt = dt.date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    b = int(dt.datetime(nxt.year, nxt.month, 1, tzinfo=TZ).timestamp())
    t = np.arange(a, b, 1800, dtype=np.int64)
    rng = np.random.default_rng(op["seed"])
    n = op["n"]
    prod = np.round(rng.uniform(0, 4000, len(t)) * (rng.random(len(t)) < 0.5), 3)
    cons = np.round(rng.uniform(0, 900, (len(t), n)), 3)
    cons[rng.random(cons.shape) < op["missing"]] = np.nan
    alloc = np.where(np.isnan(cons), 0.0, np.minimum(np.nan_to_num(cons), prod[:, None] / n))
    alloc = np.round(alloc, 3)
    keep = rng.random(len(t)) >= op["unstored"]
    with Store.open(folder / "pvshare.db") as store:
        store.write_allocation(t[keep], IDS[:n], prod[keep], cons[keep], alloc[keep],
                               np.isnan(cons[keep]).any(axis=1), "prorata")
    return path


def _bill_csv(config: Path, month: str, out: Path) -> dict[str, dict]:
    from pvshare.billing.month import bill_month
    from pvshare.config import load_config
    bill_month(load_config(config), month, out, allow_incomplete=True)
    got: dict[str, dict] = {}
    with open(out, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            g = got.setdefault(row["participant"], {"wh": 0, "total": 0, "saving": 0,
                                                    "steps": []})
            g["wh"] += round(1000 * float(row["kwh_selfconsumed"]))
            g["total"] += int(row["total_cents"])
            g["saving"] += int(row["saving_cents"])
    return got


def _web(config: Path, month: str, after_s: int):
    """The web page's JSON and HTML of every participant, as at ``after_s`` (next month:
    the drawn month is then among the previous months, whole).
    """
    from pvshare.config import load_config
    from pvshare.web import views
    from pvshare.web.data import StoreReader, site_from_config
    from pvshare.web.templating import templates
    cfg = load_config(config)
    site = site_from_config(cfg)
    reader = StoreReader(cfg.relative(cfg.store.path), site)
    try:
        snap = reader.snapshot(after_s)
    finally:
        reader.close()
    out = {}
    for pid in site.participant_ids:
        data = json.loads(json.dumps(views.tenant_figures(snap, site, pid)))
        html = templates().get_template("tenant.html").render(
            **views.tenant_context(snap, site, pid))
        out[pid] = (next((x for x in data["months"] if x["month"] == month), None), html)
    return out


def _web_row(html: str, month_label: str) -> list[str] | None:
    for row in re.findall(r"<tr><td>([^<]*)</td>(.*?)</tr>", html, re.S):
        if row[0] == month_label:
            return re.findall(r"<td>([^<]*)</td>", row[1])
    return None


def _building(config: Path, month: str, out: Path):
    from pvshare.reports.run import building_report
    building_report(config, out, "json", month=month)
    rec = json.loads((out / f"bilan-immeuble-{month}.json").read_text(encoding="utf-8"))
    building_report(config, out, "html", month=month)
    html = (out / f"bilan-immeuble-{month}.html").read_text(encoding="utf-8")
    rows = {}
    for pid, body in re.findall(r'<tr data-participant="([^"]+)">(.*?)</tr>', html, re.S):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", body,
                                                               re.S)]
        rows[pid] = cells[2:]
    return rec, rows, figures(html)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(operations())
def test_every_output_shows_the_same_figures(op):
    from pvshare.reports.fmt import month_name
    from pvshare.reports.run import tenant_reports
    from pvshare.store.export import export_store
    month = op["month"].strftime("%Y-%m")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = make_site(folder, op)
        priced = bool(op["prices"])
        # the statements: JSON for all, HTML for all
        tenant_reports(config, month, folder / "st", "json", all_participants=True)
        tenant_reports(config, month, folder / "st", "html", all_participants=True)
        # export --what figures
        export_store(config, "figures", f"{month}-01", f"{month}-02", "csv", folder / "f.csv")
        with open(folder / "f.csv", encoding="utf-8") as f:
            exported = {r["participant"]: r for r in csv.DictReader(f)}
        bills = _bill_csv(config, month, folder / "b.csv") if priced else {}
        rec, brows, bfig = _building(config, month, folder / "bu")
        nxt = op["month"].replace(day=28) + dt.timedelta(days=5)
        web = _web(config, month, int(dt.datetime(nxt.year, nxt.month, 2, tzinfo=TZ).timestamp()))
        bjson = {p["participant"]: p for p in rec["participants"]}
        for pid in IDS[:op["n"]]:
            s = json.loads((folder / "st" / f"releve-{pid}-{month}.json").read_text())
            html = (folder / "st" / f"releve-{pid}-{month}.html").read_text(encoding="utf-8")
            sh = figures(html)
            e, b = exported[pid], bjson[pid]
            wh = {"consumption_wh": s["consumption_wh"], "autocons_wh": s["autocons_wh"],
                  "complement_wh": s["complement_wh"]}
            # statement JSON = export CSV = building JSON, to the Wh
            for k, v in wh.items():
                assert int(e[k]) == b[k] == v, (pid, k)
            assert s["complement_wh"] == s["consumption_wh"] - s["autocons_wh"]
            # the statement's page and the building's table: the same Wh
            assert round(1000 * sh["consumed_kwh"]) == s["consumption_wh"]
            assert round(1000 * sh["autocons_kwh"]) == s["autocons_wh"]
            assert round(1000 * sh["complement_kwh"]) == s["complement_wh"]
            assert [round(1000 * parse_fr(c)) for c in brows[pid][:3]] == list(wh.values())
            # completeness: one figure everywhere
            comp = s["completeness_percent"]
            assert float(e["completeness_percent"]) == b["completeness_percent"] == comp
            assert sh["completeness_percent"] == comp
            assert parse_fr(brows[pid][-1]) == comp
            # money: the bill CSV = statement JSON/HTML = export = building JSON/HTML
            if priced and s["measured_steps"] + s["steps"] and pid in bills:
                bl = bills[pid]
                assert bl["wh"] == s["autocons_wh"] == round(1000 * s["bill"]["kwh_selfconsumed"])
                assert bl["total"] == s["total_cents"] == int(e["total_cents"]) == b["total_cents"]
                assert bl["saving"] == s["saving_cents"] == int(e["saving_cents"]) == \
                    b["saving_cents"]
                assert round(100 * sh["saved_eur"]) == bl["saving"]
                assert round(100 * sh["bill_total_eur"]) == bl["total"]
                assert round(100 * parse_fr(brows[pid][4])) == bl["saving"]
            elif not priced:
                assert s["saving_cents"] is None and e["saving_cents"] == ""
                assert "saved_eur" not in sh and brows[pid][4] == "—"
            # the web page (the drawn month among the previous months)
            wj, whtml = web[pid]
            if s["measured_steps"] == 0:
                assert wj is None
                continue
            assert (wj["consumption_wh"], wj["autocons_wh"], wj["complement_wh"]) == \
                tuple(wh.values())
            assert wj["completeness_percent"] == comp
            assert wj["saving_cents"] == s["saving_cents"]
            assert wj["total_cents"] == s["total_cents"]
            cells = _web_row(whtml, month_name(op["month"].year, op["month"].month))
            assert cells is not None
            assert round(1000 * parse_fr(cells[0])) == s["autocons_wh"]
            if priced:
                assert round(100 * parse_fr(cells[2])) == s["saving_cents"]
        # the operation's totals: the building's = the sums of the bills
        t = rec["totals"]
        assert t["autocons_wh"] == sum(p["autocons_wh"] for p in rec["participants"])
        if priced:
            assert t["saving_cents"] == sum(x["saving"] for x in bills.values())
            assert round(100 * bfig["saved_eur"]) == t["saving_cents"]


def test_saving_of_kwh_is_the_bills_definition():
    # 10 kWh at 0.10 € + 0.02 € excise, VAT 20 %: 144 cents; supplier 0.194 €: 194 cents.
    p = Price(dt.date(2025, 1, 1), 0.10, 0.10, (), 20.0, 0.02, 5.0, 0.194)
    assert saving_of_kwh(p, 10.0) == 194 - 144                  # no share of the 5 € fee
