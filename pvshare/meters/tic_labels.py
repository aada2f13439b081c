"""The TIC label table: every label pvshare reads, for both modes and every tariff option.

One home for the rules that turn a Linky's labels into a reading, used by the serial decoder
(:mod:`pvshare.meters.tic`) and by the MQTT payload decoders (:mod:`pvshare.meters.payloads`,
teleinfo2mqtt publishes TIC labels; the ZLinky's zigbee2mqtt properties map to them through
:data:`ZLINKY_PROPERTIES`).

Sources: Enedis-NOI-CPT_54E (TIC of the Linky, both modes) and, for the ZLinky properties,
zigbee-herdsman-converters ``src/devices/lixee.ts`` (commit df72005, lines 775-1352 standard
mode, 1458-1580 historique mode).

Rules
-----
* **Drawn index** (``import_wh``): standard mode ``EAST`` (the total of every supplier
  tier). Historique mode: ``BASE`` (option Base), else the **sum** of the tariff indices the
  frame holds: ``HCHC + HCHP`` (Heures Creuses), ``EJPHN + EJPHPM`` (EJP), the six Tempo
  indices ``BBRHCJB + BBRHPJB + BBRHCJW + BBRHPJW + BBRHCJR + BBRHPJR`` (blue, white, red
  days, off-peak and peak). A frame holding only part of an option's indices (HCHC without
  HCHP: a group lost on the wire, or a bridge that publishes only the labels that changed,
  as Tasmota's "changed" raw mode does) has **no** drawn index: the sum of part of them is
  not the meter's index (:func:`incomplete_tariff` says what is missing). The supplier tiers ``EASF01..EASF10`` of standard mode are
  not summed: EAST is their total, and a frame without EAST is incomplete.
* **Injected index** (``export_wh``): ``EAIT`` (standard mode, producers only).
* **Power** (apparent, VA, ≈ W for a home): standard ``SINSTS − SINSTI`` (negative while
  injecting; SINSTS is the total of the three phases on a three-phase meter), historique
  ``PAPP``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Tariff options and their drawn-energy labels (historique mode), Enedis-NOI-CPT_54E §6.1.
HISTORIQUE_OPTIONS: dict[str, tuple[str, ...]] = {
    "BASE": ("BASE",),
    "HC": ("HCHC", "HCHP"),
    "EJP": ("EJPHN", "EJPHPM"),
    "TEMPO": ("BBRHCJB", "BBRHPJB", "BBRHCJW", "BBRHPJW", "BBRHCJR", "BBRHPJR"),
}
#: Standard mode: the total, and the ten supplier tiers whatever the option.
STANDARD_TOTAL = "EAST"
STANDARD_TIERS = tuple(f"EASF{i:02d}" for i in range(1, 11))
#: Historique labels summed into the drawn index when BASE is absent (every option).
HISTORIQUE_TIERS: tuple[str, ...] = (HISTORIQUE_OPTIONS["HC"] + HISTORIQUE_OPTIONS["EJP"]
                                     + HISTORIQUE_OPTIONS["TEMPO"])

#: Labels whose data is a quantity (a decimal number), with their unit.
UNITS: dict[str, str] = {
    # standard mode
    "EAST": "Wh", "EAIT": "Wh",
    **{t: "Wh" for t in STANDARD_TIERS},
    **{f"EASD{i:02d}": "Wh" for i in range(1, 5)},
    **{f"ERQ{i}": "VArh" for i in range(1, 5)},
    **{f"IRMS{i}": "A" for i in range(1, 4)},
    **{f"URMS{i}": "V" for i in range(1, 4)},
    **{f"UMOY{i}": "V" for i in range(1, 4)},
    "PREF": "kVA", "PCOUP": "kVA",
    "SINSTS": "VA", "SINSTI": "VA",
    **{f"SINSTS{i}": "VA" for i in range(1, 4)},
    "SMAXSN": "VA", "SMAXSN-1": "VA", "SMAXIN": "VA", "SMAXIN-1": "VA",
    **{f"SMAXSN{i}": "VA" for i in range(1, 4)},
    **{f"SMAXSN{i}-1": "VA" for i in range(1, 4)},
    "CCASN": "W", "CCASN-1": "W", "CCAIN": "W", "CCAIN-1": "W",
    # historique mode
    **{label: "Wh" for labels in HISTORIQUE_OPTIONS.values() for label in labels},
    "ISOUSC": "A", "IINST": "A", "IMAX": "A", "ADPS": "A",
    **{f"IINST{i}": "A" for i in range(1, 4)},
    **{f"IMAX{i}": "A" for i in range(1, 4)},
    **{f"ADIR{i}": "A" for i in range(1, 4)},
    "PAPP": "VA", "PMAX": "W", "PEJP": "min",
}

#: Labels any of the rules below reads (a payload holding none of them is not a meter's).
READ_LABELS: tuple[str, ...] = (STANDARD_TOTAL, "BASE", *HISTORIQUE_TIERS, "EAIT", "SINSTS",
                                "SINSTI", "PAPP")


@dataclass(frozen=True)
class ZlinkyProperty:
    """A zigbee2mqtt ZLinky_TIC property: the TIC labels it carries and its unit."""

    name: str
    labels: tuple[str, ...]
    unit: str


#: zigbee2mqtt ZLinky_TIC properties (snake_case, as published since zigbee-herdsman-
#: converters b0c2a4d, 2022-02-05) -> the TIC labels they carry (lixee.ts, ``exposes``).
#: Tier n is EASF0n in standard mode, and in historique mode HCHC/HCHP (tiers 1-2),
#: EJPHN/EJPHPM (1-2) or the Tempo indices BBRHCJB, BBRHPJB, BBRHCJW, BBRHPJW, BBRHCJR,
#: BBRHPJR (1-6). ``current_summ_delivered`` is EAST or BASE.
ZLINKY_PROPERTIES: dict[str, ZlinkyProperty] = {p.name: p for p in (
    ZlinkyProperty("current_summ_delivered", ("EAST", "BASE"), "kWh"),
    ZlinkyProperty("current_summ_received", ("EAIT",), "kWh"),
    *(ZlinkyProperty(f"current_tier{i}_summ_delivered",
                     (STANDARD_TIERS[i - 1],) + tuple(
                         labels[i - 1] for opt, labels in HISTORIQUE_OPTIONS.items()
                         if opt != "BASE" and len(labels) >= i), "kWh")
      for i in range(1, 11)),
    ZlinkyProperty("apparent_power", ("SINSTS", "SINSTS1", "PAPP"), "VA"),
    ZlinkyProperty("apparent_power_ph_b", ("SINSTS2",), "VA"),
    ZlinkyProperty("apparent_power_ph_c", ("SINSTS3",), "VA"),
    ZlinkyProperty("total_apparent_power", ("SINSTS",), "VA"),
    ZlinkyProperty("injected_v_a", ("SINSTI",), "VA"),
)}
ZLINKY_TIERS = tuple(f"current_tier{i}_summ_delivered" for i in range(1, 11))


def incomplete_tariff(get: Callable[[str], Any]) -> str | None:
    """What is missing when a frame holds part of a tariff option's indices, else None.

    Parameters
    ----------
    get : callable
        ``get(label)`` -> the label's value, or None when absent.

    Returns
    -------
    str or None
        E.g. ``"HC frame holds HCHC but not HCHP"``; None when the frame has a total
        (EAST, BASE) or every index of each option it names.
    """
    if get(STANDARD_TOTAL) is not None or get("BASE") is not None:
        return None
    for option, labels in HISTORIQUE_OPTIONS.items():
        if option == "BASE":
            continue
        have = [lab for lab in labels if get(lab) is not None]
        if have and len(have) < len(labels):
            missing = [lab for lab in labels if lab not in have]
            return f"{option} frame holds {', '.join(have)} but not {', '.join(missing)}"
    return None


def import_wh(get: Callable[[str], Any]) -> Any:
    """The drawn index from a frame's labels (rule in the module docstring).

    Parameters
    ----------
    get : callable
        ``get(label)`` -> the label's value (a number in Wh), or None when absent.

    Returns
    -------
    number or None
        None also when the frame holds only part of a tariff option's indices.
    """
    v = get(STANDARD_TOTAL)
    if v is not None:
        return v
    v = get("BASE")
    if v is not None:
        return v
    total = None
    for option, labels in HISTORIQUE_OPTIONS.items():
        if option == "BASE":
            continue
        values = [get(lab) for lab in labels]
        present = [x for x in values if x is not None]
        if not present:
            continue
        if len(present) < len(labels):
            return None  # part of an option: no index (see incomplete_tariff)
        total = sum(present) if total is None else total + sum(present)
    return total


def export_wh(get: Callable[[str], Any]) -> Any:
    """The injected index (EAIT), or None."""
    return get("EAIT")


def power_va(get: Callable[[str], Any]) -> Any:
    """Apparent power, VA: ``SINSTS − SINSTI`` (standard), else ``PAPP``, else None."""
    s = get("SINSTS")
    if s is not None:
        i = get("SINSTI")
        return s if i is None else s - i
    return get("PAPP")
