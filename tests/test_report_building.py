"""Building report: sample year (month and year) and a real store with gaps and a forecast."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from pvshare.billing.figures import Terms, month_figures
from pvshare.billing.month import Month
from pvshare.reports.building import analyse_building
from tests.report_support import CONFIG, figure_texts, figures, parse_fr, pdf_text, pvshare
from tests.test_report_tenant import sample, store_config  # noqa: F401  (fixture, helper)


def _rows(html: str) -> dict[str, list[float]]:
    out = {}
    for pid, body in re.findall(r'<tr data-participant="([^"]+)">(.*?)</tr>', html, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        out[pid] = [parse_fr(re.sub(r"<[^>]+>", "", c)) for c in cells[2:]]
    return out


@pytest.mark.parametrize("period", ["2025-06", "2025"])
def test_building_figures_match_an_independent_computation(tmp_path, sample, period):  # noqa: F811
    _, prod, cons, alloc = sample
    flag = "--month" if len(period) == 7 else "--year"
    r = pvshare("report", "building", "--config", CONFIG, flag, period, "--out", tmp_path,
                "--sample-year")
    assert r.returncode == 0, r.stderr
    html = (tmp_path / f"bilan-immeuble-{period}.html").read_text(encoding="utf-8")
    p = prod.loc[period].sum() / 1000
    a = alloc.loc[period].sum() / 1000
    c = cons.loc[period].sum() / 1000
    got = figures(html)
    assert got["production_kwh"] == pytest.approx(p, abs=0.51)
    assert got["autoprod_kwh"] == pytest.approx(a.sum(), abs=0.51)
    assert got["surplus_kwh"] == pytest.approx(p - a.sum(), abs=0.51)
    assert got["consumption_kwh"] == pytest.approx(c.sum(), abs=0.51)
    assert got["self_consumption_percent"] == pytest.approx(100 * a.sum() / p, abs=0.051)
    assert got["self_sufficiency_percent"] == pytest.approx(100 * a.sum() / c.sum(), abs=0.051)
    # The example's [[prices]]: 0.10 €/kWh before tax, VAT 20 %, supplier 0.194 €/kWh all
    # taxes included: each kWh from the roof saves 0.194 - 0.12 = 0.074 €.
    assert got["saved_eur"] == pytest.approx(a.sum() * 0.074, abs=0.51)
    rows = _rows(html)
    assert len(rows) == 48
    r = pvshare("report", "building", "--config", CONFIG, flag, period, "--out", tmp_path,
                "--sample-year", "--format", "json")
    assert r.returncode == 0, r.stderr
    rec = json.loads((tmp_path / f"bilan-immeuble-{period}.json").read_text(encoding="utf-8"))
    by_id = {x["participant"]: x for x in rec["participants"]}
    assert rec["totals"]["saving_cents"] == round(100 * got["saved_eur"])
    assert rec["totals"]["autocons_wh"] == sum(x["autocons_wh"] for x in rec["participants"])
    # Whole Wh per month: a year is the sum of its 12 months (each within 0.5 Wh).
    wh = 0.0005 * (1 if period == "2025-06" else 12) + 1e-6
    for pid in ("A01", "B12", "B24"):
        cons_kwh, auto_kwh, comp_kwh, ss, saved, complete = rows[pid]
        assert cons_kwh == pytest.approx(c[pid], abs=wh)
        assert auto_kwh == pytest.approx(a[pid], abs=wh)
        assert ss == pytest.approx(100 * a[pid] / c[pid], abs=0.051)
        # a month's saving is its bill's: supplier cost and bill lines each rounded to the
        # cent (half a cent each, at most 1.5 c a month); a year is the sum of 12 months
        assert saved == pytest.approx(a[pid] * 0.074, abs=0.015 * (12 if period == "2025"
                                                                   else 1))
        # The page's table and the JSON: the same Wh and cents.
        assert (round(1000 * auto_kwh), round(100 * saved)) == \
            (by_id[pid]["autocons_wh"], by_id[pid]["saving_cents"])
    # The sample year is UTC 2025: the local year misses its first hour (00:00-01:00).
    expected = 100.0 if period == "2025-06" else 100 * (17520 - 2) / 17520
    assert got["production_completeness_percent"] == pytest.approx(expected, abs=0.051)
    assert "25460000000012" in html                   # the PMO's table names the PRMs
    pdf = pdf_text(tmp_path / f"bilan-immeuble-{period}.pdf").replace("\u00a0", " ")
    for name in ("production_kwh", "autoprod_kwh", "self_consumption_percent"):
        assert figure_texts(html)[name].replace("\u00a0", " ") in pdf


def test_building_from_the_store_with_gaps_and_forecast(tmp_path, sample):  # noqa: F811
    cfg_path, t, keep, prod, cons, alloc = store_config(tmp_path, sample)
    r = pvshare("report", "building", "--config", cfg_path, "--month", "2025-06",
                "--out", tmp_path / "out", "--format", "html")
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "out" / "bilan-immeuble-2025-06.html").read_text(encoding="utf-8")
    got = figures(html)
    june = t >= 1748728800
    stored = june & keep
    assert got["production_kwh"] == pytest.approx(prod[stored].sum() / 1000, abs=0.51)
    assert got["production_completeness_percent"] == pytest.approx(100 * 1436 / 1440, abs=0.051)
    measured = (~np.isnan(cons[stored])).sum()
    assert got["consumption_completeness_percent"] == pytest.approx(
        100 * measured / (1440 * 48), abs=0.051)
    fc = prod[june].sum() * 0.9 / 1000
    assert got["forecast_kwh"] == pytest.approx(fc, abs=0.51)
    assert got["forecast_error_percent"] == pytest.approx(
        abs(100 * (prod[stored].sum() / 1000 - fc) / fc), abs=0.051)
    # Every tenant misses the 4 unstored steps; A05 also its 10 unmeasured ones.
    assert "Aucun logement n'est mesuré sur toute la période" in html
    rows = _rows(html)
    assert rows["A05"][-1] == pytest.approx(100 * 1426 / 1440, abs=0.051)
    assert rows["A06"][-1] == pytest.approx(100 * 1436 / 1440, abs=0.051)


def test_analysis_invariants_on_random_data():
    rng = np.random.default_rng(3)
    T, N = 48 * 31, 6
    t = np.datetime64("2025-01-01T00:00", "s") + np.arange(T) * np.timedelta64(1800, "s")
    prod = rng.uniform(0, 3000, T)
    cons = rng.uniform(0, 800, (T, N))
    alloc = np.minimum(cons, prod[:, None] / N)

    class P:
        def __init__(self, i):
            self.id, self.prm, self.name = f"P{i}", f"{i:014d}", None

    terms = Terms("UTC", "PT30M", tuple(f"P{i}" for i in range(N)),
                  tuple(f"{i:014d}" for i in range(N)), (-(2**62),) * N, (2**62,) * N)
    m = Month("2025-01", t, np.ones(T, bool), prod, cons, alloc, np.ones((T, N), bool),
              list(terms.participants), list(terms.prms))
    b = analyse_building(t, prod, cons, alloc, [P(i) for i in range(N)], start=t[0],
                         end=t[-1] + np.timedelta64(1800, "s"), step_s=1800,
                         figures=[month_figures(terms, m)], period="2025-01", tz="UTC")
    assert b.autoprod_kwh <= b.production_kwh + 1e-9
    assert b.surplus_kwh == pytest.approx(b.production_kwh - b.autoprod_kwh)
    assert sum(r.consumed_kwh for r in b.rows) == pytest.approx(b.consumption_kwh)
    assert b.series_prod_kwh.sum() == pytest.approx(b.production_kwh, abs=0.0005)
    assert b.series_auto_kwh.sum() == pytest.approx(b.autoprod_kwh, abs=0.0005 * N)
    assert b.saved_eur is None and all(r.saved_eur is None for r in b.rows)  # no prices
    assert b.series_labels.dtype == np.dtype("datetime64[D]")


def test_an_empty_store_gives_a_clear_message_not_a_report_of_zeros(tmp_path):
    from pvshare.store import Store
    db = tmp_path / "empty.db"
    Store.open(db).close()
    text = CONFIG.read_text(encoding="utf-8").replace('path = "pvshare.db"', f'path = "{db}"')
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    for args in (["building", "--month", "2025-06"], ["building", "--year", "2025"],
                 ["tenant", "--month", "2025-06", "--participant", "A01"]):
        r = pvshare("report", *args, "--config", tmp_path / "c.toml", "--out", tmp_path / "o")
        assert r.returncode == 2 and "no data for 2025" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()
    r = pvshare("report", "building", "--config", tmp_path / "c.toml", "--month", "2025-06",
                "--year", "2025")
    assert r.returncode == 2 and "either --month" in r.stderr
