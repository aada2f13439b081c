"""Tests of :mod:`pvshare.timegrid`: UTC steps labelled by their start, local Paris days.

Expected values come from the standard library's ``zoneinfo`` and from the EU rule (clocks
change on the last Sunday of March and of October at 01:00 UTC), never from the module.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvshare import timegrid as tg

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC
YEARS = range(2019, 2031)


def last_sunday(year: int, month: int) -> dt.date:
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - 6) % 7)


def epoch(*args) -> int:
    return int(dt.datetime(*args, tzinfo=UTC).timestamp())


def utc64(*args) -> np.datetime64:
    return np.datetime64(dt.datetime(*args), "s")


# --- steps --------------------------------------------------------------------------------

def test_step_lengths():
    assert tg.step_seconds("PT30M") == 1800
    assert tg.step_seconds("PT15M") == 900
    assert tg.step_seconds("pt15m") == 900
    assert tg.step_seconds() == 1800                 # the card asks for 30 minutes


@pytest.mark.parametrize("step", ["PT10M", "PT1H", "30", "", None, 1800])
def test_unsupported_step_is_an_error(step):
    with pytest.raises(ValueError, match=r"unsupported step .*: use one of PT30M, PT15M"):
        tg.step_seconds(step)


@settings(deadline=None, max_examples=200)
@given(seconds=st.integers(0, 4_102_444_800), step=st.sampled_from(["PT30M", "PT15M"]))
def test_floor_to_step_labels_the_step_by_its_start(seconds, step):
    s = tg.step_seconds(step)
    start = tg.floor_to_step(seconds, s)
    assert start <= seconds < start + s
    assert start % s == 0                           # aligned from the Unix epoch
    when = dt.datetime.fromtimestamp(start, UTC)
    assert when.second == 0 and when.minute % (s // 60) == 0
    assert tg.is_aligned(tg.from_epoch_seconds([start]), step).all()
    assert tg.is_aligned(tg.from_epoch_seconds([seconds]), step)[0] == (seconds % s == 0)


def test_floor_to_step_is_vectorised():
    seconds = np.array([0, 1799, 1800, 1801, 3599, 3600], dtype=np.int64)
    np.testing.assert_array_equal(tg.floor_to_step(seconds, 1800),
                                  [0, 0, 1800, 1800, 1800, 3600])
    np.testing.assert_array_equal(tg.floor_to_step(seconds, 900),
                                  [0, 900, 1800, 1800, 2700, 3600])


def test_alignment_mask():
    times = np.array(["2024-06-01T10:00:00", "2024-06-01T10:15:00", "2024-06-01T10:30:00",
                      "2024-06-01T10:30:01"], dtype="datetime64[s]")
    assert tg.is_aligned(times, "PT30M").tolist() == [True, False, True, False]
    assert tg.is_aligned(times, "PT15M").tolist() == [True, True, True, False]


def test_step_range_floors_its_start_and_excludes_its_end():
    got = tg.step_range(utc64(2024, 1, 1, 0, 10), utc64(2024, 1, 1, 2, 0), "PT30M")
    expected = np.array(["2024-01-01T00:00", "2024-01-01T00:30", "2024-01-01T01:00",
                         "2024-01-01T01:30"], dtype="datetime64[s]")
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.dtype("datetime64[s]")
    assert tg.step_range(utc64(2024, 1, 1), utc64(2024, 1, 1), "PT15M").size == 0


def test_a_year_of_steps():
    year = tg.step_range(utc64(2023, 1, 1), utc64(2024, 1, 1), "PT30M")
    assert year.size == 17_520
    assert tg.step_range(utc64(2024, 1, 1), utc64(2025, 1, 1), "PT15M").size == 366 * 96
    assert (np.diff(tg.to_epoch_seconds(year)) == 1800).all()


def test_epoch_seconds_round_trip():
    seconds = np.array([0, 1_700_000_000, 4_102_444_800], dtype=np.int64)
    back = tg.to_epoch_seconds(tg.from_epoch_seconds(seconds))
    np.testing.assert_array_equal(back, seconds)
    assert tg.to_epoch_seconds(np.datetime64("1970-01-01T00:30:00")) == 1800


# --- local days ---------------------------------------------------------------------------

@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("step, per_hour", [("PT30M", 2), ("PT15M", 4)])
def test_local_days_around_both_dst_changes(year, step, per_hour):
    spring, autumn = last_sunday(year, 3), last_sunday(year, 10)
    assert spring.weekday() == autumn.weekday() == 6
    cases = {spring: 23, autumn: 25, spring - dt.timedelta(days=1): 24,
             autumn + dt.timedelta(days=1): 24, dt.date(year, 7, 14): 24,
             dt.date(year, 1, 1): 24, dt.date(year, 12, 31): 24}
    for day, hours in cases.items():
        steps = tg.local_day_steps(day, step)
        assert steps.size == hours * per_hour, (day, steps.size)
        secs = tg.to_epoch_seconds(steps)
        # The day starts at local midnight, steps are consecutive, and the next day follows.
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=PARIS)
        assert secs[0] == int(midnight.timestamp())
        assert (np.diff(secs) == tg.step_seconds(step)).all()
        nxt = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=PARIS)
        assert secs[-1] + tg.step_seconds(step) == int(nxt.timestamp())
        # Every step belongs to that local day.
        assert {dt.datetime.fromtimestamp(int(s), PARIS).date() for s in secs} == {day}


def test_half_hour_counts_by_name():
    assert tg.local_day_steps(dt.date(2024, 3, 31)).size == 46
    assert tg.local_day_steps(dt.date(2024, 10, 27)).size == 50
    assert tg.local_day_steps(dt.date(2024, 10, 28)).size == 48
    assert tg.local_day_steps(dt.date(2025, 3, 30), "PT15M").size == 92
    assert tg.local_day_steps(dt.date(2025, 10, 26), "PT15M").size == 100
    assert tg.local_day_steps(dt.date(2025, 10, 27), "PT15M").size == 96


def test_a_local_year_holds_every_step_once():
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(366)]
    steps = np.concatenate([tg.local_day_steps(d) for d in days])
    assert steps.size == 366 * 48                    # 46 + 50 = 2 × 48
    assert (np.diff(tg.to_epoch_seconds(steps)) == 1800).all()


@pytest.mark.parametrize("year", YEARS)
def test_local_month_bounds(year):
    for month in range(1, 13):
        start, end = tg.local_month_bounds(year, month)
        first = dt.datetime(year, month, 1, tzinfo=PARIS)
        nxt = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=PARIS)
        assert tg.to_epoch_seconds(start) == int(first.timestamp())
        assert tg.to_epoch_seconds(end) == int(nxt.timestamp())
        hours = calendar.monthrange(year, month)[1] * 24 + {3: -1, 10: 1}.get(month, 0)
        assert int(tg.to_epoch_seconds(end) - tg.to_epoch_seconds(start)) == hours * 3600
        steps = tg.step_range(start, end)
        assert steps.size == hours * 2


def test_local_dates_at_the_edges_of_a_day():
    times = np.array(["2024-06-30T21:59:59", "2024-06-30T22:00:00",    # UTC+2 in summer
                      "2024-12-31T22:59:59", "2024-12-31T23:00:00"],   # UTC+1 in winter
                     dtype="datetime64[s]")
    assert tg.local_dates(times).astype(str).tolist() == [
        "2024-06-30", "2024-07-01", "2024-12-31", "2025-01-01"]


# --- offsets and formatting ---------------------------------------------------------------

#: Random instants within a few years of a random start (utc_offsets samples the zone every
#: 6 hours over the span it is given, so the span is kept to a few years here).
SPAN_S = 3 * 366 * 86400


@settings(deadline=None, max_examples=150)
@given(base=st.integers(epoch(1990, 1, 1), epoch(2060, 1, 1)),
       deltas=st.lists(st.integers(0, SPAN_S), min_size=1, max_size=40),
       tz=st.sampled_from(["Europe/Paris", "UTC", "America/New_York", "Australia/Lord_Howe"]))
def test_utc_offsets_agree_with_zoneinfo(base, deltas, tz):
    seconds = [base + d for d in deltas]
    zone = ZoneInfo(tz)
    got = tg.utc_offsets(np.array(seconds, dtype=np.int64), tz)
    expected = [int(dt.datetime.fromtimestamp(s, UTC).astimezone(zone).utcoffset()
                    .total_seconds()) for s in seconds]
    assert got.tolist() == expected


@pytest.mark.parametrize("year", YEARS)
def test_utc_offsets_switch_at_the_second(year):
    """The EU rule: 01:00 UTC on the last Sunday of March and of October."""
    for day, before, after in ((last_sunday(year, 3), 3600, 7200),
                               (last_sunday(year, 10), 7200, 3600)):
        change = epoch(day.year, day.month, day.day, 1)
        got = tg.utc_offsets(np.array([change - 1, change, change + 1]))
        assert got.tolist() == [before, after, after]


def test_utc_offsets_of_nothing():
    assert tg.utc_offsets(np.array([], dtype=np.int64)).size == 0


def test_format_utc():
    times = np.array(["2024-10-27T00:30:00", "2024-03-31T01:00:00"], dtype="datetime64[s]")
    assert tg.format_utc(times) == ["2024-10-27T00:30:00+00:00", "2024-03-31T01:00:00+00:00"]


@pytest.mark.parametrize("year", YEARS)
def test_format_local_is_unambiguous_across_the_october_change(year):
    day = last_sunday(year, 10)
    steps = tg.local_day_steps(day)
    labels = tg.format_local(steps)
    assert len(labels) == len(set(labels)) == 50
    # The hour 02:00–03:00 happens twice, first in summer time then in winter time.
    assert [x for x in labels if "T02:" in x] == [
        f"{day}T02:00:00+02:00", f"{day}T02:30:00+02:00",
        f"{day}T02:00:00+01:00", f"{day}T02:30:00+01:00"]
    assert labels[0] == f"{day}T00:00:00+02:00" and labels[-1] == f"{day}T23:30:00+01:00"
    # Every label names the same instant, as zoneinfo writes it.
    for label, s in zip(labels, tg.to_epoch_seconds(steps).tolist()):
        assert dt.datetime.fromisoformat(label).timestamp() == s
        assert label == dt.datetime.fromtimestamp(s, PARIS).isoformat()


def test_format_local_on_the_spring_day_skips_the_missing_hour():
    labels = tg.format_local(tg.local_day_steps(dt.date(2026, 3, 29)))
    assert len(labels) == 46
    assert "2026-03-29T01:30:00+01:00" in labels
    assert "2026-03-29T03:00:00+02:00" in labels
    assert not any("T02:" in x for x in labels)


@settings(deadline=None, max_examples=100)
@given(base=st.integers(epoch(2000, 1, 1), epoch(2050, 1, 1)),
       deltas=st.lists(st.integers(0, SPAN_S), min_size=1, max_size=20))
def test_format_local_round_trips(base, deltas):
    seconds = [base + d for d in deltas]
    times = tg.from_epoch_seconds(seconds)
    for label, s in zip(tg.format_local(times), seconds):
        assert dt.datetime.fromisoformat(label).timestamp() == s
        assert label == dt.datetime.fromtimestamp(s, PARIS).isoformat()
