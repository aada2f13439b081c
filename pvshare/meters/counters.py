"""Energy counters that break the spec: what a reader refuses before it stores an index.

A :class:`CounterGuard` (pure: no I/O, no clock) is fed, in reading order, each energy
counter of one device and says whether to keep it or why not. A refused value is not stored
as energy (the reading keeps its other values); :func:`judge`, what both Modbus readers
(SunSpec and profiles) call, counts its reason on the meter, for ``pvshare meters probe``
and ``pvshare status``, and logs it.

Two rules (docs/meters.md, "Counters that break the spec"):

``sign_bit``
    An **unsigned** counter (SunSpec ``acc32``, a profile's ``uint32``) with its sign bit
    set whose value would be at least 2**31 Wh (2.1 GWh): no building's counter is that
    large (a 36 kWp roof makes about 40 MWh a year), so the device wrote a negative number
    into an unsigned register. Real case: a Kostal inverter's SunSpec model 203 writes
    −4,793,859 into ``TotWhExp``, read as 0xFFB6D9FD = 4,290,173,437 Wh
    (tests/fixtures/sunspec/kostal_203_negative_totwhexp.json). With a finer unit (a
    negative scale factor, 0.01 Wh) the sign bit is inside a believable range; such a
    counter is still caught by the next rule as soon as it falls.
``backwards``
    A counter lower than the last value kept. It is refused (not clamped, not stored), and
    the last value kept stays the reference, so the counter is kept again once it is back
    above it. A **meter replacement** is the one documented way down: a drop of more than
    :data:`REPLACEMENT_DROP_WH` after which the counter does not fall for
    :data:`REPLACEMENT_READINGS` readings in a row. Those readings are then kept from the
    last of them on (counted ``replaced``) and :mod:`pvshare.meters.energy` continues the
    new index from the old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pvshare.meters.energy import RESET_DROP_WH

SIGN_BIT = "sign_bit"
BACKWARDS = "backwards"
REPLACED = "replaced"

#: The smallest value of an unsigned counter with its sign bit set that is refused, Wh.
SIGN_BIT_WH = float(2 ** 31)
#: A drop larger than this may be a meter replacement, Wh (as in meters/energy.py).
REPLACEMENT_DROP_WH = RESET_DROP_WH
#: Readings in a row, none lower than the one before, that confirm a replacement.
REPLACEMENT_READINGS = 3


def sign_bit_set(raw: int | None, bits: int = 32) -> bool:
    """True when the unsigned raw value ``raw`` of a ``bits``-bit register has its top bit set."""
    return raw is not None and 0 <= raw and raw >> (bits - 1) & 1 == 1


@dataclass
class _State:
    last: float | None = None
    candidates: list[float] = field(default_factory=list)


@dataclass
class CounterGuard:
    """The last kept value of each counter of one device, and the replacement candidates.

    Examples
    --------
    >>> g = CounterGuard()
    >>> g.check("export_wh", 1000.0)
    (1000.0, None)
    >>> g.check("export_wh", 990.0)      # backwards: refused, 1000 stays the reference
    (None, 'backwards')
    >>> g.check("export_wh", 1005.0)
    (1005.0, None)
    """

    replacement_drop_wh: float = REPLACEMENT_DROP_WH
    replacement_readings: int = REPLACEMENT_READINGS
    _states: dict[str, _State] = field(default_factory=dict)

    def check(self, name: str, value: float | None, *,
              sign_bit: bool = False) -> tuple[float | None, str | None]:
        """Judge one value of counter ``name`` (Wh).

        Parameters
        ----------
        name : str
            The counter (``import_wh``, ``export_wh``...).
        value : float or None
            Its value, Wh (None: not given, nothing to judge).
        sign_bit : bool
            The raw unsigned register had its sign bit set.

        Returns
        -------
        (value or None, reason or None)
            The value to store (None when refused) and why: ``sign_bit``, ``backwards``,
            ``replaced`` (kept: a confirmed meter replacement) or None.
        """
        if value is None:
            return None, None
        if sign_bit and value >= SIGN_BIT_WH:
            return None, SIGN_BIT
        st = self._states.setdefault(name, _State())
        if st.last is None or value >= st.last:
            st.last, st.candidates = value, []
            return value, None
        if st.last - value <= self.replacement_drop_wh:
            st.candidates = []
            return None, BACKWARDS
        c = st.candidates
        if c and (value < c[-1] or st.last - value <= self.replacement_drop_wh):
            c.clear()
        c.append(value)
        if len(c) >= self.replacement_readings:
            st.last, st.candidates = value, []
            return value, REPLACED
        return None, BACKWARDS

    def reset(self) -> None:
        """Forget every counter (a new device map: the counters may be other registers)."""
        self._states.clear()


def judge(meter, guard: CounterGuard, name: str, value: float | None, *, sign_bit: bool,
          who: str) -> float | None:
    """``value`` of the energy counter ``name`` after ``guard``, for a meter reading it.

    A refused value is counted under its reason in ``meter.counters``, told in
    ``meter.refused[name]`` (shown by probe and status) and logged, rate-limited by
    ``meter._faults``; a confirmed replacement is logged once. ``who`` names the device in
    the log (``inverter`` or ``inverter: unit 2``).
    """
    kept, reason = guard.check(name, value, sign_bit=sign_bit)
    if reason is not None:
        meter.counters[reason] += 1
        if kept is None:
            detail = (f"{reason}: {name} = {value:.0f} Wh "
                      + ("(an unsigned register with its sign bit set: the device "
                         "wrote a negative number)" if reason == SIGN_BIT else
                         "(lower than the last value kept)"))
            meter.refused[name] = detail
            meter._faults.warning(f"{reason}:{name}", "%s: %s; not stored as energy",
                                  who, detail)
        else:
            meter.refused.pop(name, None)
            meter.log.warning("%s: %s went down and stayed down: a meter replacement, "
                              "continued from the old index", who, name)
    elif kept is not None:
        meter.refused.pop(name, None)
    return kept
