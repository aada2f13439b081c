"""Meters: one module per source kind, registered under the config's ``type`` name.

The seam is :mod:`pvshare.meters.base` (:class:`~pvshare.meters.base.PollMeter`,
:class:`~pvshare.meters.base.PushMeter`, :class:`~pvshare.meters.base.Reading`); the daemon
builds meters only through :func:`pvshare.meters.registry.create`; the copyable example of a
device is :mod:`pvshare.meters.template`.
"""

from pvshare.meters.base import PollMeter, PushMeter, Quality, Reading

__all__ = ["PollMeter", "PushMeter", "Quality", "Reading"]
