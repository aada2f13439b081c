"""Meters: one module per source kind, registered under the config's ``type`` name.

The required interface is tiny (:class:`~pvshare.meters.base.Meter`: ``read()`` returning
:class:`~pvshare.meters.base.Reading` objects); see :mod:`pvshare.meters.registry`.
"""

from pvshare.meters.base import Quality, Reading

__all__ = ["Quality", "Reading"]
