"""One Modbus TCP connection per device: a timeout per request, reconnection under capped
exponential backoff, counters, and logs that stay quiet while a device sleeps.

Used by the ``sunspec`` and ``modbus`` meters. Read-only by construction: this class has no
write method.

Backoff runs on the caller's clock (the ``now_s`` given to each read, i.e. the daemon's
clock, simulated in demos): after a failed connection the next attempt waits
``backoff_initial_s``, then twice as long each time, up to ``backoff_max_s``. Reads asked for
in between fail at once with :class:`DeviceUnreachable` without touching the network.

Logging: one WARNING when a device stops answering, one INFO when it is back (with how long
it was away); the failed attempts in between are DEBUG. Timeouts and Modbus exception
responses are WARNINGs at most once per ``log_interval_s`` each, with the count of the ones
not logged.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from dataclasses import dataclass, field

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from pvshare.logs import RateLimitedLog

log = logging.getLogger(__name__)

#: Largest register count of one read (Modbus: 125).
MAX_READ_COUNT = 125


class ModbusError(Exception):
    """A read failed; the reader keeps running. ``counter`` names the meter counter it
    increments.
    """

    counter = "errors"


class DeviceUnreachable(ModbusError):
    """No connection (refused, dropped, or waiting for the next attempt)."""

    counter = "unreachable"


class DeviceTimeout(ModbusError):
    """No reply within the timeout."""

    counter = "timeouts"


class DeviceExceptionResponse(ModbusError):
    """The device answered with a Modbus exception (e.g. 2 = illegal data address)."""

    counter = "exceptions"

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class _QuietTcpClient(ModbusTcpClient):
    """pymodbus' TCP client whose ``connect`` raises instead of logging an ERROR at every
    failed attempt (a storm all night while the inverter sleeps).
    """

    def connect(self) -> bool:
        if self.socket:
            return True
        self.socket = socket.create_connection(
            (self.comm_params.host, self.comm_params.port),
            timeout=self.comm_params.timeout_connect)
        return True


@dataclass
class ConnectionStats:
    """Counters of one device connection (since start)."""

    requests: int = 0
    responses: int = 0
    timeouts: int = 0
    #: Modbus exception responses, by exception code.
    exceptions: Counter = field(default_factory=Counter)
    connect_attempts: int = 0
    connect_failures: int = 0
    #: Reads refused without a network attempt because of the backoff.
    skipped: int = 0
    disconnects: int = 0


class ModbusConnection:
    """A device on Modbus TCP, read with function 3 (holding) or 4 (input registers).

    Parameters
    ----------
    host, port, unit
        Where the device is; ``unit`` is the Modbus device id (slave id).
    timeout_s : float
        Timeout of one request (connect or read), s of real time.
    name : str
        Name used in log lines (the meter id).
    backoff_initial_s, backoff_max_s : float
        Wait before the first reconnection attempt, and its cap, s of the caller's clock.
    log_interval_s : float
        Least time between two WARNINGs of the same kind (timeouts, exceptions).
    """

    def __init__(self, host: str, port: int, unit: int, timeout_s: float, *, name: str,
                 backoff_initial_s: float = 1.0, backoff_max_s: float = 300.0,
                 log_interval_s: float = 600.0, logger: logging.Logger | None = None):
        self.host, self.port, self.unit = host, int(port), int(unit)
        self.timeout_s = float(timeout_s)
        self.name = name
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.log = logger or log
        self.stats = ConnectionStats()
        #: Incremented at every new connection: readers re-discover their map when it changes.
        self.generation = 0
        self._client: _QuietTcpClient | None = None
        self._delay_s = 0.0
        self._next_attempt_s: float | None = None
        self._down_since_s: float | None = None
        self._failures_in_row = 0
        self._throttle = RateLimitedLog(self.log, log_interval_s)

    # -- connection ----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True while the TCP connection is open."""
        return self._client is not None and self._client.connected

    def _where(self) -> str:
        return f"{self.name} ({self.host}:{self.port} unit {self.unit})"

    def _ensure_connected(self, now_s: float) -> _QuietTcpClient:
        if self.connected:
            return self._client  # type: ignore[return-value]
        if self._next_attempt_s is not None and now_s < self._next_attempt_s \
                and now_s >= self._next_attempt_s - self._delay_s:
            self.stats.skipped += 1
            raise DeviceUnreachable(
                f"{self._where()}: not reachable, next attempt in "
                f"{self._next_attempt_s - now_s:.0f} s")
        self.stats.connect_attempts += 1
        client = _QuietTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0)
        try:
            client.connect()
        except OSError as exc:
            client.close()
            self._failed(now_s, exc.strerror or type(exc).__name__)
            raise DeviceUnreachable(f"{self._where()}: {exc.strerror or exc}") from None
        self._client = client
        self.generation += 1
        if self._failures_in_row:
            away = "" if self._down_since_s is None else \
                f", away for {_duration(now_s - self._down_since_s)}"
            self.log.info("%s: connected again after %d failed attempt(s)%s", self._where(),
                          self._failures_in_row, away)
        else:
            self.log.debug("%s: connected", self._where())
        self._failures_in_row = 0
        self._down_since_s = None
        self._next_attempt_s = None
        self._delay_s = 0.0
        return client

    def _failed(self, now_s: float, reason: str) -> None:
        """A connection attempt failed or a connection dropped: back off."""
        self.stats.connect_failures += 1
        self._delay_s = self.backoff_initial_s if self._delay_s <= 0 else \
            min(self._delay_s * 2, self.backoff_max_s)
        self._next_attempt_s = now_s + self._delay_s
        if self._failures_in_row == 0:
            self._down_since_s = now_s
            self.log.warning("%s: not reachable (%s); retrying with backoff up to %.0f s, "
                             "quietly until it answers", self._where(), reason,
                             self.backoff_max_s)
        else:
            self.log.debug("%s: still not reachable (%s), next attempt in %.0f s",
                           self._where(), reason, self._delay_s)
        self._failures_in_row += 1

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            self.stats.disconnects += 1

    def close(self) -> None:
        """Close the connection (the next read reconnects)."""
        self._drop()

    # -- reads ----------------------------------------------------------------------------
    def read_registers(self, address: int, count: int, now_s: float, *,
                       input_registers: bool = False, probe: bool = False,
                       unit: int | None = None) -> list[int]:
        """Read ``count`` registers from ``address`` (0-based protocol address) of ``unit``
        (default: the connection's unit; a gateway serves several on one connection).

        ``probe=True`` (e.g. looking for a map at several addresses): an exception response
        is counted but only logged at DEBUG level.

        Raises
        ------
        DeviceUnreachable, DeviceTimeout, DeviceExceptionResponse
        """
        if not 1 <= count <= MAX_READ_COUNT:
            raise ValueError(f"register count {count} out of 1..{MAX_READ_COUNT}")
        client = self._ensure_connected(now_s)
        self.stats.requests += 1
        read = client.read_input_registers if input_registers else client.read_holding_registers
        try:
            rr = read(address, count=count, device_id=self.unit if unit is None else unit)
        except ConnectionException as exc:
            self._drop()
            self._failed(now_s, "connection lost")
            raise DeviceUnreachable(f"{self._where()}: connection lost ({exc})") from None
        except ModbusIOException:
            # No reply in time. Drop the connection so that a late reply cannot be taken for
            # the answer to the next request; the next read reconnects at once.
            self._drop()
            self.stats.timeouts += 1
            self._warn("timeout", now_s, f"no reply within {self.timeout_s:g} s "
                       f"(read {count} registers at {address})")
            raise DeviceTimeout(f"{self._where()}: no reply within {self.timeout_s:g} s") \
                from None
        except ModbusException as exc:
            self._drop()
            self.stats.timeouts += 1
            self._warn("timeout", now_s, f"bad reply ({exc})")
            raise DeviceTimeout(f"{self._where()}: bad reply ({exc})") from None
        if rr.isError():
            code = int(getattr(rr, "exception_code", 0) or 0)
            self.stats.exceptions[code] += 1
            message = f"Modbus exception {code} reading {count} registers at {address}"
            if probe:
                self.log.debug("%s: %s", self._where(), message)
            else:
                self._warn(f"exception{code}", now_s, message)
            raise DeviceExceptionResponse(
                f"{self._where()}: Modbus exception {code} at {address}", code)
        regs = list(rr.registers)
        if len(regs) != count:
            self._drop()
            self.stats.timeouts += 1
            self._warn("short", now_s, f"asked {count} registers at {address}, got {len(regs)}")
            raise DeviceTimeout(f"{self._where()}: short reply ({len(regs)} of {count})")
        self.stats.responses += 1
        return regs

    def _warn(self, key: str, now_s: float, message: str) -> None:
        self._throttle.warning(key, "%s: %s", self._where(), message, now_s=now_s)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
