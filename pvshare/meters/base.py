"""The meter seam: what every meter produces and the two shapes a meter can have.

In the spirit of evcc's ``meter/_blueprint.go``: a device is a small class that satisfies one
of two protocols, built by a factory registered in :mod:`pvshare.meters.registry` under the
config's ``type`` (see :mod:`pvshare.meters.template` for a copyable example).

* :class:`PollMeter` (Modbus, SunSpec, TIC serial): the daemon calls ``read(now_s)`` every
  poll interval and gets the readings it produced since (possibly none); ``close()`` at
  shutdown.
* :class:`PushMeter` (MQTT bridges): the meter delivers readings from its own thread to the
  ``sink`` given to ``start(sink)``; ``stop()`` at shutdown.

Both expose ``counters``: a mapping ``name -> int`` (what was read, rejected, failed), shown
by ``pvshare status``. That is the only name the daemon looks for.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
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


#: Where a push meter delivers its readings (called from the meter's own thread).
Sink = Callable[[Reading], None]


@runtime_checkable
class PollMeter(Protocol):
    """A polled meter: ``read(now_s)`` every poll interval, ``close()`` at shutdown."""

    id: str

    @property
    def counters(self) -> Mapping[str, int]:
        """What the meter counted (read, rejected, failed)."""

    def read(self, now_s: float) -> list[Reading]:
        """The readings since the last call (possibly none); never raises for a device fault."""

    def close(self) -> None:
        """Release the device (connection, port)."""


@runtime_checkable
class PushMeter(Protocol):
    """A meter that pushes its readings: ``start(sink)`` once, ``stop()`` at shutdown."""

    id: str

    @property
    def counters(self) -> Mapping[str, int]:
        """What the meter counted (received, decoded, rejected by reason)."""

    def start(self, sink: Sink) -> None:
        """Start delivering readings to ``sink`` (from the meter's own thread)."""

    def stop(self) -> None:
        """Stop delivering readings and release the connection."""


#: Kept for older imports: a meter is, by default, polled.
Meter = PollMeter


def counters_of(meter) -> dict[str, int]:
    """A meter's counters as a plain ``{name: int}`` dict (for the status file)."""
    return {str(k): int(v) for k, v in dict(meter.counters).items()}
