"""The bundled sample year of the building: production and the 48 tenants' consumption.

Built by ``scripts/build_sample_year.py`` (see ``pvshare/data/sample_year/README.md``):
30-minute UTC steps of 2025 labelled by their start, energy in Wh per step. The tenants are
ONE real household resampled, not 48 real ones.

The two CSV files are in the format ``pvshare allocate`` reads (``PRODUCTION_CSV``:
``time,production_wh``; ``CONSUMPTION_CSV``: ``time,<participant>,...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_year"
PRODUCTION_CSV = SAMPLE_DIR / "production.csv.gz"
CONSUMPTION_CSV = SAMPLE_DIR / "consumption.csv.gz"


@dataclass(frozen=True)
class SampleYear:
    """One year of steps.

    Attributes
    ----------
    times : numpy.ndarray
        (T,) ``datetime64[s]`` UTC step starts.
    production_wh : numpy.ndarray
        (T,) rooftop production per step, Wh.
    consumption_wh : numpy.ndarray
        (T, N) consumption per step and participant, Wh.
    participants : list of str
        The N participant ids, in column order.
    """

    times: np.ndarray
    production_wh: np.ndarray
    consumption_wh: np.ndarray
    participants: list[str]

    @property
    def step_s(self) -> int:
        """Step length, seconds."""
        return int((self.times[1] - self.times[0]).astype(np.int64))


def _read(pd, path, columns: list[str] | None):
    """Read one CSV of the sample year: a ``time`` column, then numbers (Wh)."""
    try:
        frame = pd.read_csv(path, dtype={"time": str}, engine="c")
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"sample year: cannot read {path}: {exc}") from None
    if len(frame.columns) < 2 or frame.columns[0] != "time":
        raise ValueError(f"sample year: {path}: the first column must be 'time', "
                         f"then at least one value column")
    if columns is not None and list(frame.columns[1:]) != columns:
        raise ValueError(f"sample year: {path}: expected columns time,{','.join(columns)}")
    for c in frame.columns[1:]:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise ValueError(f"sample year: {path}: column {c!r} is not numbers")
    return frame


def _times(values, path) -> np.ndarray:
    text = np.asarray(values, dtype=str)
    if len(text) < 2:
        raise ValueError(f"sample year: {path}: need at least 2 steps")
    if not np.all(np.char.endswith(text, "+00:00")):
        raise ValueError(f"sample year: {path}: times must be UTC with a +00:00 offset")
    try:
        times = np.char.replace(text, "+00:00", "").astype("datetime64[s]")
    except ValueError:
        raise ValueError(f"sample year: {path}: a time is not ISO 8601") from None
    step = np.diff(times).astype(np.int64)
    if np.any(step <= 0) or np.any(step != step[0]):
        raise ValueError(f"sample year: {path}: times must be regular and increasing")
    return times


def load_sample_year(production_csv: str | Path = PRODUCTION_CSV,
                     consumption_csv: str | Path = CONSUMPTION_CSV) -> SampleYear:
    """Read the sample year (the bundled one by default).

    Returns
    -------
    SampleYear

    Raises
    ------
    ValueError
        If a file cannot be read or is malformed, or the two files do not share the same
        steps; the message names the file.
    """
    import pandas as pd

    prod = _read(pd, production_csv, ["production_wh"])
    cons = _read(pd, consumption_csv, None)
    times = _times(prod["time"].to_numpy(), production_csv)
    ctimes = _times(cons["time"].to_numpy(), consumption_csv)
    if len(times) != len(ctimes) or np.any(times != ctimes):
        raise ValueError(f"sample year: {production_csv} and {consumption_csv} "
                         "do not have the same steps")
    participants = [str(c) for c in cons.columns[1:]]
    return SampleYear(
        times=times,
        production_wh=prod["production_wh"].to_numpy(dtype=np.float64),
        consumption_wh=cons[participants].to_numpy(dtype=np.float64),
        participants=participants,
    )
