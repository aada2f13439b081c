"""The daemon's closing follows the participants' periods: an absent participant counts as
exactly zero consumption and never makes a step incomplete (helpers: tests/test_closing.py)."""

from __future__ import annotations

import dataclasses

import numpy as np

from pvshare.allocation.periods import OPEN_END, OPEN_START
from pvshare.live.closing import close_steps
from tests.test_closing import GRACE, STEP, T0, building, linear, plan, store  # noqa: F401


def test_a_participant_who_left_is_absent_not_missing(store):  # noqa: F811
    # C leaves at T0 + 2 steps; its meter stops reporting then (the flat is empty). A new
    # participant is not needed for this: only A and B remain.
    hours = 3
    readings = building(hours, skip=("m-C",))
    times = np.arange(T0, T0 + 2 * STEP + 1, 60)                 # C read until it leaves
    readings += linear("m-C", times, 1200.0)
    store.write_readings(readings)
    p = dataclasses.replace(plan(), period_starts_s=np.array([OPEN_START] * 3),
                            period_ends_s=np.array([OPEN_END, OPEN_END, T0 + 2 * STEP]))
    close_steps(store, p, T0 + hours * 3600 + GRACE)
    a = store.allocation(T0, T0 + 6 * STEP)
    assert a.step_starts_s.tolist() == [T0 + k * STEP for k in range(6)]
    assert not a.incomplete.any()
    # Per step (30 min): production 1500 Wh; A 200, B 400, C 600 Wh while present: all
    # served (1200 ≤ 1500). After C left: C 0, A 200, B 400.
    c = a.participant_ids.index("C")
    assert np.allclose(a.consumption_wh[:2, c], 600) and np.allclose(a.allocated_wh[:2, c], 600)
    assert (a.consumption_wh[2:, c] == 0).all() and (a.allocated_wh[2:, c] == 0).all()
    assert np.allclose(a.allocated_wh[2:, a.participant_ids.index("B")], 400)
    # Without the periods, the same readings leave C missing and the steps incomplete.
    with_no_periods = plan()
    store.write_readings([])
    close_steps(store, with_no_periods, T0 + hours * 3600 + GRACE, full_window=True)
    assert store.allocation(T0, T0 + 6 * STEP).incomplete[3:].all()
