"""Enedis's monthly figures beside pvshare's, per PRM, with the likely cause of a gap.

Enedis counts by PRM; pvshare by participant. A flat's successive tenants share one PRM,
so pvshare's figures of every participant of a PRM are added for the comparison.

Causes pvshare can tell, in the order they are looked for:

* the PRM is not a participant of the month in the config, or has no figure at Enedis
  (a participant's period that differs between the config and Enedis);
* Enedis counts steps outside the config's periods of the PRM (per-step files only);
* missing meter data: steps of the month without pvshare measurement for the participant;
* the key file's rounding: Enedis's AUTOCONS matches what Enedis's formula gives from the
  rounded coefficients, not pvshare's exact allocation;
* the meter: pvshare's CONS differs from Enedis's (Linky) CONS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pvshare.enedis.acc import EnedisData
from pvshare.i18n import _

COLUMNS = ["prm", "participants", "enedis_cons_kwh", "pvshare_cons_kwh", "enedis_autocons_kwh",
           "pvshare_autocons_kwh", "diff_autocons_kwh", "diff_autocons_pct", "likely_cause"]
#: Gaps below both of these are agreement (kWh, fraction).
AGREE_KWH = 0.05
AGREE_FRACTION = 0.005


@dataclass(frozen=True)
class Reconciliation:
    """One row per PRM (dicts with :data:`COLUMNS`) and the operation's totals
    (:func:`operation_totals`).
    """

    rows: list[dict]
    totals: dict


def operation_totals(rows: list[dict]) -> dict:
    """The operation's figures: each side summed over **every** PRM it has (a PRM missing
    on the other side included), the gap computed on these totals, and the PRMs found on one
    side only.

    Returns
    -------
    dict
        ``enedis_cons_kwh``, ``pvshare_cons_kwh``, ``enedis_autocons_kwh``,
        ``pvshare_autocons_kwh`` (kWh, 3 decimals); ``diff_cons_kwh`` and
        ``diff_autocons_kwh`` (Enedis − pvshare, on the totals); ``diff_autocons_pct``
        (of pvshare's total; None when it is 0); ``only_enedis`` and ``only_pvshare``: the
        rows (PRM, participants, AUTOCONS) found on one side only.
    """
    def total(key):
        return round(sum(r[key] for r in rows if r[key] is not None), 3)

    t = {k: total(k) for k in ("enedis_cons_kwh", "pvshare_cons_kwh", "enedis_autocons_kwh",
                               "pvshare_autocons_kwh")}
    t["diff_cons_kwh"] = round(t["enedis_cons_kwh"] - t["pvshare_cons_kwh"], 3)
    t["diff_autocons_kwh"] = round(t["enedis_autocons_kwh"] - t["pvshare_autocons_kwh"], 3)
    t["diff_autocons_pct"] = (round(100 * t["diff_autocons_kwh"] / t["pvshare_autocons_kwh"], 2)
                              if t["pvshare_autocons_kwh"] else None)

    def at_enedis(r):
        return r["enedis_cons_kwh"] is not None or r["enedis_autocons_kwh"] is not None

    def at_pvshare(r):
        return r["pvshare_cons_kwh"] is not None or r["pvshare_autocons_kwh"] is not None

    t["only_enedis"] = [r for r in rows if at_enedis(r) and not at_pvshare(r)]
    t["only_pvshare"] = [r for r in rows if at_pvshare(r) and not at_enedis(r)]
    return t


def _kwh(wh) -> float | None:
    return None if wh is None else round(float(wh) / 1000, 3)


def reconcile(month, data: EnedisData, decimals: int = 2) -> Reconciliation:
    """Compare a :class:`pvshare.billing.month.Month` with Enedis's figures.

    Parameters
    ----------
    month : Month
        pvshare's figures (store) on the config's participants.
    data : EnedisData
        Enedis's files.
    decimals : int
        Decimals of the key files sent (to estimate their rounding).
    """
    from pvshare.enedis.rounding import enedis_allocation, grid_units, optimal_units
    m = month
    grid = grid_units(decimals)
    stored = m.stored
    prod = np.where(stored, np.nan_to_num(m.production_wh), 0.0)
    cons0 = np.where(stored[:, None], np.nan_to_num(m.consumption_wh), 0.0)
    alloc0 = np.where(stored[:, None], np.nan_to_num(m.allocated_wh), 0.0)
    units = optimal_units(alloc0, prod, grid)
    via_keys = enedis_allocation(units, prod, cons0, grid)           # Enedis's formula
    missing = m.active & (~stored[:, None] | np.isnan(m.consumption_wh))
    t_secs = m.times.astype(np.int64)

    config_prms = list(dict.fromkeys(m.prms))
    all_prms = config_prms + [p for p in data.prms if p not in config_prms]
    rows = []
    for prm in all_prms:
        cols = [i for i, p in enumerate(m.prms) if p == prm]
        on = [i for i in cols if m.active[:, i].any()]
        e_cons, e_auto = data.total("CONS", prm), data.total("AUTOCONS", prm)
        p_cons = float(cons0[:, on].sum()) if on else None
        p_auto = float(alloc0[:, on].sum()) if on else None
        p_keys = float(via_keys[:, on].sum()) if on else None
        if e_auto is None and e_cons is None and not on:
            continue
        diff = None if e_auto is None or p_auto is None else e_auto - p_auto
        pct = None if diff is None or not p_auto else 100 * diff / p_auto
        cause = _cause(prm, on, data, m, t_secs, missing, e_cons, e_auto, p_cons, p_auto,
                       p_keys, decimals)
        rows.append({
            "prm": prm, "participants": " ".join(m.participants[i] for i in on) or "-",
            "enedis_cons_kwh": _kwh(e_cons), "pvshare_cons_kwh": _kwh(p_cons),
            "enedis_autocons_kwh": _kwh(e_auto), "pvshare_autocons_kwh": _kwh(p_auto),
            "diff_autocons_kwh": _kwh(diff),
            "diff_autocons_pct": None if pct is None else round(pct, 2),
            "likely_cause": cause,
        })
    totals = operation_totals(rows)
    return Reconciliation(rows, totals)


def _small(diff_wh: float, ref_wh: float) -> bool:
    return abs(diff_wh) <= AGREE_KWH * 1000 or abs(diff_wh) <= AGREE_FRACTION * abs(ref_wh)


def _cause(prm, on, data, m, t_secs, missing, e_cons, e_auto, p_cons, p_auto, p_keys,
           decimals) -> str:
    if not on:
        return _("participant's period: this PRM has figures at Enedis but is not a "
                 "participant this month in the config")
    if e_auto is None and e_cons is None:
        return _("participant's period: a participant this month in the config, but absent "
                 "from Enedis's files (entry date at Enedis?)")
    causes = []
    for measure in ("CONS", "AUTOCONS"):
        if (measure, prm) in data.steps:
            st, wh = data.steps[(measure, prm)]
            present = m.active[:, on].any(axis=1)
            idx = np.searchsorted(t_secs, st.astype(np.int64))
            ok = (idx < len(t_secs)) & (t_secs[np.minimum(idx, len(t_secs) - 1)]
                                        == st.astype(np.int64))
            inside = np.zeros(len(st), dtype=bool)
            inside[ok] = present[idx[ok]]
            outside = (~inside) & (wh > 0)
            if outside.any():
                causes.append(_("participant's period: Enedis counts {n} step(s) with "
                                "{measure} outside the config's period ({kwh} kWh)").format(
                                    n=int(outside.sum()), measure=measure,
                                    kwh=f"{wh[outside].sum() / 1000:.3f}"))
                break
    n_missing = int(missing[:, on].sum())
    if n_missing:
        causes.append(_("missing meter data: {n} step(s) without pvshare measurement").format(
            n=n_missing))
    if e_auto is not None and p_auto is not None and not _small(e_auto - p_auto, p_auto):
        if _small(e_auto - p_keys, p_keys) and not causes:
            causes.append(_("key-file rounding ({decimals} decimals): Enedis's formula on "
                            "the rounded keys gives {kwh} kWh").format(
                                decimals=decimals, kwh=f"{p_keys / 1000:.3f}"))
    if e_cons is not None and p_cons is not None and not _small(e_cons - p_cons, p_cons) \
            and not causes:
        pct = 100 * (p_cons - e_cons) / e_cons if e_cons else float("inf")
        causes.append(_("meter: pvshare's CONS is {pct} from Enedis's").format(
            pct=f"{pct:+.1f} %"))
    if not causes:
        if e_auto is not None and p_auto is not None and _small(e_auto - p_auto, p_auto):
            return _("agrees")
        return _("unexplained")
    return "; ".join(causes)


def reconcile_files(config_path, month: str, files, out=None) -> Reconciliation:
    """What ``pvshare enedis reconcile`` does: read the config, the store and Enedis's files,
    compare, and write ``out`` (CSV) when given.
    """
    from pvshare.billing.month import month_from_store
    from pvshare.config import load_config
    from pvshare.enedis.acc import read_enedis_files

    cfg = load_config(config_path)
    data = read_enedis_files(files, cfg.site.timezone)
    m = month_from_store(cfg, month)
    result = reconcile(m, data, cfg.operation.key_decimals)
    if out is not None:
        from pvshare.files.csvio import write_rows_csv
        write_rows_csv(out, COLUMNS, result.rows)
    return result
