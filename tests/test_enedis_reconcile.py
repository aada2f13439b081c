"""Enedis's monthly figures: readers, and reconciliation on a constructed month whose
differences are known (tests/pmo_support.py, tests/fixtures/enedis_pmo/)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvshare.enedis.acc import read_enedis_file
from pvshare.errors import InputError
from tests.pmo_support import make_site

PVSHARE = str(Path(sys.executable).with_name("pvshare"))
FIX = Path(__file__).parent / "fixtures" / "enedis_pmo"
ROWS = FIX / "enedis_rows_2025-06.csv"
R15 = FIX / "r15_acc_2025-06.xml"


def test_r15_acc_classes_by_hand():
    d = read_enedis_file(R15)
    # PRM …01: class 5 (autoconsommée) 2.5 + 9.86 kWh, class 4 (alloproduite) 0.3 + 0.34.
    assert d.totals[("AUTOCONS", "30000000000001")] == pytest.approx(12360)
    assert d.totals[("COMPLEMENT", "30000000000001")] == pytest.approx(640)
    assert d.total("CONS", "30000000000001") == pytest.approx(13000)
    assert d.by_class[("AUTOCONS", "30000000000001", "HP")] == pytest.approx(9860)
    # The producer: class 3 AUTOPROD, class 6 SURPLUS, unit from the header (kWh).
    assert d.totals[("AUTOPROD", "30000000000099")] == pytest.approx(120500)
    assert d.totals[("SURPLUS", "30000000000099")] == pytest.approx(30250)
    assert ("CONS", "30000000000099") not in d.totals      # class 1 (index) ignored


def test_rows_units_and_local_times():
    d = read_enedis_file(ROWS)
    # E: 5 steps of 200 W average over 30 min = 100 Wh each; AUTOCONS 120 W → 60 Wh.
    assert d.totals[("CONS", "30000000000005")] == pytest.approx(500)
    assert d.totals[("AUTOCONS", "30000000000005")] == pytest.approx(300)
    times, wh = d.steps[("AUTOCONS", "30000000000005")]
    # Horodate is the end of the step: 12:30 local (10:30Z) ends the step starting 10:00Z.
    assert str(times[0]) == "2025-06-02T10:00:00"
    assert d.totals[("AUTOCONS", "30000000000004")] == pytest.approx(400)   # 0,4 kWh


def test_rows_bad_input_names_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    text = ROWS.read_text(encoding="utf-8").splitlines()
    text[2] = text[2].replace(";AUTOCONS;", ";AUTOCONSO;")
    bad.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_enedis_file(bad)
    assert "line 3" in str(info.value) and "AUTOCONSO" in str(info.value)
    bad.write_text("<R15><PRM><Id_PRM>123</Id_PRM></PRM></R15>", encoding="utf-8")
    with pytest.raises(InputError, match="14 digits"):
        read_enedis_file(bad)


def test_reconcile_constructed_month(tmp_path):
    config = make_site(tmp_path)
    out = tmp_path / "reconcile.csv"
    r = subprocess.run([PVSHARE, "enedis", "reconcile", str(ROWS), "--config", str(config),
                        "--month", "2025-06", "--out", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        rows = {row["prm"]: row for row in csv.DictReader(f)}
    a, b, c, d, e, f_ = (rows[f"3000000000000{i}"] for i in (1, 2, 3, 4, 5, 6))
    # A: Enedis 12.360 kWh, pvshare 12.345 kWh: 15 Wh, within 0.05 kWh → agrees.
    assert (a["enedis_autocons_kwh"], a["pvshare_autocons_kwh"]) == ("12.36", "12.345")
    assert a["likely_cause"] == "agrees"
    # B: Enedis has 0.5 kWh more, on the step pvshare's meter missed.
    assert b["diff_autocons_kwh"] == "0.5"
    assert b["likely_cause"].startswith("missing meter data: 1 step")
    # C: Enedis counts 10 June, before C's 'from' (16 June) in the config.
    assert c["likely_cause"].startswith("participant's period: Enedis counts 1 step(s) with "
                                        "CONS outside the config's period (0.700 kWh)")
    # D: not a participant in the config.
    assert d["participants"] == "-" and "not a participant" in d["likely_cause"]
    # E: pvshare's exact share 41 Wh a step is 2.05 ‰ of 20 kWh; the key file (1 decimal)
    # rounds it up to 0.3 % = 60 Wh, under E's 100 Wh: Enedis gives 5 × 60 = 300 Wh.
    assert (e["enedis_autocons_kwh"], e["pvshare_autocons_kwh"]) == ("0.3", "0.205")
    assert e["likely_cause"].startswith("key-file rounding (1 decimals)")
    # F: in the config all month, absent from Enedis's file.
    assert "absent from Enedis's files" in f_["likely_cause"]
    # The operation: each side over every PRM it has (D's 0.4 kWh at Enedis, F at pvshare's),
    # the gap on these totals, and the PRMs of one side only named.
    text = " ".join(r.stdout.split())
    assert ("operation, every PRM of both sides: AUTOCONS Enedis 18.594 kWh, pvshare "
            "16.884 kWh, gap 1.71 kWh (+10.13 %); CONS Enedis 20.334 kWh, pvshare 17.834 kWh, "
            "gap 2.5 kWh") in text
    assert ("only at Enedis (1 PRM, not participants this month in the config): "
            "30000000000004 (AUTOCONS 0.4 kWh)") in text
    assert ("only in pvshare (1 PRM, absent from Enedis's files): 30000000000006 F "
            "(AUTOCONS 0 kWh)") in text


def test_reconcile_no_prm_in_common_shows_the_whole_gap(tmp_path):
    # The case: a store whose PRMs Enedis's file does not have (here only F, absent
    # from the file). The gap is on the totals: all of Enedis's 18.594 kWh, not 0.
    from pvshare.enedis.acc import read_enedis_files
    from pvshare.enedis.reconcile import reconcile_files
    config = make_site(tmp_path, _only("F"))
    r = reconcile_files(config, "2025-06", [ROWS])
    t = r.totals
    assert read_enedis_files([ROWS], "Europe/Paris").total("AUTOCONS", "30000000000001") \
        == pytest.approx(12360)
    assert (t["enedis_autocons_kwh"], t["pvshare_autocons_kwh"], t["diff_autocons_kwh"]) == \
        (18.594, 0.0, 18.594)
    assert t["diff_autocons_pct"] is None                     # of pvshare's 0 kWh
    assert sorted(row["prm"] for row in t["only_enedis"]) == [f"3000000000000{i}" for i in "12345"]
    assert [row["participants"] for row in t["only_pvshare"]] == ["F"]


def test_bill_from_enedis_figures(tmp_path):
    config = make_site(tmp_path)
    # R15 gives PRM …01 (A) 12.36 kWh: energy 123.6 c, excise 24.72 c, fee 100 c.
    # The other participants have no AUTOCONS in this file: a clear error names the PRM.
    out = tmp_path / "bills.csv"
    r = subprocess.run([PVSHARE, "bill", "--config", str(config), "--month", "2025-06",
                        "--out", str(out), "--enedis", str(R15)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "30000000000002" in r.stderr and not out.exists()
    r = subprocess.run([PVSHARE, "bill", "--config", str(config), "--month", "2025-06",
                        "--out", str(out), "--enedis", str(R15), "--enedis", str(ROWS)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "given twice" in r.stderr


def _only(*ids: str) -> str:
    from tests.pmo_support import CONFIG
    head, *blocks = CONFIG.split("[[participants]]")
    keep = [b for b in blocks if any(f'id = "{i}"' in b for i in ids)]
    return head + "".join("[[participants]]" + b for b in keep)


def test_bill_on_enedis_per_step_figures_follows_the_periods(tmp_path):
    config = make_site(tmp_path, _only("A", "C", "E"))
    out = tmp_path / "bills.csv"
    r = subprocess.run([PVSHARE, "bill", "--config", str(config), "--month", "2025-06",
                        "--out", str(out), "--enedis", str(ROWS)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        lines = {row["participant"]: row for row in csv.DictReader(f)}
    # C's 0.7 kWh of 10 June are before its 'from' (16 June): not billed to C.
    assert {k: v["kwh_selfconsumed"] for k, v in lines.items()} == \
        {"A": "12.36", "C": "3.333", "E": "0.3"}
    assert {v["source"] for v in lines.values()} == {"enedis"}
    # Energy 123.6 + 33.33 + 3.0 = 159.93 → 160 c: floors 159, one more to A (.6).
    assert [int(lines[k]["energy_cents"]) for k in "ACE"] == [124, 33, 3]


def test_bill_on_r15_totals(tmp_path):
    config = make_site(tmp_path, _only("A"))
    out = tmp_path / "bills.csv"
    r = subprocess.run([PVSHARE, "bill", "--config", str(config), "--month", "2025-06",
                        "--out", str(out), "--enedis", str(R15)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        (line,) = list(csv.DictReader(f))
    # 12.36 kWh × 10 c = 123.6 → 124; excise 24.72 → 25; fee 100; VAT 20 % of 248.32 =
    # 49.664 → 50; total 124 + 25 + 100 + 50 = 299.
    assert (line["kwh_selfconsumed"], line["energy_cents"], line["excise_cents"],
            line["vat_cents"], line["total_cents"]) == ("12.36", "124", "25", "50", "299")


def test_export_allocation_keeps_each_participant_in_its_period(tmp_path):
    config = make_site(tmp_path)
    out = tmp_path / "alloc.csv"
    r = subprocess.run([PVSHARE, "export", "--config", str(config), "--what", "allocation",
                        "--from", "2025-06-15T00:00:00", "--to", "2025-06-17T00:00:00",
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        rows = list(csv.DictReader(f))
    # Two local days = 96 steps; C (from 16 June local) only in the second: 48 rows.
    c_rows = [row for row in rows if row["participant"] == "C"]
    assert len(c_rows) == 48 and c_rows[0]["time"] == "2025-06-15T22:00:00+00:00"
    assert len([row for row in rows if row["participant"] == "A"]) == 96


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ROWS.read_text(encoding="utf-8").splitlines()
                                + ["", ";;;", "Horodate;Valeur", "<R15>", "30000000000001;x"]),
                max_size=8),
       st.integers(0, 200), st.text(max_size=5))
def test_readers_fuzz_only_clear_errors(tmp_path_factory, lines, cut, noise):
    # Real lines shuffled, truncated and salted: either read, or an InputError naming the file.
    from pvshare.enedis.acc import read_enedis_file
    text = "\n".join(lines)
    text = text[:cut] + noise + text[cut:]
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_text(text, encoding="utf-8")
    try:
        read_enedis_file(path)
    except InputError as exc:
        assert "f.csv" in str(exc)


def test_month_key_file_from_the_store(tmp_path):
    # The constructed June (tests/pmo_support.py), 1 decimal from the config. Step s1
    # (2 June 12:00 local): P = 20 kWh; A 12 345 Wh = 61.725 %, B 5.005 %, E 0.205 %:
    # floors 617 + 50 + 2 = 669 tenths, every remainder rounded up → 61,8 / 5,1 / 0,3.
    # C (from 16 June) and F are in the file (active this month); D is not a participant.
    config = make_site(tmp_path)
    out = tmp_path / "keys"
    r = subprocess.run([PVSHARE, "enedis", "keys", "--config", str(config), "--month",
                        "2025-06", "--out", str(out)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    (name,) = [p.name for p in out.iterdir()]
    assert name == "ACC00000001_30_01062025_30062025.txt"
    lines = (out / name).read_text().splitlines()
    assert lines[0] == ("Horodate;30000000000001;30000000000002;30000000000003;"
                        "30000000000005;30000000000006")
    assert len(lines) == 1 + 30 * 48
    row = next(line for line in lines if line.startswith("02/06/2025 12:00;"))
    assert row == "02/06/2025 12:00;61,8;5,1;0,0;0,3;0,0"
    assert "lost to rounding" in " ".join(r.stdout.split())
