"""Registry of meter types, keyed by the config's ``type``: the daemon's only factory.

Each meter module registers itself with :func:`register` (its options model, its factory
and whether it polls or pushes). The module of a type is imported only when a config names
that type (:data:`MODULES`), so that the daemon loads only the protocol clients it needs.
:func:`create` builds a meter from a validated ``[[meters]]`` section.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from pvshare.validation import validation_messages

#: type name -> module that registers it
MODULES = {
    "sunspec": "pvshare.meters.sunspec",
    "modbus": "pvshare.meters.modbus",
    "mqtt": "pvshare.meters.mqtt",
    "tic": "pvshare.meters.tic_serial",
}

#: Types whose one ``[[meters]]`` entry serves many participants (see
#: :mod:`pvshare.meters.ids`). Kept here as data so that the rule needs no import of the
#: meter module.
MULTI_PARTICIPANT_TYPES = frozenset({"mqtt"})


@dataclass(frozen=True)
class MeterType:
    """One registered type: its options model, its factory and its kind.

    ``factory(meter_id, options, config, *, clock)`` returns the meter; ``kind`` says which
    protocol it follows (:class:`~pvshare.meters.base.PollMeter` or
    :class:`~pvshare.meters.base.PushMeter`).
    """

    name: str
    options: type[BaseModel]
    factory: Callable[..., Any]
    kind: Literal["poll", "push"]


_TYPES: dict[str, MeterType] = {}


class DuplicateMeterType(ValueError):
    """A meter type name registered twice."""


def register(type_name: str, options: type[BaseModel], factory: Callable[..., Any], *,
             kind: Literal["poll", "push"] = "poll") -> None:
    """Register a meter type.

    Parameters
    ----------
    type_name : str
        The config's ``type``.
    options : type of pydantic.BaseModel
        Model of the entry's options (everything but ``id`` and ``type``).
    factory : callable
        ``factory(meter_id, options, config, *, clock)`` -> meter.
    kind : {"poll", "push"}
        Whether the daemon polls the meter or the meter pushes its readings.

    Raises
    ------
    DuplicateMeterType
        When ``type_name`` is already registered.
    """
    if type_name in _TYPES:
        raise DuplicateMeterType(f"meter type {type_name!r} is already registered "
                                 f"(by {_TYPES[type_name].factory.__module__})")
    if kind not in ("poll", "push"):
        raise ValueError(f"kind must be 'poll' or 'push', got {kind!r}")
    _TYPES[type_name] = MeterType(type_name, options, factory, kind)


def lookup(type_name: str) -> MeterType:
    """The registered type, importing its module when needed.

    Raises
    ------
    KeyError
        For a type nobody registers.
    """
    if type_name not in _TYPES:
        if type_name not in MODULES:
            raise KeyError(f"unknown meter type {type_name!r}: use one of {', '.join(MODULES)}")
        importlib.import_module(MODULES[type_name])
    return _TYPES[type_name]


def _options(section) -> dict:
    return {k: v for k, v in section.model_dump().items() if k not in ("id", "type")}


def validate_meter_options(section, where: str) -> list[str]:
    """Problems (one line each, prefixed with ``where``) with a ``[[meters]]`` entry."""
    try:
        mtype = lookup(section.type)
    except KeyError as exc:
        return [f"{where}.type: {exc.args[0]}"]
    try:
        mtype.options.model_validate(_options(section))
    except ValidationError as err:
        return validation_messages(err, prefix=where)
    return []


def create(section, config, *, clock: Callable[[], float] | None = None) -> Any:
    """Build the meter of one validated ``[[meters]]`` entry (not started).

    Parameters
    ----------
    section : pvshare.config.MeterSection
        The entry (``id``, ``type`` and the type's options).
    config : pvshare.config.Config or None
        The site configuration (participants, ``[mqtt]``...).
    clock : callable, optional
        UTC Unix seconds now, for meters that stamp readings themselves (push meters).

    Returns
    -------
    PollMeter or PushMeter
        See :func:`kind_of`.
    """
    mtype = lookup(section.type)
    options = mtype.options.model_validate(_options(section))
    return mtype.factory(section.id, options, config, clock=clock)


def kind_of(type_name: str) -> str:
    """``"poll"`` or ``"push"`` for a meter type."""
    return lookup(type_name).kind
