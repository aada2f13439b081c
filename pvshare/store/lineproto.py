"""The InfluxDB line format, in one place: pure functions from arrays to outbox rows, and
from outbox rows to the lines the forwarder sends.

A point is the row ``(measurement, tags, time_s, fields)``:

- ``tags``: line-protocol tag pairs without the site (``participant=A01``, or ``""``); the
  forwarder adds ``site=<name>`` first when it sends (:func:`site_tag`, :func:`to_lines`);
- ``time_s``: the step start (or reading time), integer UTC Unix seconds;
- ``fields``: line-protocol field pairs, floats only (``allocated_wh=12.5,coefficient=0.02``).
  A missing (NaN or infinite) value is left out, never sent as zero; a point whose fields
  are all missing is not produced at all.

Measurements (documented for users in docs/formats.md):

=====================  ===================  =================================================
measurement            tags                 fields
=====================  ===================  =================================================
``pvshare_step``       site                 production_wh, autoprod_wh, surplus_wh,
                                            consumption_wh, incomplete (0 or 1)
``pvshare_participant``  site, participant  consumption_wh, allocated_wh, complement_wh,
                                            coefficient (allocated / production, 0..1)
``pvshare_power``      site, meter          power_w
``pvshare_forecast``   site, kind           p10_w, p50_w, p90_w
=====================  ===================  =================================================

Everything is vectorised over steps and participants with numpy string operations.
"""

from __future__ import annotations

import numpy as np

STEP = "pvshare_step"
PARTICIPANT = "pvshare_participant"
POWER = "pvshare_power"
FORECAST = "pvshare_forecast"
#: Format of field values: 12 significant digits (Wh, W, and the coefficient 0..1).
FIELD_FORMAT = "%.12g"


def escape_tag(value: str) -> str:
    """Escape a tag key or value for InfluxDB line protocol (commas, equals, spaces)."""
    return (str(value).replace("\\", "\\\\").replace(",", r"\,").replace("=", r"\=")
            .replace(" ", r"\ "))


def site_tag(site_name: str) -> str:
    """The ``site=<name>`` tag pair every point is sent with (escaped)."""
    return f"site={escape_tag(site_name)}"


def to_lines(site_tag: str, rows) -> list[str]:
    """Line protocol of outbox rows ``(measurement, tags, time_s, fields)``.

    Parameters
    ----------
    site_tag : str
        The site's tag pair, from :func:`site_tag`.
    rows : iterable of (str, str, int, str)
        Outbox rows (see the module docstring).

    Returns
    -------
    list of str
        ``measurement,site=X[,tags] fields time_s`` (seconds precision), one per row.
    """
    return [f"{m},{site_tag}{',' + t if t else ''} {f} {ts}" for m, t, ts, f in rows]


def field_strings(fields: dict[str, np.ndarray]) -> np.ndarray:
    """Line-protocol field sets, one per point.

    Parameters
    ----------
    fields : dict of str to array_like
        Field name → values (any shape, all the same); floats, NaN or ±inf = missing.

    Returns
    -------
    numpy.ndarray of str
        ``name=value,name=value`` per point (same shape as the values, flattened to 1-D),
        values with 12 significant digits (:data:`FIELD_FORMAT`); ``""`` where every field
        is missing.
    """
    out = None
    for name, values in fields.items():
        v = np.asarray(values, dtype=np.float64).ravel()
        ok = np.isfinite(v)
        # ``astype(str)`` gives the shortest repr ('12.5', '1e-05'): valid line protocol.
        # 12 significant digits: no float noise such as 493.14699999999993 on the wire.
        text = np.char.mod(FIELD_FORMAT, np.where(ok, v, 0.0))
        part = np.where(ok, np.char.add(f"{name}=", text), "")
        if out is None:
            out = part
        else:
            sep = np.where((out != "") & (part != ""), ",", "")
            out = np.char.add(np.char.add(out, sep), part)
    return np.asarray(out if out is not None else np.zeros(0, dtype=str))


def _rows(measurement: str, tags: np.ndarray, time_s: np.ndarray, fields: np.ndarray) -> list:
    keep = fields != ""
    return list(zip([measurement] * int(keep.sum()), tags[keep].tolist(),
                    time_s[keep].tolist(), fields[keep].tolist()))


def allocation_points(step_starts_s, participant_ids, production_wh, consumption_wh,
                      allocated_wh, incomplete) -> list[tuple[str, str, int, str]]:
    """Outbox rows of allocation results: one ``pvshare_step`` point per step and one
    ``pvshare_participant`` point per step and participant.

    Parameters
    ----------
    step_starts_s : array_like of int, shape (T,)
        Step starts, UTC Unix seconds.
    participant_ids : sequence of str, length N
    production_wh : array_like, shape (T,)
        Production P per step, Wh.
    consumption_wh, allocated_wh : array_like, shape (T, N)
        Consumption C and allocated energy a (AUTOCONS), Wh; NaN = missing.
    incomplete : array_like of bool, shape (T,)

    Returns
    -------
    list of (measurement, tags, time_s, fields)
        Step points first, then participant points step by step.

    Notes
    -----
    ``autoprod_wh`` = Σa (missing a left out), ``surplus_wh`` = P − autoprod,
    ``consumption_wh`` (step) = Σ of the known C, ``complement_wh`` = C − a,
    ``coefficient`` = a / P (left out when P = 0).
    """
    t = np.asarray(step_starts_s, dtype=np.int64)
    p = np.asarray(production_wh, dtype=np.float64)
    c = np.asarray(consumption_wh, dtype=np.float64).reshape(len(t), -1)
    a = np.asarray(allocated_wh, dtype=np.float64).reshape(len(t), -1)
    inc = np.asarray(incomplete, dtype=bool)
    n = c.shape[1]
    autoprod = np.nansum(a, axis=1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        coef = np.where(p[:, None] > 0, a / p[:, None], np.nan)
    step_fields = field_strings({
        "production_wh": p, "autoprod_wh": autoprod, "surplus_wh": p - autoprod,
        "consumption_wh": np.where(np.isnan(c).all(axis=1), np.nan, np.nansum(c, axis=1)),
        "incomplete": inc.astype(np.float64)})
    part_fields = field_strings({
        "consumption_wh": c, "allocated_wh": a, "complement_wh": c - a, "coefficient": coef})
    tags = np.array([f"participant={escape_tag(pid)}" for pid in participant_ids], dtype=str)
    rows = _rows(STEP, np.full(len(t), ""), t, step_fields)
    rows += _rows(PARTICIPANT, np.tile(tags, len(t)), np.repeat(t, n), part_fields)
    return rows


def power_points(meter_ids, times_s, power_w) -> list[tuple[str, str, int, str]]:
    """Outbox rows of live power: ``pvshare_power,meter=<id> power_w=<W> <time_s>``.

    Parameters
    ----------
    meter_ids : sequence of str, length M
    times_s : array_like of float, shape (M,)
        Reading times, UTC Unix seconds (rounded down to the second).
    power_w : array_like of float, shape (M,)
        Power, W; NaN = missing (the point is left out).
    """
    ids = np.array([f"meter={escape_tag(m)}" for m in meter_ids], dtype=str)
    t = np.floor(np.asarray(times_s, dtype=np.float64)).astype(np.int64)
    return _rows(POWER, ids, t, field_strings({"power_w": power_w}))


def forecast_points(kind: str, step_starts_s, p10_w, p50_w, p90_w) -> list[tuple[str, str, int, str]]:
    """Outbox rows of a production forecast (``pvshare_forecast,kind=<kind>``), W per step.

    Parameters
    ----------
    kind : str
        e.g. ``intraday`` or ``dayahead``.
    step_starts_s : array_like of int, shape (T,)
    p10_w, p50_w, p90_w : array_like, shape (T,)
        Mean production power over the step, W (10 %, 50 %, 90 % quantiles); NaN = missing.
    """
    t = np.asarray(step_starts_s, dtype=np.int64)
    f = field_strings({"p10_w": p10_w, "p50_w": p50_w, "p90_w": p90_w})
    return _rows(FORECAST, np.full(len(t), f"kind={escape_tag(kind)}"), t, f)
