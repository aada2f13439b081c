"""Tenant statements on the sample year and from a real store; privacy of the pages."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from pvshare.allocation import allocate
from pvshare.config import load_config
from pvshare.data.sample import load_sample_year
from pvshare.store import Store
from tests.report_support import CONFIG, figure_texts, figures, pdf_text, pvshare

MONTH = "2025-06"


@pytest.fixture(scope="module")
def sample():
    """The sample year with its allocation (equal shares with reallocation, like the example
    config), as pandas frames indexed by local time."""
    s = load_sample_year()
    res = allocate(s.production_wh, s.consumption_wh, "reallocated",
                   coefficients=np.full(len(s.participants), 1 / len(s.participants)))
    idx = pd.DatetimeIndex(s.times).tz_localize("UTC").tz_convert("Europe/Paris")
    cons = pd.DataFrame(s.consumption_wh, index=idx, columns=s.participants)
    alloc = pd.DataFrame(res.allocated, index=idx, columns=s.participants)
    prod = pd.Series(s.production_wh, index=idx)
    return s, prod, cons, alloc


@pytest.fixture(scope="module")
def a03(sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("tenant")
    r = pvshare("report", "tenant", "--config", CONFIG, "--participant", "A03", "--month", MONTH,
                "--out", out, "--sample-year")
    assert r.returncode == 0, r.stderr
    return (out / f"releve-A03-{MONTH}.html").read_text(encoding="utf-8"), \
        out / f"releve-A03-{MONTH}.pdf"


def test_statement_figures_match_an_independent_computation(sample, a03):
    _, _, cons, alloc = sample
    html, _ = a03
    c = cons.loc[MONTH].sum() / 1000
    a = alloc.loc[MONTH].sum() / 1000
    got = figures(html)
    assert got["consumed_kwh"] == pytest.approx(c["A03"], abs=0.051)
    assert got["autocons_kwh"] == pytest.approx(a["A03"], abs=0.051)
    assert got["complement_kwh"] == pytest.approx(c["A03"] - a["A03"], abs=0.051)
    assert got["self_sufficiency_percent"] == pytest.approx(100 * a["A03"] / c["A03"], abs=0.051)
    # The example config has [[prices]] (0.10 €/kWh before tax, VAT 20 %, no excise, no
    # fee; supplier 0.194 €/kWh): the page shows the bill's amounts, each within a cent of
    # its exact value (largest-remainder rounding over the 48 lines), and the bill's saving.
    kwh = a["A03"]
    assert got["bill_kwh"] == pytest.approx(kwh, abs=0.0006)
    assert got["bill_before_tax_eur"] == pytest.approx(kwh * 0.10, abs=0.0101)
    assert got["bill_vat_eur"] == pytest.approx(kwh * 0.02, abs=0.0101)
    assert got["bill_total_eur"] == pytest.approx(kwh * 0.12, abs=0.0201)
    assert got["bill_saving_eur"] == pytest.approx(kwh * (0.194 - 0.12), abs=0.0301)
    assert got["saved_eur"] == got["bill_saving_eur"]
    assert "cost_eur" not in got                      # no second estimate beside the bill
    assert "mesures de pvshare" in html
    assert got["median_consumed_kwh"] == pytest.approx(np.median(c), abs=0.051)
    assert got["median_self_sufficiency_percent"] == pytest.approx(np.median(100 * a / c),
                                                                   abs=0.051)
    assert "juin 2025" in html and html.count('class="chart"') == 2


def test_statement_pdf_holds_the_key_figures(a03):
    html, pdf = a03
    text = pdf_text(pdf).replace("\u00a0", " ")
    for name in ("consumed_kwh", "autocons_kwh", "complement_kwh", "saved_eur",
                 "self_sufficiency_percent", "median_consumed_kwh"):
        assert figure_texts(html)[name].replace("\u00a0", " ") in text, name


def _other_identifiers(me: str):
    cfg = load_config(CONFIG)
    for p in cfg.participants:
        if p.id != me:
            yield p.id, p.prm, p.name


def test_privacy_no_other_participant_in_html_or_pdf(a03):
    html, pdf = a03
    text = pdf_text(pdf)
    assert re.search(r"(?<![A-Za-z0-9])A03(?![A-Za-z0-9])", html)      # the tenant itself
    for pid, prm, name in _other_identifiers("A03"):
        for doc in (html, text):
            assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(pid)}(?![A-Za-z0-9])", doc), pid
            assert prm not in doc and re.sub(r"\s", "", prm) not in re.sub(r"\s", "", doc)
            assert name not in doc


def test_all_statements_in_parallel(tmp_path, sample):
    """The batch path (--all) on a few tenants, in two processes, with its progress."""
    from pvshare.reports.batch import write_tenant_reports
    from pvshare.reports.sources import from_sample_year
    cfg = load_config(CONFIG)
    data = from_sample_year(cfg)
    seen = []
    paths = write_tenant_reports(cfg, data, MONTH, ["A01", "B07", "B24"], tmp_path, "html",
                                 jobs=2, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert sorted(p.name for p in paths) == [f"releve-{i}-{MONTH}.html" for i in
                                            ("A01", "B07", "B24")]
    _, _, cons, _ = sample
    got = figures((tmp_path / f"releve-B07-{MONTH}.html").read_text(encoding="utf-8"))
    assert got["consumed_kwh"] == pytest.approx(cons.loc[MONTH, "B07"].sum() / 1000, abs=0.051)


def test_cli_errors(tmp_path):
    r = pvshare("report", "tenant", "--config", CONFIG, "--month", MONTH, "--out", tmp_path,
                "--sample-year")
    assert r.returncode == 2 and "--participant ID or --all" in r.stderr
    r = pvshare("report", "tenant", "--config", CONFIG, "--month", "2025-13",
                "--participant", "A01", "--sample-year")
    assert r.returncode == 2 and "YYYY-MM" in r.stderr
    r = pvshare("report", "tenant", "--config", CONFIG, "--month", MONTH,
                "--participant", "Z99", "--sample-year")
    assert r.returncode == 2 and "Z99" in r.stderr
    r = pvshare("report", "tenant", "--config", CONFIG, "--month", "2030-01",
                "--participant", "A01", "--sample-year", "--out", tmp_path)
    assert r.returncode == 2 and "no data for 2030-01" in r.stderr


def store_config(tmp_path, sample, holes_for="A05") -> tuple:
    """A copy of the example config whose store holds May-June 2025 of the sample year,
    with some steps missing entirely, some unmeasured consumption, and a forecast."""
    s, _, _, _ = sample
    db = tmp_path / "store.db"
    text = CONFIG.read_text(encoding="utf-8").replace('path = "pvshare.db"', f'path = "{db}"')
    cfg_path = tmp_path / "site.toml"
    cfg_path.write_text(text, encoding="utf-8")
    secs = s.times.astype("datetime64[s]").astype(np.int64)
    sel = (s.times >= np.datetime64("2025-04-30T22:00")) \
        & (s.times < np.datetime64("2025-06-30T22:00"))
    t, prod, cons = secs[sel], s.production_wh[sel].copy(), s.consumption_wh[sel].copy()
    j = s.participants.index(holes_for)
    cons[100:148, j] = np.nan                       # one day of May unmeasured for A05
    cons[2000:2010, j] = np.nan                     # 10 steps of June
    res = allocate(prod, cons, "reallocated", coefficients=np.full(cons.shape[1], 1 / 48))
    keep = np.ones(t.size, dtype=bool)
    keep[2500:2504] = False                         # 4 June steps never stored
    with Store.open(db) as st:
        st.write_allocation(t[keep], s.participants, prod[keep], cons[keep],
                            res.allocated[keep], res.incomplete[keep], "reallocated")
        june = t >= 1748728800                      # 2025-06-01 00:00 Paris
        st.write_forecast(t[june], prod[june] * 2 * 0.9, kind="dayahead")
    return cfg_path, t, keep, prod, cons, res.allocated


def test_statement_from_the_store(tmp_path, sample):
    cfg_path, t, keep, prod, cons, alloc = store_config(tmp_path, sample)
    out = tmp_path / "out"
    r = pvshare("report", "tenant", "--config", cfg_path, "--participant", "A05",
                "--month", MONTH, "--out", out, "--format", "html")
    assert r.returncode == 0, r.stderr
    got = figures((out / f"releve-A05-{MONTH}.html").read_text(encoding="utf-8"))
    s = sample[0]
    j = s.participants.index("A05")
    june = (t >= 1748728800) & keep
    c = np.nansum(cons[june, j]) / 1000
    a = np.nansum(np.where(np.isnan(cons[june, j]), 0, alloc[june, j])) / 1000
    assert got["consumed_kwh"] == pytest.approx(c, abs=0.051)
    assert got["autocons_kwh"] == pytest.approx(a, abs=0.051)
    html = (out / f"releve-A05-{MONTH}.html").read_text(encoding="utf-8")
    # 14 of 1440 June steps missing for A05: 99.0 %, rounded down, as the bill and web page.
    assert "des mesures manquent" in html and got["completeness_percent"] == 99.0
    # The store holds May and June only: the trend has those two months, not 12.
    from pvshare.billing.month import figures_for_month
    from pvshare.reports.sources import from_store
    from pvshare.reports.tenant import summarise, tenant_statement
    cfg = load_config(cfg_path)
    data = from_store(cfg, 1738364400, 1751320800)            # 2025-02-01 .. 07-01 Paris
    st = tenant_statement(summarise(data.times, data.production_wh, data.consumption_wh,
                                    data.allocated_wh, data.participant_ids),
                          data.participant_ids.index("A05"), MONTH,
                          figures_for_month(cfg, MONTH).of("A05"))
    assert [str(m) for m in st.trend_months] == ["2025-05", "2025-06"]
    assert st.trend_cons_kwh[-1] == pytest.approx(c)


def test_no_store_is_a_clear_error(tmp_path):
    text = CONFIG.read_text(encoding="utf-8").replace('path = "pvshare.db"',
                                                      f'path = "{tmp_path / "none.db"}"')
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    r = pvshare("report", "tenant", "--config", tmp_path / "c.toml", "--participant", "A01",
                "--month", MONTH)
    assert r.returncode == 2 and "no pvshare store" in r.stderr and "--sample-year" in r.stderr


def test_all_with_a_progress_bar_and_too_few_flats_for_a_median(tmp_path):
    """--all on a 3-flat site: one file per flat, a progress bar, and no median (a median
    of 3 would come close to identifying a neighbour)."""
    text = CONFIG.read_text(encoding="utf-8")
    head = text[:text.index("[[participants]]")]
    flats = "".join(f'[[participants]]\nid = "{i}"\nprm = "2546000000009{k}"\n\n'
                    for k, i in enumerate(("A01", "A02", "B05")))
    (tmp_path / "small.toml").write_text(head + flats, encoding="utf-8")
    r = pvshare("report", "tenant", "--config", tmp_path / "small.toml", "--all", "--month",
                MONTH, "--sample-year", "--format", "html", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "3/3" in r.stdout and "3 file(s) written" in r.stdout
    html = (tmp_path / "out" / f"releve-B05-{MONTH}.html").read_text(encoding="utf-8")
    assert "Trop peu de logements" in html and "median_consumed_kwh" not in html
    assert "A01" not in html and "A02" not in html
