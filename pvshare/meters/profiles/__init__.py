"""Device profiles: a Modbus device's registers declared in one small TOML file.

In the spirit of evcc's templates: adding a Modbus meter or inverter is writing one file
``<name>.toml`` in this folder (or anywhere, named by path in the config), loaded by the
generic Modbus meter (:mod:`pvshare.meters.modbus`)::

    name = "sdm120"
    manufacturer = "Eastron"
    device = "SDM120 single-phase meter"
    kind = "meter"            # "meter": power + when importing; "inverter": + when producing
    sources = ["the vendor's register list, and where it was checked"]

    [[registers]]
    field = "power_w"         # import_wh | export_wh | power_w
    address = 0x000C          # 0-based protocol address, as sent on the wire
    type = "float32"          # int16 uint16 int32 uint32 float32 int64 uint64 float64
    function = "input"        # input | holding
    word_order = "big"        # big | little (least significant word first)
    scale = 1.0               # multiplier of the raw value
    unit = "W"                # Wh kWh MWh | W kW

    [[checks]]                # optional: read once per connection, before any value
    what = "protocol version (holding 88, x100)"
    address = 88
    type = "uint16"
    function = "holding"
    min = 120                 # the raw value must lie in min..max, else the device is
    max = 199                 # refused with `otherwise` (counted ``wrong_device``)
    absent_ok = false         # true: a register the device does not have (Modbus
                              # exception 2) passes the check
    otherwise = "use profile growatt_v3 for an inverter speaking protocol 3.xx"

Every file here is checked by the tests against its vendor register list (cited in the file)
and served by a real Modbus TCP server built from the same profile.
"""

from __future__ import annotations

import math
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pvshare.errors import InputError
from pvshare.meters import registers
from pvshare.validation import validation_messages

PROFILE_DIR = Path(__file__).resolve().parent

#: unit -> (Reading field kind, factor to Wh or W)
UNITS = {"Wh": ("energy", 1.0), "kWh": ("energy", 1e3), "MWh": ("energy", 1e6),
         "W": ("power", 1.0), "kW": ("power", 1e3)}
FIELDS = {"import_wh": "energy", "export_wh": "energy", "power_w": "power"}


class RegisterSpec(BaseModel):
    """One register of a map (a TOML table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: Literal["import_wh", "export_wh", "power_w"]
    address: int = Field(ge=0, le=65535, description="0-based protocol address")
    type: Literal["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64",
                  "float64"]
    function: Literal["holding", "input"] = "holding"
    word_order: Literal["big", "little"] = "big"
    scale: float = Field(default=1.0, description="multiplier applied to the raw value")
    unit: Literal["Wh", "kWh", "MWh", "W", "kW"]

    @model_validator(mode="after")
    def _unit_matches(self) -> RegisterSpec:
        if UNITS[self.unit][0] != FIELDS[self.field]:
            want = "Wh, kWh or MWh" if FIELDS[self.field] == "energy" else "W or kW"
            raise ValueError(f"unit {self.unit!r} does not fit field {self.field!r} "
                             f"(use {want})")
        if not math.isfinite(self.scale) or self.scale == 0:
            raise ValueError(f"scale must be a non-zero number, got {self.scale}")
        if self.address + registers.TYPES[self.type].size - 1 > 65535:
            raise ValueError(f"a {self.type} at {self.address} runs past address 65535")
        return self

    @property
    def count(self) -> int:
        """Size of the register's type, in registers."""
        return registers.TYPES[self.type].size

    def decode(self, words) -> float | None:
        """The value in Wh or W from the register's words; None for NaN or infinity."""
        raw = registers.unpack(self.type, words, self.word_order)
        value = float(raw) * self.scale * UNITS[self.unit][1]
        return value if math.isfinite(value) else None

    def encode(self, value: float) -> list[int]:
        """The words of a value in Wh or W (simulators, tests): the inverse of
        :meth:`decode`, rounded to the type.
        """
        raw = value / (self.scale * UNITS[self.unit][1])
        if not self.type.startswith("float"):
            raw = int(round(raw))
        return registers.pack(self.type, raw, self.word_order)


class ProfileMismatch(Exception):
    """The device does not speak the profile's protocol (a ``checks`` entry failed)."""


class Check(BaseModel):
    """A register that tells whether the device speaks the profile's protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    what: str = Field(min_length=1, description="what the register holds, for the message")
    address: int = Field(ge=0, le=65535)
    type: Literal["int16", "uint16", "int32", "uint32"]
    function: Literal["holding", "input"] = "holding"
    word_order: Literal["big", "little"] = "big"
    min: int
    max: int
    absent_ok: bool = False
    otherwise: str = Field(min_length=1, description="what to do when the check fails")

    @property
    def count(self) -> int:
        """Size of the register's type, in registers."""
        return registers.TYPES[self.type].size

    def verify(self, raw: int, profile: str) -> None:
        """Raise :class:`ProfileMismatch` unless ``min <= raw <= max``."""
        if not self.min <= raw <= self.max:
            raise ProfileMismatch(
                f"profile {profile!r}: {self.what} is {raw}, expected {self.min}..{self.max}: "
                f"{self.otherwise}")


class Profile(BaseModel):
    """A device profile (one TOML file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[a-z0-9_-]+$")
    manufacturer: str
    device: str
    kind: Literal["meter", "inverter"] = Field(
        description="meter: power + when importing (negated for role = production); "
        "inverter: power + when producing")
    sources: list[str] = Field(min_length=1, description="vendor register list and checks")
    registers: list[RegisterSpec] = Field(min_length=1)
    checks: list[Check] = Field(default_factory=list, description="registers read once per "
                                "connection that tell whether the device speaks this profile")

    @model_validator(mode="after")
    def _one_register_per_field(self) -> Profile:
        fields = [r.field for r in self.registers]
        for f in set(fields):
            if fields.count(f) > 1:
                raise ValueError(f"registers: field {f!r} is given {fields.count(f)} times")
        return self


def names() -> list[str]:
    """The bundled profiles' names."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


@cache
def load_profile(name: str) -> Profile:
    """A bundled profile by name, or a profile file by path (``.toml``).

    Raises
    ------
    InputError
        Unknown name, unreadable file or invalid content (naming the file and the field).
    """
    path = Path(name) if name.endswith(".toml") else PROFILE_DIR / f"{name}.toml"
    if not path.is_file():
        raise InputError(f"unknown profile {name!r}; bundled: {', '.join(names())}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"not a readable TOML profile ({exc})", source=str(path)) from None
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        raise InputError("; ".join(validation_messages(err)), source=str(path)) from None
