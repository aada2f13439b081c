"""Allocation from files: what ``pvshare allocate`` does, as one function.

Reads and checks every input first, computes, then writes every output atomically: a bad
input stops the run with a clear error and no output file is left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.allocation import AllocationResult, periods
from pvshare.allocation.spec import KeySpec
from pvshare.enedis.keyfile import TIME_STYLES, KeyFiles, build_key_files, normalise_operation
from pvshare.errors import InputError
from pvshare.files import csvio
from pvshare.files.atomic import atomic_writes
from pvshare.i18n import _
from pvshare.timegrid import step_seconds


def _check_key_options(operation: str, time_style: str, decimals: int) -> None:
    try:
        normalise_operation(operation)
    except ValueError as exc:
        raise InputError(str(exc), field="--operation") from None
    if time_style not in TIME_STYLES:
        raise InputError(_("must be one of {choices}, got {value!r}").format(
                             choices=', '.join(TIME_STYLES), value=time_style),
                         field="--enedis-time")
    if decimals not in (1, 2):
        raise InputError(_("must be 1 or 2, got {value!r}").format(value=decimals),
                         field="--enedis-decimals")


@dataclass(frozen=True)
class FileAllocation:
    """What ``pvshare allocate`` computed and wrote (``key_files``: the Enedis key files)."""

    result: AllocationResult
    times: np.ndarray
    participants: list[str]
    key_files: KeyFiles | None = None
    key_dir: Path | None = None
    prms: list[str] | None = None
    notes: tuple[str, ...] = ()     # warnings about the inputs, for a person


def allocate_files(production: Path, consumption: Path, key: str, out: Path, *,
                   coefficients: Path | None = None, step: str = "PT30M",
                   enedis_keys: Path | None = None, prm_map: Path | None = None,
                   tz: str = "Europe/Paris", operation: str | None = None,
                   enedis_time: str = "local", enedis_decimals: int = 2,
                   participants: Path | None = None, kwp: float | None = None,
                   kva: float | None = None,
                   config_prms: dict[str, str] | None = None,
                   config_source: str = "--config") -> FileAllocation:
    """Allocate the production of ``production`` among the participants of ``consumption``.

    Writes ``out`` (``time,participant,consumption_wh,allocated_wh,complement_wh``) and,
    only the steps of each participant's period when ``participants`` gives periods
    (``participant,prm,from,to``: absent = zero consumption, see
    :mod:`pvshare.allocation.periods`) and, when asked, the monthly Enedis key files into the folder ``enedis_keys`` (needs
    the PRMs, from ``prm_map``, ``participants`` or ``config_prms`` (participant → PRM of
    the site's configuration, named ``config_source``), and ``operation``; see
    :mod:`pvshare.enedis.keyfile`).

    Raises
    ------
    InputError
        Naming the file, line and column of the first problem found.
    """
    from pvshare.timegrid import STEPS
    if step not in STEPS:
        raise InputError(_("must be one of {choices}, got {value!r}").format(
                             choices=', '.join(STEPS), value=step), field="--step")
    if Path(out).is_dir():
        raise InputError(_("is a folder: give a file name"), source=str(out), field="--out")
    # Physical plausibility, as the daemon's (pvshare.meters.energy.max_step_wh): the array
    # cannot make more than its peak power, a flat cannot draw more than its meter lets
    # through (subscribed kVA), with a margin.
    from pvshare.meters.energy import max_step_wh
    max_prod = max_step_wh(kwp, STEPS[step]) if kwp else None
    max_cons = max_step_wh(kva, STEPS[step]) if kva else None
    spec = KeySpec.from_options(key, coefficients)
    if participants is not None and prm_map is not None:
        raise InputError(_("give --participants (participant,prm,from,to) or --prm-map, not "
                           "both"), field="--participants")
    if prm_map is not None or participants is not None:
        config_prms = None                     # the files given win over the config's
    if enedis_keys is not None and prm_map is None and participants is None \
            and not config_prms:
        raise InputError(_("--enedis-keys needs the PRMs: --participants, --prm-map or "
                           "--config"), field="--enedis-keys")
    if enedis_keys is not None:
        if not operation:
            raise InputError(_("--enedis-keys needs the operation id (--operation, e.g. "
                               "00000001): it names the files ACC<operation>_…"),
                             field="--operation")
        _check_key_options(operation, enedis_time, enedis_decimals)
        if enedis_keys.exists() and not enedis_keys.is_dir():
            raise InputError(_("--enedis-keys is a folder (one file per month is written in "
                               "it), and this is a file"), source=str(enedis_keys))

    prod = csvio.read_production(production, step, max_wh=max_prod)
    cons = csvio.read_consumption(consumption, step, max_wh=max_cons)
    csvio.check_same_steps(prod, cons)
    spec = spec.read_file(cons.columns, cons.times, step, tz)
    prms = csvio.read_prm_map(prm_map, cons.columns) if prm_map is not None else None
    if config_prms:
        absent = [p for p in cons.columns if p not in config_prms]
        if absent:
            raise InputError(_("participant {name!r} of {file} is not in the "
                               "configuration's [[participants]]: give --prm-map").format(
                                 name=absent[0], file=consumption),
                             source=config_source)
        prms = [config_prms[p] for p in cons.columns]
    active = None
    consumption_wh = cons.values
    if participants is not None:
        parts = csvio.read_participants(participants, cons.columns, cons.times, tz)
        prms, active = parts.prms, periods.active_mask(cons.times, parts.starts, parts.ends)
        consumption_wh = periods.absent_as_zero(cons.values, active)

    try:
        result = spec.allocate(prod.values[:, 0], consumption_wh)
    except ValueError as exc:       # inputs were checked above; this names what is left
        raise InputError(str(exc)) from None

    key_files = None
    targets = [out]
    if enedis_keys is not None:
        assert prms is not None and operation  # checked above
        key_files = build_key_files(cons.times, prms, result.allocated, result.production,
                                    result.consumption, operation=operation,
                                    step_s=step_seconds(step), decimals=enedis_decimals,
                                    time_style=enedis_time, tz=tz, active=active)
        targets += [enedis_keys / f.name for f in key_files.files]
    with atomic_writes(*targets) as temps:   # per-tenant data: private (0600)
        table = csvio.allocation_table(cons.times, cons.columns, consumption_wh,
                                       result.allocated, active=active)
        csvio.write_allocation_csv(temps[0], table)
        for tmp, f in zip(temps[1:], key_files.files if key_files else []):
            tmp.write_text(f.text, encoding="utf-8")
    return FileAllocation(result, cons.times, cons.columns, key_files, enedis_keys, prms,
                          prod.notes + cons.notes)
