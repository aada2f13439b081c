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
from pvshare.files.atomic import atomic_writes
from pvshare.i18n import _
from pvshare.identifiers import is_prm, prm_problem
from pvshare.timegrid import DEFAULT_TZ, format_utc, step_seconds

# [0-9], not \d: a PRM is 14 ASCII digits (pvshare.identifiers).
_PRM_RE = re.compile(r"(?<![0-9])([0-9]{14})(?![0-9])")
#: A PRM its owner masked (``1429xxxxxxxxxx``, ``1429**********``): 14 characters, digits
#: and mask characters.
_MASKED_RE = re.compile(r"[0-9xX*#•_.]{14}")


@dataclass(frozen=True)
class CurveSummary:
    """What was read from one file (for the advisor's check)."""

    source: str                  # the file(s), comma-separated
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
        a meter whose PRM cannot be told, two files of one meter that disagree on a step.

    Notes
    -----
    Several files of the same meter (the customer space's weekly Excel downloads, or two
    periods) are put together; where they overlap they must agree.
    """
    try:
        step_s = step_seconds(step)
    except ValueError as exc:
        raise InputError(str(exc), field="--step") from None
    if quantity not in ("consumption", "production"):
        raise InputError(_("expected consumption or production, got {value!r}").format(
            value=quantity[:30]), field="--quantity")
    files = [Path(f) for f in files]
    if not files:
        raise InputError(_("give at least one load-curve file"), field="FILE")
    if prms is not None and len(prms) != len(files):
        raise InputError(_("{n} --prm for {files} files: give one per file, in the same order")
                         .format(n=len(prms), files=len(files)), field="--prm")
    # Read every file; several files of one meter (weekly downloads) are put together.
    groups: dict[str, list[tuple[LoadCurve, str]]] = {}
    for i, f in enumerate(files):
        lc = read_load_curve(f, tz=tz, allow_gaps=True, quantity=quantity, step_s=step_s,
                             max_kva=max_kva)
        prm, origin = _prm_of(lc, f, prms[i] if prms is not None else None)
        groups.setdefault(prm, []).append((lc, origin))

    start = min(int(lc.times[0].astype(np.int64)) for g in groups.values() for lc, _o in g)
    end = max(int(lc.times[-1].astype(np.int64)) for g in groups.values() for lc, _o in g) \
        + step_s
    grid = np.arange(start, end, step_s, dtype=np.int64)
    table = np.full((grid.size, len(groups)), np.nan)
    summaries = []
    for i, (prm, group) in enumerate(groups.items()):
        flags = np.zeros(grid.size, np.uint8)
        owner = np.full(grid.size, -1)
        for j, (lc, _o) in enumerate(group):
            idx = (lc.times.astype(np.int64) - start) // step_s
            has = ~np.isnan(lc.energy_wh)
            idx, e = idx[has], lc.energy_wh[has]
            clash = ~np.isnan(table[idx, i]) & ~np.isclose(table[idx, i], e, rtol=0, atol=1e-6)
            if clash.any():
                k = int(np.flatnonzero(clash)[0])
                other = group[int(owner[idx[k]])][0].source
                t = format_utc(grid[idx[k]:idx[k] + 1].astype("datetime64[s]"))[0]
                raise InputError(_("meter {prm}: the step {time} is in {other} too, with "
                                   "another value ({there:.3f} Wh there, {here:.3f} Wh here)")
                                 .format(prm=prm, time=t, other=other,
                                         there=table[idx[k], i], here=e[k]),
                                 source=lc.source)
            table[idx, i] = e
            owner[idx] = j
            if lc.flags is not None:
                flags[idx] |= lc.flags[has]
        col = table[:, i]
        has = np.flatnonzero(~np.isnan(col))
        a, b = has[0], has[-1]
        origins = {o for _lc, o in group}
        summaries.append(CurveSummary(
            source=", ".join(lc.source for lc, _o in group), prm=prm,
            prm_from=origins.pop() if len(origins) == 1 else "file",
            layout="/".join(sorted({lc.layout for lc, _o in group})),
            steps_min=tuple(sorted({m for lc, _o in group for m in lc.steps_min})),
            first=grid[a].astype("datetime64[s]"), last=grid[b].astype("datetime64[s]"),
            values=int(has.size), missing=int(b - a + 1 - has.size),
            estimated=int((flags & ESTIMATED != 0).sum()),
            corrected=int((flags & CORRECTED != 0).sum()),
            doubtful=int((flags & DOUBTFUL != 0).sum()),
            spread=int((flags & SPREAD != 0).sum()),
            warnings=tuple(_("{where}: {message}").format(where=Path(lc.source).name,
                                                          message=w)
                           for lc, _o in group for w in lc.warnings)))
    times = grid.astype("datetime64[s]")
    prm_list = list(groups)
    _write(out, times, prm_list, table)
    return ConsumptionTable(times=times, prms=prm_list, energy_wh=table, summaries=summaries)


def _masked_agrees(masked: str, prm: str) -> bool | None:
    """Whether a masked PRM (``1429xxxxxxxxxx``) shows the same digits as ``prm`` where it
    shows any; None when ``masked`` is not a masked PRM.
    """
    if not _MASKED_RE.fullmatch(masked) or masked.isdigit():
        return None
    return all(a == b for a, b in zip(masked, prm) if a.isdigit())


def _prm_of(lc: LoadCurve, path: Path, given: str | None) -> tuple[str, str]:
    own = (lc.prm or "").strip()
    if given is not None:
        given = given.strip()
        problem = prm_problem(given)
        if problem:
            raise InputError(_("--prm: a PRM {problem}").format(problem=problem),
                             source=str(path))
        if own and own != given:
            agrees = _masked_agrees(own, given)
            if agrees is False:
                raise InputError(_("the file names the meter {meter!r} (masked) but --prm "
                                   "says {prm}: their visible digits differ").format(
                                       meter=own[:20], prm=given), source=str(path))
            if agrees is None and is_prm(own):
                raise InputError(_("the file names the meter {meter!r} but --prm says {prm}")
                                 .format(meter=own[:20], prm=given), source=str(path))
            # A masked or unreadable PRM in the file: --prm is the fix the message advised.
        return given, "option"
    if is_prm(own):
        return own, "file"
    found = set(_PRM_RE.findall(path.name))
    if len(found) == 1:
        return found.pop(), "name"
    if own:
        message = _("cannot tell which meter this file is for (its PRM {prm!r} is not 14 "
                    "digits): put the 14-digit PRM in the file name or give --prm, one per "
                    "file").format(prm=own[:20])
    else:
        message = _("cannot tell which meter this file is for (it names no meter): put the "
                    "14-digit PRM in the file name or give --prm, one per file")
    raise InputError(message, source=str(path))


def _write(out: str | Path, times: np.ndarray, prms: list[str], table: np.ndarray) -> None:
    import pandas as pd

    frame = pd.DataFrame(table, columns=prms)
    frame.insert(0, "time", format_utc(times))
    with atomic_writes(out) as (tmp,):   # households' data: private (0600)
        csvio.write_frame_csv(tmp, frame, float_format=f"%.{csvio.WH_DECIMALS}f")
