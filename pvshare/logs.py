"""Logging helpers shared by the meters and the daemon.

:class:`RateLimitedLog` keeps a fault that repeats every few seconds (a device that times
out, a bridge that publishes malformed messages) from flooding the journal of a Raspberry
Pi for days: the first occurrence of each kind of fault is logged at once, then at most one
line per ``interval_s`` that also says how many were left out in between, and, when the
caller says so, one line when the fault clears.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """At most one line per kind of fault every ``interval_s``, with a count of the repeats.

    Parameters
    ----------
    logger : logging.Logger
        Where the lines go (the caller's own logger, so that its name stays in the log).
    interval_s : float
        Least time between two lines of the same kind, s of the clock used.
    level : int
        Level of the lines about the fault (default WARNING). Repeats left out are still
        logged at DEBUG.
    clock : callable
        Seconds now, used when a call gives no ``now_s`` (default :func:`time.monotonic`).

    Examples
    --------
    >>> import logging, sys
    >>> log = logging.getLogger("pvshare.demo")
    >>> log.addHandler(logging.StreamHandler(sys.stdout)); log.setLevel(logging.INFO)
    >>> faults = RateLimitedLog(log, interval_s=60)
    >>> for t in range(0, 130, 10):          # a timeout every 10 s for two minutes
    ...     _ = faults.warning("timeout", "%s: no answer", "inverter", now_s=t)
    inverter: no answer
    inverter: no answer (5 more like this since the last message)
    inverter: no answer (5 more like this since the last message)
    >>> _ = faults.clear("timeout", "%s: answers again", "inverter")
    inverter: answers again
    """

    def __init__(self, logger: logging.Logger, interval_s: float, *,
                 level: int = logging.WARNING,
                 clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.interval_s = float(interval_s)
        self.level = level
        self.clock = clock
        self._last: dict[str, float] = {}
        self._repeats: collections.Counter = collections.Counter()

    def warning(self, key: str, msg: str, *args, now_s: float | None = None) -> bool:
        """Report one occurrence of the fault ``key``.

        Parameters
        ----------
        key : str
            The kind of fault (``"timeout"``, ``"exception2"``...); each kind has its own
            rhythm.
        msg, *args
            The line, with ``%`` arguments as for :meth:`logging.Logger.log`.
        now_s : float, optional
            The caller's clock, s (default: ``clock()``). A clock that went backwards
            (a simulated clock reset) lets the next line through.

        Returns
        -------
        bool
            Whether a line was logged at ``level`` (else it went to DEBUG and was counted).
        """
        now = self.clock() if now_s is None else float(now_s)
        last = self._last.get(key)
        if last is None or now - last >= self.interval_s or now < last:
            self._last[key] = now
            n = self._repeats.pop(key, 0)
            more = f" ({n} more like this since the last message)" if n else ""
            self.logger.log(self.level, msg + more, *args)
            return True
        self._repeats[key] += 1
        self.logger.debug(msg, *args)
        return False

    def clear(self, key: str, msg: str, *args) -> bool:
        """The fault ``key`` is over: log ``msg`` once at INFO (with the count of repeats not
        reported yet), if the fault had been logged; the next occurrence is logged at once.

        Returns
        -------
        bool
            Whether a line was logged (False when ``key`` was not a current fault).
        """
        if self._last.pop(key, None) is None:
            return False
        n = self._repeats.pop(key, 0)
        more = f" ({n} more occurrence(s) since the last message)" if n else ""
        self.logger.info(msg + more, *args)
        return True

    def repeats(self, key: str) -> int:
        """Occurrences of ``key`` left out since its last line."""
        return self._repeats.get(key, 0)
