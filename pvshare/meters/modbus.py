"""``type = "modbus"``: a meter read through a register map declared as data.

For a building sub-meter such as an Eastron SDM630: each register says which field of the
:class:`~pvshare.meters.base.Reading` it gives (``import_wh``, ``export_wh``, ``power_w``),
its address (0-based protocol address, as sent on the wire), its type, its function
(holding or input registers), a multiplier and its unit. The map comes from a bundled
``profile`` (see :data:`PROFILES`), from ``registers`` in the config, or both (a register of
the config replaces the profile's register for the same field)::

    [[meters]]
    id = "sdm630-services"
    type = "modbus"
    host = "192.168.1.40"
    unit = 2
    role = "consumption"
    profile = "sdm630"

    [[meters]]
    id = "other-meter"
    type = "modbus"
    host = "192.168.1.41"
    registers = [
      { field = "import_wh", address = 0x5000, type = "uint32", unit = "Wh" },
      { field = "power_w", address = 0x5010, type = "int32", scale = 0.1, unit = "W" },
    ]

Registers next to each other are read in one request (at most 125 registers).

Sign convention: a meter counts power positive when importing (from the grid to the
load). For ``role = "consumption"`` ``power_w`` is that value; for ``role = "production"``
(a meter on the PV feed) it is negated, so that positive means producing. A meter wired
the other way round takes ``scale = -1`` on its power register.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pvshare.meters import registers
from pvshare.meters.base import Quality, Reading
from pvshare.meters.modbus_client import (
    MAX_READ_COUNT,
    DeviceExceptionResponse,
    DeviceTimeout,
    DeviceUnreachable,
    ModbusConnection,
)
from pvshare.meters.registry import register

log = logging.getLogger(__name__)

#: unit -> (Reading field kind, factor to Wh or W)
UNITS = {"Wh": ("energy", 1.0), "kWh": ("energy", 1e3), "MWh": ("energy", 1e6),
         "W": ("power", 1.0), "kW": ("power", 1e3)}
FIELDS = {"import_wh": "energy", "export_wh": "energy", "power_w": "power"}


class RegisterSpec(BaseModel):
    """One register of a map (a TOML inline table)."""

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


def R(field, address, type, unit, **kw) -> RegisterSpec:
    """Shorthand for a :class:`RegisterSpec`."""
    return RegisterSpec(field=field, address=address, type=type, unit=unit, **kw)


#: Bundled register maps, by profile name.
PROFILES: dict[str, tuple[RegisterSpec, ...]] = {
    # Eastron SDM630 (v2) Modbus protocol: input registers, float32 big-endian.
    # 30053 "Total system power" (W), 30073 "Total import kWh", 30075 "Total export kWh";
    # protocol address = register number - 30001.
    "sdm630": (
        R("power_w", 0x0034, "float32", "W", function="input"),
        R("import_wh", 0x0048, "float32", "kWh", function="input"),
        R("export_wh", 0x004A, "float32", "kWh", function="input"),
    ),
}


class ModbusOptions(BaseModel):
    """Options of a ``[[meters]]`` entry with ``type = "modbus"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=1, ge=0, le=255, description="Modbus device id (slave id)")
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    role: Literal["production", "consumption"] = "consumption"
    profile: str | None = None
    registers: list[RegisterSpec] = Field(default_factory=list)
    backoff_max_s: float = Field(default=300.0, ge=1, le=3600)
    max_power_w: float = Field(default=1_000_000.0, gt=0)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str | None) -> str | None:
        if v is not None and v not in PROFILES:
            raise ValueError(f"unknown profile {v!r}; bundled: {', '.join(sorted(PROFILES))}")
        return v

    @model_validator(mode="after")
    def _has_map(self) -> ModbusOptions:
        if self.profile is None and not self.registers:
            raise ValueError("give a profile (e.g. profile = \"sdm630\") or a registers list")
        fields = [r.field for r in self.registers]
        for f in set(fields):
            if fields.count(f) > 1:
                raise ValueError(f"registers: field {f!r} is given {fields.count(f)} times")
        return self

    def register_map(self) -> tuple[RegisterSpec, ...]:
        """The profile's registers, replaced field by field by the config's."""
        regs = {r.field: r for r in PROFILES.get(self.profile or "", ())}
        regs.update({r.field: r for r in self.registers})
        return tuple(regs.values())


@dataclass(frozen=True)
class Block:
    """One read request: function, first address, count, and the registers it serves."""

    function: str
    address: int
    count: int
    registers: tuple[RegisterSpec, ...]


def plan_reads(registers, max_count: int = MAX_READ_COUNT, max_gap: int = 32) -> list[Block]:
    """Group registers into as few reads as possible.

    Registers of the same function whose span stays within ``max_count`` registers and
    whose gaps are at most ``max_gap`` registers share a read.
    """
    blocks: list[Block] = []
    for fn in ("holding", "input"):
        regs = sorted((r for r in registers if r.function == fn), key=lambda r: r.address)
        cur: list[RegisterSpec] = []
        start = end = 0
        for r in regs:
            r_end = r.address + r.count
            if cur and r.address - end <= max_gap and max(end, r_end) - start <= max_count:
                cur.append(r)
                end = max(end, r_end)
                continue
            if cur:
                blocks.append(Block(fn, start, end - start, tuple(cur)))
            cur, start, end = [r], r.address, r_end
        if cur:
            blocks.append(Block(fn, start, end - start, tuple(cur)))
    return blocks


def decode_register(spec: RegisterSpec, words) -> float | None:
    """The value of ``spec`` in Wh or W from its words; ``None`` for NaN or infinity."""
    raw = registers.unpack(spec.type, words, spec.word_order)
    value = float(raw) * spec.scale * UNITS[spec.unit][1]
    return value if math.isfinite(value) else None


class ModbusMeter:
    """A meter read through a register map (see the module docstring)."""

    def __init__(self, meter_id: str, options: ModbusOptions, *,
                 logger: logging.Logger | None = None):
        self.id = meter_id
        self.options = options
        self.log = logger or log
        self.registers = options.register_map()
        self.blocks = plan_reads(self.registers)
        self.conn = ModbusConnection(options.host, options.port, options.unit,
                                     options.timeout_s, name=meter_id,
                                     backoff_max_s=options.backoff_max_s, logger=self.log)
        self.counters: Counter = Counter()
        self.last_values: dict[str, float | None] = {}

    def read(self, now_s: float) -> list[Reading]:
        """One poll: at most one :class:`Reading`, stamped ``now_s``."""
        self.counters["polls"] += 1
        values: dict[str, float | None] = {}
        try:
            for b in self.blocks:
                words = self.conn.read_registers(b.address, b.count, now_s,
                                                 input_registers=b.function == "input")
                for r in b.registers:
                    off = r.address - b.address
                    values[r.field] = decode_register(r, words[off:off + r.count])
        except (DeviceUnreachable, DeviceTimeout, DeviceExceptionResponse) as exc:
            self.counters[exc.counter] += 1
            return []
        self.last_values = values
        power = values.get("power_w")
        if power is not None and self.options.role == "production":
            power = -power
        imp, exp = values.get("import_wh"), values.get("export_wh")
        if power is None and imp is None and exp is None:
            self.counters["empty"] += 1
            return []
        if (power is not None and abs(power) > self.options.max_power_w) or \
                (imp is not None and imp < 0) or (exp is not None and exp < 0):
            self.counters["implausible"] += 1
            level = logging.DEBUG if self.counters["implausible"] > 1 else logging.WARNING
            self.log.log(level, "%s: implausible values %s; reading dropped (counted in "
                         "'implausible', logged once)", self.id, values)
            return []
        quality = Quality.GOOD if (imp is not None or exp is not None) else Quality.POWER_ONLY
        self.counters["readings"] += 1
        return [Reading(self.id, now_s, import_wh=imp, export_wh=exp, power_w=power,
                        quality=quality)]

    def close(self) -> None:
        """Close the Modbus connection."""
        self.conn.close()


def _factory(meter_id: str, options: ModbusOptions, config=None, *, clock=None) -> ModbusMeter:
    return ModbusMeter(meter_id, options)


register("modbus", ModbusOptions, _factory)
