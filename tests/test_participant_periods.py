"""Participants over time: periods in the config, the active mask, a flat changing tenant."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pvshare.allocation.periods import (
    OPEN_END,
    OPEN_START,
    absent_as_zero,
    active_mask,
    parse_bound,
)
from pvshare.config import load_config
from pvshare.errors import ConfigError
from pvshare.timegrid import local_day_steps, step_range
from tests.test_config import EXAMPLE_TEXT, edited, problems_of


def test_bounds_dates_are_local_midnight_and_times_keep_their_offset():
    # 1 September 2025 00:00 in Paris is 31 August 22:00 UTC (summer time, +02:00).
    assert parse_bound("2025-09-01") == int(dt.datetime(2025, 8, 31, 22, tzinfo=dt.UTC).timestamp())
    assert parse_bound(dt.date(2025, 1, 1)) == int(dt.datetime(2024, 12, 31, 23,
                                                               tzinfo=dt.UTC).timestamp())
    assert parse_bound("2025-09-01T12:10:00+02:00") == parse_bound("2025-09-01T10:10:00Z")
    assert parse_bound("") is None and parse_bound(None) is None
    for bad in ("2025-09-01T12:00:00", "01/09/2025", "2025-13-01"):
        with pytest.raises(ValueError):
            parse_bound(bad)


def test_mid_step_start_begins_with_the_next_step():
    times = step_range(np.datetime64("2025-09-01T10:00:00"), np.datetime64("2025-09-01T11:30:00"))
    start = parse_bound("2025-09-01T10:10:00Z")
    end = parse_bound("2025-09-01T11:00:00Z")
    m = active_mask(times, np.array([start, OPEN_START]), np.array([end, OPEN_END]))
    # Steps 10:00, 10:30, 11:00 UTC: only 10:30 starts inside [10:10, 11:00).
    assert m[:, 0].tolist() == [False, True, False]
    assert m[:, 1].all()


def test_clock_change_month_boundaries():
    # Leaving on 26 October 2025 (the 25-hour day): present until local midnight, i.e. the
    # 50 half-hours of the 26th are all absent and the 48 of the 25th present.
    times = np.concatenate([local_day_steps(dt.date(2025, 10, 25)),
                            local_day_steps(dt.date(2025, 10, 26))])
    m = active_mask(times, np.array([OPEN_START]), np.array([parse_bound("2025-10-26")]))
    assert m[:, 0].sum() == 48 and (~m[:, 0]).sum() == 50


def test_absent_counts_as_zero_not_missing():
    c = np.array([[np.nan, 5.0], [np.nan, np.nan]])
    active = np.array([[False, True], [True, True]])
    out = absent_as_zero(c, active)
    assert out[0, 0] == 0.0 and np.isnan(out[1, 0]) and out[0, 1] == 5.0


TENANTS = '''
[[participants]]
id = "A01"
prm = "25460000000001"
name = "Studio A01 (étage 0)"
to = 2025-07-01

[[participants]]
id = "A01-2025"
prm = "25460000000001"
from = 2025-07-01
'''


def _with_new_tenant(tmp_path, text=TENANTS):
    head = '[[participants]]\nid = "A01"\nprm = "25460000000001"\nname = "Studio A01 (étage 0)"\n'
    assert EXAMPLE_TEXT.count(head) == 1
    path = tmp_path / "site.toml"
    path.write_text(EXAMPLE_TEXT.replace(head, text.lstrip()), encoding="utf-8")
    return path


def test_a_flat_changing_tenant_is_two_participants_with_one_prm(tmp_path):
    cfg = load_config(_with_new_tenant(tmp_path))
    ids = cfg.participant_ids
    i, j = ids.index("A01"), ids.index("A01-2025")
    times = np.array(["2025-06-30T21:30:00", "2025-06-30T22:00:00"], dtype="datetime64[s]")
    m = cfg.active(times)            # 22:00 UTC on 30 June = midnight on 1 July in Paris
    assert m[:, i].tolist() == [True, False] and m[:, j].tolist() == [False, True]
    assert m[:, ids.index("A02")].all()


def test_overlapping_periods_of_one_prm_are_refused(tmp_path):
    path = _with_new_tenant(tmp_path, TENANTS.replace("from = 2025-07-01",
                                                      'from = "2025-06-15"'))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (msg,) = info.value.problems
    assert msg.startswith("participants[1].prm: duplicate PRM '25460000000001' (also "
                          "participants[0], 'A01') over overlapping periods")
    assert "A01 from the start to 2025-07-01 00:00" in msg
    assert "A01-2025 from 2025-06-15 00:00 to no end" in msg


def test_bad_bounds_name_the_field(tmp_path):
    problems = problems_of(tmp_path, edited(('id = "A02"', 'id = "A02"\nfrom = "01/09/2025"')))
    assert len(problems) == 1 and problems[0].startswith("participants[1].from:")
    problems = problems_of(tmp_path, edited(('id = "A02"',
                                             'id = "A02"\nfrom = 2025-09-01\nto = 2025-08-01')))
    assert problems == ["participants[1].to: must be after 'from' ('A02': from 2025-09-01 00:00 "
                        "to 2025-08-01 00:00)"]


def test_tenant_statement_covers_the_tenants_own_days():
    from pvshare.billing.figures import Terms, month_figures
    from pvshare.billing.month import Month
    from pvshare.reports.tenant import summarise, tenant_statement
    # June 2025, every half-hour: A all month, B from 16 June (local). Each consumes 100 Wh
    # and receives 50 Wh a step; B's cells before it came are empty (not measured).
    times = np.arange(np.datetime64("2025-05-31T22:00:00"), np.datetime64("2025-06-30T22:00:00"),
                      np.timedelta64(30, "m")).astype("datetime64[s]")
    active = active_mask(times, np.array([OPEN_START, parse_bound("2025-06-16")]),
                         np.array([OPEN_END, OPEN_END]))
    cons = np.where(active, 100.0, np.nan)
    alloc = np.where(active, 50.0, 0.0)
    s = summarise(times, np.full(len(times), 500.0), cons, alloc, ["A", "B"], active=active)
    terms = Terms("Europe/Paris", "PT30M", ("A", "B"), ("1" * 14, "2" * 14),
                  (OPEN_START, int(parse_bound("2025-06-16"))), (OPEN_END, OPEN_END))
    fig = month_figures(terms, Month("2025-06", times, np.ones(len(times), bool),
                                     np.full(len(times), 500.0), np.where(active, cons, 0.0),
                                     alloc, active, ["A", "B"], list(terms.prms)))
    st = tenant_statement(s, 1, "2025-06", fig.of("B"))
    # B: 15 days × 48 steps × 100 Wh = 72 kWh, all its own steps measured.
    assert str(st.days[0]) == "2025-06-16" and len(st.days) == 15
    assert st.consumed_kwh == pytest.approx(72.0) and st.autocons_kwh == pytest.approx(36.0)
    assert st.completeness_percent == pytest.approx(100.0)
    assert (fig.of("B").steps, fig.of("B").measured_steps) == (15 * 48, 15 * 48)
    a = tenant_statement(s, 0, "2025-06", fig.of("A"))
    assert len(a.days) == 30 and a.completeness_percent == pytest.approx(100.0)
