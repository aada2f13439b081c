"""Pure decoders of the MQTT payloads that Linky bridges publish.

No I/O, no clock: a decoder gets the payload bytes and the time the message was received
(UTC Unix seconds) and returns either a :class:`Decoded` (values + reading time) or a
:class:`Rejection` naming why the payload was refused. Any byte string gives one of the two;
a decoder never raises.

Formats
-------
``zlinky``: the LiXee ZLinky_TIC as zigbee2mqtt publishes it on ``zigbee2mqtt/<friendly
name>``, one JSON object per message holding the device's whole cached state. The properties
used are those of zigbee-herdsman-converters ``src/devices/lixee.ts`` and the zigbee2mqtt
device page ``docs/devices/ZLinky_TIC.md`` (Koenkk/zigbee2mqtt.io):

- ``current_summ_delivered`` (kWh): EAST (standard mode) or BASE (historique), the total
  drawn index. The converter divides the meter's Wh by 1000 and rounds to ``kWh_precision``
  digits, **0 by default**: set ``kWh_precision: 3`` in zigbee2mqtt, or the index moves in
  1 kWh steps. When it is absent or 0 while ``current_tier1_summ_delivered`` /
  ``current_tier2_summ_delivered`` (HCHC/HCHP, EASF01/EASF02) are given, their sum is used,
  as the converter itself does.
- ``current_summ_received`` (kWh): EAIT, the total injected index (producers only).
- ``apparent_power`` (VA): PAPP (historique) or SINSTS (standard).
- ``site_id``: the PRM (14 digits, a string); ``meter_serial_number``: ADCO/ADSC.
- ``last_seen``: only present when zigbee2mqtt's ``advanced.last_seen`` is set, as epoch
  milliseconds or ISO 8601 with an offset; it is the time zigbee2mqtt heard the device and
  becomes the reading time.

``teleinfo2mqtt``: fmartinou/teleinfo2mqtt publishes each TIC frame on ``teleinfo/<ADSC>``
(``<ADCO>`` in historique mode) as ``{"LABEL": {"raw": "<as sent>", "value": <number or
string>}, ...}`` (its ``docs/mqtt/README.md`` and ``app/teleinfo/standard/StandardTicMode.js``).
Labels used: EAST (Wh, total drawn), EAIT (Wh, injected), SINSTS (VA), PRM; historique:
BASE, or HCHC + HCHP (Wh), PAPP (VA). The ``DATE`` label carries the meter's horodate as
``"timestamp": {"date": "<ISO UTC>", "dst": "summer"|"winter"}``; it becomes the reading
time. teleinfo2mqtt turns identifiers into numbers in ``value`` (losing leading zeros), so
identifiers are read from ``raw``.

A payload time is trusted only between :data:`MIN_TIME_S` (2015, the Linky roll-out) and
``received_s + max_future_s``; otherwise the receive time is used and ``time_from_payload``
is False.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pvshare.meters import tic_labels
from pvshare.meters.tic import local_paris_to_utc_s, parse_horodate

#: Formats understood by :func:`decode`.
FORMATS = ("zlinky", "teleinfo2mqtt", "tasmota")

#: Rejection reasons (the keys of the meter's counters).
BAD_JSON = "bad_json"
NOT_OBJECT = "not_object"
UNKNOWN_FIELDS = "unknown_fields"
NON_NUMERIC = "non_numeric"
NEGATIVE_INDEX = "negative_index"
IMPLAUSIBLE_INDEX = "implausible_index"
IMPLAUSIBLE_POWER = "implausible_power"
PRM_MISMATCH = "prm_mismatch"
UNCONFIGURED = "unconfigured"
BAD_TIME = "bad_time"
INCOMPLETE = "incomplete"
#: Anything else a payload could raise in a decoder (a safety net: never expected).
UNREADABLE = "unreadable"
REASONS = (BAD_JSON, NOT_OBJECT, UNKNOWN_FIELDS, NON_NUMERIC, NEGATIVE_INDEX,
           IMPLAUSIBLE_INDEX, IMPLAUSIBLE_POWER, PRM_MISMATCH, UNCONFIGURED, BAD_TIME,
           INCOMPLETE, UNREADABLE)

_INF = float("inf")

#: 2015-01-01T00:00:00Z: no Linky reading can be older.
MIN_TIME_S = 1420070400.0
#: A payload time outside 1970..2100 is no time at all: the message is rejected (``bad_time``).
VALID_YEARS = (1970, 2100)
_VALID_FROM_S = 0.0
_VALID_TO_S = dt.datetime(VALID_YEARS[1] + 1, 1, 1, tzinfo=dt.UTC).timestamp()
#: A number as a meter or a bridge writes it: ASCII digits only (``float()`` alone also takes
#: ``1_000`` and other scripts' digits, ``١٢٣``), an optional sign, fraction and exponent.
_ASCII_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)


@dataclass(frozen=True, slots=True)
class Limits:
    """Plausibility limits.

    Parameters
    ----------
    max_power_va : float
        Largest believable apparent power, VA (a French home connection is at most 36 kVA).
    max_index_wh : float
        Largest believable cumulative index, Wh (the TIC index has 9 digits: < 1e9 Wh).
    max_future_s : float
        How far after the receive time a payload timestamp may be and still be trusted, s.
    """

    max_power_va: float = 40_000.0
    max_index_wh: float = 1e10
    max_future_s: float = 3600.0


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Decoded:
    """Values decoded from one payload. Energies in Wh, power in VA (≈ W for a home)."""

    time_s: float
    import_wh: float | None
    export_wh: float | None
    power_va: float | None
    prm: str | None = None
    time_from_payload: bool = False


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a payload was refused: ``reason`` (one of :data:`REASONS`) and a short detail."""

    reason: str
    detail: str


class _Reject(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def _number(value: Any, field: str) -> float:
    """A finite float from a JSON number or a numeric string; bools are not numbers."""
    if type(value) is float and value == value and value not in (_INF, -_INF):  # fast path
        return value
    if isinstance(value, bool) or value is None:
        raise _Reject(NON_NUMERIC, f"{field} = {value!r} is not a number")
    if isinstance(value, (int, float)):
        try:
            x = float(value)
        except OverflowError:
            raise _Reject(NON_NUMERIC, f"{field} is too large for a number") from None
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 40 or not _ASCII_NUMBER.match(text):
            raise _Reject(NON_NUMERIC, f"{field} = {value[:20]!r} is not a number (ASCII "
                          "digits only)")
        x = float(text)
    else:
        raise _Reject(NON_NUMERIC, f"{field} is a {type(value).__name__}, not a number")
    if not math.isfinite(x):
        raise _Reject(NON_NUMERIC, f"{field} = {value!r} is not a finite number")
    return x


def _index_wh(value: Any, field: str, scale: float, limits: Limits) -> float:
    x = _number(value, field) * scale
    if x < 0:
        raise _Reject(NEGATIVE_INDEX, f"{field} = {value!r} is negative")
    if x > limits.max_index_wh:
        raise _Reject(IMPLAUSIBLE_INDEX, f"{field} = {value!r} is above {limits.max_index_wh:g} Wh")
    return x


def _power_va(value: Any, field: str, limits: Limits) -> float:
    x = _number(value, field)
    if x < 0 or x > limits.max_power_va:
        raise _Reject(IMPLAUSIBLE_POWER,
                      f"{field} = {value!r} VA is outside 0..{limits.max_power_va:g} VA")
    return x


_json_decode = json.JSONDecoder().decode


def _parse_object(payload: bytes) -> dict:
    try:
        data = _json_decode(payload.decode("utf-8") if isinstance(payload, (bytes, bytearray))
                            else payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _Reject(BAD_JSON, f"not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise _Reject(NOT_OBJECT, f"JSON {type(data).__name__}, expected an object")
    return data


def _time_from(value: Any, received_s: float, limits: Limits) -> float | None:
    """Unix seconds of a payload timestamp (epoch ms or ISO 8601 with offset), or None when
    it is absent or not trustworthy (before :data:`MIN_TIME_S`, or too far in the future).

    Raises
    ------
    _Reject
        ``bad_time`` when it is no time at all: an overflowing or non-finite number, or a
        year outside :data:`VALID_YEARS`.
    """
    t: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            t = float(value) / 1000.0  # zigbee2mqtt's last_seen "epoch" is in milliseconds
        except OverflowError:
            raise _Reject(BAD_TIME, "last_seen is too large for a time") from None
        if not math.isfinite(t):
            raise _Reject(BAD_TIME, f"last_seen = {value!r} is not a time")
    elif isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            d = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if d.tzinfo is None:  # local time of an unknown zone: not trustworthy
            return None
        _check_year(d.year, "last_seen", value)
        try:
            t = d.timestamp()
        except (OverflowError, ValueError):
            raise _Reject(BAD_TIME, f"last_seen = {value[:40]!r} is not a time") from None
    if t is None:
        return None
    if not _VALID_FROM_S <= t < _VALID_TO_S:
        raise _Reject(BAD_TIME, f"last_seen = {value!r} is outside the years "
                      f"{VALID_YEARS[0]}..{VALID_YEARS[1]}")
    if t < MIN_TIME_S or t > received_s + limits.max_future_s:
        return None
    return t


def _check_year(year: int, field: str, value: Any) -> None:
    if not VALID_YEARS[0] <= year <= VALID_YEARS[1]:
        raise _Reject(BAD_TIME, f"{field} = {str(value)[:40]!r}: year {year} is outside "
                      f"{VALID_YEARS[0]}..{VALID_YEARS[1]}")


def _check_prm(prm: Any, field: str) -> str | None:
    if prm is None:
        return None
    if isinstance(prm, bool) or not isinstance(prm, (str, int)):
        raise _Reject(NON_NUMERIC, f"{field} is a {type(prm).__name__}, expected a PRM")
    s = str(prm).strip()
    return s or None


# -- zigbee2mqtt ZLinky_TIC ---------------------------------------------------------------------
_ZLINKY_ENERGY = ("current_summ_delivered", "current_summ_received", *tic_labels.ZLINKY_TIERS)
_ZLINKY_POWER = ("apparent_power", "apparent_power_ph_b", "apparent_power_ph_c",
                 "total_apparent_power", "injected_v_a")
_ZLINKY_KNOWN = frozenset(_ZLINKY_ENERGY + _ZLINKY_POWER)
_ZLINKY_TIER_NO = {name: i for i, name in enumerate(tic_labels.ZLINKY_TIERS, 1)}


def _snake(name: str) -> str:
    """The converter's rule, lixee.ts: ``at.split(/(?=[A-Z])/).join("_").toLowerCase()``."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _zlinky_fields(data: dict) -> tuple[dict, float]:
    """The known fields (snake_case) and the energy scale to Wh.

    Since zigbee-herdsman-converters b0c2a4d (2022-02-05) properties are snake_case and
    energies in kWh; the 2021 development versions published the ZCL attribute names in
    camelCase with the raw Wh values (zigbee-herdsman-converters PR #3493, ralmn's log).
    """
    fields = {k: data[k] for k in data.keys() & _ZLINKY_KNOWN}
    if fields:
        return fields, 1000.0
    camel = {}
    for k, v in data.items():
        if isinstance(k, str) and k[:1].islower() and not k.islower():
            snake = _snake(k)
            if snake in _ZLINKY_KNOWN:
                camel[snake] = v
    return camel, 1.0


def _zlinky(data: dict, received_s: float, limits: Limits) -> Decoded:
    fields, scale = _zlinky_fields(data)
    if not fields:
        raise _Reject(UNKNOWN_FIELDS, "no current_summ_delivered, current_summ_received, "
                      f"tier index or apparent_power among {len(data)} field(s)")
    summ = exp = power = None
    tiers = t12 = more = 0.0
    has_tier = any_energy = False
    phases: list[float] = []
    total = injected = None
    for k, v in fields.items():
        if v is None:
            continue
        n = _ZLINKY_TIER_NO.get(k)
        if n is not None:
            x = _index_wh(v, k, scale, limits)
            any_energy = any_energy or x != 0
            has_tier = True
            tiers += x
            if n <= 2:
                t12 += x
            else:
                more += x
        elif k == "current_summ_delivered":
            summ = _index_wh(v, k, scale, limits)
            any_energy = any_energy or summ != 0
        elif k == "current_summ_received":
            exp = _index_wh(v, k, scale, limits)
            any_energy = any_energy or exp != 0
        elif k == "total_apparent_power":
            total = _power_va(v, k, limits)
        elif k == "injected_v_a":
            injected = _power_va(v, k, limits)
        else:  # apparent_power, apparent_power_ph_b, apparent_power_ph_c
            phases.append(_power_va(v, k, limits))
    imp = summ
    if has_tier:
        if not summ:
            imp = tiers if tiers > 0 else summ
        elif more > 0 and abs(summ - t12) <= 1e-6 * max(summ, 1.0) + 1e-3:
            # historique Tempo or EJP: the converter set current_summ_delivered (BASE, 0) to
            # tier1 + tier2 only (lixee.ts, lines 514-522); the index is the sum of the tiers.
            imp = tiers
    if total is not None:
        power = total
    elif phases:
        power = phases[0] if len(phases) == 1 else sum(phases)
    ambiguous = False
    if injected is not None:
        if total is None and len(phases) <= 1 and injected > 0 and (power or 0.0) > 0:
            # One phase cannot draw and inject at once: SINSTS (apparent_power, cluster
            # haElectricalMeasurement) and SINSTI (injected_v_a, LiXee cluster 0xFF66) are
            # reported separately (lixee.ts) and zigbee2mqtt merges the last of each into
            # one state, so both non-zero means two instants: no power (never a difference
            # of two moments, a power that never existed).
            ambiguous, power = True, None
        else:
            power = (power or 0.0) - injected
    if power is not None and abs(power) > limits.max_power_va:
        raise _Reject(IMPLAUSIBLE_POWER, f"the phases sum to {power:g} VA, above "
                      f"{limits.max_power_va:g} VA")
    if imp is None and exp is None and power is None:
        if ambiguous:
            raise _Reject(INCOMPLETE, "apparent_power and injected_v_a both non-zero on a "
                          "single-phase meter (reports of two instants) and no index")
        raise _Reject(UNKNOWN_FIELDS, "every known field is null")
    if not any_energy and (summ is not None or exp is not None or has_tier) and not power:
        raise _Reject(UNCONFIGURED, "every index is 0: a ZLinky not yet linked to its meter "
                      "(check its TIC mode, historique or standard)")
    prm = _check_prm(data.get("site_id", data.get("siteId")), "site_id")
    t = _time_from(data.get("last_seen"), received_s, limits)
    return Decoded(time_s=received_s if t is None else t, import_wh=imp, export_wh=exp,
                   power_va=power, prm=prm, time_from_payload=t is not None)


# -- teleinfo2mqtt ------------------------------------------------------------------------------
def _label(data: dict, label: str) -> Any:
    """The value of a TIC label in a bridge's JSON.

    teleinfo2mqtt: ``{"raw": "<as sent>", "value": ...}``, ``raw`` preferred (the string as
    the meter sent it). Flat (Tasmota's ``TIC`` object, and any bridge that publishes a
    label's value directly): the number or string itself.
    """
    item = data.get(label)
    if item is None:
        return None
    if isinstance(item, dict):
        raw = item.get("raw")
        return item.get("value") if raw is None or raw == "" else raw
    if isinstance(item, (str, int, float)) and not isinstance(item, bool):
        return item
    raise _Reject(NON_NUMERIC, f"{label} is a {type(item).__name__}, expected a number, a "
                  'string or {"raw": ..., "value": ...}')


def _teleinfo_time(date: Any, received_s: float, limits: Limits) -> float | None:
    """The true UTC time of teleinfo2mqtt's DATE label, or None.

    teleinfo2mqtt (app/teleinfo/TicMode.js, ``parseFrameItem``) builds ``timestamp.date``
    with ``Date.UTC(...)`` from the meter's **local** horodate fields, so its ``Z`` is
    false, and ``dst`` is "winter" for an ``H`` season letter, "summer" for anything else
    (``E`` or a blank season). The horodate is read as Europe/Paris local time, the
    ``dst`` flag choosing between the two instants of the repeated autumn hour (and the
    offset inside the spring gap). A raw horodate (``E220609060531``), when a version
    publishes one in ``raw``, is exact and wins. A date whose year is outside
    :data:`VALID_YEARS` rejects the message (``bad_time``).
    """
    if not isinstance(date, dict):
        return None
    raw = date.get("raw")
    t: float | None = None
    if isinstance(raw, str) and len(raw) == 13:
        try:
            aware, _ = parse_horodate(raw)
        except ValueError:
            aware = None
        if aware is not None:
            t = aware.timestamp()
    ts = date.get("timestamp")
    if t is None and isinstance(ts, dict):
        text, dst = ts.get("date"), ts.get("dst")
        if isinstance(text, str) and 19 <= len(text) <= 30:
            try:
                as_utc = dt.datetime.fromisoformat(text)
            except ValueError:
                return None
            _check_year(as_utc.year, "DATE", text)
            summer = _DST.get(dst) if isinstance(dst, str) else None
            local_hour = as_utc.replace(tzinfo=None, minute=0, second=0, microsecond=0)
            if as_utc.tzinfo is None:
                as_utc = as_utc.replace(tzinfo=dt.UTC)
            t = as_utc.timestamp() - _paris_offset_s(local_hour, summer)
    if t is None or not math.isfinite(t) or t < MIN_TIME_S or \
            t > received_s + limits.max_future_s:
        return None
    return t


_DST = {"summer": True, "winter": False}


@functools.lru_cache(maxsize=1024)
def _paris_offset_s(local_hour: dt.datetime, summer: bool | None) -> float:
    """UTC offset (s) of a French local hour (naive, on the hour): clock changes happen on
    the hour, so the offset of a whole local hour is that of every second in it (cached: 48
    meters send the same hours).
    """
    return local_hour.replace(tzinfo=dt.UTC).timestamp() - \
        local_paris_to_utc_s(local_hour, summer)


_POWER_LABELS = frozenset({"SINSTS", "SINSTI", "PAPP"})
_READ_LABELS = frozenset(tic_labels.READ_LABELS)


def _teleinfo(data: dict, received_s: float, limits: Limits) -> Decoded:
    if not data.keys() & _READ_LABELS:
        raise _Reject(UNKNOWN_FIELDS, "no EAST, BASE, HCHC/HCHP, EJP, Tempo (BBRH…), EAIT, "
                      f"SINSTS or PAPP among {len(data)} label(s)")

    def get(label: str) -> float | None:
        v = _label(data, label)
        if v is None:
            return None
        if label in _POWER_LABELS:
            return _power_va(v, label, limits)
        return _index_wh(v, label, 1.0, limits)

    missing = tic_labels.incomplete_tariff(get)
    if missing is not None:
        raise _Reject(INCOMPLETE, f"{missing}: no index (a part of the tariff indices is "
                      "not the meter's index)")
    imp = tic_labels.import_wh(get)
    exp = tic_labels.export_wh(get)
    power = tic_labels.power_va(get)
    if imp is None and exp is None and power is None:
        raise _Reject(UNKNOWN_FIELDS, "every known label is null")
    prm_value = _label(data, "PRM")
    # a PRM published as a JSON number lost its leading zeros (Tasmota turns every all-digit
    # value into a number): it cannot be compared, so it is not used
    prm = _check_prm(prm_value, "PRM") if isinstance(prm_value, str) else None
    t = _teleinfo_time(data.get("DATE"), received_s, limits)
    return Decoded(time_s=received_s if t is None else t, import_wh=imp, export_wh=exp,
                   power_va=power, prm=prm, time_from_payload=t is not None)


def _tasmota(data: dict, received_s: float, limits: Limits) -> Decoded:
    """Tasmota's Teleinfo driver (``xnrg_15_teleinfo.ino``, ``NewFrameCallback`` and
    ``ResponseAppendTInfo``, arendst/Tasmota 02d7eb1) publishes each frame on
    ``tele/<topic>/SENSOR`` as ``{"TIC": {"ADCO": "…", "BASE": 12345678, "PAPP": 230, …}}``:
    every all-digit value as a JSON number, the others (and ADCO/ADSC) as strings. Its "raw
    changed" mode sends only the labels that changed (an ``HCHC`` without its ``HCHP`` is
    then refused as ``incomplete``: use ``EnergyConfig full``). Its ``Time`` is local time
    without an offset: the receive time is used.
    """
    tic = data.get("TIC")
    if tic is not None:
        if not isinstance(tic, dict):
            raise _Reject(NOT_OBJECT, f"TIC is a {type(tic).__name__}, expected an object")
        data = tic
    return _teleinfo(data, received_s, limits)


_DECODERS = {"zlinky": _zlinky, "teleinfo2mqtt": _teleinfo, "tasmota": _tasmota}


def decode(fmt: str, payload: bytes, received_s: float,
           limits: Limits = DEFAULT_LIMITS) -> Decoded | Rejection:
    """Decode one MQTT payload.

    Parameters
    ----------
    fmt : {"zlinky", "teleinfo2mqtt", "tasmota"}
        The bridge that published it.
    payload : bytes
        The message body, as received.
    received_s : float
        When it was received, UTC Unix seconds: the reading time when the payload has no
        trustworthy timestamp of its own.
    limits : Limits
        Plausibility limits.

    Returns
    -------
    Decoded or Rejection
        Never raises for any payload.
    """
    decoder = _DECODERS[fmt]
    try:
        return decoder(_parse_object(payload), received_s, limits)
    except _Reject as r:
        return Rejection(r.reason, r.detail)
    except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        # a value no rule above foresaw: refused, named, counted; never a traceback
        return Rejection(UNREADABLE, f"{type(exc).__name__}: {str(exc)[:120]}")


def excerpt(payload: bytes, limit: int = 80) -> str:
    """A short, printable excerpt of a payload for a log line (never the whole payload)."""
    text = payload[:limit].decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text + ("…" if len(payload) > limit else "")
