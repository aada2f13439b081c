"""One simulated clock shared by every simulator and by the daemon in demos and tests.

``SimClock(start, speed)`` maps wall-clock time to simulated UTC time: ``speed`` simulated
seconds pass per real second. ``speed=1`` with no start is the real clock.
"""

from __future__ import annotations

import datetime as dt
import time


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
    """

    def __init__(self, start: float | None = None, speed: float = 1.0,
                 origin: float | None = None):
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = float(speed)
        self._real0 = time.monotonic()
        self._sim0 = time.time() if start is None else float(start)
        if origin is not None:
            # Shared between processes: simulated time was ``start`` at the wall-clock time
            # ``origin`` (Unix s), so a restarted process rejoins the same timeline.
            self._real0 -= time.time() - float(origin)

    def reset(self, start: float) -> None:
        """Set the simulated time to ``start`` now (e.g. once slow set-up work is done)."""
        self._real0 = time.monotonic()
        self._sim0 = float(start)

    def now(self) -> float:
        """Current simulated Unix time, s."""
        return self._sim0 + (time.monotonic() - self._real0) * self.speed

    def sleep(self, sim_seconds: float) -> None:
        """Sleep for ``sim_seconds`` of simulated time."""
        if sim_seconds > 0:
            time.sleep(sim_seconds / self.speed)

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed
