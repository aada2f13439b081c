"""Bounded input and fuzzing of the load-curve reader: any bytes give a LoadCurve or an
InputError naming the file, in bounded memory, with a short message.
"""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.enedis.loadcurve import LoadCurve, read_load_curve
from pvshare.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "enedis"
REAL = [FIX / "sge_hdm_c5_cdc_60_then_30min.csv", FIX / "r63_autumn_change_2023-10.csv",
        FIX / "sge_hdm_c4_cdc_10min.csv", FIX / "sge_hdm_c5_pmax.csv"]


def test_a_one_gigabyte_line_is_refused_at_once_in_bounded_memory(tmp_path):
    p = tmp_path / "huge.csv"
    with p.open("wb") as f:
        f.write(b"Identifiant PRM;Type de donnees\n")
        f.truncate(2**30)                       # 1 GB: the rest is one line of NUL bytes
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as e:
            read_load_curve(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(e.value)
    assert msg.startswith(f"{p}, line 2: line longer than 16384 bytes")
    assert len(msg.encode()) < 500 and peak < 4 * 2**20


def test_a_gzip_bomb_line_is_refused_in_bounded_memory(tmp_path):
    p = tmp_path / "bomb.csv.gz"
    p.write_bytes(gzip.compress(b"time,power_w\n" + b"7" * 50_000_000, compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"bomb.csv.gz, line 2: line longer than"):
            read_load_curve(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


@pytest.mark.parametrize("body, expect", [
    ("time,power_w\n2024-01-01T00:30:00Z,1e308\n2024-01-01T01:00:00Z,1\n",
     "x.csv, line 2, column 'Valeur': the value '1e308' is not plausible: an average power "
     "above 36,000 W"),
    ("time,power_w\n2024-01-01T00:30:00Z,36001\n2024-01-01T01:00:00Z,1\n", "not plausible"),
    ("time,power_w\n2024-01-01T00:30:00Z," + "9" * 200 + "\n2024-01-01T01:00:00Z,1\n",
     "x.csv, line 2, column 'Valeur': the value '999999999999999999999999999999…' is too long"),
    ("time,power_w\n2024-01-01T00:30:00Z,5\n2024-01-01T00:30:00Z,1\n",
     "x.csv, line 3: the time '2024-01-01T00:30:00Z' is repeated with another value"),
    ("time,power_w\n2024-01-01T00:30:00Z,5\n2024-01-01T01:00:00Z,6\n2024-01-01T01:3",
     "x.csv, line 4: expected 'time,power_w', got '2024-01-01T01:3' (this is the last line: "
     "the file may have been cut)"),
    ("time,power_w\n2024-01-01T00:30:00Z,5\n2024-01-01T01:00:00Z,6\n2024-01-01T01:30:00Z,7x",
     "x.csv, line 4, column 'Valeur': the value '7x' is not a number (this is the last line: "
     "the file may have been cut)"),
    ("time,power_w\n0001-01-01T00:30:00Z,5\n0001-01-01T01:00:00Z,6\n", "not plausible"),
    ("time,power_w\n9999-12-31T23:30:00Z,5\n9999-12-31T23:59:00Z,6\n", "not plausible"),
    ("Identifiant PRM;Type de donnees;Unite\n1;Courbe de charge;W\nHorodate;Type de releve;"
     "EAS F1\n", "ce fichier n'est pas une courbe de charge (il contient des index"),
    ("Identifiant PRM;Horodate;Valeur;Grandeur physique;Unité\n1;2024-01-01 00:30:00;5;PMA;VA\n",
     "puissance maximale quotidienne"),
    ("time;power_w\n2024-01-01T00:00:00+01:00;500\n2024-01-02T00:00:00+01:00;600\n"
     "2024-01-03T00:00:00+01:00;700\n",
     "x.csv, line 2: ce fichier n'est pas une courbe de charge (ses valeurs sont espacées d'un "
     "jour"),
    ("time;power_w\n2024-01-01;500\n2024-01-02;600\n",
     "x.csv, line 2: ce fichier n'est pas une courbe de charge (ses dates n'ont pas d'heure"),
])
def test_bad_input_is_a_short_clear_error(tmp_path, body, expect):
    p = tmp_path / "x.csv"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_load_curve(p)
    assert expect in str(e.value) and str(e.value).startswith(str(p))
    assert len(str(e.value).encode()) < 500


def test_a_last_line_without_its_line_end_is_reported(tmp_path):
    text = (FIX / "r63_autumn_change_2023-10.csv").read_text(encoding="utf-8")
    p = tmp_path / "cut.csv"
    p.write_text(text.rstrip("\n"), encoding="utf-8")
    lc = read_load_curve(p)
    assert any("line (99) has no line end" in w for w in lc.warnings)
    assert not read_load_curve(FIX / "r63_autumn_change_2023-10.csv").warnings
    # Cut in the middle of its value: "…;2023-10-30 00:00:00;1460;B;…" → "…;14".
    lines = text.splitlines()
    cut = lines[-1].split(";")
    p.write_text("\n".join(lines[:-1] + [";".join(cut[:8] + [cut[8][:2]])]), encoding="utf-8")
    with pytest.raises(InputError, match=r"cut.csv, line 99: 9 fields, expected 13 .*the file "
                                         r"may have been cut"):
        read_load_curve(p)


def test_a_folder_or_a_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"this is a folder"):
        read_load_curve(tmp_path)
    with pytest.raises(InputError, match=r"file not found"):
        read_load_curve(tmp_path / "nope.csv")


def _check(p: Path) -> None:
    try:
        lc = read_load_curve(p, allow_gaps=True)
    except InputError as e:
        msg = str(e)
        assert msg.startswith(str(p)) and len(msg.encode()) < 1000
    else:
        assert isinstance(lc, LoadCurve)
        assert lc.times.size == lc.energy_wh.size == lc.flags.size >= 1
        assert np.all(np.diff(lc.times.astype(np.int64)) == lc.step_s)
        ok = ~np.isnan(lc.energy_wh)
        assert ok.any() and np.all(lc.energy_wh[ok] >= 0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=600))
def test_fuzz_any_bytes(tmp_path, data):
    p = tmp_path / "fuzz.csv"
    p.write_bytes(data)
    _check(p)


_REAL_BYTES = [f.read_bytes()[:4000] for f in REAL]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.integers(0, len(REAL) - 1),
       st.lists(st.tuples(st.integers(0, 3999), st.binary(max_size=8),
                          st.integers(0, 3)), max_size=6))
def test_fuzz_real_files_mutated(tmp_path, which, edits):
    data = bytearray(_REAL_BYTES[which])
    for pos, chunk, mode in edits:
        pos %= max(len(data), 1)
        if mode == 0:
            data[pos:pos + len(chunk)] = chunk          # overwrite
        elif mode == 1:
            data[pos:pos] = chunk                        # insert
        elif mode == 2:
            del data[pos:pos + 1 + len(chunk) * 10]      # cut a piece
        else:
            data = data[:pos]                            # truncate
    p = tmp_path / "mutated.csv"
    p.write_bytes(bytes(data))
    _check(p)
    if data[:2] != b"\x1f\x8b":
        g = tmp_path / "mutated.csv.gz"
        g.write_bytes(gzip.compress(bytes(data))[: max(10, len(data) // 3)])
        _check(g)                                        # a cut gzip stream


def test_an_excel_zip_bomb_is_refused_unread(tmp_path):
    import zipfile
    p = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * 100_000_000)
    assert p.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"bomb.xlsx: the Excel file holds more than 64 MB"):
            read_load_curve(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


_XLSX = (FIX / "xlsx_courbe_2024-01-01_semaine.xlsx").read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(_XLSX) - 1), st.binary(min_size=1, max_size=8)),
                min_size=1, max_size=4), st.booleans())
def test_fuzz_excel_mutated(tmp_path, edits, cut):
    data = bytearray(_XLSX)
    for pos, chunk in edits:
        data[pos:pos + len(chunk)] = chunk
    if cut:
        data = data[: edits[0][0] + 2]
    p = tmp_path / "mutated.xlsx"
    p.write_bytes(bytes(data))
    _check(p)


def _xlsx_members() -> dict[str, bytes]:
    import io
    import zipfile
    with zipfile.ZipFile(io.BytesIO(_XLSX)) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


_MEMBERS = _xlsx_members()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["xl/sharedStrings.xml", "xl/worksheets/sheet2.xml",
                        "xl/workbook.xml"]),
       st.lists(st.tuples(st.floats(0, 1), st.binary(max_size=6)), min_size=1, max_size=4))
def test_fuzz_excel_sheets_mutated_inside_a_valid_zip(tmp_path, member, edits):
    import zipfile
    data = bytearray(_MEMBERS[member])
    for where, chunk in edits:
        pos = int(where * (len(data) - 1))
        data[pos:pos + max(len(chunk), 1)] = chunk
    p = tmp_path / "mutated.xlsx"
    with zipfile.ZipFile(p, "w") as z:
        for name, body in _MEMBERS.items():
            z.writestr(name, bytes(data) if name == member else body)
    _check(p)
