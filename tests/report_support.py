"""Helpers of the report tests: read figures back from the pages, run the CLI, real data."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "example.toml"
REAL_HOUSEHOLD = ROOT / "pvshare" / "data" / "load" / "uci_household_sceaux_30min.csv.gz"
_FIG = re.compile(r'data-figure="([a-z_0-9]+)"[^>]*>([^<]*)<')


def parse_fr(text: str) -> float:
    """'1 234,5 kWh' → 1234.5 (the pages' French formatting, read independently)."""
    m = re.search(r"[−-]?\d[\d\u00a0\u202f ]*(?:,\d+)?", text)
    assert m, f"no number in {text!r}"
    s = m.group(0).replace("−", "-")
    return float(re.sub(r"[\u00a0\u202f ]", "", s).replace(",", "."))


def figures(html: str) -> dict[str, float]:
    """Every ``data-figure`` of a page, as numbers."""
    return {k: parse_fr(v) for k, v in _FIG.findall(html)}


def figure_texts(html: str) -> dict[str, str]:
    return dict(_FIG.findall(html))


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    return "\n".join(p.extract_text() or "" for p in PdfReader(str(path)).pages)


def pvshare(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "pvshare.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def real_household_series() -> pd.Series:
    """The UCI household (Sceaux) as mean power W indexed by UTC step **start**.

    The recorder's clock did not follow daylight saving time (48 values every day, the
    clock-change days included): its times are read as UTC+01:00 all year.
    """
    assert REAL_HOUSEHOLD.exists(), f"missing real data: {REAL_HOUSEHOLD}"
    with gzip.open(REAL_HOUSEHOLD, "rt") as f:
        df = pd.read_csv(f)
    start = pd.to_datetime(df.iloc[:, 0]) - pd.Timedelta(hours=1)
    return pd.Series(df.iloc[:, 1].to_numpy(float),
                     index=pd.DatetimeIndex(start).tz_localize("UTC"))


def write_plain_csv(series: pd.Series, path: Path) -> Path:
    """Write ``time,power_w`` with the interval END in local time with its offset."""
    ends = (series.index + pd.Timedelta(minutes=30)).tz_convert("Europe/Paris")
    stamps = ends.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)(\d\d)$", r"\1:\2",
                                                               regex=True)
    pd.DataFrame({"time": stamps, "power_w": np.round(series.to_numpy(), 1)}).to_csv(
        path, index=False)
    return path
