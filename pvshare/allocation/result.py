"""The outcome of an allocation, with the Enedis quantities derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class AllocationResult:
    """Allocated energy per step and participant, and what follows from it.

    Attributes
    ----------
    allocated : ndarray, shape (T, N)
        AUTOCONS of each participant per step, Wh (0 where consumption is missing).
    production : ndarray, shape (T,)
        PROD, Wh.
    consumption : ndarray, shape (T, N)
        CONS, Wh; NaN where the measurement is missing.
    key : str
        The key that was applied.
    """

    allocated: np.ndarray
    production: np.ndarray
    consumption: np.ndarray
    key: str
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def missing(self) -> np.ndarray:
        """(T, N) bool: consumption not measured."""
        return np.isnan(self.consumption)

    @property
    def incomplete(self) -> np.ndarray:
        """(T,) bool: steps with at least one missing consumption."""
        if "incomplete" not in self._cache:
            self._cache["incomplete"] = self.missing.any(axis=1)
        return self._cache["incomplete"]

    @property
    def autoprod(self) -> np.ndarray:
        """AUTOPROD per step (Σ allocated), Wh, shape (T,)."""
        if "autoprod" not in self._cache:
            self._cache["autoprod"] = self.allocated.sum(axis=1)
        return self._cache["autoprod"]

    @property
    def surplus(self) -> np.ndarray:
        """SURPLUS per step: production not allocated, Wh, shape (T,)."""
        return np.maximum(self.production - self.autoprod, 0.0)

    @property
    def complement(self) -> np.ndarray:
        """COMPLEMENT per step and participant (C − AUTOCONS, bought from the supplier), Wh,
        shape (T, N); NaN where consumption is missing.
        """
        return self.consumption - self.allocated

    @property
    def coefficients(self) -> np.ndarray:
        """Share of the production each participant received, in [0, 1], shape (T, N);
        0 for steps without production.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            k = self.allocated / self.production[:, None]
        k[~np.isfinite(k)] = 0.0
        return k

    def totals(self) -> dict:
        """Totals over all steps (Wh) and the two usual rates.

        ``self_consumption_rate`` = AUTOPROD / PROD; ``self_sufficiency`` = AUTOCONS / CONS
        (over measured consumption).
        """
        prod = float(self.production.sum())
        auto = float(self.autoprod.sum())
        cons = float(np.nansum(self.consumption))
        return {
            "production_wh": prod,
            "self_consumed_wh": auto,
            "surplus_wh": float(self.surplus.sum()),
            "consumption_wh": cons,
            "complement_wh": float(np.nansum(self.complement)),
            "self_consumption_rate": auto / prod if prod > 0 else 0.0,
            "self_sufficiency": auto / cons if cons > 0 else 0.0,
            "steps": int(self.production.shape[0]),
            "incomplete_steps": int(self.incomplete.sum()),
        }

    def per_participant(self) -> dict[str, np.ndarray]:
        """Per participant over all steps: consumption, allocated and complement (Wh), and
        self-sufficiency (allocated / consumption).
        """
        cons = np.nansum(self.consumption, axis=0)
        alloc = self.allocated.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            suff = np.where(cons > 0, alloc / cons, 0.0)
        return {"consumption_wh": cons, "allocated_wh": alloc,
                "complement_wh": np.nansum(self.complement, axis=0), "self_sufficiency": suff}
