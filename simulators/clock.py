"""One simulated clock shared by every simulator and by the daemon in demos and tests.

``SimClock(start, speed)`` maps wall-clock time to simulated UTC time: ``speed`` simulated
seconds pass per real second. ``speed=1`` with no start is the real clock.

Processes that share one timeline are given the same ``start``, ``speed`` and either the
wall-clock ``origin`` or an ``origin_file``: the clock then stands still at ``start`` until
that file exists, so that every process is up (listening, subscribed, first poll done) before
simulated time runs, however long their start takes on a loaded machine.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path


def parse_start(value: str | None) -> float | None:
    """Unix seconds of an ISO 8601 start (a missing offset means UTC)."""
    if value is None:
        return None
    t = dt.datetime.fromisoformat(value)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


class SimClock:
    """Simulated UTC clock.

    Parameters
    ----------
    start : float, optional
        Simulated Unix time (s) at creation; defaults to the real time.
    speed : float
        Simulated seconds per real second (> 0).
    origin : float, optional
        Wall-clock Unix time at which the simulated time was ``start`` (processes given the
        same ``start``, ``speed`` and ``origin`` share one timeline, across restarts).
    origin_file : path, optional
        A file that will hold that wall-clock time (written atomically by whoever starts the
        processes, once they are all ready): until it exists the clock stands at ``start``.
    adjust_file : path-like, optional
        A file holding a number of simulated seconds added to this clock (missing: 0):
        tests write it to set a wrong clock right, as NTP does, or wrong again.
    """

    def __init__(self, start: float | None = None, speed: float = 1.0,
                 origin: float | None = None, origin_file: str | os.PathLike | None = None,
                 adjust_file=None):
        self._adjust_file = adjust_file
        self._adjust = (None, 0.0)          # (mtime_ns, seconds)
        if speed <= 0:
            raise ValueError("speed must be > 0")
        if origin is not None and origin_file is not None:
            raise ValueError("give origin or origin_file, not both")
        self.speed = float(speed)
        self._real0 = time.monotonic()
        self._sim0 = time.time() if start is None else float(start)
        self._origin_file = Path(origin_file) if origin_file is not None else None
        self._next_look = 0.0
        if origin is not None:
            self._set_origin(float(origin))
        elif self._origin_file is not None:
            self._look_for_origin()

    def _set_origin(self, origin: float) -> None:
        # Shared between processes: simulated time was ``start`` at the wall-clock time
        # ``origin`` (Unix s), so a restarted process rejoins the same timeline.
        self._real0 = time.monotonic() - (time.time() - origin)

    def _look_for_origin(self) -> bool:
        """Read the origin file if it is there (at most every 10 ms); True once read."""
        if self._origin_file is None:
            return True
        t = time.monotonic()
        if t < self._next_look:
            return False
        self._next_look = t + 0.01
        try:
            origin = float(self._origin_file.read_text())
        except (OSError, ValueError):
            return False
        self._set_origin(origin)               # before the file is forgotten: other threads
        self._origin_file = None                # read the time without a lock
        return True

    @property
    def waiting(self) -> bool:
        """True while the clock stands still, waiting for its origin file."""
        return not self._look_for_origin()

    def reset(self, start: float) -> None:
        """Set the simulated time to ``start`` now (e.g. once slow set-up work is done)."""
        self._origin_file = None
        self._real0 = time.monotonic()
        self._sim0 = float(start)

    def now(self) -> float:
        """Current simulated Unix time, s (``start`` while waiting for the origin file)."""
        if not self._look_for_origin():
            return self._sim0 + self._adjusted()
        return self._sim0 + (time.monotonic() - self._real0) * self.speed + self._adjusted()

    def _adjusted(self) -> float:
        if self._adjust_file is None:
            return 0.0
        try:
            mtime = os.stat(self._adjust_file).st_mtime_ns
        except OSError:
            return 0.0
        if mtime != self._adjust[0]:
            try:
                with open(self._adjust_file, encoding="ascii") as f:
                    self._adjust = (mtime, float(f.read().strip() or 0))
            except (OSError, ValueError):
                return self._adjust[1]
        return self._adjust[1]

    def sleep(self, sim_seconds: float) -> None:
        """Sleep for ``sim_seconds`` of simulated time."""
        if sim_seconds > 0:
            time.sleep(sim_seconds / self.speed)

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed
