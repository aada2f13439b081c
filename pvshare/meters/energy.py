"""Energy per step from one meter's readings (pure: numpy only, no I/O, no clock).

Cumulative indices are the truth for energy: the energy of a step is the index interpolated
at the step's end minus the index interpolated at its start, so a missed message loses no
energy, it only blurs where the energy falls. Power-only sources (no index) are integrated
over time with the trapezoid rule instead.

Every value carries a :class:`Flag`; the caller (the daemon) calls :func:`step_energy` or
:func:`integrate_power` once per meter for a window of steps, with the readings that cover
the window plus a margin on each side (a step whose boundary lies outside the readings is
``MISSING``, never guessed).

**Gaps are filled from the index** (:func:`spread_gaps`): when readings come back after a
gap, the index difference across it is the gap's energy, to the Wh. A gap longer than
``max_gap_s`` (2 h) is spread over its steps evenly (a tenant), and with a ``shape`` every gap
longer than ``interp_gap_s`` (5 min) is spread by it (the roof: its clear-sky power,
:mod:`pvshare.meters.clearsky`, so nothing lands at night); the parts are whole Wh
(largest remainders) adding up to the index difference exactly.

Conventions: times are UTC Unix seconds (``*_s``), indices and energies in Wh (``*_wh``),
power in W (``*_w``); steps are labelled by their start.

An index is cleaned before use (:func:`continuous_index`): readings sorted and deduplicated,
glitches dropped (a jump that comes back, such as a bridge reporting 0 when it restarts),
meter resets/replacements continued, small backward dips clamped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

#: Default gap between readings above which a step's value is only INTERPOLATED, s.
INTERP_GAP_S = 300.0
#: Default gap between readings above which a step's value is MISSING, s.
MAX_GAP_S = 2 * 3600.0
#: Outside the readings, a part of a step where the array's clear-sky energy is at most this
#: (the sun down, or just rising or setting) is known to hold nothing, Wh (the default of
#: ``dark_wh``; closing passes 1 % of what the array makes in a step at its peak).
DARK_WH = 1.0
#: Default backward jump of the index above which it is a meter reset/replacement, Wh.
RESET_DROP_WH = 1000.0
#: A jump that comes back within this many readings (or GLITCH_S seconds) is a glitch.
GLITCH_READINGS = 5
GLITCH_S = 6 * 3600.0
#: The largest power a meter can measure (a 250 kVA connection, the most a low-voltage site
#: can have): a run of readings is a glitch when the readings around it agree within
#: RESET_DROP_WH plus what this power can draw between them, W.
GLITCH_MAX_POWER_W = 250_000.0


class Flag(enum.IntEnum):
    """Quality of one step's energy; a larger value is a weaker claim."""

    #: from an index read at least every ``interp_gap_s`` across the whole step
    MEASURED = 0
    #: from an index interpolated across a gap longer than ``interp_gap_s`` (or a reset)
    INTERPOLATED = 1
    #: integrated from power readings (a power-only source)
    INTEGRATED = 2
    #: unknown: a boundary outside the readings, or a meter reset inside a gap longer than
    #: ``max_gap_s``; the energy is NaN, never zero
    MISSING = 3
    #: more than the meter can have measured in the step (:func:`flag_implausible`: the
    #: array's peak power or the subscribed power, with a margin): kept for the record,
    #: never allocated
    IMPLAUSIBLE = 4


@dataclass(frozen=True)
class StepEnergy:
    """Energy of each step of one meter and its flag: what :func:`step_energy` and
    :func:`integrate_power` compute, and what the store keeps
    (:meth:`pvshare.store.Store.step_energy`).

    Attributes
    ----------
    step_starts_s : numpy.ndarray, shape (n_steps,)
        Start of each step, UTC Unix s (float64 as computed here, int64 from the store).
    energy_wh : numpy.ndarray of float, shape (n_steps,)
        Energy over each step, Wh (NaN where MISSING).
    flags : numpy.ndarray of int, shape (n_steps,)
        :class:`Flag` value of each step (int8 as computed here, int64 from the store).
    reset_times_s : numpy.ndarray of float
        Times (s) of the first reading after each detected meter reset/replacement (empty
        when read from the store, which does not keep them).
    """

    step_starts_s: np.ndarray
    energy_wh: np.ndarray
    flags: np.ndarray
    reset_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _clean(times_s, values) -> tuple[np.ndarray, np.ndarray]:
    """Finite readings sorted by time, one per time (the largest value at a repeated time)."""
    t = np.asarray(times_s, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if t.shape != v.shape:
        raise ValueError(f"times_s and values differ in length ({t.size} != {v.size})")
    ok = np.isfinite(t) & np.isfinite(v)
    t, v = t[ok], v[ok]
    order = np.lexsort((v, t))           # by time, then value
    t, v = t[order], v[order]
    if t.size > 1:
        last = np.r_[t[1:] != t[:-1], True]  # last (largest) value at each time
        t, v = t[last], v[last]
    return t, v


def glitches(times_s: np.ndarray, index_wh: np.ndarray, jump_wh: float = RESET_DROP_WH,
             max_readings: int = GLITCH_READINGS, max_s: float = GLITCH_S,
             max_power_w: float = GLITCH_MAX_POWER_W) -> np.ndarray:
    """Readings that are glitches: runs of readings that jump away and come back.

    Two readings *a* before *b* agree when the index between them neither fell by more than
    ``jump_wh`` nor rose by more than ``jump_wh`` plus what ``max_power_w`` can draw in
    ``t_b - t_a``. A run of readings that starts and ends with a jump of more than
    ``jump_wh`` (between consecutive readings) and lasts at most ``max_readings`` readings
    (or at most ``max_s`` from its first reading to the reading after it) may be a glitch
    when the readings on either side of it agree: the index came back (a bridge that
    reports 0 when it restarts; a garbled value, high or low). A drop that does not come
    back is a reset or replacement (see :func:`continuous_index`); a rise that does not
    come back is kept.

    Of all the ways of dropping such runs, the one chosen leaves the fewest disagreements
    between consecutive kept readings (each one a reset or an impossible rise), then drops
    the fewest readings, then the fewest runs. Several glitches in a row, of different
    values and on either side of the index, are thus all recognised, and a glitch is never
    taken for the level that true readings "come back" to. The first and last readings are
    always kept.

    Parameters
    ----------
    times_s : numpy.ndarray
        Sorted unique reading times, s.
    index_wh : numpy.ndarray
        Index at those times, Wh.
    jump_wh : float
        Largest change between two consecutive readings that is never suspect, Wh.
    max_readings : int
        A glitch lasts at most this many readings…
    max_s : float
        …or at most this long, s.
    max_power_w : float
        Largest power the meter can draw or feed, W.

    Returns
    -------
    numpy.ndarray of bool
        True for the readings to drop.

    Notes
    -----
    A shortest path whose nodes are the readings right after a jump larger than
    ``jump_wh`` (rare): the loop runs over those jumps, never over readings or steps, and
    each jump looks back only at the jumps within one glitch's length.
    """
    t = np.asarray(times_s, dtype=float)
    v = np.asarray(index_wh, dtype=float)
    n = v.size
    bad = np.zeros(n, dtype=bool)
    if n < 3:
        return bad
    d = np.diff(v)
    ends = np.flatnonzero(np.abs(d) > jump_wh) + 1  # the reading right after each jump
    if ends.size < 2:  # a glitch needs a jump away and a jump back
        return bad
    starts = ends - 1  # the reading right before each jump: the last one a run may follow
    rate = float(max_power_w) / 3600.0

    def agree(a, b):
        dv = v[b] - v[a]
        return (dv >= -jump_wh) & (dv <= jump_wh + rate * (t[b] - t[a]))

    jump_cost = np.where(agree(starts, ends), 0, _DISAGREE_COST)
    # A run into ends[k] starts at some ends[j], j < k, and is short in count or in time:
    # jumps too far apart to bound one run are independent (clusters).
    near = (np.diff(ends) <= max_readings) | (np.diff(t[ends]) <= max_s)
    firsts = np.concatenate(([0], np.flatnonzero(~near) + 1))
    lasts = np.concatenate((firsts[1:] - 1, [ends.size - 1]))
    runs: list[tuple[int, int]] = []  # dropped runs: first reading, reading after the last
    # the common case, vectorised: one jump away and one back, nothing else near
    pair = firsts[lasts == firsts + 1]
    drop = agree(starts[pair], ends[pair + 1]) & (jump_cost[pair] + jump_cost[pair + 1] > 0)
    runs += zip(ends[pair[drop]].tolist(), ends[pair[drop] + 1].tolist(), strict=True)
    # longer clusters: shortest path over their jumps
    s_lo = np.searchsorted(starts, np.minimum(
        ends - 1 - max_readings, np.searchsorted(t, t[ends] - max_s, side="left") - 1))
    s_hi = np.searchsorted(starts, ends - 2, side="right")  # a run holds a reading at least
    best = np.zeros(ends.size, dtype=np.int64)  # least cost of the kept readings up to ends[k]
    prev = starts.copy()  # kept reading before ends[k]: starts[k] unless a run was dropped
    for f, last in zip(firsts[lasts > firsts + 1].tolist(), lasts[lasts > firsts + 1].tolist(),
                       strict=True):
        total = 0  # the cost does not change between jumps (such readings always agree)
        for k in range(f, last + 1):
            b = int(ends[k])
            total += int(jump_cost[k])
            a = starts[max(int(s_lo[k]), f):s_hi[k]]
            a = a[agree(a, b)]
            if a.size:
                ia = np.searchsorted(ends, a, side="right") - 1
                c = np.where(ia >= f, best[np.maximum(ia, 0)], 0) + 1 + _READING_COST * (b - 1 - a)
                m = int(np.argmin(c))
                if c[m] < total:
                    total, prev[k] = int(c[m]), a[m]
            best[k] = total
        k = last  # walk back from the cluster's last reading, kept
        while k >= f:
            if prev[k] < starts[k]:
                runs.append((int(prev[k]) + 1, int(ends[k])))
            k = int(np.searchsorted(ends, prev[k], side="right")) - 1
    for lo, hi in runs:
        bad[lo:hi] = True
    return bad


#: Costs of the glitch search (:func:`glitches`): a disagreement between consecutive kept
#: readings outweighs any number of dropped readings (below 2**24), a dropped reading any
#: number of dropped runs.
_READING_COST = 1 << 16
_DISAGREE_COST = 1 << 40


def continuous_index(times_s, index_wh, reset_drop_wh: float = RESET_DROP_WH,
                     glitch_readings: int = GLITCH_READINGS, glitch_s: float = GLITCH_S):
    """A monotone, continuous version of a cumulative index.

    Parameters
    ----------
    times_s : array_like of float
        Reading times, UTC s; any order, repeats allowed, NaN readings dropped.
    index_wh : array_like of float
        Cumulative index at those times, Wh.
    reset_drop_wh : float
        A backward step larger than this (Wh) is a meter reset or replacement: the new
        index is shifted to continue from the last value of the old one (no energy is
        counted across the reset interval: no negative value, no huge spike). Smaller
        backward steps are read noise and are clamped (the index is held until it passes
        its previous maximum again).
    glitch_readings, glitch_s : int, float
        A jump (up or down) larger than ``reset_drop_wh`` that comes back to the previous
        level within this many readings or seconds is a glitch: those readings are dropped
        (see :func:`glitches`).

    Returns
    -------
    times_s : numpy.ndarray
        Sorted unique reading times, s (glitches removed).
    index_wh : numpy.ndarray
        The non-decreasing continuous index, Wh.
    reset : numpy.ndarray of bool
        For each reading, True when a reset happened between it and the previous one.
    """
    t, v = _clean(times_s, index_wh)
    if t.size == 0:
        return t, v, np.zeros(0, dtype=bool)
    keep = ~glitches(t, v, reset_drop_wh, glitch_readings, glitch_s)
    t, v = t[keep], v[keep]
    reset = np.r_[False, np.diff(v) < -float(reset_drop_wh)]
    seg_starts = np.r_[0, np.flatnonzero(reset)]
    seg_max = np.maximum.reduceat(v, seg_starts)
    # each new segment starts where the previous one (shifted) reached its maximum
    shift = np.r_[0.0, np.cumsum(seg_max[:-1] - v[seg_starts[1:]])]
    shifted = v + shift[np.cumsum(reset)]
    return t, np.maximum.accumulate(shifted), reset


def _gap_flags(t: np.ndarray, starts: np.ndarray, ends: np.ndarray, long_gap: np.ndarray,
               too_long_gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether any gap overlapping each step (start, end) is long / too long (vectorised
    with prefix sums over the gaps).
    """
    n_gaps = t.size - 1
    p_long = np.r_[0, np.cumsum(long_gap)]
    p_too = np.r_[0, np.cumsum(too_long_gap)]
    lo = np.clip(np.searchsorted(t, starts, side="right") - 1, 0, n_gaps)
    hi = np.clip(np.searchsorted(t, ends, side="left"), 0, n_gaps)
    hi = np.maximum(hi, lo)
    return (p_long[hi] - p_long[lo]) > 0, (p_too[hi] - p_too[lo]) > 0


def _steps(step_starts_s, step_s: float) -> tuple[np.ndarray, np.ndarray]:
    starts = np.asarray(step_starts_s, dtype=float).ravel()
    if not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s!r}")
    return starts, starts + float(step_s)


def step_energy(times_s, index_wh, step_starts_s, step_s: float, *,
                interp_gap_s: float = INTERP_GAP_S, max_gap_s: float = MAX_GAP_S,
                reset_drop_wh: float = RESET_DROP_WH, glitch_readings: int = GLITCH_READINGS,
                glitch_s: float = GLITCH_S, shape=None, dark_wh: float = DARK_WH) -> StepEnergy:
    """Energy per step from one meter's cumulative index.

    Parameters
    ----------
    times_s : array_like of float, shape (n,)
        Reading times, UTC Unix s. Any order; repeated and NaN readings are tolerated.
    index_wh : array_like of float, shape (n,)
        Cumulative index (import or export) at those times, Wh.
    step_starts_s : array_like of float, shape (m,)
        Start of each step, UTC Unix s (need not be contiguous, but on one grid of
        ``step_s``).
    step_s : float
        Step length, s (1800 for PT30M).
    interp_gap_s : float
        A step overlapped by a gap between readings longer than this is INTERPOLATED, s.
    max_gap_s : float
        A gap longer than this is **filled**: the index difference across it is spread over
        its steps (by ``shape``, else evenly) in whole Wh (see :func:`spread_gaps`); its steps
        are INTERPOLATED. A gap this long across which the meter was reset or replaced is
        unknown (its steps MISSING: what was drawn meanwhile is not in either index).
    reset_drop_wh : float
        Backward jump that means a meter reset/replacement, Wh (see :func:`continuous_index`).
    glitch_readings, glitch_s : int, float
        A jump that comes back within this many readings or seconds is a glitch, dropped.
    shape : callable, optional
        ``shape(times_s) -> power_w >= 0``, vectorised: the expected power, W (the roof's
        clear-sky power, :class:`pvshare.meters.clearsky.ArrayShape`). When given, every
        gap longer than ``interp_gap_s`` is spread by it (not only the long ones), and the
        part of a step after the last reading (before the first) is known to hold nothing
        when the shape is zero at the step's end (start) and its energy from
        ``interp_gap_s`` after that reading to the step's end (from the step's start to
        ``interp_gap_s`` before that reading) is at most ``dark_wh``: the sun is down, an
        inverter asleep for the night (or waking up).
    dark_wh : float
        See ``shape``, Wh. Without it, gaps up to ``max_gap_s`` are
        interpolated linearly and longer ones spread evenly.

    Returns
    -------
    StepEnergy
        ``energy_wh = I(end) − I(start)`` with ``I`` the continuous index, linear between
        readings except across spread gaps (≥ 0; NaN where MISSING) and its flag per step.
        Steps outside the readings are MISSING (never guessed), except the sun-down parts
        above. A step that spans a reset is INTERPOLATED (no energy is counted across the
        reset interval). Over contiguous non-missing steps the energies sum to
        ``I(last end) − I(first start)``: over a gap, to the index difference.
    """
    starts, ends = _steps(step_starts_s, step_s)
    t, idx, reset = continuous_index(times_s, index_wh, reset_drop_wh, glitch_readings,
                                     glitch_s)
    m = starts.size
    if t.size < 2 or m == 0:
        return StepEnergy(starts, np.full(m, np.nan), np.full(m, Flag.MISSING, dtype=np.int8),
                          t[reset])
    gaps = np.diff(t)
    spread = ~reset[1:] & ((gaps > max_gap_s) | ((gaps > interp_gap_s) & (shape is not None)))
    x = np.unique(np.r_[starts, ends])
    level = np.interp(x, t, idx)
    if spread.any():
        level = spread_gaps(t, idx, spread, x, float(step_s), shape)
    pos = np.searchsorted(x, starts), np.searchsorted(x, ends)
    energy = level[pos[1]] - level[pos[0]]
    long_gap = (gaps > interp_gap_s) | reset[1:]
    too_long = (gaps > max_gap_s) & reset[1:]
    is_long, is_too_long = _gap_flags(t, starts, ends, long_gap, too_long)
    before = starts < t[0]
    after = ends > t[-1]
    # with the sun's shape, the unread part of a step outside the readings is known to hold
    # nothing if the sun is down at the step's far end and the array makes at most dark_wh
    # there under a clear sky, but for the 5 min next to the reading
    known_tail = np.zeros(m, dtype=bool)
    known_head = np.zeros(m, dtype=bool)
    if shape is not None and after.any():
        known_tail[after] = _dark(shape, np.minimum(t[-1] + interp_gap_s, ends[after]),
                                  ends[after], ends[after], dark_wh)
    if shape is not None and before.any():
        known_head[before] = _dark(shape, starts[before], np.maximum(
            np.minimum(t[0] - interp_gap_s, ends[before]), starts[before]), starts[before],
            dark_wh)
    known = known_tail | known_head
    flag = np.where(is_long | known, Flag.INTERPOLATED, Flag.MEASURED).astype(np.int8)
    missing = (before & ~known_head) | (after & ~known_tail) | is_too_long
    flag[missing] = Flag.MISSING
    energy[missing] = np.nan
    return StepEnergy(starts, energy, flag, t[reset])


#: The shape is integrated on a grid of this many seconds (aligned to the epoch)…
SHAPE_RES_S = 300.0
#: …with at most this many points per gap (a longer gap gets a coarser grid).
SHAPE_MAX_POINTS = 100_000


def _dark(shape, lo: np.ndarray, hi: np.ndarray, far: np.ndarray,
          dark_wh: float = DARK_WH) -> np.ndarray:
    """Whether ``shape`` (W) is zero at ``far`` (the sun down at the step's end, or start)
    and integrates to at most ``dark_wh`` over each (lo, hi).
    """
    lo = np.asarray(lo, dtype=float)
    hi = np.maximum(np.asarray(hi, dtype=float), lo)
    gt, cw = _shape_cumulative(shape, lo, hi)
    energy_wh = (np.interp(hi, gt, cw) - np.interp(lo, gt, cw)) / 3600.0
    return (energy_wh <= dark_wh) & ~(np.asarray(shape(np.asarray(far, dtype=float))) > 0)


def _shape_cumulative(shape, lo: np.ndarray, hi: np.ndarray):
    """The shape's integral over each interval (lo, hi), on a grid aligned to the epoch.

    Returns the grid's times (sorted, every interval's ends included) and the cumulative
    trapezoidal integral at them; differences between two times of one interval are that
    part's weight, the same whichever other intervals were asked for.
    """
    res = SHAPE_RES_S * np.ceil((hi - lo) / (SHAPE_RES_S * SHAPE_MAX_POINTS)).clip(1)
    first = np.floor(lo / res) + 1
    n = np.maximum(np.ceil(hi / res) - first, 0).astype(np.int64)
    count = n + 2
    g = np.repeat(np.arange(lo.size), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    inner = (first[g] + k - 1) * res[g]
    gt = np.where(k == 0, lo[g], np.where(k == count[g] - 1, hi[g], inner))
    w = np.nan_to_num(np.asarray(shape(gt), dtype=float), nan=0.0, posinf=0.0).clip(0)
    area = (w[1:] + w[:-1]) / 2 * np.maximum(np.diff(gt), 0)
    return gt, np.r_[0.0, np.cumsum(area)]


def largest_remainder(total: np.ndarray, portions: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Whole-Wh portions that add up to each group's total, by the largest remainders.

    Parameters
    ----------
    total : numpy.ndarray, shape (G,)
        Each group's total (≥ 0), Wh.
    portions : numpy.ndarray, shape (K,)
        The exact portions (≥ 0), grouped contiguously; each group sums to its total.
    group : numpy.ndarray of int, shape (K,)
        The group of each portion (non-decreasing, every group present).

    Returns
    -------
    numpy.ndarray, shape (K,)
        Each portion's floor, plus one Wh for the ``round(total) − Σ floor`` largest
        remainders of its group (ties: the earlier first); a total that is not a whole
        number of Wh keeps its fraction on the group's largest portion, so that each group
        adds up to its total exactly. Never negative; each within 1 Wh of the exact portion
        (plus that fraction, for the one that holds it).
    """
    p = np.maximum(portions, 0.0)
    floor = np.floor(p)
    units = np.round(total)
    deficit = np.maximum(units - np.bincount(group, weights=floor, minlength=total.size),
                         0).astype(np.int64)
    order = np.lexsort((np.arange(p.size), -(p - floor), group))   # by group, largest first
    rank = np.arange(p.size) - np.repeat(np.searchsorted(group[order], np.arange(total.size)),
                                         np.bincount(group, minlength=total.size))
    out = floor.copy()
    out[order] += rank < deficit[group[order]]
    # the fraction of a total that is not whole goes to the group's largest portion
    big = np.lexsort((np.arange(p.size), -out, group))
    firsts = big[np.searchsorted(group[big], np.arange(total.size))]
    out[firsts] += total - units
    return out


def spread_gaps(t: np.ndarray, idx: np.ndarray, spread: np.ndarray, x: np.ndarray,
                step_s: float, shape=None) -> np.ndarray:
    """The continuous index at the times ``x``, with the gaps ``spread`` filled.

    Across a gap from the reading ``(t_a, I_a)`` to ``(t_b, I_b)`` the index rises by
    ``D = I_b − I_a`` in proportion to ``shape``'s integral since ``t_a`` (evenly when there
    is no shape, or when the shape is zero over the whole gap). The gap is cut at every
    boundary of the step grid (``step_s``, phase of ``x[0]``) it holds, and the parts are
    rounded to whole Wh by :func:`largest_remainder`, so that the steps' parts of a gap add
    up to ``D`` exactly and do not depend on which steps were asked for.

    Parameters
    ----------
    t, idx : numpy.ndarray, shape (n,)
        Sorted unique reading times (s) and the continuous non-decreasing index (Wh).
    spread : numpy.ndarray of bool, shape (n - 1,)
        The gaps to spread.
    x : numpy.ndarray, shape (k,)
        Sorted times to evaluate the index at (step boundaries).
    step_s : float
    shape : callable, optional

    Returns
    -------
    numpy.ndarray, shape (k,)
        The index at ``x`` (linear outside the spread gaps, clamped outside the readings).
    """
    level = np.interp(x, t, idx)
    gi = np.flatnonzero(spread)
    ta, tb = t[gi], t[gi + 1]
    d = idx[gi + 1] - idx[gi]
    phase = float(np.mod(x[0], step_s))
    # the step boundaries strictly inside each gap: the cuts
    c0 = np.floor((ta - phase) / step_s) + 1
    nc = np.maximum(np.ceil((tb - phase) / step_s) - c0, 0).astype(np.int64)
    g = np.repeat(np.arange(gi.size), nc)
    cuts = phase + (np.repeat(c0, nc) + np.arange(nc.sum())
                    - np.repeat(np.cumsum(nc) - nc, nc)) * step_s
    grid = None if shape is None else _shape_cumulative(shape, ta, tb)
    frac = _fraction(cuts, g, ta, tb, grid)
    # parts: from each cut to the next, the last one to the gap's end
    ngroups = nc + 1
    pg = np.repeat(np.arange(gi.size), ngroups)
    last = np.cumsum(ngroups) - 1
    is_last = np.zeros(pg.size, dtype=bool)
    is_last[last] = True
    upper = np.ones(pg.size)
    upper[~is_last] = frac
    lower = np.r_[0.0, upper[:-1]]
    lower[last - nc] = 0.0
    parts = largest_remainder(d, d[pg] * (upper - lower), pg)
    cum = np.cumsum(parts)
    base = np.r_[0.0, cum[last[:-1]]]
    at_cut = idx[gi][pg] + cum - base[pg]      # the index at the end of each part
    # every x inside a spread gap: the level at its cut, else (off the grid) unrounded
    j = np.searchsorted(t, x, side="right") - 1
    inside = (j >= 0) & (j < t.size - 1)
    inside[inside] &= spread[j[inside]] & (x[inside] > t[j[inside]])
    if not inside.any():
        return level
    xs = x[inside]
    gx = np.searchsorted(gi, j[inside])
    exact = idx[gi][gx] + d[gx] * _fraction(xs, gx, ta, tb, grid)
    if cuts.size:
        k = np.minimum(np.searchsorted(cuts, xs), cuts.size - 1)
        on_cut = cuts[k] == xs
        exact = np.where(on_cut, at_cut[k + g[k]], exact)   # a group has one part more
    level[inside] = exact
    return level


def _fraction(xs, gx, ta, tb, grid) -> np.ndarray:
    """The share of gap ``gx``'s rise reached at each time ``xs`` inside it: the shape's
    integral since the gap's start over the whole gap's (evenly without a shape, or when
    the shape is zero over the gap).
    """
    lin = (xs - ta[gx]) / (tb - ta)[gx]
    if grid is None:
        return np.clip(lin, 0.0, 1.0)
    gt, cw = grid
    wa, wb = np.interp(ta, gt, cw), np.interp(tb, gt, cw)
    span = (wb - wa)[gx]
    ok = span > 0
    f = np.where(ok, (np.interp(xs, gt, cw) - wa[gx]) / np.where(ok, span, 1.0), lin)
    return np.clip(f, 0.0, 1.0)


#: A step's energy above ``peak kW × step × margin`` is implausible: the roof's kWp (cold
#: bright days and cloud enhancement lift an array above its peak for minutes, never by 30 %
#: over a whole step; the inverter's AC output is below the DC peak anyway), a flat's
#: subscribed kVA (a Linky meter cuts the power above the subscription; W ≤ VA).
PLAUSIBLE_MARGIN = 1.3


def max_step_wh(peak_kw, step_s: float) -> float:
    """The most a meter of this peak power (kW or kVA) can measure in a step, Wh: above it
    a step's energy is implausible (:func:`flag_implausible`).
    """
    return float(peak_kw) * 1000.0 * step_s / 3600.0 * PLAUSIBLE_MARGIN


def flag_implausible(energy_wh, flags, max_wh) -> np.ndarray:
    """The flags, with IMPLAUSIBLE where a step's energy exceeds what the meter can measure.

    Parameters
    ----------
    energy_wh : array_like of float, shape (T,) or (T, N)
        Energy per step, Wh (NaN: missing, left as it is).
    flags : array_like of int, same shape
    max_wh : float or array_like broadcasting to the same shape
        The most a step can hold, Wh (inf: no limit).

    Returns
    -------
    numpy.ndarray of int8
    """
    e = np.asarray(energy_wh, dtype=float)
    out = np.asarray(flags).astype(np.int8, copy=True)
    out[np.isfinite(e) & (e > np.asarray(max_wh, dtype=float))] = Flag.IMPLAUSIBLE
    return out


def integrate_power(times_s, power_w, step_starts_s, step_s: float, *,
                    max_gap_s: float = MAX_GAP_S) -> StepEnergy:
    """Energy per step of a power-only source, by the trapezoid rule.

    Parameters
    ----------
    times_s : array_like of float, shape (n,)
        Reading times, UTC Unix s (any order; repeats and NaN dropped).
    power_w : array_like of float, shape (n,)
        Power at those times, W; taken as linear between readings.
    step_starts_s : array_like of float, shape (m,)
        Step starts, UTC Unix s.
    step_s : float
        Step length, s.
    max_gap_s : float
        A step overlapped by a gap between readings longer than this is MISSING, s.

    Returns
    -------
    StepEnergy
        The exact integral of the piecewise-linear power over each step, Wh, flagged
        INTEGRATED (MISSING and NaN when a boundary is outside the readings or a gap is too
        long).
    """
    starts, ends = _steps(step_starts_s, step_s)
    t, p = _clean_power(times_s, power_w)
    m = starts.size
    if t.size < 2:
        return StepEnergy(starts, np.full(m, np.nan), np.full(m, Flag.MISSING, dtype=np.int8))
    dt = np.diff(t)
    cum_wh = np.r_[0.0, np.cumsum((p[1:] + p[:-1]) * dt / 2.0)] / 3600.0

    def energy_at(x):
        k = np.clip(np.searchsorted(t, x, side="right") - 1, 0, t.size - 2)
        h = np.clip(x - t[k], 0.0, dt[k])
        slope = (p[k + 1] - p[k]) / dt[k]
        return cum_wh[k] + (p[k] * h + slope * h * h / 2.0) / 3600.0

    energy = energy_at(ends) - energy_at(starts)
    _, too_long = _gap_flags(t, starts, ends, np.zeros(dt.size, bool), dt > max_gap_s)
    missing = (starts < t[0]) | (ends > t[-1]) | too_long
    flag = np.full(m, Flag.INTEGRATED, dtype=np.int8)
    flag[missing] = Flag.MISSING
    energy[missing] = np.nan
    return StepEnergy(starts, energy, flag)


def _clean_power(times_s, power_w) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times_s, dtype=float).ravel()
    p = np.asarray(power_w, dtype=float).ravel()
    if t.shape != p.shape:
        raise ValueError(f"times_s and power_w differ in length ({t.size} != {p.size})")
    ok = np.isfinite(t) & np.isfinite(p)
    t, p = t[ok], p[ok]
    order = np.argsort(t, kind="stable")
    t, p = t[order], p[order]
    if t.size > 1:  # one reading per time: the mean of repeats
        uniq, inv, counts = np.unique(t, return_inverse=True, return_counts=True)
        p = np.bincount(inv, weights=p) / counts
        t = uniq
    return t, p
