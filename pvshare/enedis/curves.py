"""Households' Enedis load curves → the consumption CSV that ``pvshare allocate`` reads.

One load-curve export per meter (PRM), in any layout :mod:`pvshare.enedis.loadcurve` reads,
becomes one column of ``time,<PRM>,<PRM>,…`` in Wh per step (``time`` = UTC step start with
its offset, see :mod:`pvshare.files.csvio`), empty where a meter has no value. An energy
advisor can then simulate a collective self-consumption operation from real households'
data: ``pvshare allocate --consumption consumption.csv …``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.enedis.loadcurve import (
    CORRECTED,
    DEFAULT_MAX_KVA,
    DOUBTFUL,
    ESTIMATED,
    SPREAD,
    LoadCurve,
    read_load_curve,
)
from pvshare.errors import InputError
from pvshare.files import csvio
from pvshare.timegrid import DEFAULT_TZ, format_utc, step_seconds

_PRM_RE = re.compile(r"(?<!\d)(\d{14})(?!\d)")


@dataclass(frozen=True)
class CurveSummary:
    """What was read from one file (for the advisor's check)."""

    source: str
    prm: str
    prm_from: str                # "file", "name" or "option"
    layout: str
    steps_min: tuple
    first: np.datetime64         # UTC start of the first step with a value
    last: np.datetime64          # UTC start of the last step with a value
    values: int                  # steps with a value
    missing: int                 # steps without a value inside [first, last]
    estimated: int
    corrected: int
    doubtful: int
    spread: int
    warnings: tuple


@dataclass(frozen=True)
class ConsumptionTable:
    """The table written: ``energy_wh[t, i]`` for meter ``prms[i]`` (NaN = no value)."""

    times: np.ndarray            # (T,) datetime64[s], UTC step starts
    prms: list[str]
    energy_wh: np.ndarray        # (T, N)
    summaries: list[CurveSummary]


def curves_to_consumption(files: list[str | Path], out: str | Path, *, step: str = "PT30M",
                          prms: list[str] | None = None, quantity: str = "consumption",
                          max_kva: float = DEFAULT_MAX_KVA,
                          tz: str = DEFAULT_TZ) -> ConsumptionTable:
    """Read one load-curve export per meter and write the consumption CSV of ``allocate``.

    Parameters
    ----------
    files : list of path
        One Enedis load-curve export (or ``time,power_w`` CSV) per meter.
    out : path
        The CSV written (atomically: nothing is written if any file is refused).
    step : str
        ``PT30M`` (default) or ``PT15M``: the step of the output. Finer values are summed
        into it; coarser values (an hourly history) are spread evenly and counted.
    prms : list of str, optional
        The PRM of each file, in order (default: the PRM the file names in its header or
        rows, else a 14-digit number in the file name).
    quantity : str
        ``consumption`` (default) or ``production``.
    max_kva : float
        Largest plausible average power, kVA (36 for a household).
    tz : str
        Time zone of timestamps written without an offset.

    Returns
    -------
    ConsumptionTable

    Raises
    ------
    InputError
        Naming the file (and line) of the first problem: a file that is not a load curve,
        a meter whose PRM cannot be told, the same PRM twice, no value at all.
    """
    try:
        step_s = step_seconds(step)
    except ValueError as exc:
        raise InputError(str(exc), field="--step") from None
    files = [Path(f) for f in files]
    if not files:
        raise InputError("give at least one load-curve file", field="FILE")
    if prms is not None and len(prms) != len(files):
        raise InputError(f"{len(prms)} --prm for {len(files)} files: give one per file, in the "
                         "same order", field="--prm")
    curves: list[LoadCurve] = []
    names: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for i, f in enumerate(files):
        lc = read_load_curve(f, tz=tz, allow_gaps=True, quantity=quantity, step_s=step_s,
                             max_kva=max_kva)
        prm, origin = _prm_of(lc, f, prms[i] if prms is not None else None)
        if prm in seen:
            raise InputError(f"PRM {prm} is also the meter of {seen[prm]}: give each meter's "
                             "export once (or name the meters with --prm)", source=str(f))
        seen[prm] = str(f)
        curves.append(lc)
        names.append((prm, origin))

    start = min(int(lc.times[0].astype(np.int64)) for lc in curves)
    end = max(int(lc.times[-1].astype(np.int64)) for lc in curves) + step_s
    grid = np.arange(start, end, step_s, dtype=np.int64)
    table = np.full((grid.size, len(curves)), np.nan)
    summaries = []
    for i, (lc, (prm, origin)) in enumerate(zip(curves, names)):
        idx = (lc.times.astype(np.int64) - start) // step_s
        table[idx, i] = lc.energy_wh
        has = ~np.isnan(lc.energy_wh)
        flags = lc.flags if lc.flags is not None else np.zeros(lc.times.size, np.uint8)
        summaries.append(CurveSummary(
            source=lc.source, prm=prm, prm_from=origin, layout=lc.layout,
            steps_min=lc.steps_min, first=lc.times[has][0], last=lc.times[has][-1],
            values=int(has.sum()), missing=int((~has).sum()),
            estimated=int((flags & ESTIMATED != 0).sum()),
            corrected=int((flags & CORRECTED != 0).sum()),
            doubtful=int((flags & DOUBTFUL != 0).sum()),
            spread=int((flags & SPREAD != 0).sum()), warnings=lc.warnings))
    times = grid.astype("datetime64[s]")
    prm_list = [p for p, _ in names]
    _write(out, times, prm_list, table)
    return ConsumptionTable(times=times, prms=prm_list, energy_wh=table, summaries=summaries)


def _prm_of(lc: LoadCurve, path: Path, given: str | None) -> tuple[str, str]:
    own = (lc.prm or "").strip()
    if given is not None:
        given = given.strip()
        if not re.fullmatch(r"\d{14}", given):
            raise InputError(f"--prm {given[:30]!r}: a PRM is 14 digits", source=str(path))
        if own and own != given:
            raise InputError(f"the file names the meter {own[:20]!r} but --prm says {given}",
                             source=str(path))
        return given, "option"
    if re.fullmatch(r"\d{14}", own):
        return own, "file"
    found = set(_PRM_RE.findall(path.name))
    if len(found) == 1:
        return found.pop(), "name"
    why = (f"its PRM {own[:20]!r} is not 14 digits" if own else "it names no meter")
    raise InputError(f"cannot tell which meter this file is for ({why}): put the 14-digit PRM "
                     "in the file name or give --prm, one per file", source=str(path))


def _write(out: str | Path, times: np.ndarray, prms: list[str], table: np.ndarray) -> None:
    import pandas as pd

    frame = pd.DataFrame(table, columns=prms)
    frame.insert(0, "time", format_utc(times))
    with csvio.atomic_writes(out) as (tmp,):
        frame.to_csv(tmp, index=False, float_format=f"%.{csvio.WH_DECIMALS}f", na_rep="")
