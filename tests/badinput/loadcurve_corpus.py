"""Bad load curves for ``pvshare report household`` (read by pvshare/enedis/loadcurve.py)."""

from __future__ import annotations

from pathlib import Path

from tests.badinput.corpus import BIG_LINE, w
from tests.badinput.harness import Case

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "enedis"


def _curve(values: list[str], start_day: int = 3) -> str:
    rows = []
    for i, v in enumerate(values):
        h, m = divmod(30 * (i + 1), 60)
        d = start_day + h // 24
        rows.append(f"2025-03-{d:02d}T{h % 24:02d}:{m:02d}:00+01:00,{v}")
    return "time,power_w\n" + "\n".join(rows) + "\n"


DAY = ["300"] * 48 * 2
VALID = _curve(DAY)


def household(content: str | bytes | None, *extra: str, name: str = "curve.csv") -> callable:
    def build(tmp: Path) -> list[str]:
        path = str(FIX / "enedis_rows_2023-10.csv") if content is None else \
            w(tmp, name, content)
        return ["report", "household", "--input", path, "--out", "rep", "--format", "html",
                *extra]
    return build


def with_value(i: int, v: str) -> str:
    vals = list(DAY)
    vals[i] = v
    return _curve(vals)


LOADCURVE_CASES: list[Case] = [
    Case("household-valid-csv", household(VALID), "ok"),
    Case("household-valid-enedis-rows", household(None), "ok"),
    Case("household-missing", lambda tmp: ["report", "household", "--input", "nope.csv",
                                           "--format", "html"], mention=("nope.csv",)),
    Case("household-folder", lambda tmp: ((tmp / "hdir").mkdir(), [
        "report", "household", "--input", "hdir", "--format", "html"])[1], mention=("hdir",)),
    Case("household-empty", household(""), mention=("curve.csv",)),
    Case("household-binary", household(bytes(range(256)) * 10), mention=("curve.csv",)),
    Case("household-1e308", household(with_value(5, "1e308")), mention=("curve.csv",
                                                                         "line 7")),
    Case("household-1e30", household(with_value(5, "1e30")), mention=("curve.csv", "line 7")),
    Case("household-above-kva", household(with_value(5, "50000"), "--kva", "6"),
         mention=("curve.csv", "line 7")),
    Case("household-inf", household(with_value(5, "inf")), mention=("curve.csv", "line 7")),
    Case("household-nan", household(with_value(5, "nan")), mention=("curve.csv", "line 7")),
    Case("household-negative", household(with_value(5, "-300")), mention=("curve.csv",
                                                                           "line 7")),
    Case("household-text", household(with_value(5, "abc")), mention=("curve.csv", "line 7")),
    Case("household-8mb-line", household(with_value(5, BIG_LINE)),
         mention=("curve.csv", "line 7")),
    Case("household-8mb-no-newline", household(BIG_LINE), mention=("curve.csv",)),
    Case("household-cut-mid-line", household(VALID[:-10]), mention=("curve.csv",)),
    Case("household-extra-cell", household(VALID.replace(",300\n", ",300,7\n", 1)),
         mention=("curve.csv", "line 2")),
    Case("household-gzip-damaged", household(b"\x1f\x8b" + b"\x00" * 50, name="c.csv.gz"),
         mention=("c.csv.gz",)),
    Case("household-gzip-bomb", household(__import__("gzip").compress(
        b"time,power_w\n" + b"9" * (200 << 20)), name="bomb.csv.gz"), mention=("bomb.csv.gz",)),
    # look-alike digits (issue 21): float() reads them, a load curve must not
    Case("household-value-arabic-indic", household(with_value(5, "٣٠٠")),
         mention=("curve.csv", "line 7")),
    Case("household-value-underscore", household(with_value(5, "3_00")),
         mention=("curve.csv", "line 7")),
    Case("household-value-fullwidth", household(with_value(5, "３００")),
         mention=("curve.csv", "line 7")),
    Case("household-time-arabic-indic", household(VALID.replace("2025-03-03T00:30",
                                                                "٢٠٢٥-03-03T00:30")),
         mention=("curve.csv", "line 2")),
    Case("household-year-0001", household(VALID.replace("2025-03-03T00:30", "0001-03-03T00:30")),
         mention=("curve.csv",)),
    Case("household-year-9999", household(VALID.replace("2025-03-04", "9999-03-04")),
         mention=("curve.csv",)),
]
