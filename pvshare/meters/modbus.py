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

Profiles are TOML files (:mod:`pvshare.meters.profiles`; bundled: ``sdm630``, ``sdm120``,
``huawei_sun2000``, ``growatt``); ``profile`` also takes the path of a file of one's own.

Sign convention: a meter counts power positive when importing (from the grid to the
load). For ``role = "consumption"`` ``power_w`` is that value; for ``role = "production"``
(a meter on the PV feed) it is negated, so that positive means producing. A meter wired
the other way round takes ``scale = -1`` on its power register. An inverter profile
(``kind = "inverter"``) gives power positive when producing: it is never negated.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pvshare.errors import InputError
from pvshare.logs import RateLimitedLog
from pvshare.meters import profiles, registers
from pvshare.meters.base import Quality, Reading
from pvshare.meters.counters import CounterGuard, judge, sign_bit_set
from pvshare.meters.modbus_client import (
    MAX_READ_COUNT,
    DeviceExceptionResponse,
    DeviceTimeout,
    DeviceUnreachable,
    ModbusConnection,
)
from pvshare.meters.profiles import RegisterSpec
from pvshare.meters.registry import register

log = logging.getLogger(__name__)



class _Profiles(Mapping):
    """The bundled profiles' register maps by name (read-only, loaded on first use)."""

    def __getitem__(self, name: str) -> tuple[RegisterSpec, ...]:
        if name not in profiles.names():
            raise KeyError(name)
        return tuple(profiles.load_profile(name).registers)

    def __iter__(self):
        return iter(profiles.names())

    def __len__(self) -> int:
        return len(profiles.names())


#: Bundled register maps, by profile name (the files of :mod:`pvshare.meters.profiles`).
PROFILES: Mapping[str, tuple[RegisterSpec, ...]] = _Profiles()


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
        if v is not None:
            try:
                profiles.load_profile(v)
            except InputError as exc:
                raise ValueError(str(exc)) from None
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
        regs = {}
        if self.profile is not None:
            regs = {r.field: r for r in profiles.load_profile(self.profile).registers}
        regs.update({r.field: r for r in self.registers})
        return tuple(regs.values())

    @property
    def kind(self) -> str:
        """``meter`` (power + when importing) or ``inverter`` (+ when producing)."""
        return profiles.load_profile(self.profile).kind if self.profile else "meter"


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
    return spec.decode(words)


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
        self.guard = CounterGuard()
        #: what each refused counter said last (``{"export_wh": "sign_bit: …"}``), for probe
        self.refused: dict[str, str] = {}
        self._faults = RateLimitedLog(self.log, 600.0)
        self._checked_generation = -1

    def read(self, now_s: float) -> list[Reading]:
        """One poll: at most one :class:`Reading`, stamped ``now_s``."""
        self.counters["polls"] += 1
        values: dict[str, float | None] = {}
        signs: dict[str, bool] = {}
        try:
            if self.conn.generation != self._checked_generation:
                self._check_device(now_s)
            for b in self.blocks:
                words = self.conn.read_registers(b.address, b.count, now_s,
                                                 input_registers=b.function == "input")
                for r in b.registers:
                    off = r.address - b.address
                    w = words[off:off + r.count]
                    values[r.field] = decode_register(r, w)
                    if r.type in ("uint32", "uint64") and r.field != "power_w":
                        signs[r.field] = sign_bit_set(registers.unpack(r.type, w, r.word_order),
                                                      32 if r.type == "uint32" else 64)
        except (DeviceUnreachable, DeviceTimeout, DeviceExceptionResponse) as exc:
            self.counters[exc.counter] += 1
            return []
        except profiles.ProfileMismatch as exc:
            self.counters["wrong_device"] += 1
            self.refused["device"] = str(exc)
            self._faults.warning("wrong_device", "%s: %s", self.id, exc)
            return []
        self.last_values = values
        for name in ("import_wh", "export_wh"):
            values[name] = self._guarded(name, values.get(name), signs.get(name, False))
        power = values.get("power_w")
        if power is not None and self.options.role == "production" \
                and self.options.kind == "meter":
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

    def _check_device(self, now_s: float) -> None:
        """Read the profile's ``checks`` (once per connection): a device that does not
        speak the profile's protocol is refused, with the profile's advice.

        Raises
        ------
        profiles.ProfileMismatch
        """
        if self.options.profile is not None:
            prof = profiles.load_profile(self.options.profile)
            for check in prof.checks:
                try:
                    words = self.conn.read_registers(
                        check.address, check.count, now_s,
                        input_registers=check.function == "input")
                    raw = registers.unpack(check.type, words, check.word_order)
                except DeviceExceptionResponse as exc:
                    if check.absent_ok and exc.code == 2:
                        continue   # the register does not exist: what the check allows
                    raise
                check.verify(raw, prof.name)
        self._checked_generation = self.conn.generation
        self.refused.pop("device", None)

    def _guarded(self, field: str, value: float | None, sign: bool) -> float | None:
        return judge(self, self.guard, field, value, sign_bit=sign, who=self.id)

    def close(self) -> None:
        """Close the Modbus connection."""
        self.conn.close()


def _factory(meter_id: str, options: ModbusOptions, config=None, *, clock=None) -> ModbusMeter:
    return ModbusMeter(meter_id, options)


register("modbus", ModbusOptions, _factory)
