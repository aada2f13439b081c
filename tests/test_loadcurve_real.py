"""Real Enedis exports published by others (tests/fixtures/enedis/README.md): every expected
value is derived here from the raw lines with csv/datetime only, not from pvshare.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from pvshare.enedis.loadcurve import CORRECTED, DOUBTFUL, ESTIMATED, SPREAD, read_load_curve
from pvshare.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "enedis"
PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def _preamble_rows(path: Path) -> list[tuple[dt.datetime, str]]:
    """(end instant, value text) of every Horodate;Valeur row, by hand."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    k = lines.index("Horodate;Valeur")
    out = []
    for ln in lines[k + 1:]:
        t, v = ln.split(";")
        out.append((dt.datetime.fromisoformat(t), v))
    return out


def _r63_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter=";"))


def _utc(t: dt.datetime) -> np.datetime64:
    return np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "s")


def test_hdm_c5_hourly_then_half_hourly():
    path = FIX / "sge_hdm_c5_cdc_60_then_30min.csv"
    rows = _preamble_rows(path)
    # Hourly values cover most of this excerpt: its own grid is hourly.
    assert read_load_curve(path, allow_gaps=True).step_s == 3600
    lc = read_load_curve(path, allow_gaps=True, step_s=1800)
    assert lc.layout == "enedis-preamble" and lc.prm == "09111642617347"
    assert lc.step_s == 1800 and lc.steps_min == (30, 60)
    # By hand: the hourly rows end on the hour; the last one is 2021-02-12 12:00, then the
    # half-hourly rows start with 2021-02-13 00:30. Each row's energy from its own interval.
    change = next(i for i, (t, _) in enumerate(rows) if t == dt.datetime.fromisoformat(
        "2021-02-13T00:30:00+01:00"))
    hourly = [float(v) * 1.0 for _, v in rows[:change] if v]
    half = [float(v) * 0.5 for _, v in rows[change:] if v]
    assert np.nansum(lc.energy_wh) == pytest.approx(sum(hourly) + sum(half))
    # The first row (2021-02-11T00:00, 1830 W over the hour before) is spread on two
    # half-hours starting 2021-02-10T22:00 UTC, flagged.
    assert rows[0] == (dt.datetime.fromisoformat("2021-02-11T00:00:00+01:00"), "1830")
    assert str(lc.times[0]) == "2021-02-10T22:00:00"
    assert lc.energy_wh[:2].tolist() == [915.0, 915.0]
    assert lc.flags[0] & SPREAD and lc.flags[1] & SPREAD
    # 2021-02-12T00:00 is absent (the midnight value, again): the hour 23:00-00:00 local
    # (22:00 UTC) is missing.
    assert dt.datetime.fromisoformat("2021-02-12T00:00:00+01:00") not in [t for t, _ in rows]
    k = int(np.flatnonzero(lc.times == np.datetime64("2021-02-11T22:00:00"))[0])
    assert np.isnan(lc.energy_wh[k]) and np.isnan(lc.energy_wh[k + 1])
    # First half-hourly value: 2021-02-13T00:30+01:00 ends the step starting 23:00 UTC.
    k = int(np.flatnonzero(lc.times == np.datetime64("2021-02-12T23:00:00"))[0])
    assert lc.energy_wh[k] == float(rows[change][1]) * 0.5 and lc.flags[k] == 0
    # Without --allow-gaps the missing hour is named with its line.
    with pytest.raises(InputError, match=r"60_then_30min.csv, line 28: 2 missing step\(s\) of "
                                         r"30 min between '2021-02-11T23:00:00\+01:00' "
                                         r"\(line 27\)"):
        read_load_curve(path, step_s=1800)


def test_hdm_c5_whole_file_gzip():
    path = FIX / "sge_hdm_c5_cdc_full.csv.gz"
    rows = _preamble_rows(path)
    lc = read_load_curve(path, allow_gaps=True)
    change = dt.datetime.fromisoformat("2021-02-13T00:30:00+01:00")
    by_hand = sum(float(v) * (1.0 if t < change else 0.5) for t, v in rows if v)
    assert np.nansum(lc.energy_wh) == pytest.approx(by_hand)
    valued = [t for t, v in rows if v]
    # The curve starts with the first value's interval and ends with the last one.
    assert lc.times[0] == _utc(valued[0] - dt.timedelta(hours=1))
    assert lc.times[-1] == _utc(valued[-1] - dt.timedelta(minutes=30))
    # Every half-hour whose row is empty or absent after the change is missing.
    half = {t for t, v in rows if v and t >= change}
    after = lc.times >= _utc(change - dt.timedelta(minutes=30))
    assert int((~np.isnan(lc.energy_wh[after])).sum()) == len(half)


def test_hdm_c4_ten_minutes_no_unit():
    path = FIX / "sge_hdm_c4_cdc_10min.csv"
    rows = _preamble_rows(path)
    with pytest.raises(InputError, match=r"10min.csv, line \d+, column 'Valeur': the value "
                                         r"'\d+' is not plausible.*--max-kva"):
        read_load_curve(path)
    lc = read_load_curve(path, max_kva=250)
    assert lc.step_s == 600 and lc.prm == "30001642617347" and lc.missing_steps == 0
    valued = [(t, float(v)) for t, v in rows if v]
    assert lc.times.size == len(valued) == 144
    assert lc.energy_wh.tolist() == [w * 10 / 60 for _, w in valued]
    assert lc.times[0] == _utc(valued[0][0] - dt.timedelta(minutes=10))
    # Laid on a 30-minute grid (the allocation step), three 10-minute values per step.
    # The first value (ending 00:00) and the last two (ending 23:40, 23:50) only partly
    # cover their half-hours: the curve starts and ends with a complete one.
    lc30 = read_load_curve(path, max_kva=250, step_s=1800)
    assert lc30.step_s == 1800 and lc30.times.size == 47 and lc30.missing_steps == 0
    assert lc30.energy_wh.sum() == pytest.approx(sum(w / 6 for _, w in valued[1:142]))
    assert lc30.energy_wh[0] == pytest.approx(sum(w / 6 for _, w in valued[1:4]))
    assert any("2 step(s) of 30 min only partly covered" in w for w in lc30.warnings)


@pytest.mark.parametrize("name, what", [
    ("sge_hdm_c5_index_and_pmax.csv", "« Index »"),
    ("sge_hdm_c5_pmax.csv", "« Puissance maximale quotidienne »"),
])
def test_exports_that_are_not_load_curves(name, what):
    with pytest.raises(InputError) as e:
        read_load_curve(FIX / name)
    msg = str(e.value)
    assert msg.startswith(f"{FIX / name}, line 2: ce fichier n'est pas une courbe de charge")
    assert what in msg and "téléchargez la « courbe de charge »" in msg


def test_r63_autumn_clock_change():
    path = FIX / "r63_autumn_change_2023-10.csv"
    rows = _r63_rows(path)
    lc = read_load_curve(path)
    assert lc.layout == "enedis-rows" and lc.prm == "09990000000063"
    assert lc.times.size == len(rows) == 98
    # By hand: 2023-10-29 has 50 half-hours; the second "02:00" row is one hour after the
    # first in UTC (01:00 UTC), and rows are in file order.
    labels = [r["Horodate"] for r in rows]
    i, j = (k for k, s in enumerate(labels) if s == "2023-10-29 02:00:00")
    assert j == i + 2
    assert str(lc.times[i]) == "2023-10-28T23:30:00" and str(lc.times[j]) == "2023-10-29T00:30:00"
    assert lc.energy_wh.tolist() == [float(r["Valeur"]) * 0.5 for r in rows]
    assert not lc.flags.any()


def test_r63_hourly_then_half_hourly():
    path = FIX / "r63_60_then_30min_2024-07.csv"
    rows = _r63_rows(path)
    # The real file has no row "2024-07-31 00:00:00" (the midnight value is absent, as
    # sge-tiers-proxy's test_cdc_unexpected_sampling notes for SGE files): a missing hour.
    assert "2024-07-31 00:00:00" not in [r["Horodate"] for r in rows]
    with pytest.raises(InputError, match=r"2024-07.csv, line 25: 2 missing step\(s\) of 30 min "
                                         r"between '2024-07-30 23:00:00' \(line 24\)"):
        read_load_curve(path, step_s=1800)
    lc = read_load_curve(path, allow_gaps=True, step_s=1800)
    assert lc.steps_min == (30, 60) and lc.step_s == 1800 and lc.missing_steps == 2
    wh = sum(float(r["Valeur"]) * (1.0 if r["Pas"] == "PT60M" else 0.5) for r in rows)
    assert np.nansum(lc.energy_wh) == pytest.approx(wh)
    n60 = sum(r["Pas"] == "PT60M" for r in rows)
    assert lc.times.size == 2 * n60 + (len(rows) - n60) + 2
    assert lc.flag_count(SPREAD) == 2 * n60
    # 2024-07-31 19:00 (PT60M, 1686 W) covers 18:00-19:00 local = 16:00-17:00 UTC;
    # 19:30 (PT30M, 1616 W) is the step 17:00 UTC.
    k = int(np.flatnonzero(lc.times == np.datetime64("2024-07-31T16:00:00"))[0])
    assert lc.energy_wh[k:k + 3].tolist() == [843.0, 843.0, 808.0]
    # On an hourly grid the half-hours are summed instead.
    lc60 = read_load_curve(path, step_s=3600, allow_gaps=True)
    assert np.nansum(lc60.energy_wh) == pytest.approx(wh) and lc60.flag_count(SPREAD) == 0


def test_r63_doubtful_value_is_flagged():
    path = FIX / "r63_doubtful_2023-07-16.csv"
    rows = _r63_rows(path)
    lc = read_load_curve(path)
    iv = [k for k, r in enumerate(rows) if r["Indice de vraisemblance"] != "0"]
    assert len(iv) == 1 and rows[iv[0]]["Horodate"] == "2023-07-16 18:30:00"
    assert np.flatnonzero(lc.flags).tolist() == iv and lc.flags[iv[0]] == DOUBTFUL
    assert lc.energy_wh[iv[0]] == float(rows[iv[0]]["Valeur"]) * 0.5


def _r63_text(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_r63_quality_and_quantity_variants(tmp_path):
    """Variants no real file was found for, built from the real lines (see the README)."""
    lines = _r63_text(FIX / "r63_autumn_change_2023-10.csv")
    head, body = lines[0], lines[1:]
    # Nature E (estimated) and C (corrected) on two rows.
    est = [ln.replace(";B;PT30M;", ";E;PT30M;") if k == 3 else
           ln.replace(";B;PT30M;", ";C;PT30M;") if k == 4 else ln for k, ln in enumerate(body)]
    p = tmp_path / "nature.csv"
    p.write_text("\n".join([head] + est) + "\n", encoding="utf-8")
    lc = read_load_curve(p)
    assert lc.flags[3] == ESTIMATED and lc.flags[4] == CORRECTED
    assert lc.flag_count(ESTIMATED) == 1 and lc.flag_count(CORRECTED) == 1
    # CONS and PROD in one file: each quantity read alone.
    prod = [ln.replace(";CONS;", ";PROD;") for ln in body]
    both = tmp_path / "both.csv"
    both.write_text("\n".join([head] + body + prod) + "\n", encoding="utf-8")
    cons = read_load_curve(both)
    assert cons.quantity == "consumption" and cons.times.size == 98
    assert cons.energy_wh.tolist() == read_load_curve(FIX / "r63_autumn_change_2023-10.csv"
                                                      ).energy_wh.tolist()
    pr = read_load_curve(both, quantity="production")
    assert pr.quantity == "production" and pr.energy_wh.tolist() == cons.energy_wh.tolist()
    only = tmp_path / "prod.csv"
    only.write_text("\n".join([head] + prod) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_load_curve(only)
    assert "prod.csv, column 'Grandeur métier': ce fichier ne contient que de la production" \
        in str(e.value) and "--quantity production" in str(e.value)


def test_r63_rows_out_of_order(tmp_path):
    lines = _r63_text(FIX / "r63_60_then_30min_2024-07.csv")
    head, body = lines[0], lines[1:]
    rng = np.random.default_rng(7)
    shuffled = [body[i] for i in rng.permutation(len(body))]
    p = tmp_path / "shuffled.csv"
    p.write_text("\n".join([head] + shuffled) + "\n", encoding="utf-8")
    a = read_load_curve(FIX / "r63_60_then_30min_2024-07.csv", allow_gaps=True, step_s=1800)
    b = read_load_curve(p, allow_gaps=True, step_s=1800)
    assert a.times.tolist() == b.times.tolist()
    assert np.array_equal(a.energy_wh, b.energy_wh, equal_nan=True)
    assert any("not in time order" in w for w in b.warnings)


def test_ten_minute_history_then_thirty(tmp_path):
    """A 10-minute history then 30-minute values, in the preamble layout with no Pas."""
    head = _preamble_text_head()
    t0 = dt.datetime(2024, 5, 1, 0, 0, tzinfo=PARIS)
    rows = []
    for k in range(1, 13):                       # 00:10 .. 02:00, 10-minute values
        rows.append((t0 + dt.timedelta(minutes=10 * k), 600 + k))
    for k in range(1, 5):                        # 02:30 .. 04:00, 30-minute values
        rows.append((t0 + dt.timedelta(hours=2, minutes=30 * k), 1200 + k))
    text = head + "".join(f"{t.isoformat()};{w}\n" for t, w in rows)
    p = tmp_path / "ten_then_thirty.csv"
    p.write_text(text, encoding="utf-8")
    lc = read_load_curve(p)
    assert lc.steps_min == (10, 30) and lc.step_s == 1800 and lc.missing_steps == 0
    # By hand: four half-hours from 10-minute values, then four 30-minute values.
    expect = [sum(w / 6 for _, w in rows[3 * i:3 * i + 3]) for i in range(4)]
    expect += [w / 2 for _, w in rows[12:]]
    assert lc.energy_wh.tolist() == pytest.approx(expect)
    assert str(lc.times[0]) == "2024-04-30T22:00:00"


def _preamble_text_head() -> str:
    src = (FIX / "sge_hdm_c5_cdc_60_then_30min.csv").read_text(encoding="utf-8-sig")
    return "".join(ln + "\n" for ln in src.splitlines()[:3])


def test_production_preamble_refused_for_consumption(tmp_path):
    text = _preamble_text_head().replace(";Consommation;", ";Production;")
    text += "2021-02-11T00:30:00+01:00;10\n2021-02-11T01:00:00+01:00;20\n"
    p = tmp_path / "prod.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"prod.csv, line 2, column 'Grandeur metier': ce "
                                         r"fichier ne contient que de la production"):
        read_load_curve(p)
    lc = read_load_curve(p, quantity="production")
    assert lc.energy_wh.tolist() == [5.0, 10.0]


def test_identical_repeated_rows_merged_different_refused(tmp_path):
    # The shape quoted from a real SGE file (sge-tiers-proxy test_cdc_duplicates).
    head = _preamble_text_head()
    rows = ["2022-07-04T14:00:00+02:00;64"] * 4 + ["2022-07-04T14:30:00+02:00;62"] * 4
    p = tmp_path / "dups.csv"
    p.write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    lc = read_load_curve(p)
    assert lc.energy_wh.tolist() == [32.0, 31.0]
    assert any("6 repeated row(s)" in w for w in lc.warnings)
    rows[1] = "2022-07-04T14:00:00+02:00;65"
    p.write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"dups.csv, line 5: the time "
                                         r"'2022-07-04T14:00:00\+02:00' is repeated with "
                                         r"another value: line 4 has '64 W', this line '65 W'"):
        read_load_curve(p)


def test_reading_the_real_file_twice_gives_the_same_curve():
    a = read_load_curve(FIX / "sge_hdm_c5_cdc_full.csv.gz", allow_gaps=True)
    raw = gzip.decompress((FIX / "sge_hdm_c5_cdc_full.csv.gz").read_bytes())
    from pvshare.enedis.loadcurve import parse_load_curve
    b = parse_load_curve(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8").read(),
                         allow_gaps=True)
    assert np.array_equal(a.energy_wh, b.energy_wh, equal_nan=True)
    assert a.times.tolist() == b.times.tolist()


def _xlsx_cells(path: Path) -> list[tuple]:
    """(Début, Fin, Valeur) text cells of the data sheet, read with openpyxl only."""
    import openpyxl
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = list(wb.worksheets[1].iter_rows(values_only=True))
    h = next(i for i, r in enumerate(rows) if "Début" in r)
    c = rows[h].index("Début")
    return [r[c:c + 3] for r in rows[h + 1:] if r[c]]


def test_customer_space_excel_week():
    path = FIX / "xlsx_courbe_2024-01-01_semaine.xlsx"
    cells = _xlsx_cells(path)
    lc = read_load_curve(path)
    assert lc.layout == "enedis-xlsx" and lc.prm == "09990000000063" and lc.step_s == 1800
    # By hand: "01/01/2024 00:00:00 → 00:30:00, 2,906 kW" is 1453 Wh in the step starting
    # 2023-12-31T23:00Z; a week minus its last half-hour (the export leaves it out).
    assert cells[0] == ("01/01/2024 00:00:00", "01/01/2024 00:30:00", "2,906")
    assert cells[-1][1] == "07/01/2024 23:30:00" and len(cells) == 7 * 48 - 1
    assert str(lc.times[0]) == "2023-12-31T23:00:00" and lc.energy_wh[0] == 1453.0
    assert lc.energy_wh.tolist() == pytest.approx(
        [float(v.replace(",", ".")) * 1000 / 2 for _, _, v in cells])


def test_excel_and_r63_exports_of_one_meter_agree():
    """Two real exports of the same meter and week, two layouts: same energies."""
    xl = read_load_curve(FIX / "xlsx_courbe_2024-01-01_semaine.xlsx")
    r63 = read_load_curve(FIX / "r63_week_2024-01-01.csv")
    assert r63.times.size == 336 and xl.times.tolist() == r63.times[:335].tolist()
    assert np.allclose(xl.energy_wh, r63.energy_wh[:335], rtol=0, atol=1e-9)


def test_customer_space_excel_daily_energy_is_not_a_load_curve():
    path = FIX / "xlsx_quotidien_2024-07-15_semaine.xlsx"
    with pytest.raises(InputError) as e:
        read_load_curve(path)
    assert str(e.value) == (
        f"{path}, line 14: ce fichier n'est pas une courbe de charge (il contient « Consommation "
        "Quotidienne ») : téléchargez la « courbe de charge » (consommation horaire, pas de 30 "
        "minutes) dans votre espace client Enedis")


def test_header_step_out_of_date(tmp_path):
    """The header says 30 minutes but the history is hourly (the Excel export warns that the
    step may change in the period): the spacing wins, with a warning, same energies.
    """
    src = FIX / "sge_hdm_c5_cdc_60_then_30min.csv"
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    assert lines[1].endswith(";W;")
    lines[1] += "30"
    p = tmp_path / "pas30.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    a = read_load_curve(src, allow_gaps=True, step_s=1800)
    b = read_load_curve(p, allow_gaps=True, step_s=1800)
    assert np.array_equal(a.energy_wh, b.energy_wh, equal_nan=True)
    assert any("the header says 30-minute steps but the rows from line 4 are 60 minutes apart"
               in w for w in b.warnings)
