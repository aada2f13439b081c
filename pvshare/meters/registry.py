"""Registry of meter types, keyed by the config's ``type``.

Each meter module registers itself with :func:`register` (its options model and its
factory). The module of a type is imported only when a config names that type, so that the
daemon loads only the protocol clients it needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from pvshare.validation import validation_messages

#: type name -> module that registers it
MODULES = {
    "sunspec": "pvshare.meters.sunspec",
    "modbus": "pvshare.meters.modbus",
    "mqtt": "pvshare.meters.mqtt",
    "tic": "pvshare.meters.tic_serial",
}

_TYPES: dict[str, tuple[type[BaseModel], Callable[..., Any]]] = {}


def register(type_name: str, options: type[BaseModel], factory: Callable[..., Any]) -> None:
    """Register a meter type: its pydantic options model and a factory
    ``factory(meter_id, options, config) -> meter``.
    """
    _TYPES[type_name] = (options, factory)


def lookup(type_name: str) -> tuple[type[BaseModel], Callable[..., Any]]:
    if type_name not in _TYPES:
        if type_name not in MODULES:
            raise KeyError(f"unknown meter type {type_name!r}: use one of {', '.join(MODULES)}")
        importlib.import_module(MODULES[type_name])
    return _TYPES[type_name]


def validate_meter_options(section, where: str) -> list[str]:
    """Problems (one line each, prefixed with ``where``) with a ``[[meters]]`` entry."""
    try:
        options_model, _ = lookup(section.type)
    except KeyError as exc:
        return [f"{where}.type: {exc.args[0]}"]
    options = {k: v for k, v in section.model_dump().items() if k not in ("id", "type")}
    try:
        options_model.model_validate(options)
    except ValidationError as err:
        return validation_messages(err, prefix=where)
    return []


def create(section, config) -> Any:
    """Build the meter object for one validated ``[[meters]]`` entry."""
    options_model, factory = lookup(section.type)
    options = options_model.model_validate(
        {k: v for k, v in section.model_dump().items() if k not in ("id", "type")})
    return factory(section.id, options, config)
