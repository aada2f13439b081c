"""The register codec: typed values in 16-bit Modbus registers, one table for every reader.

Used by the SunSpec models (:mod:`pvshare.meters.sunspec_models`), the generic Modbus meter
and its device profiles (:mod:`pvshare.meters.modbus`) and the simulators. Pure: words in,
values out.

Each type has a struct format (big-endian bytes within a register, as Modbus sends them),
a size in registers, and the value SunSpec uses for "not implemented" (``None`` for the
types SunSpec does not define). Multi-register values are sent most significant word first
(``word_order="big"``, SunSpec and most devices); some devices send the least significant
word first (``word_order="little"``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

WordOrder = Literal["big", "little"]


@dataclass(frozen=True)
class RegisterType:
    """A register type: name, struct format (one value, big-endian), size in registers and
    SunSpec "not implemented" sentinel (None when the type has none).
    """

    name: str
    fmt: str
    size: int
    sentinel: int | None = None


TYPES: dict[str, RegisterType] = {t.name: t for t in (
    RegisterType("int16", ">h", 1, -0x8000),
    RegisterType("uint16", ">H", 1, 0xFFFF),
    RegisterType("acc16", ">H", 1, 0),
    RegisterType("enum16", ">H", 1, 0xFFFF),
    RegisterType("bitfield16", ">H", 1, 0xFFFF),
    RegisterType("sunssf", ">h", 1, -0x8000),
    RegisterType("int32", ">i", 2, -0x80000000),
    RegisterType("uint32", ">I", 2, 0xFFFFFFFF),
    RegisterType("acc32", ">I", 2, 0),
    RegisterType("bitfield32", ">I", 2, 0xFFFFFFFF),
    RegisterType("float32", ">f", 2),
    RegisterType("int64", ">q", 4, -0x8000000000000000),
    RegisterType("uint64", ">Q", 4, 0xFFFFFFFFFFFFFFFF),
    RegisterType("acc64", ">Q", 4, 0),
    RegisterType("float64", ">d", 4),
)}
#: The numeric types a device profile may use.
PROFILE_TYPES = ("int16", "uint16", "int32", "uint32", "float32", "int64", "uint64",
                 "float64")


def words_to_bytes(words: Sequence[int], word_order: WordOrder = "big") -> bytes:
    """Registers (0..65535 each) to bytes, most significant word first after ordering."""
    ws = list(words)
    if word_order == "little":
        ws.reverse()
    return b"".join(int(w).to_bytes(2, "big") for w in ws)


def bytes_to_words(data: bytes, word_order: WordOrder = "big") -> list[int]:
    """Bytes (even length) to registers; the inverse of :func:`words_to_bytes`."""
    ws = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
    if word_order == "little":
        ws.reverse()
    return ws


def unpack(type_name: str, words: Sequence[int], word_order: WordOrder = "big"):
    """The raw value of a register type from its first ``size`` words.

    Parameters
    ----------
    type_name : str
        A key of :data:`TYPES`.
    words : sequence of int
        At least the type's size.
    word_order : {"big", "little"}

    Returns
    -------
    int or float
        The raw value (sentinels are not interpreted here).
    """
    t = TYPES[type_name]
    return struct.unpack(t.fmt, words_to_bytes(words[: t.size], word_order))[0]


def pack(type_name: str, value, word_order: WordOrder = "big") -> list[int]:
    """The registers of a raw value (the inverse of :func:`unpack`)."""
    t = TYPES[type_name]
    return bytes_to_words(struct.pack(t.fmt, value), word_order)


def is_sentinel(type_name: str, raw) -> bool:
    """True when ``raw`` is SunSpec's "not implemented" value of the type (NaN for floats)."""
    t = TYPES[type_name]
    if t.sentinel is None:
        return isinstance(raw, float) and raw != raw
    return raw == t.sentinel
