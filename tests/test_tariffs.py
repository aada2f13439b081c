"""The tariff check (issue 22): to the cent against an independent calculation
(tests/tariff_reference.py), on the bundled real prices and colours and on a real household;
property tests of the rules; missing prices and colours never priced as zero."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from decimal import Decimal
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.enedis.loadcurve import read_load_curve
from pvshare.errors import InputError
from pvshare.tariffs import (
    bundled_prices,
    bundled_tempo,
    check_tariffs,
    parse_prices,
    parse_tempo,
)
from tests import tariff_reference as ref
from tests.report_support import pvshare

FIX = Path(__file__).parent / "fixtures" / "enedis"
YEAR = FIX / "enedis_preamble_year_2024-2025.csv.gz"
DATA = resources.files("pvshare.data").joinpath("tariffs")
PRICES_TEXT = DATA.joinpath("trv_residential.csv").read_text("utf-8")
COLORS_TEXT = DATA.joinpath("tempo_colors.csv").read_text("utf-8")
REF_PRICES = ref.read_prices(PRICES_TEXT)
REF_COLORS = ref.read_colors(COLORS_TEXT)
PRICES = bundled_prices()
TEMPO = bundled_tempo()
UTC = dt.UTC


def _utc(t: np.datetime64) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(t.astype("datetime64[s]").astype(np.int64)), UTC)


def _assert_matches_reference(check, start, wh, step_min, offpeak=((dt.time(22), dt.time(6)),),
                              prices=REF_PRICES, colors=REF_COLORS, valid_until=None):
    priced = {(o.option, o.kva): o for o in check.options}
    for option in ("base", "hphc", "tempo"):
        for kva in check.allowed_kva:
            r = ref.reference(start, list(wh), step_min, option, kva, prices, colors, offpeak,
                              valid_until)
            got = priced.get((option, kva))
            if r is None:
                assert got is None, f"{option} {kva} kVA priced though a price is missing"
                assert any(u.option == option and u.kva == kva for u in check.unavailable)
                continue
            assert got is not None, f"{option} {kva} kVA not priced"
            assert (got.subscription_eur, got.energy_eur, got.total_eur) == r[:3], \
                (option, kva, got, r)
            assert abs(Decimal(got.exact_total.numerator) / got.exact_total.denominator
                       - r[3]) < Decimal("1e-15")


# --- the bundled data, cross-checked -----------------------------------------------------

def test_bundled_prices_carry_the_published_figures():
    rows = {(r.option, r.kva, r.period, r.start): r for r in PRICES.rows}
    feb25 = rows[("base", 6, "base", dt.date(2025, 2, 1))]
    assert feb25.eur_per_kwh == Fraction("0.2016")          # CRE Option_Base.csv, 01/02/2025
    assert feb25.subscription_eur_per_year == Fraction("165.17")
    assert rows[("base", 6, "base", dt.date(2025, 8, 1))].eur_per_kwh == Fraction("0.1952")
    assert rows[("base", 9, "base", dt.date(2026, 2, 1))].eur_per_kwh == Fraction("0.19266")
    assert rows[("tempo", 6, "rouge_hp", dt.date(2025, 2, 1))].eur_per_kwh == Fraction("0.6586")
    # every row cites its source; gap rows say so
    assert all(r.source for r in PRICES.rows)
    gaps = [r for r in PRICES.rows if r.eur_per_kwh is None]
    assert gaps and all(r.source.startswith("GAP") for r in gaps)
    # Heures creuses: CRE Option_HPHC.csv, 01/08/2025 (HP 0.2081 and HC 0.1635 as the press gave)
    hc = rows[("hphc", 6, "hc", dt.date(2025, 8, 1))]
    assert (hc.eur_per_kwh, hc.subscription_eur_per_year) == (Fraction("0.1635"), Fraction("189.99"))
    assert rows[("hphc", 6, "hp", dt.date(2025, 8, 1))].eur_per_kwh == Fraction("0.2081")
    assert rows[("hphc", 36, "hp", dt.date(2024, 2, 1))].eur_per_kwh == Fraction("0.27")
    assert rows[("base", 3, "base", dt.date(2026, 2, 1))].eur_per_kwh == Fraction("0.19398")
    # no source has HP/HC at 3 kVA; Base above 15 kVA comes from EDF's grid of 2026-02-01 only
    # (the CRE files stop at 15 kVA; see the README)
    assert PRICES.kvas("hphc") == (6, 9, 12, 15, 18, 24, 30, 36)
    assert PRICES.kvas("base") == (3, 6, 9, 12, 15, 18, 24, 30, 36)
    assert PRICES.first_date("base", 18) == dt.date(2026, 2, 1)
    # Tempo from 2026-02-01: EDF's grid (70,60 c/kWh red HP, 15,59 EUR a month at 6 kVA)
    red = rows[("tempo", 6, "rouge_hp", dt.date(2026, 2, 1))]
    assert (red.eur_per_kwh, red.subscription_eur_per_year) == (Fraction("0.706"),
                                                                Fraction("187.08"))
    # the move of 2026-08-01: priced where a source gives it, a gap row elsewhere
    aug = rows[("tempo", 6, "rouge_hp", dt.date(2026, 8, 1))]
    assert (aug.eur_per_kwh, aug.subscription_eur_per_year) == (Fraction("0.7295"),
                                                                Fraction("189.9802924"))
    assert rows[("base", 6, "base", dt.date(2026, 8, 1))].eur_per_kwh == Fraction("0.2001")
    assert rows[("base", 15, "base", dt.date(2026, 8, 1))].eur_per_kwh is None


def test_bundled_tempo_seasons_have_rtes_quota():
    for first, blue in ((2022, 300), (2023, 301), (2024, 300)):
        counts = TEMPO.counts(dt.date(first, 9, 1), dt.date(first + 1, 8, 31))
        assert counts == {"bleu": blue, "blanc": 43, "rouge": 22}


# --- to the cent against the independent calculation ----------------------------------------

@pytest.fixture(scope="module")
def year_curve():
    return read_load_curve(YEAR)


def test_real_household_year_to_the_cent(year_curve):
    lc = year_curve
    check = check_tariffs(lc.times[0], lc.energy_wh, 30, 9, "base", "22:00-06:00", PRICES,
                          TEMPO)
    _assert_matches_reference(check, _utc(lc.times[0]), lc.energy_wh, 30,
                              valid_until=PRICES.valid_until)
    assert check.current.option == "base" and check.current.kva == 9
    # the bundled colours cover the whole curve (2024-11-27 -> 2025-11-26): every option priced
    assert not check.unavailable
    assert any(o.option == "hphc" and o.kva == 9 for o in check.options)
    assert any(o.option == "tempo" and o.kva == 9 for o in check.options)


def test_real_household_until_the_last_colour_to_the_cent(year_curve):
    lc = year_curve
    end = np.datetime64("2025-09-30T04:00:00")      # 06:00 local on 2025-09-30
    n = int(np.searchsorted(lc.times, end))
    for kva, option in ((9, "tempo"), (12, "base"), (15, "base")):
        check = check_tariffs(lc.times[0], lc.energy_wh[:n], 30, kva, option, "22:00-06:00",
                              PRICES, TEMPO)
        _assert_matches_reference(check, _utc(lc.times[0]), lc.energy_wh[:n], 30)
        assert any(o.option == "tempo" for o in check.options)
        assert check.best.exact_total <= check.current.exact_total


def test_offpeak_hours_of_the_household_are_used():
    prices = parse_prices(
        "from,option,kva,subscription_eur_per_month,period,eur_per_kwh\n"
        "2025-01-01,hphc,6,10,hp,0.3\n2025-01-01,hphc,6,10,hc,0.1\n")
    start = dt.datetime(2025, 3, 3, tzinfo=ref.PARIS).astimezone(UTC)
    wh = [100.0 + i for i in range(48 * 3)]
    ranges = "01:30-07:30,12:30-14:30"
    check = check_tariffs(np.datetime64(start.replace(tzinfo=None)), wh, 30, 6, "hphc", ranges,
                          prices, None)
    offpeak = ((dt.time(1, 30), dt.time(7, 30)), (dt.time(12, 30), dt.time(14, 30)))
    _assert_matches_reference(check, start, wh, 30, offpeak, ref.read_prices(
        "from,option,kva,subscription_eur_per_month,period,eur_per_kwh\n"
        "2025-01-01,hphc,6,10,hp,0.3\n2025-01-01,hphc,6,10,hc,0.1\n"), {})
    assert check.current.kwh_by_period["hc"] == pytest.approx(
        sum(wh[i] for i in range(len(wh)) if (i % 48) in (*range(3, 15), *range(25, 29))) / 1000)


def test_tempo_day_runs_from_six_to_six():
    colors = parse_tempo("date,color\n2025-01-09,rouge\n2025-01-10,bleu\n")
    prices = parse_prices(
        "from,option,kva,subscription_eur_per_month,period,eur_per_kwh\n" + "".join(
            f"2025-01-01,tempo,6,0,{p},{v}\n" for p, v in (
                ("bleu_hp", "0.1"), ("bleu_hc", "0.01"), ("blanc_hp", "0.2"),
                ("blanc_hc", "0.02"), ("rouge_hp", "0.3"), ("rouge_hc", "0.03"))))
    # 2025-01-10 05:30 local (04:30 UTC): Tempo day 2025-01-09 (red), off-peak
    one = check_tariffs(np.datetime64("2025-01-10T04:30"), [1000.0], 30, 6, "tempo", "22:00-06:00",
                        prices, colors)
    assert one.current.energy_eur == Decimal("0.03")
    # 06:00 local: Tempo day 2025-01-10 (blue), peak
    two = check_tariffs(np.datetime64("2025-01-10T05:00"), [1000.0], 30, 6, "tempo",
                        "22:00-06:00", prices, colors)
    assert two.current.energy_eur == Decimal("0.10")
    # 05:30 on 2025-01-09: Tempo day 2025-01-08, colour unknown: an error, never a zero
    with pytest.raises(InputError, match="Tempo colour"):
        check_tariffs(np.datetime64("2025-01-09T04:30"), [1000.0], 30, 6, "tempo",
                      "22:00-06:00", prices, colors)


# --- property tests -------------------------------------------------------------------------

_SIMPLE = parse_prices(
    "from,option,kva,subscription_eur_per_month,period,eur_per_kwh\n"
    "2024-01-01,base,6,13.01,base,0.2516\n2024-01-01,base,3,9.96,base,0.2516\n"
    "2024-07-01,base,6,14.11,base,0.2016\n2024-07-01,base,3,10.45,base,0.2016\n"
    "2024-01-01,hphc,6,15.01,hp,0.27\n2024-01-01,hphc,6,15.01,hc,0.2068\n"
    "2024-10-27,hphc,6,16.3,hp,0.2146\n2024-10-27,hphc,6,16.3,hc,0.1696\n")


@st.composite
def _curves(draw):
    """Days around both clock changes of 2024, a 15-, 30- or 60-minute step, W values."""
    first = draw(st.sampled_from([dt.date(2024, 3, 29), dt.date(2024, 6, 28),
                                  dt.date(2024, 10, 25), dt.date(2024, 12, 30)]))
    first += dt.timedelta(days=draw(st.integers(0, 3)))
    days = draw(st.integers(1, 6))
    step = draw(st.sampled_from([15, 30, 60]))
    start = dt.datetime.combine(first, dt.time(), ref.PARIS).astimezone(UTC)
    end = dt.datetime.combine(first + dt.timedelta(days=days), dt.time(),
                              ref.PARIS).astimezone(UTC)
    n = int((end - start).total_seconds()) // (step * 60)
    watts = draw(st.lists(st.integers(0, 3500), min_size=n, max_size=n))
    wh = [w * step / 60 for w in watts]
    return start, step, wh, days


def _np(t: dt.datetime) -> np.datetime64:
    return np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "s")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_curves(), st.sampled_from(["base", "hphc"]))
def test_property_matches_reference_across_clock_changes(curve, option):
    start, step, wh, _ = curve
    check = check_tariffs(_np(start), wh, step, 6, option, "22:00-06:00", _SIMPLE, None)
    _assert_matches_reference(check, start, wh, step, prices=ref.read_prices(
        "from,option,kva,subscription_eur_per_month,period,eur_per_kwh\n"
        "2024-01-01,base,6,13.01,base,0.2516\n2024-01-01,base,3,9.96,base,0.2516\n"
        "2024-07-01,base,6,14.11,base,0.2016\n2024-07-01,base,3,10.45,base,0.2016\n"
        "2024-01-01,hphc,6,15.01,hp,0.27\n2024-01-01,hphc,6,15.01,hc,0.2068\n"
        "2024-10-27,hphc,6,16.3,hp,0.2146\n2024-10-27,hphc,6,16.3,hc,0.1696\n"), colors={})
    assert check.best.exact_total <= check.current.exact_total
    assert check.saving_eur_per_year >= 0
    assert check.days == Fraction(curve[3])          # whole local days


@settings(max_examples=40, deadline=None)
@given(_curves(), st.data())
def test_property_costs_add_over_a_split_at_a_day_boundary(curve, data):
    start, step, wh, days = curve
    if days < 2:
        return
    cut_day = data.draw(st.integers(1, days - 1))
    cut = dt.datetime.combine(start.astimezone(ref.PARIS).date() + dt.timedelta(days=cut_day),
                              dt.time(), ref.PARIS).astimezone(UTC)
    k = int((cut - start).total_seconds()) // (step * 60)
    whole = check_tariffs(_np(start), wh, step, 6, "base", "22:00-06:00", _SIMPLE, None)
    a = check_tariffs(_np(start), wh[:k], step, 6, "base", "22:00-06:00", _SIMPLE, None)
    b = check_tariffs(_np(cut), wh[k:], step, 6, "base", "22:00-06:00", _SIMPLE, None)
    for x in whole.options:
        pa = next(o for o in a.options if (o.option, o.kva) == (x.option, x.kva))
        pb = next(o for o in b.options if (o.option, o.kva) == (x.option, x.kva))
        assert pa.exact_subscription + pb.exact_subscription == x.exact_subscription
        assert pa.exact_energy + pb.exact_energy == x.exact_energy
    assert a.days + b.days == whole.days


def test_a_partly_covered_clock_change_day_costs_its_share():
    # 2024-03-31 has 23 hours: 12 hours of it cost 12/23 of a day
    start = dt.datetime(2024, 3, 31, 12, tzinfo=ref.PARIS)
    check = check_tariffs(_np(start), [0.0] * 24, 30, 6, "base", "22:00-06:00", _SIMPLE, None)
    assert check.days == Fraction(12, 23)
    assert check.current.exact_subscription == Fraction("13.01") * 12 / 365 * Fraction(12, 23)


# --- powers, margins, best --------------------------------------------------------------------

def test_lower_powers_tried_only_with_the_margin():
    wh = [1000.0] * 48                         # 2 kW mean over 30 minutes
    check = check_tariffs(np.datetime64("2024-08-01T00:00"), wh, 30, 6, "base", "22:00-06:00",
                          _SIMPLE, None)
    assert check.allowed_kva == (3, 6)         # 3000 W >= 1.5 x 2000 W
    wh[5] = 1001.0                             # 2002 W x 1.5 > 3000 W
    check = check_tariffs(np.datetime64("2024-08-01T00:00"), wh, 30, 6, "base", "22:00-06:00",
                          _SIMPLE, None)
    assert check.allowed_kva == (6,)
    assert check.best is check.current


def test_best_and_yearly_saving():
    wh = [250.0] * (48 * 10)
    check = check_tariffs(np.datetime64("2024-07-31T22:00"), wh, 30, 6, "base", "22:00-06:00",
                          _SIMPLE, None)
    best = min(check.options, key=lambda o: o.exact_total)
    assert check.best == best and (best.option, best.kva) == ("base", 3)
    expected = (check.current.exact_total - best.exact_total) * 365 / 10
    assert check.saving_eur_per_year == Decimal(round(expected * 100)) / 100
    j = check.to_json()
    assert set(j) == {"from", "to", "kwh", "options", "current", "best"}
    assert j["from"] == "2024-08-01T00:00:00+02:00" and j["to"] == "2024-08-11T00:00:00+02:00"
    assert set(j["best"]) == {"option", "kva", "total_eur", "saving_eur_per_year"}
    assert set(j["options"][0]) == {"option", "kva", "subscription_eur", "energy_eur",
                                    "total_eur"}


# --- missing prices: an error for the household's own option, unavailable for others -------

def test_missing_prices_are_never_zero():
    wh = [500.0] * 48
    with pytest.raises(InputError, match="no hphc price at 9 kVA"):
        check_tariffs(np.datetime64("2024-08-01T00:00"), wh, 30, 9, "hphc", "22:00-06:00",
                      _SIMPLE, None)
    with pytest.raises(InputError, match="first 2023-12-31"):
        check_tariffs(np.datetime64("2023-12-31T00:00"), wh, 30, 6, "base", "22:00-06:00",
                      _SIMPLE, None)
    gap = parse_prices("from,option,kva,subscription_eur_per_month,period,eur_per_kwh\n"
                       "2024-01-01,base,6,13,base,0.25\n2024-01-01,hphc,6,15,hp,0.27\n"
                       "2024-01-01,hphc,6,15,hc,0.2\n2024-08-02,hphc,6,,hp,\n"
                       "2024-08-02,hphc,6,,hc,\n")
    check = check_tariffs(np.datetime64("2024-07-31T22:00"), wh * 2, 30, 6, "base",
                          "22:00-06:00", gap, None)
    assert [(u.reason, u.first_day, u.days) for u in check.unavailable
            if (u.option, u.kva) == ("hphc", 6)] == [("no_price", dt.date(2024, 8, 2), 1)]


def test_bundled_table_ends_at_its_validity(year_curve):
    late = np.datetime64("2027-02-01T00:00")
    with pytest.raises(InputError, match="2027-02-01"):
        check_tariffs(late, [100.0] * 48, 30, 6, "base", "22:00-06:00", PRICES, TEMPO)


# --- the command line, on the bundled real household -----------------------------------------

def _pvshare_fr(*args):
    import os
    import subprocess
    import sys
    env = {**os.environ, "COLUMNS": "200", "LANGUAGE": "fr"}
    return subprocess.run([sys.executable, "-m", "pvshare.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env,
                          cwd=Path(__file__).parents[1])


def _fixture_steps(path: Path, until: str | None = None):
    """(UTC start, Wh) of each row of the Enedis preamble export, read with csv and datetime."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in lines[lines.index("Horodate;Valeur") + 1:]:
        stamp, value = line.split(";")
        end = dt.datetime.fromisoformat(stamp)
        if until is not None and end > dt.datetime.fromisoformat(until):
            break
        out.append((end - dt.timedelta(minutes=30), Decimal(value) / 2))
    return out


def test_cli_json_on_the_real_household(tmp_path):
    r = pvshare("tariffs", "--input", YEAR, "--kva", "9", "--option", "base", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    steps = _fixture_steps(YEAR)
    assert j["from"] == "2024-11-27T00:00:00+01:00" and j["to"] == "2025-11-26T21:30:00+01:00"
    assert j["kwh"] == pytest.approx(float(sum(w for _, w in steps) / 1000), abs=5e-4)
    base9 = ref.reference(steps[0][0].astimezone(UTC), [w for _, w in steps], 30, "base", 9,
                          REF_PRICES, REF_COLORS)
    hphc9 = ref.reference(steps[0][0].astimezone(UTC), [w for _, w in steps], 30, "hphc", 9,
                          REF_PRICES, REF_COLORS)
    tempo9 = ref.reference(steps[0][0].astimezone(UTC), [w for _, w in steps], 30, "tempo", 9,
                           REF_PRICES, REF_COLORS)
    assert j["current"] == {"option": "base", "kva": 9, "total_eur": float(base9[2])}
    assert j["options"] == [
        {"option": o, "kva": 9, "subscription_eur": float(e[0]), "energy_eur": float(e[1]),
         "total_eur": float(e[2])} for o, e in (("base", base9), ("hphc", hphc9),
                                                  ("tempo", tempo9))]
    assert hphc9[2] > base9[2] > tempo9[2]          # the colours of 2025-26 are bundled
    assert (j["best"]["option"], j["best"]["kva"]) == ("tempo", 9)
    assert j["best"]["total_eur"] == float(tempo9[2]) and j["best"]["saving_eur_per_year"] > 0


def test_cli_text_in_french_until_the_last_colour(tmp_path):
    steps = _fixture_steps(YEAR, until="2025-09-30T06:00:00+02:00")
    text = gzip.open(YEAR, "rt", encoding="utf-8").read().splitlines()
    head = text[:text.index("Horodate;Valeur") + 1]
    cut = tmp_path / "until-2025-09-30.csv"
    cut.write_text("\n".join(head + text[len(head):len(head) + len(steps)]) + "\n",
                   encoding="utf-8")
    r = pvshare("tariffs", "--input", cut, "--kva", "9", "--option", "tempo", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    start = steps[0][0].astimezone(UTC)
    wh = [w for _, w in steps]
    for o in j["options"]:
        exp = ref.reference(start, wh, 30, o["option"], o["kva"], REF_PRICES, REF_COLORS)
        assert (o["subscription_eur"], o["energy_eur"], o["total_eur"]) == tuple(
            float(x) for x in exp[:3]), o
    totals = {(o["option"], o["kva"]): Decimal(str(o["total_eur"])) for o in j["options"]}
    best = min(totals, key=lambda k: (totals[k], k != ("tempo", 9)))
    assert (j["best"]["option"], j["best"]["kva"]) == best
    fr = _pvshare_fr("tariffs", "--input", cut, "--kva", "9", "--option", "tempo")
    assert fr.returncode == 0, fr.stderr
    assert "Période" in fr.stdout and re.search(r"^Heures creuses +9 kVA ", fr.stdout, re.M)
    assert "Option actuelle" in fr.stdout


def test_the_advisors_example_is_what_the_command_prints():
    """docs/reports.md shows the French output of a real run: it must stay true."""
    doc = (Path(__file__).parents[1] / "docs" / "reports.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ pvshare tariffs (.*?)\n(.*?)```", doc, re.S)
    assert block, "the example of pvshare tariffs is missing from docs/reports.md"
    r = _pvshare_fr("tariffs", *block.group(1).split())
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace("\u00a0", " ").strip() == block.group(2).strip()


def test_household_report_has_the_tariff_check(tmp_path, year_curve):
    r = pvshare("report", "household", "--input", YEAR, "--kva", "9", "--out", tmp_path,
                "--format", "html")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "rapport-foyer-09990000000042.html").read_text(encoding="utf-8")
    section = page[page.index("<h2>Votre option tarifaire</h2>"):]
    section = section[:section.index("</section>")]
    steps = _fixture_steps(YEAR)
    base9 = ref.reference(steps[0][0].astimezone(UTC), [w for _, w in steps], 30, "base", 9,
                          REF_PRICES, REF_COLORS)
    row = section[section.index('data-option="base-9"'):]
    row = row[:row.index("</tr>")]
    total = f"{base9[2]:,.2f}".replace(",", "\u00a0").replace(".", ",") + "\u00a0€"
    assert total in row and "(actuelle)" in row
    assert 'data-option="tempo-9"' in section and 'data-unavailable="tempo-9"' not in section
    assert 'data-option="hphc-9"' in section and 'data-unavailable="hphc-9"' not in section


def test_household_report_says_why_without_prices(tmp_path):
    # the curve of 2023-10 at a power the bundled table does not price (Base 18 kVA)
    r = pvshare("report", "household", "--input", FIX / "enedis_rows_2023-10.csv", "--kva",
                "18", "--out", tmp_path, "--format", "html")
    assert r.returncode == 0, r.stderr
    page = next(tmp_path.glob("*.html")).read_text(encoding="utf-8")
    assert 'data-tariff="note"' in page and "--prices" in page
