"""Allocation from files: what ``pvshare allocate`` does, as one function.

Reads and checks every input first, computes, then writes every output atomically: a bad
input stops the run with a clear error and no output file is left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.allocation import AllocationResult
from pvshare.allocation.spec import KeySpec
from pvshare.enedis.keyfile import coefficients_permille, format_key_file
from pvshare.errors import InputError
from pvshare.files import csvio
from pvshare.files.atomic import atomic_writes


@dataclass(frozen=True)
class FileAllocation:
    """What :func:`allocate_files` computed: the result, the steps and the participants."""

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
    spec = KeySpec.from_options(key, coefficients)
    if (enedis_keys is None) != (prm_map is None):
        raise InputError("--enedis-keys and --prm-map go together", field="--enedis-keys")

    prod = csvio.read_production(production, step)
    cons = csvio.read_consumption(consumption, step)
    csvio.check_same_steps(prod, cons)
    spec = spec.read_file(cons.columns, cons.times, step)
    prms = csvio.read_prm_map(prm_map, cons.columns) if prm_map is not None else None

    try:
        result = spec.allocate(prod.values[:, 0], cons.values)
    except ValueError as exc:       # inputs were checked above; this names what is left
        raise InputError(str(exc)) from None

    targets = [out] + ([enedis_keys] if enedis_keys is not None else [])
    with atomic_writes(*targets, mode=None) as temps:   # mode: as open() would
        frame = csvio.allocation_frame(cons.times, cons.columns, cons.values, result.allocated)
        csvio.write_allocation_csv(temps[0], frame)
        if enedis_keys is not None:
            assert prms is not None  # --enedis-keys goes with --prm-map (checked above)
            text = format_key_file(cons.times, prms,
                                   coefficients_permille(result.allocated, result.production), tz)
            temps[1].write_text(text, encoding="utf-8")
    return FileAllocation(result, cons.times, cons.columns)
