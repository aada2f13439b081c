"""Local-time views of UTC step starts, vectorised (reports speak Europe/Paris time)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pvshare.timegrid import DEFAULT_TZ, to_epoch_seconds, utc_offsets


@dataclass(frozen=True)
class LocalSteps:
    """Local calendar fields of each step start (all arrays of shape (T,)).

    Attributes
    ----------
    date : datetime64[D]
        Local calendar date.
    month : datetime64[M]
        Local calendar month.
    second_of_day : int64
        Local seconds since midnight, 0..86399.
    weekday : int64
        0 = Monday … 6 = Sunday.
    """

    date: np.ndarray
    month: np.ndarray
    second_of_day: np.ndarray
    weekday: np.ndarray

    @property
    def hour(self) -> np.ndarray:
        """Local hour of each step (0-23)."""
        return self.second_of_day // 3600


def local_steps(times, tz: str = DEFAULT_TZ) -> LocalSteps:
    """Local date, month, second of day and weekday of UTC step starts."""
    secs = to_epoch_seconds(times)
    local = secs + utc_offsets(secs, tz)
    days = np.floor_divide(local, 86400)
    return LocalSteps(date=days.astype("datetime64[D]"),
                      month=days.astype("datetime64[D]").astype("datetime64[M]"),
                      second_of_day=local - days * 86400,
                      weekday=(days + 3) % 7)


def group_sum(keys: np.ndarray, values: np.ndarray):
    """Sum ``values`` (T,) or (T, N) by ``keys`` (T,), ignoring NaN.

    Returns
    -------
    (unique_keys, sums, counts)
        ``sums`` has shape (K,) or (K, N); ``counts`` the number of non-NaN values summed.
    """
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    v = np.asarray(values, dtype=float)[order]
    if k.size == 0:
        shape = (0,) + v.shape[1:]
        return k, np.zeros(shape), np.zeros(shape)
    starts = np.concatenate([[0], np.flatnonzero(k[1:] != k[:-1]) + 1])
    ok = ~np.isnan(v)
    sums = np.add.reduceat(np.where(ok, v, 0.0), starts, axis=0)
    counts = np.add.reduceat(ok.astype(float), starts, axis=0)
    return k[starts], sums, counts
