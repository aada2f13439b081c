"""The allocation key as one value: its name, coefficients, ranks, or the file that holds them.

A :class:`KeySpec` is built once, from the site configuration (:meth:`KeySpec.from_config`,
for the daemon's closing and the reports) or from the options of ``pvshare allocate``
(:meth:`KeySpec.from_options`, then :meth:`KeySpec.read_file`), and turns into the
arguments of :func:`pvshare.allocation.allocate` in one place (:meth:`KeySpec.allocate`).
The key names live here only (:class:`KeyName`): the config's ``key.type``, the CLI's
``--key`` and :data:`pvshare.allocation.KEYS` are all made from it.

>>> import numpy as np
>>> spec = KeySpec(KeyName.STATIC, coefficients=np.array([0.5, 0.5]))
>>> spec.allocate([900.0], [[100.0, 800.0]]).allocated
array([[100., 450.]])
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pvshare.errors import InputError
from pvshare.i18n import _

if TYPE_CHECKING:
    from pvshare.allocation.result import AllocationResult


class KeyName(enum.StrEnum):
    """The allocation keys (docs/design.md §2)."""

    #: Enedis' default: each participant gets production × its share of the consumption.
    PRORATA = "prorata"
    #: Fixed coefficients; what a participant does not use goes to the surplus.
    STATIC = "static"
    #: Fixed coefficients, what one participant does not use goes to the others.
    REALLOCATED = "reallocated"
    #: Ranks (1 served first), with weights within a rank.
    PRIORITY = "priority"
    #: Coefficients per step and participant, from a file.
    CUSTOM = "custom"


#: Keys whose coefficients are one per participant, fixed over time.
_FIXED_COEFFICIENTS = (KeyName.STATIC, KeyName.REALLOCATED)


@dataclass(frozen=True)
class KeySpec:
    """An allocation key with everything it needs.

    Attributes
    ----------
    name : KeyName
    coefficients : numpy.ndarray or None
        ``static`` and ``reallocated``: (N,) coefficients (Σ ≤ 1); ``priority``: (N,)
        weights within a rank (``None``: equal); ``custom``: (T, N) per step, once read
        from ``file``; ``prorata``: ``None``.
    ranks : numpy.ndarray of int or None
        ``priority``: (N,) ranks, 1 = served first.
    file : pathlib.Path or None
        The coefficients file (``custom`` key, or ``pvshare allocate --coefficients``).
    """

    name: KeyName
    coefficients: np.ndarray | None = None
    ranks: np.ndarray | None = None
    file: Path | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> KeySpec:
        """The key of a validated site configuration (:class:`pvshare.config.Config`).

        ``static`` and ``reallocated`` get the participants' coefficients (equal shares
        when none is given); ``priority`` gets the ranks, and weights only when some
        participant has a coefficient; ``custom`` gets its ``key.file`` (relative to the
        config file), not read here: it needs the steps of the data it applies to.
        """
        name = KeyName(cfg.key.type)
        if name in _FIXED_COEFFICIENTS:
            return cls(name, coefficients=cfg.coefficients())
        if name is KeyName.PRIORITY:
            weighted = any(p.coefficient is not None for p in cfg.participants)
            return cls(name, coefficients=cfg.coefficients() if weighted else None,
                       ranks=cfg.ranks())
        if name is KeyName.CUSTOM:
            return cls(name, file=cfg.relative(cfg.key.file))
        return cls(name)

    @classmethod
    def from_options(cls, key: str, coefficients: Path | None = None) -> KeySpec:
        """The key of command-line options (``--key``, ``--coefficients``), checked.

        Raises
        ------
        InputError
            An unknown key, or a ``custom`` or ``priority`` key without its file.
        """
        try:
            name = KeyName(key)
        except ValueError:
            raise InputError(_("unknown key {key!r}: use one of {keys}").format(
                                 key=key, keys=', '.join(KeyName)), field="--key") from None
        if name is KeyName.CUSTOM and coefficients is None:
            raise InputError(_("the 'custom' key needs --coefficients (time,<participant>,…)"),
                             field="--coefficients")
        if name is KeyName.PRIORITY and coefficients is None:
            raise InputError(_("the 'priority' key needs --coefficients with a rank column "
                               "(participant,coefficient,rank)"), field="--coefficients")
        return cls(name, file=None if coefficients is None else Path(coefficients))

    def read_file(self, participants: list[str], times: np.ndarray | None = None,
                  step: str = "PT30M", tz: str = "Europe/Paris") -> KeySpec:
        """The same key with its coefficients (and ranks) read from :attr:`file` for the given
        participants (and, for ``custom``, the given steps); itself when it has no file.

        Raises
        ------
        InputError
            Naming the file, line and column of the first problem.
        """
        if self.file is None:
            return self
        from pvshare.files.csvio import read_coefficients
        c = read_coefficients(self.file, participants, self.name.value, times, step, tz)
        return KeySpec(self.name, c.coefficients, c.ranks, self.file)

    @property
    def fixed(self) -> bool:
        """Whether the key applies without per-step coefficients (every key but custom)."""
        return self.name is not KeyName.CUSTOM

    def allocate(self, production, consumption) -> AllocationResult:
        """:func:`pvshare.allocation.allocate` with this key.

        Parameters
        ----------
        production : array_like, shape (T,)
            Production per step, Wh.
        consumption : array_like, shape (T, N)
            Consumption per step and participant, Wh (NaN = not measured).

        Returns
        -------
        pvshare.allocation.AllocationResult
        """
        from pvshare.allocation import allocate
        k = self.coefficients
        if k is not None and np.ndim(k) == 2 and self.name is not KeyName.CUSTOM:
            # static/reallocated/priority coefficients that change on dates (from,to columns)
            from pvshare.allocation.periods import allocate_by_periods
            return allocate_by_periods(production, consumption, self.name.value, k, self.ranks)
        return allocate(production, consumption, self.name.value,
                        coefficients=k, ranks=self.ranks)
