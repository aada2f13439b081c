"""SunSpec register maps, declared as data (the Victron dbus-modbus-client way).

Each model is a table of typed registers: name, **offset** (0-based, counted from the first
register *after* the model's two-register header ``ID, L``), type, scale-factor name and
unit. Decoding is pure: words in, values out; nothing here does I/O.

Models declared: 1 (common), 101/102/103 (inverter, integers + scale factors),
111/112/113 (inverter, float32), 201-204 (meters: single, split, wye, delta; integers + scale
factors), 211-214 (the same meters in float32, e.g. a Fronius Smart Meter in its default
float map) and 701 (DER AC measurement, the newer IEEE 1547 models).
``tests/test_sunspec.py`` checks every offset, type, scale factor and unit against the
official SunSpec model definitions shipped with pysunspec2.

SunSpec rules applied here:

- A scale factor (``sunssf``) is a **signed** int16 power of ten, valid from -10 to 10:
  ``value = raw * 10**sf``.
- "Not implemented" values map to ``None``: int16 0x8000, uint16 0xFFFF, acc16/acc32 0,
  uint32 0xFFFFFFFF, int32 0x80000000, float32 NaN, enum16 0xFFFF, bitfield16 0xFFFF,
  bitfield32 0xFFFFFFFF, sunssf 0x8000, a string of NUL bytes.
- A value whose scale factor is not implemented (or out of range) is ``None`` too.

References
----------
SunSpec Alliance, "SunSpec Information Model Specification" v1.0 (2015) and the model
definitions at https://github.com/sunspec/models (JSON, as shipped in pysunspec2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pvshare.meters import registers

#: "SunS" as two registers, at the base address of the map.
SUNS_MARKER = (0x5375, 0x6E53)
#: Base addresses tried in order (SunSpec spec: 40000, then 0, then 50000).
BASE_ADDRESSES = (40000, 0, 50000)
#: Model id of the end marker.
END_MODEL_ID = 0xFFFF
#: SunSpec scale factors are limited to 10^-10 .. 10^10.
SF_MIN, SF_MAX = -10, 10
ACC32_MODULUS = 1 << 32


# --- typed registers ---------------------------------------------------------------------
@dataclass(frozen=True)
class Reg:
    """One SunSpec point.

    Parameters
    ----------
    name : str
        SunSpec point name (``W``, ``WH_SF``...).
    offset : int
        Register offset from the first register after the model header (0-based).
    sf : str, optional
        Name of the scale-factor point of the same model.
    unit : str, optional
        SunSpec unit (``W``, ``Wh``, ``A``...).
    """

    name: str
    offset: int
    sf: str | None = None
    unit: str | None = None

    #: SunSpec type name, as in the model definitions.
    type: ClassVar[str] = ""
    #: Size in registers (16-bit words).
    size: ClassVar[int] = 1

    @property
    def words(self) -> int:
        """Size of the point, in registers."""
        return self.size

    def decode(self, words: Sequence[int]):
        """The raw value of this point from its words, or ``None`` if not implemented."""
        raise NotImplementedError

    def encode(self, value) -> list[int]:
        """Words for a raw value (``None`` gives the not-implemented sentinel)."""
        raise NotImplementedError


class _Int(Reg):
    """An integer point: its format, size and sentinel come from the register codec."""

    def decode(self, words):
        raw = registers.unpack(self.type, words)
        return None if registers.is_sentinel(self.type, raw) else raw

    def encode(self, value):
        sentinel = registers.TYPES[self.type].sentinel
        return registers.pack(self.type, sentinel if value is None else int(value))


class Int16(_Int):
    """A signed 16-bit integer, 0x8000 = not implemented."""

    type = "int16"


class UInt16(_Int):
    """An unsigned 16-bit integer, 0xFFFF = not implemented."""

    type = "uint16"


class Acc16(_Int):
    """A 16-bit accumulator, 0 = not accumulated."""

    type = "acc16"


class Enum16(_Int):
    """An enumeration, 0xFFFF = not implemented."""

    type = "enum16"


class Bitfield16(_Int):
    """16 flags, 0xFFFF = not implemented."""

    type = "bitfield16"


class SunSSF(_Int):
    """A scale factor: signed int16 exponent of ten, 0x8000 = not implemented."""

    type = "sunssf"

    def decode(self, words):
        """The exponent, or None when not implemented or out of -10..10."""
        raw = super().decode(words)
        return raw if raw is not None and SF_MIN <= raw <= SF_MAX else None


class Int32(_Int):
    """A signed 32-bit integer, 0x80000000 = not implemented."""

    type = "int32"
    size = 2


class UInt32(_Int):
    """An unsigned 32-bit integer, 0xFFFFFFFF = not implemented."""

    type = "uint32"
    size = 2


class Acc32(_Int):
    """A 32-bit accumulator (e.g. lifetime Wh); 0 = not accumulated; wraps at 2**32."""

    type = "acc32"
    size = 2


class Bitfield32(_Int):
    """32 flags, 0xFFFFFFFF = not implemented."""

    type = "bitfield32"
    size = 2


class UInt64(_Int):
    """An unsigned 64-bit integer (model 701's energies), 0xFFFFFFFFFFFFFFFF = not
    implemented.
    """

    type = "uint64"
    size = 4


class Acc64(_Int):
    """A 64-bit accumulator (model 701's lifetime energies); 0 = not accumulated."""

    type = "acc64"
    size = 4


class Float32(Reg):
    """An IEEE 754 single, NaN = not implemented."""

    type = "float32"
    size = 2

    def decode(self, words):
        """The value, or None for NaN."""
        raw = registers.unpack("float32", words)
        return None if math.isnan(raw) else raw

    def encode(self, value):
        """Two registers (None gives NaN)."""
        return registers.pack("float32", math.nan if value is None else float(value))


@dataclass(frozen=True)
class String(Reg):
    """A NUL-padded string of ``length`` registers."""

    length: int = 1
    type: ClassVar[str] = "string"

    @property
    def words(self) -> int:
        """Size of the string, in registers."""
        return self.length

    def decode(self, words):
        """The text up to its first NUL, or None when empty."""
        data = registers.words_to_bytes(words[: self.length])
        text = data.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()
        return text or None

    def encode(self, value):
        """The registers of a text, NUL-padded."""
        data = (value or "").encode("utf-8")[: 2 * self.length].ljust(2 * self.length, b"\0")
        return registers.bytes_to_words(data)


class Pad(Reg):
    """A padding register (no value)."""

    type = "pad"

    def decode(self, words):
        """Always None."""
        return None

    def encode(self, value):
        """The padding register 0x8000."""
        return [0x8000]


# --- models ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    """A SunSpec model: its id, its length (registers after the header) and its points."""

    id: int
    name: str
    length: int
    points: tuple[Reg, ...]

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {p.name: p for p in self.points})

    def point(self, name: str) -> Reg:
        """The point named ``name`` (KeyError when the model has none)."""
        return self._by_name[name]  # type: ignore[attr-defined]

    def __contains__(self, name: str) -> bool:
        return name in self._by_name  # type: ignore[attr-defined]


COMMON = Model(1, "common", 66, (
    String("Mn", 0, length=16),
    String("Md", 16, length=16),
    String("Opt", 32, length=8),
    String("Vr", 40, length=8),
    String("SN", 48, length=16),
    UInt16("DA", 64),
    Pad("Pad", 65),
))

_INVERTER_INT = (
    UInt16("A", 0, "A_SF", "A"),
    UInt16("AphA", 1, "A_SF", "A"),
    UInt16("AphB", 2, "A_SF", "A"),
    UInt16("AphC", 3, "A_SF", "A"),
    SunSSF("A_SF", 4),
    UInt16("PPVphAB", 5, "V_SF", "V"),
    UInt16("PPVphBC", 6, "V_SF", "V"),
    UInt16("PPVphCA", 7, "V_SF", "V"),
    UInt16("PhVphA", 8, "V_SF", "V"),
    UInt16("PhVphB", 9, "V_SF", "V"),
    UInt16("PhVphC", 10, "V_SF", "V"),
    SunSSF("V_SF", 11),
    Int16("W", 12, "W_SF", "W"),
    SunSSF("W_SF", 13),
    UInt16("Hz", 14, "Hz_SF", "Hz"),
    SunSSF("Hz_SF", 15),
    Int16("VA", 16, "VA_SF", "VA"),
    SunSSF("VA_SF", 17),
    Int16("VAr", 18, "VAr_SF", "var"),
    SunSSF("VAr_SF", 19),
    Int16("PF", 20, "PF_SF", "Pct"),
    SunSSF("PF_SF", 21),
    Acc32("WH", 22, "WH_SF", "Wh"),
    SunSSF("WH_SF", 24),
    UInt16("DCA", 25, "DCA_SF", "A"),
    SunSSF("DCA_SF", 26),
    UInt16("DCV", 27, "DCV_SF", "V"),
    SunSSF("DCV_SF", 28),
    Int16("DCW", 29, "DCW_SF", "W"),
    SunSSF("DCW_SF", 30),
    Int16("TmpCab", 31, "Tmp_SF", "C"),
    Int16("TmpSnk", 32, "Tmp_SF", "C"),
    Int16("TmpTrns", 33, "Tmp_SF", "C"),
    Int16("TmpOt", 34, "Tmp_SF", "C"),
    SunSSF("Tmp_SF", 35),
    Enum16("St", 36),
    Enum16("StVnd", 37),
    Bitfield32("Evt1", 38),
    Bitfield32("Evt2", 40),
    Bitfield32("EvtVnd1", 42),
    Bitfield32("EvtVnd2", 44),
    Bitfield32("EvtVnd3", 46),
    Bitfield32("EvtVnd4", 48),
)

_INVERTER_FLOAT = (
    Float32("A", 0, unit="A"),
    Float32("AphA", 2, unit="A"),
    Float32("AphB", 4, unit="A"),
    Float32("AphC", 6, unit="A"),
    Float32("PPVphAB", 8, unit="V"),
    Float32("PPVphBC", 10, unit="V"),
    Float32("PPVphCA", 12, unit="V"),
    Float32("PhVphA", 14, unit="V"),
    Float32("PhVphB", 16, unit="V"),
    Float32("PhVphC", 18, unit="V"),
    Float32("W", 20, unit="W"),
    Float32("Hz", 22, unit="Hz"),
    Float32("VA", 24, unit="VA"),
    Float32("VAr", 26, unit="var"),
    Float32("PF", 28, unit="Pct"),
    Float32("WH", 30, unit="Wh"),
    Float32("DCA", 32, unit="A"),
    Float32("DCV", 34, unit="V"),
    Float32("DCW", 36, unit="W"),
    Float32("TmpCab", 38, unit="C"),
    Float32("TmpSnk", 40, unit="C"),
    Float32("TmpTrns", 42, unit="C"),
    Float32("TmpOt", 44, unit="C"),
    Enum16("St", 46),
    Enum16("StVnd", 47),
    Bitfield32("Evt1", 48),
    Bitfield32("Evt2", 50),
    Bitfield32("EvtVnd1", 52),
    Bitfield32("EvtVnd2", 54),
    Bitfield32("EvtVnd3", 56),
    Bitfield32("EvtVnd4", 58),
)


def _sequential(spec) -> tuple[Reg, ...]:
    """Points laid end to end from offset 0: ``(name, kind, sf, unit)`` tuples, a
    :class:`String` given as ``(name, String, length)``.
    """
    pts: list[Reg] = []
    offset = 0
    for item in spec:
        name, kind = item[0], item[1]
        if kind is String:
            pt: Reg = String(name, offset, length=item[2])
        else:
            pt = kind(name, offset, *item[2:])
        pts.append(pt)
        offset += pt.words
    return tuple(pts)


def _meter_int(line_voltages: tuple[str, ...]) -> tuple[Reg, ...]:
    """Meter models 201-204 (integers + scale factors); 201 names its line-to-line
    voltages ``PPVphAB``..., 202-204 ``PhVphAB``...
    """
    spec: list[tuple] = []

    def group(kind, names, sf, unit):
        spec.extend((n, kind, sf, unit) for n in names)
        spec.append((sf, SunSSF))

    group(Int16, ("A", "AphA", "AphB", "AphC"), "A_SF", "A")
    group(Int16, ("PhV", "PhVphA", "PhVphB", "PhVphC", "PPV", *line_voltages), "V_SF", "V")
    group(Int16, ("Hz",), "Hz_SF", "Hz")
    group(Int16, ("W", "WphA", "WphB", "WphC"), "W_SF", "W")
    group(Int16, ("VA", "VAphA", "VAphB", "VAphC"), "VA_SF", "VA")
    group(Int16, ("VAR", "VARphA", "VARphB", "VARphC"), "VAR_SF", "var")
    group(Int16, ("PF", "PFphA", "PFphB", "PFphC"), "PF_SF", "Pct")
    group(Acc32, ("TotWhExp", "TotWhExpPhA", "TotWhExpPhB", "TotWhExpPhC",
                  "TotWhImp", "TotWhImpPhA", "TotWhImpPhB", "TotWhImpPhC"), "TotWh_SF", "Wh")
    group(Acc32, ("TotVAhExp", "TotVAhExpPhA", "TotVAhExpPhB", "TotVAhExpPhC",
                  "TotVAhImp", "TotVAhImpPhA", "TotVAhImpPhB", "TotVAhImpPhC"),
          "TotVAh_SF", "VAh")
    group(Acc32, tuple(f"TotVArh{q}{ph}" for q in ("ImpQ1", "ImpQ2", "ExpQ3", "ExpQ4")
                       for ph in ("", "PhA", "PhB", "PhC")), "TotVArh_SF", "varh")
    spec.append(("Evt", Bitfield32))
    return _sequential(spec)


def _meter_float() -> tuple[Reg, ...]:
    """Meter models 211-214 (float32, no scale factors)."""
    spec: list[tuple] = []
    for names, unit in (
            (("A", "AphA", "AphB", "AphC"), "A"),
            (("PhV", "PhVphA", "PhVphB", "PhVphC", "PPV", "PPVphAB", "PPVphBC", "PPVphCA"),
             "V"),
            (("Hz",), "Hz"), (("W", "WphA", "WphB", "WphC"), "W"),
            (("VA", "VAphA", "VAphB", "VAphC"), "VA"),
            (("VAR", "VARphA", "VARphB", "VARphC"), "var"),
            (("PF", "PFphA", "PFphB", "PFphC"), "PF"),
            (("TotWhExp", "TotWhExpPhA", "TotWhExpPhB", "TotWhExpPhC",
              "TotWhImp", "TotWhImpPhA", "TotWhImpPhB", "TotWhImpPhC"), "Wh"),
            (("TotVAhExp", "TotVAhExpPhA", "TotVAhExpPhB", "TotVAhExpPhC",
              "TotVAhImp", "TotVAhImpPhA", "TotVAhImpPhB", "TotVAhImpPhC"), "VAh"),
            (tuple(f"TotVArh{q}{ph}" for q in ("ImpQ1", "ImpQ2", "ExpQ3", "ExpQ4")
                   for ph in ("", "phA", "phB", "phC")), "varh")):
        spec.extend((n, Float32, None, unit) for n in names)
    spec.append(("Evt", Bitfield32))
    return _sequential(spec)


def _der_701() -> tuple[Reg, ...]:
    """Model 701, DER AC measurement (the IEEE 1547 information models)."""
    spec: list[tuple] = [
        ("ACType", Enum16), ("St", Enum16), ("InvSt", Enum16), ("ConnSt", Enum16),
        ("Alrm", Bitfield32), ("DERMode", Bitfield32),
        ("W", Int16, "W_SF", "W"), ("VA", Int16, "VA_SF", "VA"),
        ("Var", Int16, "Var_SF", "Var"), ("PF", Int16, "PF_SF", None),
        ("A", Int16, "A_SF", "A"), ("LLV", UInt16, "V_SF", "V"), ("LNV", UInt16, "V_SF", "V"),
        ("Hz", UInt32, "Hz_SF", "Hz"),
        ("TotWhInj", UInt64, "TotWh_SF", "Wh"), ("TotWhAbs", UInt64, "TotWh_SF", "Wh"),
        ("TotVarhInj", UInt64, "TotVarh_SF", "Varh"),
        ("TotVarhAbs", UInt64, "TotVarh_SF", "Varh"),
        *((n, Int16, "Tmp_SF", "C")
          for n in ("TmpAmb", "TmpCab", "TmpSnk", "TmpTrns", "TmpSw", "TmpOt")),
    ]
    for ph, ll in (("L1", "VL1L2"), ("L2", "VL2L3"), ("L3", "VL3L1")):
        spec += [(f"W{ph}", Int16, "W_SF", "W"), (f"VA{ph}", Int16, "VA_SF", "VA"),
                 (f"Var{ph}", Int16, "Var_SF", "Var"), (f"PF{ph}", Int16, "PF_SF", None),
                 (f"A{ph}", Int16, "A_SF", "A"), (ll, UInt16, "V_SF", "V"),
                 (f"V{ph}", UInt16, "V_SF", "V"),
                 (f"TotWhInj{ph}", UInt64, "TotWh_SF", "Wh"),
                 (f"TotWhAbs{ph}", UInt64, "TotWh_SF", "Wh"),
                 (f"TotVarhInj{ph}", UInt64, "TotVarh_SF", "Varh"),
                 (f"TotVarhAbs{ph}", UInt64, "TotVarh_SF", "Varh")]
    spec += [("ThrotPct", UInt16, None, "Pct"), ("ThrotSrc", Bitfield32)]
    spec += [(n, SunSSF) for n in ("A_SF", "V_SF", "Hz_SF", "W_SF", "PF_SF", "VA_SF",
                                   "Var_SF", "TotWh_SF", "TotVarh_SF", "Tmp_SF")]
    spec.append(("MnAlrmInfo", String, 32))
    return _sequential(spec)


MODELS: dict[int, Model] = {1: COMMON}
for _id, _name in ((101, "inverter single phase"), (102, "inverter split phase"),
                   (103, "inverter three phase")):
    MODELS[_id] = Model(_id, _name, 50, _INVERTER_INT)
for _id, _name in ((111, "inverter single phase, float"), (112, "inverter split phase, float"),
                   (113, "inverter three phase, float")):
    MODELS[_id] = Model(_id, _name, 60, _INVERTER_FLOAT)
for _id, _name in ((201, "meter single phase"), (202, "meter split single phase"),
                   (203, "meter three phase wye"), (204, "meter three phase delta")):
    MODELS[_id] = Model(_id, _name, 105, _meter_int(
        ("PPVphAB", "PPVphBC", "PPVphCA") if _id == 201 else ("PhVphAB", "PhVphBC", "PhVphCA")))
for _id, _name in ((211, "meter single phase, float"), (212, "meter split phase, float"),
                   (213, "meter three phase wye, float"),
                   (214, "meter three phase delta, float")):
    MODELS[_id] = Model(_id, _name, 124, _meter_float())
MODELS[701] = Model(701, "DER AC measurement", 153, _der_701())

#: Models giving an inverter's production, in order of preference.
INVERTER_MODELS = (101, 102, 103, 111, 112, 113, 701)
#: Meter models (SunSpec meters count power positive when importing).
METER_MODELS = (201, 202, 203, 204, 211, 212, 213, 214)

#: Operating states (``St``, enum16) of inverter models 101-113.
INVERTER_STATES = {1: "OFF", 2: "SLEEPING", 3: "STARTING", 4: "MPPT", 5: "THROTTLED",
                   6: "SHUTTING_DOWN", 7: "FAULT", 8: "STANDBY"}


# --- pure decoding -------------------------------------------------------------------------
#: The scale factors SunSpec defines (sunssf): a value outside is no scale factor.
SF_MIN, SF_MAX = -10, 10


def apply_scale(raw, sf):
    """``raw * 10**sf``; ``None`` if either is ``None``.

    Parameters
    ----------
    raw : int or None
        Raw integer value of a point.
    sf : int or None
        Its decoded scale factor (signed, -10..10; outside that range the value is None).

    Returns
    -------
    float or None
        The value in the point's unit. Division is used for negative exponents so that
        e.g. ``123 * 10**-2`` gives exactly ``1.23``.
    """
    if raw is None or sf is None or not SF_MIN <= sf <= SF_MAX:
        return None  # outside -10..10 it is no scale factor (and 10**32767 overflows)
    if sf >= 0:
        return float(raw * 10 ** sf)
    return raw / 10 ** (-sf)


def decode_raw(model: Model, words: Sequence[int]) -> dict[str, object]:
    """Raw values (before scaling) of every point of ``model`` found in ``words``.

    ``words`` are the model's registers after its header, starting at offset 0; points
    beyond the end of ``words`` are left out.
    """
    out: dict[str, object] = {}
    n = len(words)
    for p in model.points:
        end = p.offset + p.words
        if end <= n:
            out[p.name] = p.decode(words[p.offset:end])
    return out


def decode_model(model: Model, words: Sequence[int]) -> dict[str, object]:
    """Scaled values of every point of ``model`` in ``words`` (the model body, after the
    header). A value and its scale factor come from the **same** ``words``: never from a
    cache. Scale-factor points themselves are returned as their exponent.
    """
    raw = decode_raw(model, words)
    out: dict[str, object] = {}
    for p in model.points:
        if p.name not in raw:
            continue
        v = raw[p.name]
        if p.sf is not None:
            v = apply_scale(v, raw.get(p.sf))
        out[p.name] = v
    return out


def encode_model(model: Model, raw_values: dict[str, object]) -> list[int]:
    """The model's words (header ``ID, L`` included) for raw values; missing points get
    their not-implemented sentinel. The inverse of :func:`decode_raw`.
    """
    words = [model.id, model.length] + [0] * model.length
    for p in model.points:
        w = p.encode(raw_values.get(p.name))
        words[2 + p.offset:2 + p.offset + p.words] = w
    return words


def acc32_wraps(prev_raw: int | None, raw: int | None, wraps: int) -> int:
    """Count of 2**32 roll-overs of an acc32 counter after a new raw value.

    A counter that goes backwards by more than half its range has wrapped (e.g.
    0xFFFFFF00 → 0x00000100); a smaller step back is left alone (a reset or noise, for
    :mod:`pvshare.meters.energy` to judge).
    """
    if prev_raw is None or raw is None:
        return wraps
    if raw < prev_raw and prev_raw - raw > ACC32_MODULUS // 2:
        return wraps + 1
    return wraps

