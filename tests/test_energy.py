"""pvshare.meters.energy: cumulative indices and power readings -> energy per step, with flags."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pvshare.meters.energy import (
    INTERP_GAP_S,
    MAX_GAP_S,
    Flag,
    continuous_index,
    flag_implausible,
    integrate_power,
    largest_remainder,
    step_energy,
)

STEP = 1800.0
T0 = 1_741_305_600.0  # 2025-03-07T00:00Z, a step boundary


def sample_times(draw, n_steps, max_gap):
    """Sorted reading times covering [T0, T0 + n_steps*STEP], no gap longer than max_gap:
    a grid every max_gap (random phase) plus random extra readings."""
    span = n_steps * STEP
    grid = np.arange(draw(st.floats(0, max_gap)), span, max_gap)
    extra = draw(hnp.arrays(float, st.integers(0, 40), elements=st.floats(0, span)))
    return np.unique(T0 + np.r_[0.0, grid, extra, span])


@st.composite
def monotone_series(draw, max_gap=900.0):
    n_steps = draw(st.integers(1, 12))
    t = sample_times(draw, n_steps, max_gap)
    inc = draw(hnp.arrays(float, t.size - 1, elements=st.floats(0, 500)))
    index = 1e6 + np.r_[0.0, np.cumsum(inc)]
    return t, index, T0 + STEP * np.arange(n_steps)


@settings(max_examples=150, deadline=None)
@given(monotone_series())
def test_energy_is_conserved_under_any_sampling(series):
    t, index, starts = series
    r = step_energy(t, index, starts, STEP, max_gap_s=1e9)
    assert not np.isnan(r.energy_wh).any()
    assert (r.energy_wh >= 0).all()
    # contiguous steps from the first to the last reading: the sum is the index difference
    assert r.energy_wh.sum() == pytest.approx(index[-1] - index[0], rel=1e-12, abs=1e-6)
    # and each step is the independently interpolated difference
    expected = np.interp(starts + STEP, t, index) - np.interp(starts, t, index)
    np.testing.assert_allclose(r.energy_wh, expected, rtol=1e-12, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 10), st.floats(0, 5000), st.data())
def test_constant_power_gives_the_same_step_energy_whatever_the_sampling(n, power_w, data):
    t = sample_times(data.draw, n, 1200.0)
    index = 5e5 + power_w * (t - T0) / 3600.0
    starts = T0 + STEP * np.arange(n)
    r = step_energy(t, index, starts, STEP)
    np.testing.assert_allclose(r.energy_wh, power_w * 0.5, rtol=1e-9, atol=1e-6)
    gaps = np.diff(t)
    assert set(r.flags.tolist()) <= {Flag.MEASURED, Flag.INTERPOLATED}
    assert (r.flags == Flag.INTERPOLATED).any() == (gaps > 300).any()


@settings(max_examples=100, deadline=None)
@given(monotone_series(), st.randoms(use_true_random=False))
def test_order_and_repeats_do_not_matter(series, rnd):
    t, index, starts = series
    ref = step_energy(t, index, starts, STEP)
    k = list(range(t.size)) + [rnd.randrange(t.size) for _ in range(t.size // 3)]
    rnd.shuffle(k)
    k = np.array(k)
    got = step_energy(t[k], index[k], starts, STEP)
    np.testing.assert_array_equal(got.flags, ref.flags)
    np.testing.assert_allclose(got.energy_wh, ref.energy_wh, equal_nan=True)


@settings(max_examples=150, deadline=None)
@given(monotone_series(max_gap=600.0), st.data())
def test_meter_reset_is_neither_negative_nor_a_spike(series, data):
    t, index, starts = series
    k = data.draw(st.integers(1, t.size - 1))
    new_start = data.draw(st.floats(0, 5e5))  # the new meter's first index, far below
    reset_index = index.copy()
    reset_index[k:] = new_start + (index[k:] - index[k])
    r = step_energy(t, reset_index, starts, STEP, max_gap_s=1e9)
    assert r.reset_times_s.tolist() == [t[k]]
    assert (r.energy_wh >= 0).all()
    # what was drawn across the reset interval is unknown: counted as zero, never a spike
    lost = index[k] - index[k - 1]
    assert r.energy_wh.sum() == pytest.approx(index[-1] - index[0] - lost, abs=1e-6)
    ref = step_energy(t, index, starts, STEP, max_gap_s=1e9)
    across = (starts < t[k]) & (starts + STEP > t[k - 1])
    np.testing.assert_allclose(r.energy_wh[~across], ref.energy_wh[~across], atol=1e-6)
    assert (r.flags[across] == Flag.INTERPOLATED).all()


def test_two_resets_chain():
    t = np.arange(0, 7) * 600.0
    v = [1e6, 1e6 + 100, 5000, 5100, 10, 60, 160]
    tc, ic, reset = continuous_index(t, v)
    assert reset.tolist() == [False, False, True, False, True, False, False]
    assert ic.tolist() == [1e6, 1e6 + 100, 1e6 + 100, 1e6 + 200, 1e6 + 200, 1e6 + 250, 1e6 + 350]


@settings(max_examples=150, deadline=None)
@given(monotone_series(max_gap=600.0), st.data())
def test_small_dips_are_tolerated(series, data):
    t, index, starts = series
    if t.size < 3:
        return
    k = data.draw(st.integers(1, t.size - 2))
    dip = data.draw(st.floats(0.5, 900))
    noisy = index.copy()
    noisy[k] = index[k - 1] - dip  # one reading read low, below the one before
    r = step_energy(t, noisy, starts, STEP, max_gap_s=1e9)
    assert r.reset_times_s.size == 0
    assert (r.energy_wh >= 0).all()
    assert r.energy_wh.sum() == pytest.approx(index[-1] - index[0], abs=1e-6)


def test_gap_flags_and_missing_steps():
    # readings every 60 s, except a 20-min hole (01:00-01:20) and a 3-hour one (02:00-05:00)
    t = np.r_[np.arange(0, 3601, 60), np.arange(4800, 7201, 60),
              np.arange(18000, 21600 + 1, 60)] + T0
    index = 1000 + (t - T0) * 0.25  # 900 W
    starts = T0 + STEP * np.arange(-1, 14)
    r = step_energy(t, index, starts, STEP, interp_gap_s=300, max_gap_s=7200)
    flags = [Flag(f).name for f in r.flags]
    assert flags == (["MISSING"]                       # before the first reading
                     + ["MEASURED"] * 2                # 00:00-01:00
                     + ["INTERPOLATED"]                # 01:00-01:30 holds the 20-min hole
                     + ["MEASURED"]                    # 01:30-02:00
                     + ["INTERPOLATED"] * 6            # 02:00-05:00: the 3-hour hole, filled
                     + ["MEASURED"] * 2                # 05:00-06:00
                     + ["MISSING"] * 2)                # after the last reading
    ok = r.flags != Flag.MISSING
    np.testing.assert_allclose(r.energy_wh[ok], 450.0)
    assert np.isnan(r.energy_wh[~ok]).all()


def test_too_few_readings_are_missing_not_zero():
    r = step_energy([T0], [100.0], [T0], STEP)
    assert r.flags.tolist() == [Flag.MISSING] and np.isnan(r.energy_wh).all()
    r = step_energy([], [], [T0, T0 + STEP], STEP)
    assert (r.flags == Flag.MISSING).all()
    assert r.step_starts_s.tolist() == [T0, T0 + STEP]      # labelled by their starts
    with pytest.raises(ValueError):
        step_energy([1, 2], [1], [0], STEP)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.floats(-2000, 2000), st.floats(-1, 1), st.data())
def test_integrate_power_is_exact_for_a_linear_power(n, p0, slope, data):
    t = sample_times(data.draw, n, 1200.0)
    power = p0 + slope * (t - T0)
    starts = T0 + STEP * np.arange(n)
    r = integrate_power(t, power, starts, STEP)

    def energy(x):  # closed-form integral of p0 + slope*(x - T0), Wh
        h = x - T0
        return (p0 * h + slope * h * h / 2) / 3600

    np.testing.assert_allclose(r.energy_wh, energy(starts + STEP) - energy(starts),
                               rtol=1e-9, atol=1e-6)
    assert (r.flags == Flag.INTEGRATED).all()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.data())
def test_integrate_power_conserves_the_trapezoid_total(n, data):
    t = sample_times(data.draw, n, 900.0)
    power = data.draw(hnp.arrays(float, t.size, elements=st.floats(0, 9000)))
    r = integrate_power(t, power, T0 + STEP * np.arange(n), STEP)
    assert r.energy_wh.sum() == pytest.approx(np.trapezoid(power, t) / 3600, rel=1e-9, abs=1e-6)


def test_integrate_power_flags_holes():
    t = T0 + np.r_[0, 600, 1200, 1800, 1800 + 3 * 3600, 1800 + 3 * 3600 + 1800]
    r = integrate_power(t, np.full(t.size, 1000.0), T0 + STEP * np.arange(-1, 8), STEP)
    assert [Flag(f).name for f in r.flags] == (
        ["MISSING", "INTEGRATED"] + ["MISSING"] * 6 + ["INTEGRATED"])
    assert r.energy_wh[1] == pytest.approx(500.0) and r.energy_wh[-1] == pytest.approx(500.0)


@pytest.mark.parametrize("values, kept", [
    ([1e6, 0, 1e6 + 10, 1e6 + 20], [1e6, 1e6 + 10, 1e6 + 20]),          # bridge restart: 0
    ([1e6, 0, 0, 1e6 + 10, 1e6 + 20], [1e6, 1e6 + 10, 1e6 + 20]),       # two of them
    ([1e6, 9e9, 1e6 + 10, 1e6 + 20], [1e6, 1e6 + 10, 1e6 + 20]),        # garbled, high
    ([1e6, 0, 9e9, 1e6 + 10, 1e6 + 20], [1e6, 1e6 + 10, 1e6 + 20]),     # low then high
    ([1e6, 9e9, 5e9, 1e6 + 10, 1e6 + 20], [1e6, 1e6 + 10, 1e6 + 20]),   # two different highs
    ([1e6, 1e6 + 4008, 1e6 + 3007, 1e6 + 10, 1e6 + 20],                 # two near highs
     [1e6, 1e6 + 10, 1e6 + 20]),
    ([1e6, 9e9, 0, 5e9, 1e6 + 10, 1e6 + 20], [1e6, 1e6 + 10, 1e6 + 20]),  # high, low, high
    ([1e6, 1e6 + 5000, 1e6 + 10, 1e6 + 20, 1e6 + 5000, 1e6 + 30],       # the same garbled
     [1e6, 1e6 + 10, 1e6 + 20, 1e6 + 30]),                              # value twice
])
def test_glitches_are_dropped_not_counted(values, kept):
    t = T0 + 60.0 * np.arange(len(values))
    tc, ic, reset = continuous_index(t, values)
    assert ic.tolist() == kept and not reset.any()


def test_a_drop_that_never_comes_back_is_a_replacement_not_a_glitch():
    t = T0 + 600.0 * np.arange(12)
    v = np.r_[1e6 + 100 * np.arange(6), 20 + 100 * np.arange(6)]
    tc, ic, reset = continuous_index(t, v)
    assert tc.size == 12 and reset.sum() == 1
    np.testing.assert_allclose(np.diff(ic), [100] * 5 + [0] + [100] * 5)


def test_a_glitch_on_the_last_reading_is_never_a_spike():
    t = T0 + 600.0 * np.arange(4)
    r = step_energy(t, [1e6, 1e6 + 100, 1e6 + 200, 0], [T0], STEP)
    assert r.energy_wh.tolist() == [200.0]  # held at the last good value: no spike
    # once the next reading arrives, the glitch is recognised and dropped
    t = T0 + 600.0 * np.array([0, 1, 2, 3, 6])
    v = [1e6, 1e6 + 100, 1e6 + 200, 0, 1e6 + 500]
    r = step_energy(t, v, [T0, T0 + STEP], STEP, interp_gap_s=3600)
    good = [0, 1, 2, 4]
    expected = np.diff(np.interp([T0, T0 + STEP, T0 + 2 * STEP], t[good], np.array(v)[good]))
    assert r.energy_wh.tolist() == expected.tolist() and r.reset_times_s.size == 0


@settings(max_examples=150, deadline=None)
@given(monotone_series(max_gap=600.0), st.data())
def test_glitch_readings_change_nothing(series, data):
    t, index, starts = series
    if t.size < 3:
        return
    ref = step_energy(t, index, starts, STEP)
    n_glitch = data.draw(st.integers(1, 3))
    gt, gv = [], []
    room = [k for k in range(1, t.size - 1) if t[k] - t[k - 1] > 1.0]
    if not room:
        return
    for _ in range(n_glitch):
        k = data.draw(st.sampled_from(room))
        gt.append(t[k - 1] + data.draw(st.floats(0.1, 0.9)) * (t[k] - t[k - 1]))
        low = data.draw(st.booleans())
        gv.append(data.draw(st.floats(0, 9e5) if low else st.floats(index[-1] + 3e3, 1e12)))
    got = step_energy(np.r_[t, gt], np.r_[index, gv], starts, STEP)
    np.testing.assert_allclose(got.energy_wh, ref.energy_wh, equal_nan=True)
    np.testing.assert_array_equal(got.flags, ref.flags)
    assert got.reset_times_s.size == 0


def test_consecutive_glitches_of_different_values_are_all_dropped():
    """Regression (found by hypothesis): two glitch readings in a row of different values,
    then the same value again later. The second glitch used to be taken as the level the
    index "came back" to, so the true readings between the two 1003007 were dropped as a
    glitch and 0.21 Wh moved from one step to the next."""
    t = T0 + np.array([0.0, 300, 900, 1500, 2100, 2700, 3300, 3600])
    index = 1e6 + np.r_[0.0, np.cumsum([1, 1, 2, 1, 0, 2, 0])]
    starts = T0 + STEP * np.arange(2)
    ref = step_energy(t, index, starts, STEP)
    assert ref.energy_wh.tolist() == [4.5, 2.5]  # by hand: 4 + 1*(300/600); 7 - 4.5
    gt = [T0 + 0.5, T0 + 1.0, 1_741_307_102.0]  # the last one is T0 + 1502 s
    gv = [1_004_008.0, 1_003_007.0, 1_003_007.0]
    tc, ic, reset = continuous_index(np.r_[t, gt], np.r_[index, gv])
    assert tc.tolist() == t.tolist() and ic.tolist() == index.tolist() and not reset.any()
    got = step_energy(np.r_[t, gt], np.r_[index, gv], starts, STEP)
    assert got.energy_wh.tolist() == [4.5, 2.5]
    assert got.flags.tolist() == ref.flags.tolist() and got.reset_times_s.size == 0


def test_a_rise_a_meter_can_draw_is_not_a_glitch():
    """A 2-hour hole across which a household drew 5 kWh (2.5 kW): the reading after the
    hole is true, even with a garbled reading right after it."""
    t = T0 + np.array([0.0, 600, 600 + 7200, 600 + 7210, 600 + 7800, 600 + 8400])
    v = [1e6, 1e6 + 100, 1e6 + 5100, 9e9, 1e6 + 5200, 1e6 + 5300]
    tc, ic, reset = continuous_index(t, v)
    assert tc.tolist() == np.delete(t, 3).tolist() and not reset.any()
    assert ic.tolist() == [1e6, 1e6 + 100, 1e6 + 5100, 1e6 + 5200, 1e6 + 5300]


def test_a_return_beyond_what_a_meter_can_draw_is_not_a_return():
    """0 for one reading, then 300 kWh more than before it one minute later: that is not
    the index coming back (300 kWh in 2 min is 9 MW), so the 0 is kept as a reset."""
    t = T0 + 60.0 * np.arange(4)
    tc, ic, reset = continuous_index(t, [1e6, 0, 1e6 + 3e5, 1e6 + 3e5 + 10])
    assert tc.size == 4 and reset.tolist() == [False, True, False, False]


def test_a_glitch_lasting_hours_is_dropped():
    """A bridge that reports 0 for 3 hours (18 readings): a glitch (under 6 h) even though
    the household drew 4 kWh meanwhile."""
    t = T0 + 600.0 * np.arange(24)
    true = 1e6 + 222.0 * np.arange(24)
    v = true.copy()
    v[3:21] = 0.0
    tc, ic, reset = continuous_index(t, v)
    assert tc.tolist() == np.r_[t[:3], t[21:]].tolist() and not reset.any()
    assert ic.tolist() == np.r_[true[:3], true[21:]].tolist()


def test_night_gap_with_a_flat_index_is_a_known_zero():
    """An inverter asleep for 10 h (no readings) whose index did not move: the night's
    steps are known to hold no energy (INTERPOLATED zero), not MISSING."""
    from pvshare.meters.energy import Flag, step_energy
    t = np.array([0.0, 600.0, 600.0 + 10 * 3600, 600.0 + 10 * 3600 + 600])
    idx = np.array([1000.0, 1100.0, 1100.0, 1300.0])
    starts = np.arange(0, 11 * 3600, 1800, dtype=float)[:-1]
    e = step_energy(t, idx, starts, 1800)
    assert e.flags[0] == Flag.INTERPOLATED and e.energy_wh[0] == pytest.approx(100.0)
    night = (starts >= 1800) & (starts + 1800 <= t[2])
    assert (e.energy_wh[night] == 0).all() and (e.flags[night] == Flag.INTERPOLATED).all()
    # The same gap with the index moving: the difference is spread over the gap, in whole Wh
    idx2 = np.array([1000.0, 1100.0, 1500.0, 1700.0])
    e2 = step_energy(t, idx2, starts, 1800)
    assert (e2.flags[1:-1] == Flag.INTERPOLATED).all()     # the last step ends after t[-1]
    assert e2.energy_wh[night].tolist() == [20.0] * night.sum()   # 400 Wh over 20 steps
    assert e2.energy_wh[:-1].sum() == 100.0 + 393.0   # read, then the gap's parts to 10:00 (393.3)
    # a meter replaced during the gap: what it drew meanwhile is in neither index
    idx3 = np.array([1000.0, 1100.0, 10.0, 210.0])
    e3 = step_energy(t, idx3, starts, 1800)
    assert (e3.flags[night] == Flag.MISSING).all() and np.isnan(e3.energy_wh[night]).all()


# -- gaps filled from the index (issue 18) --------------------------------------------------------
@st.composite
def gapped_series(draw):
    """Readings every minute with one gap of 10 min to 3 days at a drawn place, a whole-Wh
    index rising at drawn rates; the steps cover the readings exactly."""
    n_steps = draw(st.integers(4, 200))
    span = n_steps * STEP
    t = np.arange(0.0, span + 1, 60.0)
    a = draw(st.floats(60.0, span - 660.0))
    length = draw(st.floats(600.0, 3 * 86400.0))
    t = T0 + t[(t <= a) | (t >= a + length)]
    t = np.r_[t, T0 + span] if t[-1] < T0 + span else t
    rates = draw(hnp.arrays(float, t.size - 1, elements=st.sampled_from((0.0, 1.0, 7.3, 120.0,
                                                                            4000.0))))
    index = np.floor(5e5 + np.r_[0.0, np.cumsum(rates * np.diff(t) / 60.0)])
    return t, index, T0 + STEP * np.arange(n_steps)


def _shape(day_fraction_on: float):
    """A day-night shape: a half sine over the first part of each day, zero after."""
    def shape(times_s):
        x = np.mod(np.asarray(times_s, dtype=float), 86400.0) / 86400.0
        return np.where(x < day_fraction_on, np.sin(np.pi * x / day_fraction_on), 0.0)
    return shape


@settings(max_examples=150, deadline=None)
@given(gapped_series(), st.sampled_from((None, 0.5, 0.3)))
def test_energy_over_any_gap_is_the_index_difference_never_negative(series, on):
    t, index, starts = series
    shape = None if on is None else _shape(on)
    r = step_energy(t, index, starts, STEP, shape=shape)
    assert not np.isnan(r.energy_wh).any()
    assert (r.energy_wh >= 0).all()
    # over the whole span, and so over the gap: the index difference, to the Wh
    assert abs(r.energy_wh.sum() - (index[-1] - index[0])) <= 1e-6 * max(1.0, index[-1])
    gap = np.argmax(np.diff(t))
    ta, tb = t[gap], t[gap + 1]
    inside = (starts >= ta) & (starts + STEP <= tb)
    if np.diff(t)[gap] > MAX_GAP_S or shape is not None:
        # the gap's whole steps are whole Wh and flagged interpolated
        assert (r.energy_wh[inside] == np.round(r.energy_wh[inside])).all()
        assert (r.flags[inside] == Flag.INTERPOLATED).all()
    lit = shape is not None and (shape(np.arange(ta, tb, 300.0)) > 0).any()
    if lit and np.diff(t)[gap] > INTERP_GAP_S:
        # nothing lands where the shape is zero (unless the whole gap is dark: then evenly)
        dark = inside & (shape(starts) == 0) & (shape(starts + STEP) == 0) & \
            (shape(starts + STEP / 2) == 0)
        assert (r.energy_wh[dark] == 0).all()


@settings(max_examples=100, deadline=None)
@given(gapped_series(), st.integers(0, 30))
def test_a_gap_s_steps_do_not_depend_on_which_steps_were_asked(series, cut):
    t, index, starts = series
    shape = _shape(0.5)
    whole = step_energy(t, index, starts, STEP, shape=shape)
    part = step_energy(t, index, starts[cut:], STEP, shape=shape)
    np.testing.assert_array_equal(part.energy_wh, whole.energy_wh[cut:])


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(float, st.integers(1, 40), elements=st.floats(0, 1e6)),
       st.floats(0, 1e7))
def test_largest_remainder_adds_up_within_one_wh(weights, total):
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    exact = total * weights / weights.sum()
    got = largest_remainder(np.array([total]), exact, np.zeros(weights.size, dtype=np.int64))
    assert (got >= 0).all()
    assert got.sum() == pytest.approx(total, abs=1e-6 * max(1.0, total))
    frac = abs(total - np.round(total))             # a total that is not whole Wh
    assert (np.abs(got - exact) < 1.0 + frac + 1e-6 * max(1.0, total)).all()
    # whole Wh, but one portion keeping the fraction of a total that is not whole
    assert (got != np.round(got)).sum() <= (0 if total == np.round(total) else 1)


def test_the_night_after_the_last_reading_is_known_zero_with_the_sun_shape():
    from pvshare.meters.clearsky import ArrayShape
    day = 1_750_464_000.0                   # 2025-06-21T00:00Z; Paris sunset ~19:58 UTC
    shape = ArrayShape(48.85, 2.35, 30.0, 180.0, 36.0)
    t = np.arange(day + 12 * 3600, day + 19.9 * 3600, 60.0)
    index = 1e6 + (t - t[0]) / 3600.0 * 1000
    starts = day + np.arange(12 * 2, 48) * STEP
    r = step_energy(t, index, starts, STEP, shape=shape)
    night = starts >= day + 20 * 3600
    assert (r.energy_wh[night] == 0).all() and (r.flags[night] == Flag.INTERPOLATED).all()
    # the step with the last reading: what was read, and nothing after sunset
    last = starts == day + 19.5 * 3600
    assert r.energy_wh[last][0] == pytest.approx(index[-1] - np.interp(day + 19.5 * 3600, t, index))
    # without the shape (a tenant), after the last reading is unknown
    r2 = step_energy(t, index, starts, STEP)
    assert (r2.flags[night | last] == Flag.MISSING).all()
    # the same before the first reading: a daemon started at night
    sunrise = day + 3 * 3600 + 50 * 60                       # ~03:50 UTC
    t4 = np.arange(sunrise + 120, day + 9 * 3600, 60.0)
    r4 = step_energy(t4, 1e6 + (t4 - t4[0]) / 3600.0 * 500, day + np.arange(0, 18) * STEP, STEP,
                     shape=shape)
    dark = day + np.arange(0, 18) * STEP + STEP <= sunrise
    assert dark.sum() == 7 and (r4.energy_wh[dark] == 0).all()
    assert (r4.flags[dark] == Flag.INTERPOLATED).all()
    # an inverter read first 9 minutes after sunrise (a client's backoff): the sunrise step
    # is known, what was read of it (the clear sky gave less than 1 Wh before 5 minutes
    # ahead of the first reading)
    rise = t4[0] - 120.0
    first = rise + 9 * 60
    t5 = np.arange(first, day + 9 * 3600, 60.0)
    steps5 = day + np.arange(0, 18) * STEP
    r5 = step_energy(t5, 1e6 + (t5 - t5[0]) / 3600.0 * 500, steps5, STEP, shape=shape)
    holds = (steps5 <= rise) & (steps5 + STEP > first)
    assert holds.sum() == 1 and r5.flags[holds][0] == Flag.INTERPOLATED
    assert r5.energy_wh[holds][0] == pytest.approx((steps5[holds][0] + STEP - first) / 3600 * 500)
    # at noon, a step past the last reading is unknown even with the shape
    r3 = step_energy(t[t < day + 13 * 3600], index[t < day + 13 * 3600], starts, STEP,
                     shape=shape)
    assert (r3.flags[starts >= day + 13 * 3600 - STEP] == Flag.MISSING)[:-8].all()


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(float, st.integers(1, 50), elements=st.floats(0, 1e5)), st.floats(1, 1e5))
def test_implausible_steps_are_flagged_the_others_kept(energy, limit):
    energy = np.r_[energy, np.nan]
    flags = np.zeros(energy.size, dtype=np.int8)
    flags[-1] = Flag.MISSING
    got = flag_implausible(energy, flags, limit)
    assert ((got == Flag.IMPLAUSIBLE) == (energy > limit)).all()
    assert got[-1] == Flag.MISSING
    assert (got[energy <= limit] == 0).all()
