"""The meter-id rule: which meter id gives each participant's consumption.

Written once, used by the MQTT meter (to stamp its readings) and by closing (to find each
participant's energy in the store):

1. a participant's own ``meter`` wins;
2. else a ``[[meters]]`` entry whose id holds ``{participant}`` (``linky-{participant}``)
   gives ``linky-A01``, ``linky-A02``...;
3. else a single multi-participant entry (an MQTT bridge) whose id has no template gives
   ``<id>-<participant>``.
"""

from __future__ import annotations

from pvshare.errors import ConfigError
from pvshare.meters.registry import MULTI_PARTICIPANT_TYPES

PLACEHOLDER = "{participant}"


def participant_meter_id(section_id: str, participant) -> str:
    """The meter id a multi-participant entry ``section_id`` gives to ``participant``.

    Parameters
    ----------
    section_id : str
        The ``[[meters]]`` id, possibly holding ``{participant}``.
    participant : pvshare.config.Participant
        Needs ``id`` and ``meter`` (None when not set).

    Returns
    -------
    str
    """
    if participant.meter:
        return participant.meter
    if PLACEHOLDER in section_id:
        return section_id.replace(PLACEHOLDER, participant.id)
    return f"{section_id}-{participant.id}"


def participant_meter_ids(cfg) -> list[str]:
    """The meter id giving each participant's consumption, in the config's order.

    Raises
    ------
    ConfigError
        When a participant has no meter (rule of the module docstring), naming it.
    """
    templates = [m.id for m in cfg.meters if PLACEHOLDER in m.id]
    shared = [m.id for m in cfg.meters
              if m.type in MULTI_PARTICIPANT_TYPES and PLACEHOLDER not in m.id]
    out = []
    problems = []
    for i, p in enumerate(cfg.participants):
        if p.meter:
            out.append(p.meter)
        elif len(templates) == 1:
            out.append(participant_meter_id(templates[0], p))
        elif not templates and len(shared) == 1:
            out.append(participant_meter_id(shared[0], p))
        else:
            problems.append(f"participants[{i}].meter: no meter gives this participant's "
                            "consumption (set `meter`, or one [[meters]] id with {participant})")
            out.append("")
    if problems:
        raise ConfigError(cfg.source or "<config>", problems)
    return out
