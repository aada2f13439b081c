"""The InfluxDB forwarder: delivers the store's outbox with the points' original timestamps.

It uses ``influxdb-client``'s synchronous v2 write API (``POST /api/v2/write``), which
InfluxDB 2.x, 3.x and 1.8+ all accept:

- InfluxDB 2.x/3.x: ``url``, ``org``, ``bucket``, and a token with write access;
- InfluxDB 1.8+: ``org`` may be left empty, ``bucket = "database/retention_policy"`` (or just
  ``"database"``), and the token is ``"username:password"`` (or empty without auth).

A point leaves the outbox only after the server acknowledged its batch (HTTP 204). A batch
that fails stays queued, and the forwarder waits before trying again (exponential backoff,
capped): :meth:`Forwarder.deliver` never blocks on a dead server, so the daemon can call it
every few seconds. Points are stamped with their step start (seconds precision) and re-sent
points overwrite the same series and timestamp in InfluxDB, so a resend is never a double.

The token is never printed or logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pvshare.secrets import redact_url
from pvshare.store.lineproto import site_tag, to_lines

log = logging.getLogger("pvshare.store.forwarder")


class DeliveryError(Exception):
    """A batch was not acknowledged (server down, refused, timed out)."""


class Forwarder:
    """Delivers the outbox of a :class:`pvshare.store.Store` to InfluxDB.

    Parameters
    ----------
    store : pvshare.store.Store
    influx_cfg : pvshare.config.InfluxDB
        ``url``, ``org``, ``bucket``, ``batch_size`` and the token (see
        :meth:`pvshare.config.InfluxDB.resolved_token`).
    site_name : str
        Value of the ``site`` tag added to every point.
    timeout_s : float
        HTTP timeout of one batch, s.
    backoff_initial_s, backoff_max_s : float
        First wait after a failure, and the cap of the doubling waits, s.
    clock : callable
        Monotonic clock in seconds (tests may pass their own).
    on_acked : callable, optional
        Called with the number of points of a batch once the server acknowledged it, just
        before the batch leaves the outbox (progress reports; crash tests).
    """

    def __init__(self, store, influx_cfg, site_name: str, *, timeout_s: float = 30.0,
                 backoff_initial_s: float = 1.0, backoff_max_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_acked: Callable[[int], None] | None = None):
        self.store = store
        self.cfg = influx_cfg
        self.site_tag = site_tag(site_name)
        self.batch_size = int(influx_cfg.batch_size)
        self.timeout_s = timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.on_acked = on_acked
        #: Consecutive failed attempts (0 once a batch went through).
        self.failures = 0
        #: The last failure, in words (never holds the token).
        self.last_error: str | None = None
        #: Clock time before which :meth:`deliver` does not try again.
        self.next_attempt = -float("inf")
        #: Points delivered since this forwarder was created.
        self.delivered = 0
        self._client = None
        self._write_api = None

    # -- connection ------------------------------------------------------------------------
    def _api(self):
        if self._write_api is None:
            from influxdb_client import InfluxDBClient
            from influxdb_client.client.write_api import SYNCHRONOUS
            self._client = InfluxDBClient(url=self.cfg.url, token=self.cfg.resolved_token(),
                                          org=self.cfg.org or "-",
                                          timeout=int(self.timeout_s * 1000))
            self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        return self._write_api

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            self._client.close()
        self._client = self._write_api = None

    def __enter__(self) -> Forwarder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- delivery --------------------------------------------------------------------------
    @property
    def backoff_s(self) -> float:
        """Seconds left before the next attempt (0 when it may try now)."""
        return max(0.0, self.next_attempt - self.clock())

    def send(self, lines: list[str]) -> None:
        """POST one batch of lines and return only once the server acknowledged it.

        Raises
        ------
        DeliveryError
            The server is unreachable, timed out or refused the batch.
        """
        from influxdb_client import WritePrecision
        from influxdb_client.rest import ApiException
        try:
            # One string per batch: the client then sends it as is (a list would be
            # re-serialised line by line).
            self._api().write(bucket=self.cfg.bucket, org=self.cfg.org or "-",
                              record="\n".join(lines), write_precision=WritePrecision.S)
        except ApiException as exc:
            raise DeliveryError(_http_reason(exc, self.cfg)) from None
        except Exception as exc:  # urllib3/socket errors: unreachable, timeout, reset
            raise DeliveryError(f"cannot reach {redact_url(self.cfg.url)}: {_short(exc)}") from None

    def deliver(self, max_batches: int | None = None, *, wait: bool = False) -> int:
        """Send pending points in batches of ``batch_size``, oldest first.

        Each batch is removed from the outbox only once the server acknowledged it. On a
        failure the batch stays queued, the error is logged (WARNING, then ERROR after 5
        failures in a row), and no attempt is made before the backoff has elapsed.

        Parameters
        ----------
        max_batches : int, optional
            Stop after this many batches (default: until the outbox is empty).
        wait : bool
            When in backoff, sleep until the next attempt instead of returning 0.

        Returns
        -------
        int
            Points delivered by this call.
        """
        done = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            if self.clock() < self.next_attempt:
                if not wait:
                    break
                time.sleep(self.backoff_s)
            first, last, rows = self.store.outbox_batch(self.batch_size)
            if not rows:
                break
            lines = to_lines(self.site_tag, rows)
            try:
                self.send(lines)
            except DeliveryError as exc:
                self._failed(str(exc))
                if not wait:
                    break
                batches += 1
                continue
            if self.on_acked is not None:
                self.on_acked(len(rows))
            self.store.outbox_ack(first, last)
            if self.failures:
                log.info("InfluxDB at %s reachable again after %d failed attempt(s)",
                         redact_url(self.cfg.url), self.failures)
            self.failures = 0
            self.last_error = None
            self.next_attempt = -float("inf")
            done += len(rows)
            batches += 1
        self.delivered += done
        return done

    def _failed(self, reason: str) -> None:
        self.failures += 1
        self.last_error = reason
        delay = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (self.failures - 1))
        self.next_attempt = self.clock() + delay
        level = logging.WARNING if self.failures < 5 else logging.ERROR
        log.log(level, "InfluxDB write failed (%d in a row): %s; the points stay queued, next "
                "attempt in %.1f s", self.failures, reason, delay)


def _short(exc: Exception) -> str:
    # urllib3 wraps the socket error several levels deep; keep the last, readable part.
    msg = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "Connection reset", "No route to host", "Network is unreachable"):
        if marker in msg:
            return marker.lower()
    return f"{type(exc).__name__}: {msg[:200]}"


def _http_reason(exc, cfg) -> str:
    status = getattr(exc, "status", None)
    body = (getattr(exc, "body", None) or getattr(exc, "reason", "") or "")
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = str(body).strip()[:300]
    if status in (401, 403):
        return (f"InfluxDB at {redact_url(cfg.url)} refused the token (HTTP {status}): check "
                "PVSHARE_INFLUX_TOKEN, [influxdb] token_file or token")
    if status == 404:
        return (f"InfluxDB at {redact_url(cfg.url)}: bucket {cfg.bucket!r} or org {cfg.org!r} not found "
                f"(HTTP 404) {body}")
    return f"InfluxDB at {redact_url(cfg.url)} answered HTTP {status}: {body}"
