"""A template to copy when adding a device: a meter that reads a small JSON file.

This module is **not** in :data:`pvshare.meters.registry.MODULES`: a config cannot name its
type. It registers ``type = "template-json-file"`` when imported (the tests do), so that it
is checked to work through the registry like every real device. To add a device:

1. copy this file to ``pvshare/meters/<device>.py``;
2. write its options (a pydantic model, ``extra="forbid"``: a typo in the config is an
   error naming the field) and its ``read`` (a :class:`~pvshare.meters.base.PollMeter`) or
   ``start(sink)``/``stop`` (a :class:`~pvshare.meters.base.PushMeter`);
3. count every failure in ``counters`` and return no reading instead of raising;
4. register it at the bottom under its config ``type`` and add that type to
   :data:`pvshare.meters.registry.MODULES`;
5. test it through :func:`pvshare.meters.registry.create` against a real device server
   (see ``tests/test_meters_template.py``).

A Modbus device needs no module at all: write a profile file (see
``pvshare/meters/profiles/`` and ``docs/devices.md``).

The file read here holds ``{"import_wh": ..., "export_wh": ..., "power_w": ...}`` (any of
them may be missing or null).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pvshare.meters.base import Reading
from pvshare.meters.registry import register

TYPE = "template-json-file"


class Options(BaseModel):
    """Options of a ``type = "template-json-file"`` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, description="the JSON file to read at every poll")


class JsonFileMeter:
    """Reads ``path`` at every poll: one reading, or none (counted) when it is unusable."""

    def __init__(self, meter_id: str, options: Options):
        self.id = meter_id
        self.path = Path(options.path)
        self.counters: Counter = Counter()

    def read(self, now_s: float) -> list[Reading]:
        """One poll: at most one :class:`Reading`, stamped ``now_s``."""
        self.counters["polls"] += 1
        try:
            data = json.loads(self.path.read_bytes()[:4096])
        except (OSError, ValueError):
            self.counters["unreadable"] += 1
            return []
        if not isinstance(data, dict):
            self.counters["unreadable"] += 1
            return []
        values = {}
        for name in ("import_wh", "export_wh", "power_w"):
            values[name] = _finite(data.get(name))
        if all(v is None for v in values.values()):
            self.counters["empty"] += 1
            return []
        self.counters["readings"] += 1
        return [Reading(self.id, now_s, **values)]

    def close(self) -> None:
        """Nothing to release (a real device closes its connection here)."""


def _finite(v) -> float | None:
    """A finite float from a JSON number, else None (a bool, a string, NaN, infinity, or an
    integer too large for a float such as 10**400, never an exception).
    """
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def _factory(meter_id: str, options: Options, config=None, *, clock=None) -> JsonFileMeter:
    return JsonFileMeter(meter_id, options)


register(TYPE, Options, _factory)
