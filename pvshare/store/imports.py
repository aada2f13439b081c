"""``pvshare store import``: fill the store from curves, as the daemon would have.

For an operation without a daemon in the building (curves downloaded from Enedis, or a
simulation), or to try the PMO's month on example files: the production and consumption
CSVs that ``pvshare allocate`` reads are allocated with the **configuration's** key,
participants and periods, and written into the configuration's store. Every command that
reads the store (``enedis keys``, ``enedis reconcile``, ``bill``, ``report``, ``export``,
``web``) then works on them.

A consumption column is a participant's id or a PRM; a PRM column is the consumption of
every participant of that PRM (a flat's successive tenants), each in its own period.
Outside its period a participant is absent (zero), as in the daemon
(:mod:`pvshare.allocation.periods`); an empty cell inside it is a missing measurement (the
step is stored incomplete).

The store is never changed partly: steps it already holds are refused (``replace=True``
replaces them), and a daemon running on it is refused (its lock).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvshare.errors import InputError
from pvshare.i18n import _


@dataclass(frozen=True)
class Imported:
    """What :func:`import_curves` wrote."""

    store: Path
    steps: int
    first_s: int
    end_s: int
    participants: list[str]
    key: str
    production_wh: float
    allocated_wh: float
    consumption_wh: float
    incomplete_steps: int
    replaced_steps: int


def _columns(cfg, columns: list[str], source: str) -> list[int]:
    """For each participant of the config, the index of its consumption column."""
    ids = cfg.participant_ids
    by_prm: dict[str, list[str]] = {}
    for p in cfg.participants:
        by_prm.setdefault(p.prm, []).append(p.id)
    for c in columns:
        if c not in ids and c not in by_prm:
            raise InputError(_("column {column!r} is neither a participant nor a PRM of "
                               "the config {config}").format(column=c, config=cfg.source),
                             source=source, line=1)
    index = []
    for p in cfg.participants:
        if p.id in columns:
            index.append(columns.index(p.id))
        elif p.prm in columns:
            index.append(columns.index(p.prm))
        else:
            raise InputError(_("no column for participant {id!r} (its id or its PRM "
                               "{prm})").format(id=p.id, prm=p.prm), source=source, line=1)
    return index


def import_curves(config_path, production: Path, consumption: Path, *,
                  replace: bool = False) -> Imported:
    """Allocate the curves with the config's key and periods; write them into its store.

    Raises
    ------
    InputError
        A bad file (file, line, column), a column that matches no participant, steps the
        store already holds (without ``replace``).
    StoreLocked
        A daemon runs on the store.
    """
    from pvshare.allocation.periods import absent_as_zero
    from pvshare.allocation.spec import KeySpec
    from pvshare.config import load_config
    from pvshare.files import csvio
    from pvshare.store.db import Store
    from pvshare.store.lock import StoreLock
    from pvshare.timegrid import STEPS

    cfg = load_config(config_path)
    step = cfg.site.step
    step_h = STEPS[step] / 3600
    # What the array can make in a step, as `pvshare allocate --config`; a flat's
    # consumption has the general bound (the subscribed power differs from flat to flat).
    max_prod = cfg.array.kwp * 1000 * step_h * 1.3
    prod = csvio.read_production(production, step, max_wh=max_prod)
    cons = csvio.read_consumption(consumption, step)
    csvio.check_same_steps(prod, cons)
    cols = _columns(cfg, list(cons.columns), cons.source)
    key = KeySpec.from_config(cfg).read_file(cfg.participant_ids, cons.times, step,
                                             cfg.site.timezone)
    active = cfg.active(cons.times)
    consumption_wh = absent_as_zero(cons.values[:, cols], active)
    try:
        result = key.allocate(prod.values[:, 0], consumption_wh)
    except ValueError as exc:
        raise InputError(str(exc), source=cons.source) from None
    secs = cons.times.astype("datetime64[s]").astype(np.int64)
    step_s = int(STEPS[step])
    path = cfg.relative(cfg.store.path)
    lock = StoreLock(path).acquire()                 # no daemon writes meanwhile
    try:
        with Store.from_config(cfg) as store:
            done, _steps = store.allocated_steps(int(secs[0]), int(secs[-1]) + step_s)
            held = np.isin(secs, done)
            if held.any() and not replace:
                from pvshare.timegrid import format_utc
                first = format_utc(secs[held][:1].astype("datetime64[s]"))[0]
                raise InputError(_("the store {path} already holds {n} of these steps (from "
                                   "{first}): nothing was written; give --replace to replace "
                                   "them").format(path=path, n=int(held.sum()), first=first),
                                 field="--replace")
            store.write_allocation(secs, cfg.participant_ids, result.production,
                                   consumption_wh, result.allocated, result.incomplete,
                                   result.key, force=True)
    finally:
        lock.release()
    return Imported(path, len(secs), int(secs[0]), int(secs[-1]) + step_s,
                    cfg.participant_ids, str(result.key),
                    float(np.nansum(result.production)), float(np.nansum(result.allocated)),
                    float(np.nansum(consumption_wh)), int(result.incomplete.sum()),
                    int(held.sum()))
