"""Connections that cannot starve the tenants' pages: idle and slow clients are closed.

uvicorn's h11 protocol has no timeout until a first answer is sent, and its
``limit_concurrency`` counts *open connections*: 200 sockets that send nothing made every
request answer 503 for as long as they stayed open. :func:`guarded_protocol` gives uvicorn
(``http=``) a protocol with three bounds instead (defaults in ``[web]``, docs/web.md):

* **a request head in time**: a connection has ``header_timeout_s`` (10 s) to send a whole
  request head, from its opening and again after each answer (a client that sends one byte
  a second does not reset it); otherwise it is closed;
* **connections per client** (``max_connections_per_client``, 32, by socket peer) and **in
  all** (``max_connections``, 256): above either, the *oldest idle* connection (one with no
  request in progress) is closed to make room, so a new client is always served; only when
  every connection is busy with a request is the new one turned away;
* no 503 for open idle connections (``limit_concurrency`` is not used).

Each closing is counted and logged, rate-limited (one line per kind every 5 minutes).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict

from pvshare.logs import RateLimitedLog

log = logging.getLogger("pvshare.web")


class ConnectionBudget:
    """The open connections, oldest first, with their client and whether they are busy."""

    def __init__(self, max_connections: int = 256, max_per_client: int = 32,
                 header_timeout_s: float = 10.0):
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.header_timeout_s = header_timeout_s
        self._open: OrderedDict[object, str] = OrderedDict()
        self._per_client: Counter = Counter()
        self.counters: Counter = Counter()
        self._log = RateLimitedLog(log, 300.0)

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, conn, client: str) -> bool:
        """Register a new connection; close the oldest idle ones beyond the bounds.

        Returns
        -------
        bool
            False when the new connection itself must be closed (every other one busy).
        """
        self._open[conn] = client
        self._per_client[client] += 1
        while self._per_client[client] > self.max_per_client:
            if not self._evict(conn, client):
                self.counters["refused"] += 1
                return False
        while len(self._open) > self.max_connections:
            if not self._evict(conn, None):
                self.counters["refused"] += 1
                return False
        return True

    def _evict(self, new, client: str | None) -> bool:
        for other, who in self._open.items():
            if other is new or (client is not None and who != client) or other.busy:
                continue
            self.counters["evicted"] += 1
            self._log.warning("evicted", "web: too many connections (%s): the oldest idle "
                              "one, from %s, closed", "from one client" if client else "in all",
                              who)
            self.remove(other)
            other.close_idle()
            return True
        return False

    def remove(self, conn) -> None:
        """Forget a connection (closed by either side)."""
        client = self._open.pop(conn, None)
        if client is not None:
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]

    def timed_out(self, client: str) -> None:
        """Count (and log, rate-limited) a connection closed for a late request head."""
        self.counters["header_timeout"] += 1
        self._log.warning("header_timeout", "web: a connection from %s sent no whole request "
                          "within %g s: closed", client, self.header_timeout_s)


def guarded_protocol(budget: ConnectionBudget):
    """The h11 protocol class of uvicorn, bounded by ``budget`` (pass it as ``http=``)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        busy = False
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._who = self.client[0] if self.client else "?"
            if not budget.admit(self, self._who):
                budget.remove(self)
                self.transport.close()
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(budget.header_timeout_s, self._late)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _late(self) -> None:
            self._head_timer = None
            if not self.busy and not self.transport.is_closing():
                budget.timed_out(self._who)
                self.close_idle()

        def close_idle(self) -> None:
            """Close this connection, which has no request in progress."""
            self._disarm()
            if not self.transport.is_closing():
                self.transport.close()

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and not self.cycle.response_complete:
                self.busy = True           # a whole request head came: no more head timer
                self._disarm()

        def on_response_complete(self) -> None:
            self.busy = False
            super().on_response_complete()
            if not self.transport.is_closing() and not self.busy:
                self._arm()                # the next request head, in time too

        def connection_lost(self, exc) -> None:
            self._disarm()
            budget.remove(self)
            super().connection_lost(exc)

    return GuardedH11Protocol
