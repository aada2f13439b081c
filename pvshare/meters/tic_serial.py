"""The ``tic`` meter type: a Linky read on its TIC port (pyserial), or on any byte stream.

Config (``[[meters]]``)::

    [[meters]]
    id = "A01"                 # the participant's ``meter``
    type = "tic"
    port = "/dev/ttyUSB0"      # a device path or any pyserial URL (rfc2217://, socket://…)
    mode = "standard"          # standard (9600 baud) | historique (1200) | auto
    max_power_va = 36000       # readings above this are rejected as implausible

The decoding itself is :mod:`pvshare.meters.tic` (pure). :class:`TicReader` turns bytes into
:class:`~pvshare.meters.base.Reading` s (for any byte stream: a socket, a file, a pipe);
:class:`TicMeter` owns the serial port: it is polled with ``read(now_s)``, drains what the
port holds without blocking, and reopens the port with capped backoff when it fails (a USB
dongle unplugged). Power in the readings is the TIC's **apparent** power, in VA
(``power_kind = "apparent_va"``).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pvshare.logs import RateLimitedLog
from pvshare.meters import registry, tic_labels
from pvshare.meters.base import Reading
from pvshare.meters.tic import Decoder, reading_from_frame

log = logging.getLogger(__name__)

BAUDRATES = {"standard": 9600, "historique": 1200}
#: In ``auto`` mode, bytes read without a complete frame before trying the other baud rate.
AUTO_SWITCH_BYTES = 4096


class TicOptions(BaseModel):
    """Options of a ``type = "tic"`` meter."""

    model_config = ConfigDict(extra="forbid")
    port: str = Field(min_length=1, description="serial device or pyserial URL")
    mode: Literal["standard", "historique", "auto"] = "standard"
    baudrate: int | None = Field(default=None, gt=0, description="default: from the mode")
    max_power_va: float = Field(default=36_000, gt=0,
                                description="apparent power above this is implausible")
    reconnect_max_s: float = Field(default=60, gt=0)


class TicReader:
    """Bytes in, readings out, for one meter; counts what it rejects.

    Parameters
    ----------
    meter_id : str
        Id stamped on the readings (the config's meter id).
    mode : {"standard", "historique", "auto"}
    max_power_va : float
        A frame whose apparent power magnitude exceeds this gives no reading (counted).
    """

    power_kind = "apparent_va"

    def __init__(self, meter_id: str, mode: str = "auto", max_power_va: float = 36_000):
        self.meter_id = meter_id
        self.decoder = Decoder(mode)
        self.max_power_va = float(max_power_va)
        #: readings rejected after decoding, by reason
        self.rejected = Counter()
        #: one line per kind of rejection every 5 minutes at most (a bad frame every second
        #: must not flood the journal)
        self._warnings = RateLimitedLog(log, 300.0)
        self._corrupted = RateLimitedLog(log, 300.0, level=logging.INFO)
        self.last_meter_serial: str | None = None

    def feed(self, data: bytes, now_s: float) -> list[Reading]:
        """Decode ``data`` read at UTC time ``now_s`` (s); the readings of complete frames."""
        out = []
        before = self.decoder.counters.rejected
        for frame in self.decoder.feed(data):
            missing = tic_labels.incomplete_tariff(frame.value)
            if missing is not None:
                self._reject(f"incomplete tariff: {missing}")
                continue
            r = reading_from_frame(frame, now_s, self.meter_id)
            if r is None:
                self._reject("no index or power in frame")
                continue
            if r.power_w is not None and abs(r.power_w) > self.max_power_va:
                self._reject(f"implausible power {r.power_w:.0f} VA")
                continue
            self.last_meter_serial = frame.meter_id
            out.append(r)
        bad = self.decoder.counters.rejected - before
        if bad:
            self._corrupted.warning("corrupted", "tic %s: %d corrupted group(s) dropped (%s)",
                                    self.meter_id, bad, dict(self.decoder.counters.reasons))
        return out

    def _reject(self, reason: str) -> None:
        self.rejected[reason] += 1
        self._warnings.warning(reason.split(":")[0], "tic %s: frame rejected: %s",
                               self.meter_id, reason)


class TicMeter:
    """A Linky on a serial port (or pyserial URL), polled with :meth:`read`.

    Parameters
    ----------
    meter_id : str
    port : str
        Device path (``/dev/ttyUSB0``, a pseudo-terminal) or pyserial URL.
    mode : {"standard", "historique", "auto"}
        Sets the baud rate (9600 / 1200, 7E1). ``auto`` starts at 9600 and switches
        between the two while no complete frame comes.
    """

    def __init__(self, meter_id: str, port: str, mode: str = "standard",
                 baudrate: int | None = None, max_power_va: float = 36_000,
                 reconnect_max_s: float = 60.0):
        self.id = meter_id
        self.port = port
        self.mode = mode
        self.baudrate = baudrate or BAUDRATES.get(mode, 9600)
        self.reader = TicReader(meter_id, mode, max_power_va)
        self.reconnect_max_s = reconnect_max_s
        self._serial = None
        self._next_try_s = 0.0
        self._backoff_s = 1.0
        self._bytes_since_frame = 0
        self.errors = Counter()

    @property
    def counters(self) -> dict[str, int]:
        """``frames``, ``groups``, ``rejected`` (groups), ``incomplete`` (frames),
        ``readings_rejected`` (frames without index or plausible power) and the port errors.
        """
        c = self.reader.decoder.counters.as_dict()
        c["readings_rejected"] = sum(self.reader.rejected.values())
        c.update(self.errors)
        return c

    def _open(self, now_s: float) -> bool:
        if self._serial is not None:
            return True
        if now_s < self._next_try_s:
            return False
        import serial
        try:
            self._serial = serial.serial_for_url(
                self.port, baudrate=self.baudrate, bytesize=serial.SEVENBITS,
                parity=serial.PARITY_EVEN, stopbits=serial.STOPBITS_ONE, timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._fail(now_s, f"cannot open {self.port}: {exc}")
            return False
        self._backoff_s = 1.0
        log.info("tic %s: reading %s at %d baud", self.id, self.port, self.baudrate)
        return True

    def _fail(self, now_s: float, reason: str) -> None:
        self.errors[reason.split(":")[0]] += 1
        log.warning("tic %s: %s (retry in %.0f s)", self.id, reason, self._backoff_s)
        self._next_try_s = now_s + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.reconnect_max_s)
        self.close()

    def read(self, now_s: float) -> list[Reading]:
        """Drain the port (never blocks) and return the readings of the frames completed."""
        if not self._open(now_s):
            return []
        import serial
        try:
            data = self._serial.read(max(1, self._serial.in_waiting))
        except (serial.SerialException, OSError) as exc:
            self._fail(now_s, f"read error on {self.port}: {exc}")
            return []
        decoded = self.reader.decoder.counters
        frames_before = decoded.frames
        out = self.reader.feed(data, now_s)
        if decoded.frames > frames_before:
            self._bytes_since_frame = 0
        else:
            self._bytes_since_frame += len(data)
            if self.mode == "auto" and self._bytes_since_frame > AUTO_SWITCH_BYTES:
                self._switch_baudrate()
        return out

    def _switch_baudrate(self) -> None:
        self.baudrate = 1200 if self.baudrate == 9600 else 9600
        self._bytes_since_frame = 0
        if self._serial is not None:
            self._serial.baudrate = self.baudrate
        log.info("tic %s: no frame yet, trying %d baud", self.id, self.baudrate)

    def close(self) -> None:
        """Close the serial port (a dead port is ignored)."""
        if self._serial is not None:
            try:
                self._serial.close()
            except Exception:  # closing a dead port: nothing more to do
                pass
            self._serial = None


def _factory(meter_id: str, options: TicOptions, config=None, *, clock=None) -> TicMeter:
    return TicMeter(meter_id, options.port, options.mode, options.baudrate,
                    options.max_power_va, options.reconnect_max_s)


registry.register("tic", TicOptions, _factory)
