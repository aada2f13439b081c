"""The register of households and the caseload report, through the real command line on
real files: exports merged without double counting, files private, the caseload report
names no household beyond its code."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pvshare.cli import app
from pvshare.households.register import Curve, Register, merge_curves
from scripts.advisor_exports import export_text, series

D = dt.date
NAME = "Mme Josiane Dupuis-Martin"          # a name written in a visit's note
PRM = "09990000000042"


def run(*args: str, cwd: Path, ok: bool = True):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
    if ok:
        assert r.exit_code == 0, r.output
    return r


@pytest.fixture(scope="module")
def f01():
    return series(D(2023, 9, 1), 366, "2007-09-01 00:00")


@pytest.fixture
def folder(tmp_path: Path, f01) -> Path:
    """Two overlapping exports of F01 and one of F02, a register with both households."""
    (tmp_path / "a.csv").write_text(export_text(*f01, D(2023, 9, 1), D(2024, 3, 1)))
    (tmp_path / "b.csv").write_text(export_text(*f01, D(2024, 2, 1), D(2024, 9, 1)))
    f02 = series(D(2023, 10, 1), 336, "2008-10-01 00:00", scale=0.6)
    (tmp_path / "c.csv").write_text(export_text(*f02, D(2023, 10, 1), D(2024, 9, 1),
                                                prm="09990000000077"))
    run("households", "init", "reg", cwd=tmp_path)
    run("households", "add", "F01", "--kva", "6", "--occupants", "2", "--heating",
        "electric", "--since", "2023-09-01", "-r", "reg", cwd=tmp_path)
    run("households", "add", "F02", "--kva", "9", "--option", "tempo", "--since",
        "2023-10-01", "-r", "reg", cwd=tmp_path)
    return tmp_path


def test_overlapping_exports_are_merged_without_double_counting(folder: Path, f01):
    run("households", "add-curve", "F01", "a.csv", "-r", "reg", cwd=folder)
    r = run("households", "add-curve", "F01", "b.csv", "-r", "reg", cwd=folder)
    assert "new" in r.output
    again = run("households", "add-curve", "F01", "b.csv", "-r", "reg", cwd=folder)
    assert "already added" in again.output
    c = Register(folder / "reg").curve("F01")
    ends, watts = f01
    # Every half-hour once: the register's energy is the whole series' energy.
    assert c.size == len(ends) and np.all(np.diff(c.times.astype(np.int64)) == 1800)
    assert np.isclose(c.wh.sum(), np.round(watts).sum() / 2)
    imports = Register(folder / "reg").household("F01").imports
    assert [i.file for i in imports] == ["a.csv", "b.csv"]
    assert imports[1].new_steps == imports[1].steps - 29 * 48    # February overlapped
    assert PRM not in (folder / "reg" / "foyers" / "F01.toml").read_text()


def test_every_file_of_the_register_is_private(folder: Path):
    run("households", "add-curve", "F01", "a.csv", "-r", "reg", cwd=folder)
    run("households", "visit", "F01", "--date", "2023-12-04", "-a", "led", "-r", "reg",
        cwd=folder)
    files = [p for p in (folder / "reg").rglob("*")]
    assert len([p for p in files if p.is_file()]) == 4
    for p in files:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))


def test_an_estimate_is_replaced_by_the_measured_value_and_a_conflict_changes_nothing():
    t = np.datetime64("2024-01-01T00:00:00") + (np.arange(4) * 1800).astype("timedelta64[s]")
    old = Curve(t, np.array([100.0, 200.0, 300.0, 400.0]), np.array([0, 1, 0, 0], np.uint8))
    new = Curve(t[1:], np.array([250.0, 300.2, 500.0]), np.zeros(3, np.uint8))
    with pytest.raises(Exception, match="500 W.*1000 W|800 W.*1000 W"):
        merge_curves(old, new, source="x.csv")
    new = Curve(t[1:] + np.timedelta64(1800, "s"), np.array([300.2, 400.0, 50.0]),
                np.zeros(3, np.uint8))
    merged, n_new, n_rep = merge_curves(old, new, source="x.csv")
    assert (n_new, n_rep) == (1, 0) and np.allclose(merged.wh, [100, 200, 300, 400, 50])
    new = Curve(t[1:2], np.array([260.0]), np.zeros(1, np.uint8))
    merged, n_new, n_rep = merge_curves(old, new, source="x.csv")
    assert (n_new, n_rep) == (0, 1) and merged.wh[1] == 260 and merged.flags[1] == 0


def test_the_config_names_the_register(folder: Path):
    (folder / "site.toml").write_text(
        '[site]\nname = "x"\nlatitude = 45.9\nlongitude = 5.3\n[producer]\n'
        'prm = "25460000009001"\n[array]\nkwp = 3.0\ntilt_deg = 15\nazimuth_deg = 180\n'
        '[[participants]]\nid = "A"\nprm = "25460000000001"\n'
        '[households]\nregister = "reg"\n')
    r = run("households", "show", "--config", "site.toml", cwd=folder)
    assert r.output.splitlines()[0].startswith("F01: base 6 kVA, 0 visit(s)")


@pytest.fixture
def followed(folder: Path) -> Path:
    for code, f in (("F01", "a.csv"), ("F01", "b.csv"), ("F02", "c.csv")):
        run("households", "add-curve", code, f, "-r", "reg", cwd=folder)
    run("households", "visit", "F01", "--date", "2023-12-04", "-a", "led", "-a",
        "power_strip", "--note", f"{NAME} absente, voir son fils", "-r", "reg", cwd=folder)
    run("households", "visit", "F01", "--date", "2024-05-13", "-a", "water_heater", "-r",
        "reg", cwd=folder)
    run("households", "visit", "F02", "--date", "2024-08-01", "-a", "other", "--note",
        f"thermostat chez {NAME}", "-r", "reg", cwd=folder)
    return folder


def test_the_caseload_report_names_no_household_beyond_its_code(followed: Path):
    r = run("households", "report", "--out", "bilan", "-r", "reg", cwd=followed)
    out = followed / "bilan"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["bilan-suivi-foyers.csv", "bilan-suivi-visites.csv", "bilan-suivi.html",
                     "bilan-suivi.json", "bilan-suivi.pdf"]
    assert r.output.count("bilan/") == 5
    from pypdf import PdfReader
    pdf_text = "".join(p.extract_text() for p in PdfReader(out / "bilan-suivi.pdf").pages)
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        text = pdf_text if p.suffix == ".pdf" else p.read_text()
        for secret in ("Dupuis", "Josiane", "fils", "thermostat", PRM, "09990000000077",
                       "a.csv", "c.csv"):
            assert secret not in text, (p.name, secret)
        assert "F01" in text and "F02" in text
    j = json.loads((out / "bilan-suivi.json").read_text())
    assert j["households"] == 2 and j["visits"] == 3
    assert j["interventions"] == {"led": 1, "power_strip": 1, "water_heater": 1, "other": 1}
    v = {f"{h['code']} {x['date']}": x for h in j["by_household"] for x in h["visits"]}
    keys = {"date", "actions", "before_kwh_per_day", "after_kwh_per_day", "change_percent",
            "low_percent", "high_percent", "significant"}
    assert keys <= set(v["F01 2023-12-04"]) and v["F01 2023-12-04"]["significant"] is not None
    # 2024-08-01: 30 days of curve after the visit, under 8 weeks: nothing computed.
    assert v["F02 2024-08-01"]["change_percent"] is None
    assert v["F02 2024-08-01"]["significant"] is None
    # The totals add the computed visits (one figure, one source: the JSON's visits).
    done = [x for x in v.values() if x["change_percent"] is not None]
    assert j["saving_kwh_per_year"]["visits"] == len(done) == 2
    s = sum((x["before_kwh_per_day"] - x["after_kwh_per_day"]) * 365 for x in done)
    assert abs(j["saving_kwh_per_year"]["value"] - s) < 5
    lo, hi = j["saving_kwh_per_year"]["low"], j["saving_kwh_per_year"]["high"]
    assert lo < j["saving_kwh_per_year"]["value"] < hi
    # The tariff check of each household is the one of `pvshare tariffs` on its last year.
    f01 = next(h for h in j["by_household"] if h["code"] == "F01")["tariff"]
    assert f01["current"] == {"option": "base", "kva": 6, "total_eur": f01["current"]
                              ["total_eur"]}
    would = [h for h in j["by_household"] if h["tariff"] and
             h["tariff"]["best"]["saving_eur_per_year"] > 0]
    assert j["tariff"]["would_pay_less"] == len(would)
    assert j["tariff"]["saving_eur_per_year"] == pytest.approx(
        sum(h["tariff"]["best"]["saving_eur_per_year"] for h in would))
    rows = (out / "bilan-suivi-visites.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("code,date,interventions")


def test_the_household_report_shows_the_visits_before_and_after(followed: Path):
    run("report", "household", "--code", "F01", "--register", "reg", "--out", "r",
        "--format", "html", cwd=followed)
    html = (followed / "r" / "rapport-foyer-F01.html").read_text()
    assert 'data-section="followup"' in html and "Multiprises à interrupteur" in html
    assert html.count("<tr data-visit=") == 2
    assert NAME in html                  # the household's own report shows the note
    show = run("households", "show", "F01", "--json", "-r", "reg", cwd=followed)
    first = json.loads(show.output)["visits"][0]
    from pvshare.reports.fmt import number
    assert f'data-figure="before_2023-12-04">{number(first["before_kwh_per_day"], 1)}<' in html
