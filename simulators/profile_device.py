"""A Modbus TCP device built from a pvshare device profile (tests, demos): the profile's
registers hold the values asked for, encoded as the profile declares them (type, word
order, scale, unit), served by the same pymodbus server as the inverter simulator.
"""

from __future__ import annotations

from pvshare.meters import registers
from pvshare.meters.profiles import Profile, load_profile
from pvshare_simulators.inverter import InverterSimulator, StaticImage


class _Clock:
    def now(self) -> float:
        return 0.0


def profile_image(profile: Profile | str, values: dict[str, float], unit: int = 1,
                  checks: dict[int, int] | None = None) -> StaticImage:
    """The register image of a device: ``values`` maps a field (``power_w``, ``import_wh``,
    ``export_wh``) to its value in W or Wh; registers without a value hold 0. The profile's
    ``checks`` registers are served too, holding their ``min`` (a device that speaks the
    profile) unless ``checks`` gives another raw value by address.
    """
    prof = load_profile(profile) if isinstance(profile, str) else profile
    spans = [(r.address, r.address + r.count) for r in prof.registers] + \
        [(c.address, c.address + c.count) for c in prof.checks]
    start = min(a for a, _ in spans)
    end = max(b for _, b in spans)
    words = [0] * (end - start)
    for r in prof.registers:
        if r.field in values:
            words[r.address - start:r.address - start + r.count] = r.encode(values[r.field])
    for c in prof.checks:
        raw = (checks or {}).get(c.address, c.min)
        words[c.address - start:c.address - start + c.count] = \
            registers.pack(c.type, raw, c.word_order)
    return StaticImage(words, base=start, unit=unit)


def profile_server(profile: Profile | str, values: dict[str, float],
                   unit: int = 1, checks: dict[int, int] | None = None) -> InverterSimulator:
    """A simulator serving one device built from ``profile`` (run it in a ServerThread)."""
    return InverterSimulator(profile_image(profile, values, unit, checks), _Clock())
