"""Allocation from files: what ``pvshare allocate`` does, as one function.

Reads and checks every input first, computes, then writes every output atomically: a bad
input stops the run with a clear error and no output file is left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.allocation import KEYS, AllocationResult, allocate
from pvshare.enedis.keyfile import coefficients_permille, format_key_file
from pvshare.errors import InputError
from pvshare.files import csvio


@dataclass(frozen=True)
class FileAllocation:
    result: AllocationResult
    times: np.ndarray
    participants: list[str]


def allocate_files(production: Path, consumption: Path, key: str, out: Path, *,
                   coefficients: Path | None = None, step: str = "PT30M",
                   enedis_keys: Path | None = None, prm_map: Path | None = None,
                   tz: str = "Europe/Paris") -> FileAllocation:
    """Allocate the production of ``production`` among the participants of ``consumption``.

    Writes ``out`` (``time,participant,consumption_wh,allocated_wh,complement_wh``) and,
    when asked, the Enedis key file ``enedis_keys`` (needs ``prm_map``).

    Raises
    ------
    InputError
        Naming the file, line and column of the first problem found.
    """
    if key not in KEYS:
        raise InputError(f"unknown key {key!r}: use one of {', '.join(KEYS)}", field="--key")
    if (enedis_keys is None) != (prm_map is None):
        raise InputError("--enedis-keys and --prm-map go together", field="--enedis-keys")
    if key == "custom" and coefficients is None:
        raise InputError("the 'custom' key needs --coefficients (time,<participant>,…)",
                         field="--coefficients")
    if key == "priority" and coefficients is None:
        raise InputError("the 'priority' key needs --coefficients with a rank column "
                         "(participant,coefficient,rank)", field="--coefficients")

    prod = csvio.read_production(production, step)
    cons = csvio.read_consumption(consumption, step)
    csvio.check_same_steps(prod, cons)
    k = ranks = None
    if coefficients is not None:
        c = csvio.read_coefficients(coefficients, cons.columns, key, cons.times, step)
        k, ranks = c.coefficients, c.ranks
    prms = csvio.read_prm_map(prm_map, cons.columns) if prm_map is not None else None

    try:
        result = allocate(prod.values[:, 0], cons.values, key, coefficients=k, ranks=ranks)
    except ValueError as exc:       # inputs were checked above; this names what is left
        raise InputError(str(exc)) from None

    targets = [out] + ([enedis_keys] if enedis_keys is not None else [])
    with csvio.atomic_writes(*targets) as temps:
        frame = csvio.allocation_table(cons.times, cons.columns, cons.values, result.allocated)
        csvio.write_allocation_csv(temps[0], frame)
        if enedis_keys is not None:
            assert prms is not None  # --enedis-keys goes with --prm-map (checked above)
            text = format_key_file(cons.times, prms,
                                   coefficients_permille(result.allocated, result.production), tz)
            temps[1].write_text(text, encoding="utf-8")
    return FileAllocation(result, cons.times, cons.columns)
