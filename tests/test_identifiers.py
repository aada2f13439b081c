"""Identifiers in one canonical form (issue 21): PRMs, participant ids, and the cells
pvshare writes to CSV (never a formula). Properties checked with hypothesis; the files are
real files read and written by the real readers and writers.
"""

from __future__ import annotations

import csv
import string
import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pvshare.allocation.periods import OPEN_END, OPEN_START, overlapping_pairs
from pvshare.files import csvio
from pvshare.identifiers import (
    duplicates,
    first_duplicate,
    is_prm,
    participant_id,
    prm_problem,
)

# -- PRMs -------------------------------------------------------------------------------------


@given(st.text(alphabet=string.digits, min_size=14, max_size=14))
def test_fourteen_ascii_digits_are_a_prm(prm):
    assert is_prm(prm) and prm_problem(prm) is None


@given(st.text(min_size=0, max_size=20))
def test_anything_else_is_refused_with_a_reason(text):
    ok = len(text) == 14 and all(c in string.digits for c in text)
    assert is_prm(text) == ok
    assert (prm_problem(text) is None) == ok
    if not ok:
        assert prm_problem(text).startswith("must be 14 digits, got ")


@pytest.mark.parametrize(("text", "why"), [
    ("30001234560001\n", "line break"),
    ("30001234560001 ", "spaces"),
    ("３０００１２３４５６０００１", "FULLWIDTH DIGIT"),
    ("٣٠٠٠١٢٣٤٥٦٠٠٠١", "ARABIC-INDIC DIGIT"),
    ("۳۰۰۰۱۲۳۴۵۶۰۰۰۱", "EXTENDED ARABIC-INDIC"),
    ("3000123456\u200b0001", "U+200B"),
    ("3000123456\u00a00001", "U+00A0"),
])
def test_what_hides_in_a_prm_is_named(text, why):
    assert why in prm_problem(text)


# -- participant ids --------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=30))
def test_participant_ids_are_nfc_visible_and_stable(text):
    try:
        canon = participant_id(text)
    except ValueError as exc:
        assert "empty" in str(exc) or "U+" in str(exc)
        return
    assert unicodedata.is_normalized("NFC", canon)
    assert participant_id(canon) == canon                           # idempotent
    assert participant_id(unicodedata.normalize("NFD", text)) == canon
    assert canon.strip()
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in canon)


@pytest.mark.parametrize("bad", ["\u200b", "A\u200b", "\u200d", "B\u2060", "\u202eC", "C\x00",
                                 "Jean\u00a0D", "   ", "D\u2028"])
def test_invisible_ids_are_refused(bad):
    with pytest.raises(ValueError):
        participant_id(bad)


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=12))
def test_duplicates_in_one_pass_match_the_definition(ids):
    found = duplicates(ids)
    expected = [(ids.index(x), j) for j, x in enumerate(ids) if ids.index(x) != j]
    assert found == expected
    assert first_duplicate(ids) == (expected[0] if expected else None)


# -- overlapping periods of one PRM (linear sweep) --------------------------------------------

bound = st.one_of(st.just(None), st.integers(0, 20))


def _period(row) -> bool:
    """A non-empty period (an empty one is refused before: 'to' must be after 'from')."""
    return row[1] is None or row[2] is None or row[1] < row[2]


@given(st.lists(st.tuples(st.sampled_from("xyz"), bound, bound).filter(_period), max_size=12))
def test_overlapping_pairs_flag_exactly_the_participants_that_overlap(rows):
    prms = [r[0] for r in rows]
    starts = np.array([OPEN_START if r[1] is None else r[1] for r in rows], dtype=np.int64)
    ends = np.array([OPEN_END if r[2] is None else r[2] for r in rows], dtype=np.int64)

    def overlap(i, j):
        return prms[i] == prms[j] and starts[i] < ends[j] and starts[j] < ends[i]

    pairs = overlapping_pairs(prms, starts, ends)
    brute = {(i, j) for j in range(len(rows)) for i in range(j) if overlap(i, j)}
    assert all(p in brute for p in pairs)                       # every pair reported is real
    assert all(i < j for i, j in pairs)
    assert pairs == sorted(pairs, key=lambda p: (p[1], p[0]))   # in file order
    assert bool(pairs) == bool(brute)
    flagged = {k for p in pairs for k in p}
    assert flagged == {k for p in brute for k in p}             # nobody who overlaps is missed


# -- what pvshare writes: never a formula, numbers kept ---------------------------------------


@given(st.text(max_size=20))
def test_no_text_cell_starts_like_a_formula(text):
    cell = csvio.safe_cell(text)
    if cell != text:
        assert cell == "'" + text
    elif text[:1] in ("=", "@", "\t", "\r") or text[:1] in "+-" and len(text) > 1:
        float(text)                                     # kept only because it is a number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_are_never_quoted(x):
    assert csvio.safe_cell(x) == x
    assert csvio.safe_cell(repr(x)) == repr(x)
    assert csvio.safe_cell(f"{x:.3f}") == f"{x:.3f}"


def test_every_writer_neutralises_formulas_and_keeps_negative_numbers(tmp_path):
    evil = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)",
            "-2+3", "\tx", "\rx"]
    # the row writer (bills, reconciliation)
    rows = [{"participant": e, "amount_eur": -12.5, "note": "-3.25"} for e in evil]
    csvio.write_rows_csv(tmp_path / "rows.csv", ["participant", "amount_eur", "note"], rows)
    # the DataFrame writer (export, Enedis curves) and the allocation writer
    frame = pd.DataFrame({"meter": evil, "energy_wh": [-1.0] * len(evil)})
    csvio.write_frame_csv(tmp_path / "frame.csv", frame)
    times = np.array(["2025-06-01T10:00:00"], dtype="datetime64[s]")
    table = csvio.allocation_table(times, evil, np.ones((1, len(evil))),
                                   np.zeros((1, len(evil))))
    csvio.write_allocation_csv(tmp_path / "alloc.csv", table)
    csvio.write_allocation_csv(tmp_path / "alloc_pd.csv", csvio.allocation_frame(
        times, evil, np.ones((1, len(evil))), np.zeros((1, len(evil)))))
    for name, text_col, num_cols in [("rows.csv", 0, {1: "-12.5", 2: "-3.25"}),
                                     ("frame.csv", 0, {1: "-1.000"}),
                                     ("alloc.csv", 1, {4: "1.000"}),
                                     ("alloc_pd.csv", 1, {4: "1.000"})]:
        with open(tmp_path / name, newline="", encoding="utf-8") as fh:
            body = list(csv.reader(fh))[1:]
        assert [r[text_col] for r in body] == ["'" + e for e in evil], name
        for r in body:
            for k, v in num_cols.items():
                assert r[k] == v, (name, r)
    assert (tmp_path / "alloc.csv").read_bytes() == (tmp_path / "alloc_pd.csv").read_bytes()
