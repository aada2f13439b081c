"""What every meter produces: timestamped, cumulative readings."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class Quality(enum.IntEnum):
    """How far a reading can be trusted."""

    GOOD = 0
    #: The device said its clock or value is degraded (e.g. a lower-case TIC season letter).
    DEGRADED = 1
    #: A power-only source: energy must be integrated, not read from an index.
    POWER_ONLY = 2


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of one meter, stamped when it was **read** (UTC Unix seconds).

    Cumulative indices are the truth for energy; power is informative. Any of the values may
    be ``None`` when the device does not give it.
    """

    meter_id: str
    time_s: float
    import_wh: float | None = None
    export_wh: float | None = None
    power_w: float | None = None
    quality: Quality = Quality.GOOD


@runtime_checkable
class Meter(Protocol):
    """A polled meter (Modbus): ``read()`` is called every poll interval and returns the
    readings it got (possibly none). Push meters (MQTT) deliver readings to a callback
    instead and implement ``start()``/``stop()``.
    """

    id: str

    def read(self, now_s: float) -> list[Reading]: ...

    def close(self) -> None: ...
