"""The household report marks the values Enedis estimated, corrected or flagged (real R63
export, tests/fixtures/enedis/README.md)."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.report_support import figure_texts, pvshare

FIX = Path(__file__).parent / "fixtures" / "enedis"
DOUBTFUL = FIX / "r63_doubtful_2023-07-16.csv"


def _report(tmp_path: Path, src: Path) -> str:
    r = pvshare("report", "household", "--input", src, "--out", tmp_path / "out", "--format",
                "html")
    assert r.returncode == 0, r.stderr
    (html,) = (tmp_path / "out").glob("*.html")
    return html.read_text(encoding="utf-8")


def test_doubtful_and_estimated_values_are_shown(tmp_path):
    html = _report(tmp_path, DOUBTFUL)
    assert "1 valeur douteuse." in figure_texts(html)["quality"]
    assert 'data-figure="peak_quality"' not in html
    # The same day with its peak half-hour marked estimated (Nature E): the peak says so.
    with DOUBTFUL.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    peak = max(range(len(rows)), key=lambda k: float(rows[k]["Valeur"]))
    lines = DOUBTFUL.read_text(encoding="utf-8").splitlines()
    lines[peak + 1] = lines[peak + 1].replace(";B;PT30M;", ";E;PT30M;")
    est = tmp_path / "estimated.csv"
    est.write_text("\n".join(lines) + "\n", encoding="utf-8")
    html = _report(tmp_path / "2", est)
    texts = figure_texts(html)
    assert texts["peak_quality"] == "valeur estimée par Enedis"
    assert "1 valeur estimée, 1 valeur douteuse." in texts["quality"]


def test_a_measured_curve_has_no_quality_note(tmp_path):
    html = _report(tmp_path, FIX / "r63_autumn_change_2023-10.csv")
    assert 'data-figure="quality"' not in html and 'data-figure="peak_quality"' not in html
