"""``type = "sunspec"``: a SunSpec inverter or meter over Modbus TCP.

At the first poll (and after every reconnection) the reader finds the map — "SunS" at
40000, then 0, then 50000 — and walks the model chain ``(id, length)`` to the end marker
0xFFFF. At every poll it reads the body of one model **in one block**, so that each value
and its scale factor come from the same read; scale factors are never cached.

Which model gives the reading:

- ``role = "production"`` (the rooftop inverter): the first inverter model (101-103 or
  111-113), else a meter model 203.
- ``role = "consumption"``: a meter model 203 (required).

Sign conventions of the :class:`~pvshare.meters.base.Reading`:

- inverter models: ``export_wh`` = lifetime AC energy produced (``WH``), ``import_wh`` =
  ``None``, ``power_w`` = AC power ``W`` (positive while producing).
- meter model 203 (SunSpec meters count power positive when importing, i.e. from the grid
  to the load): ``import_wh`` = ``TotWhImp``, ``export_wh`` = ``TotWhExp``; ``power_w`` =
  ``W`` for ``role = "consumption"`` (positive = consuming) and ``-W`` for
  ``role = "production"`` (positive = producing).

An acc32 energy counter that rolls over 2**32 keeps counting up (roll-overs are counted
while the reader runs). Values the device marks "not implemented" are ``None``; a reading
with a power but no energy counter is flagged ``Quality.POWER_ONLY``.

The reader never writes a register. Failures (unreachable, timeout, Modbus exception, a
broken map, an implausible value) are counted in :attr:`SunSpecMeter.counters`, logged
without flooding, and the reader keeps running.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pvshare.logs import RateLimitedLog
from pvshare.meters import sunspec_models as sm
from pvshare.meters.base import Quality, Reading
from pvshare.meters.counters import CounterGuard, judge, sign_bit_set
from pvshare.meters.modbus_client import (
    DeviceExceptionResponse,
    DeviceTimeout,
    DeviceUnreachable,
    ModbusConnection,
    ModbusError,
)
from pvshare.meters.registry import register

log = logging.getLogger(__name__)

#: Longest model chain walked before the map is declared broken.
MAX_MODELS = 64


class SunSpecOptions(BaseModel):
    """Options of a ``[[meters]]`` entry with ``type = "sunspec"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, description="IP address or host name of the device")
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=1, ge=0, le=255, description="Modbus device id (slave id)")
    units: list[int] | None = Field(
        default=None, min_length=1,
        description="several SunSpec devices behind one gateway (unit ids): their readings "
        "are summed into one (e.g. the inverters of one roof); replaces `unit`")
    timeout_s: float = Field(default=3.0, gt=0, le=60, description="timeout of one request, s")
    role: Literal["production", "consumption"] = "production"
    base_address: int | None = Field(
        default=None, ge=0, le=65535,
        description="SunSpec base address; by default 40000, then 0, then 50000 are tried")
    backoff_max_s: float = Field(default=300.0, ge=1, le=3600,
                                 description="longest wait between reconnection attempts, s")
    max_power_w: float = Field(default=1_000_000.0, gt=0,
                               description="a larger |power| is rejected as implausible")


    @field_validator("units")
    @classmethod
    def _units(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            if any(not 0 <= u <= 255 for u in v):
                raise ValueError(f"unit ids are 0..255, got {v}")
            if len(set(v)) != len(v):
                raise ValueError(f"a unit id is listed twice: {v}")
        return v

    @property
    def unit_ids(self) -> list[int]:
        """The unit ids read (``units``, else ``[unit]``)."""
        return list(self.units) if self.units else [self.unit]


class SunSpecMapError(ModbusError):
    """The device's register map is not a valid SunSpec map."""


@dataclass(frozen=True)
class ModelLocation:
    """Where a model sits: its id, the address of its header, its length (registers)."""

    id: int
    address: int
    length: int

    @property
    def body_address(self) -> int:
        """Address of the model's first point (offset 0), after the 2-register header."""
        return self.address + 2


@dataclass(frozen=True)
class SunSpecMap:
    """A device's SunSpec map: its base address and its models in order."""

    base: int
    models: tuple[ModelLocation, ...]

    def first(self, ids) -> ModelLocation | None:
        """The first model whose id is in ``ids``, or None."""
        return next((m for m in self.models if m.id in ids), None)


def discover(conn: ModbusConnection, now_s: float,
             bases: tuple[int, ...] = sm.BASE_ADDRESSES, unit: int | None = None) -> SunSpecMap:
    """Find the SunSpec map and walk its model chain.

    Raises
    ------
    SunSpecMapError
        No "SunS" marker at any base, or a chain that runs off the address space or has no
        end marker within :data:`MAX_MODELS` models.
    DeviceUnreachable, DeviceTimeout
        From the connection.
    """
    base = None
    tried = []
    for b in bases:
        try:
            words = conn.read_registers(b, 2, now_s, probe=True, unit=unit)
        except DeviceExceptionResponse as exc:
            tried.append(f"{b}: exception {exc.code}")
            continue
        if tuple(words) == sm.SUNS_MARKER:
            base = b
            break
        tried.append(f"{b}: no 'SunS'")
    if base is None:
        raise SunSpecMapError("no SunSpec map found (" + "; ".join(tried) + ")")
    models = []
    addr = base + 2
    for _ in range(MAX_MODELS + 1):
        if addr + 1 > 0xFFFF:
            raise SunSpecMapError(f"model chain runs past the end of the address space at {addr}")
        try:
            mid, length = conn.read_registers(addr, 2, now_s, unit=unit)
        except DeviceExceptionResponse as exc:
            # Some devices do not give a length with the end marker.
            if exc.code == 2 and addr + 1 <= 0xFFFF:
                (mid,) = conn.read_registers(addr, 1, now_s, unit=unit)
                length = 0
            else:
                raise
        if mid == sm.END_MODEL_ID:
            return SunSpecMap(base, tuple(models))
        models.append(ModelLocation(mid, addr, length))
        addr += 2 + length
    raise SunSpecMapError(f"no end marker after {MAX_MODELS} models")


class _Device:
    """What the meter knows of one unit id: its map, its common block, its counters' state."""

    def __init__(self, unit: int):
        self.unit = unit
        self.map: SunSpecMap | None = None
        self.generation = -1
        self.common: dict[str, object] = {}
        self.values: dict[str, object] = {}
        self.acc_state: dict[str, tuple[int | None, int | None, int]] = {}
        self.guard = CounterGuard()
        #: per energy field: the unsigned register had its sign bit set (or rolled over)
        self.sign: dict[str, bool] = {}


class SunSpecMeter:
    """SunSpec device(s) read over Modbus TCP (see the module docstring).

    With several unit ids (``units``), every poll reads each device on the same connection
    and sums their power and energies into one reading; when one device gives no reading
    the poll gives none (counted ``partial``): a sum over fewer devices would look like a
    counter going backwards.

    Attributes
    ----------
    counters : collections.Counter
        ``polls``, ``readings``, ``unreachable``, ``timeouts``, ``exceptions``,
        ``map_errors``, ``implausible``, ``sentinel`` (poll with neither power nor energy),
        ``partial``, ``bad_scale`` (a scale factor outside SunSpec's -10..10), and, per
        energy counter refused (see :mod:`pvshare.meters.counters`), ``sign_bit``,
        ``backwards``, ``replaced``.
    last_values : dict
        The scaled values of the last block read (``W``, ``WH``, ``St``...) of the first
        device, for status.
    """

    def __init__(self, meter_id: str, options: SunSpecOptions, *,
                 logger: logging.Logger | None = None):
        self.id = meter_id
        self.options = options
        self.log = logger or log
        self.conn = ModbusConnection(options.host, options.port, options.unit_ids[0],
                                     options.timeout_s, name=meter_id,
                                     backoff_max_s=options.backoff_max_s, logger=self.log)
        self.devices = [_Device(u) for u in options.unit_ids]
        self.counters: Counter = Counter()
        self._warned: set[str] = set()
        #: what each refused counter said last (``{"export_wh": "sign_bit: …"}``), for probe
        self.refused: dict[str, str] = {}
        self._faults = RateLimitedLog(self.log, 600.0)

    @property
    def map(self) -> SunSpecMap | None:
        """The first device's SunSpec map (None until found)."""
        return self.devices[0].map

    @property
    def common(self) -> dict[str, object]:
        """The first device's common model (``Mn``, ``Md``, ``SN``...)."""
        return self.devices[0].common

    @property
    def last_values(self) -> dict[str, object]:
        """The first device's scaled values of the last poll."""
        return self.devices[0].values

    # -- the poll -----------------------------------------------------------------------
    def read(self, now_s: float) -> list[Reading]:
        """One poll: at most one :class:`Reading`, stamped ``now_s``."""
        self.counters["polls"] += 1
        parts = []
        for dev in self.devices:
            try:
                if dev.map is None or dev.generation != self.conn.generation:
                    self._discover(dev, now_s)
                loc, model = self._source(dev)
                words = self.conn.read_registers(loc.body_address, loc.length, now_s,
                                                 unit=dev.unit)
            except (DeviceUnreachable, DeviceTimeout, DeviceExceptionResponse) as exc:
                self.counters[exc.counter] += 1
                return self._partial(parts)
            except SunSpecMapError as exc:
                self.counters["map_errors"] += 1
                dev.map = None
                self._warn_once(str(exc))
                return self._partial(parts)
            self._warned.discard("map")
            values = sm.decode_model(model, words)
            raw = sm.decode_raw(model, words)
            dev.values = values
            reading = self._reading(dev, now_s, model, values, raw)
            if reading is None:
                return self._partial(parts)
            parts.append(reading)
        reading = parts[0] if len(parts) == 1 else _sum(self.id, now_s, parts)
        self.counters["readings"] += 1
        return [reading]

    def _partial(self, parts: list) -> list[Reading]:
        if parts:
            self.counters["partial"] += 1
        return []

    def _discover(self, dev: _Device, now_s: float) -> None:
        bases = (self.options.base_address,) if self.options.base_address is not None \
            else sm.BASE_ADDRESSES
        smap = discover(self.conn, now_s, bases, unit=dev.unit)
        if smap != dev.map:
            dev.acc_state.clear()
            dev.guard.reset()
        dev.map = smap
        dev.generation = self.conn.generation
        common = smap.first((1,))
        if common is not None and common.length >= sm.COMMON.length - 1:
            words = self.conn.read_registers(common.body_address, common.length, now_s,
                                             unit=dev.unit)
            dev.common = sm.decode_model(sm.COMMON, words)
        ids = ", ".join(str(m.id) for m in smap.models)
        self.log.info("%s: unit %d: SunSpec map at %d, models %s (%s %s, serial %s)", self.id,
                      dev.unit, smap.base, ids, dev.common.get("Mn"), dev.common.get("Md"),
                      dev.common.get("SN"))

    def _source(self, dev: _Device) -> tuple[ModelLocation, sm.Model]:
        assert dev.map is not None
        if self.options.role == "production":
            loc = dev.map.first(sm.INVERTER_MODELS) or dev.map.first(sm.METER_MODELS)
        else:
            loc = dev.map.first(sm.METER_MODELS)
        if loc is None:
            need = "an inverter (101-103, 111-113, 701) or meter (201-204, 211-214) model" \
                if self.options.role == "production" else "a meter model (201-204, 211-214)"
            found = ", ".join(str(m.id) for m in dev.map.models) or "none"
            raise SunSpecMapError(f"unit {dev.unit}: role = {self.options.role!r} needs "
                                  f"{need}; the device has models {found}")
        model = sm.MODELS[loc.id]
        if loc.length < model.length:
            raise SunSpecMapError(f"unit {dev.unit}: model {loc.id} is {loc.length} registers "
                                  f"long, expected {model.length}")
        if loc.length > 125:
            if model.id != 701:
                raise SunSpecMapError(f"unit {dev.unit}: model {loc.id} is {loc.length} "
                                      "registers long (> 125)")
            # 701 is 153 long; everything read (W, energies, scale factors) lies in its
            # first 121 registers, before the 32-register alarm text: one read of 125
            loc = ModelLocation(loc.id, loc.address, 125)
        return loc, model

    def _reading(self, dev: _Device, now_s: float, model: sm.Model, values: dict,
                 raw: dict) -> Reading | None:
        if model.id == 701:   # W positive for generation; TotWhInj injected, TotWhAbs absorbed
            power_w = values.get("W")
            export_wh = self._energy(dev, "TotWhInj", model, values, raw)
            import_wh = self._energy(dev, "TotWhAbs", model, values, raw)
        elif model.id in sm.INVERTER_MODELS:
            power_w = values.get("W")
            export_wh = self._energy(dev, "WH", model, values, raw)
            import_wh = None
        else:
            w = values.get("W")
            power_w = None if w is None else (w if self.options.role == "consumption" else -w)
            export_wh = self._energy(dev, "TotWhExp", model, values, raw)
            import_wh = self._energy(dev, "TotWhImp", model, values, raw)
        bad_sf = [n for n, v in raw.items() if n.endswith("SF") and isinstance(v, int)
                  and not sm.SF_MIN <= v <= sm.SF_MAX]
        if bad_sf:
            self.counters["bad_scale"] += 1
            self._faults.warning("bad_scale", "%s: unit %d: scale factor %s = %s outside "
                                 "%d..%d; reading dropped", self.id, dev.unit, bad_sf[0],
                                 raw[bad_sf[0]], sm.SF_MIN, sm.SF_MAX)
            return None
        export_wh = self._guarded(dev, "export_wh", export_wh)
        import_wh = self._guarded(dev, "import_wh", import_wh)
        if power_w is None and export_wh is None and import_wh is None:
            self.counters["sentinel"] += 1
            return None
        if power_w is not None and abs(power_w) > self.options.max_power_w:
            self.counters["implausible"] += 1
            self._warn_once(f"implausible power {power_w:g} W (max_power_w = "
                            f"{self.options.max_power_w:g}); reading dropped", key="power")
            return None
        for name, v in (("export", export_wh), ("import", import_wh)):
            if v is not None and not v < float("inf"):
                self.counters["implausible"] += 1
                self._warn_once(f"{name} index {v!r} is not a number; reading dropped",
                                key=name)
                return None
            if v is not None and v < 0:
                self.counters["implausible"] += 1
                self._warn_once(f"negative {name} index {v:g} Wh; reading dropped", key=name)
                return None
        quality = Quality.GOOD if (export_wh is not None or import_wh is not None) \
            else Quality.POWER_ONLY
        return Reading(self.id, now_s, import_wh=import_wh, export_wh=export_wh,
                       power_w=power_w, quality=quality)

    def _guarded(self, dev: _Device, field: str, value: float | None) -> float | None:
        """``value`` of the energy counter ``field`` after the device's guard (see
        :func:`pvshare.meters.counters.judge`).
        """
        return judge(self, dev.guard, field, value, sign_bit=dev.sign.get(field, False),
                     who=f"{self.id}: unit {dev.unit}")

    def _energy(self, dev: _Device, name: str, model: sm.Model, values: dict,
                raw: dict) -> float | None:
        """An energy counter in Wh, acc32 roll-overs counted."""
        point = model.point(name)
        value = values.get(name)
        field = {"TotWhImp": "import_wh", "TotWhAbs": "import_wh"}.get(name, "export_wh")
        r0 = raw.get(name)
        dev.sign[field] = isinstance(point, (sm.Acc32, sm.UInt32)) and isinstance(r0, int) \
            and sign_bit_set(r0)
        if not isinstance(point, sm.Acc32) or value is None:
            return value  # type: ignore[return-value]
        r, sf = raw.get(name), raw.get(point.sf)
        prev_r, prev_sf, wraps = dev.acc_state.get(name, (None, None, 0))
        if sf != prev_sf:
            wraps = 0   # a device that rescales restates its whole counter
        else:
            wraps = sm.acc32_wraps(prev_r, r, wraps)
        dev.acc_state[name] = (r, sf, wraps)
        if wraps:
            # past 2**32 raw units: with units of 1 Wh or more, 4.3 GWh, no building's
            # counter; the CounterGuard refuses it like a sign bit (see meters/counters.py)
            dev.sign[field] = True
        return sm.apply_scale(r + wraps * sm.ACC32_MODULUS, sf)

    def _warn_once(self, message: str, key: str = "map") -> None:
        if key in self._warned:
            self.log.debug("%s: %s", self.id, message)
        else:
            self._warned.add(key)
            self.log.warning("%s: %s", self.id, message)

    @property
    def state(self) -> str | None:
        """Operating state of an inverter (``MPPT``, ``SLEEPING``...), from the last poll."""
        st = self.last_values.get("St")
        return None if st is None else sm.INVERTER_STATES.get(st, str(st))

    def close(self) -> None:
        """Close the Modbus connection."""
        self.conn.close()


def _sum(meter_id: str, now_s: float, parts: list[Reading]) -> Reading:
    """One reading from the readings of several devices: each value summed when every
    device gives it, else None; the worst quality.
    """
    def total(name: str) -> float | None:
        vals = [getattr(r, name) for r in parts]
        return None if any(v is None for v in vals) else float(sum(vals))

    return Reading(meter_id, now_s, import_wh=total("import_wh"), export_wh=total("export_wh"),
                   power_w=total("power_w"), quality=max(r.quality for r in parts))


def _factory(meter_id: str, options: SunSpecOptions, config=None, *, clock=None) -> SunSpecMeter:
    return SunSpecMeter(meter_id, options)


register("sunspec", SunSpecOptions, _factory)

