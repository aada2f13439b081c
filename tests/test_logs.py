"""pvshare.logs.RateLimitedLog: first occurrence at once, then a count of the repeats, one line
when the fault clears (real logging records, the caller's clock)."""

from __future__ import annotations

import logging

from pvshare.logs import RateLimitedLog

NAME = "pvshare.test.logs"


def _lines(caplog, level=logging.INFO):
    return [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == NAME and r.levelno >= level]


def test_first_then_count_of_repeats_then_clear(caplog):
    faults = RateLimitedLog(logging.getLogger(NAME), interval_s=600)
    with caplog.at_level(logging.DEBUG, logger=NAME):
        logged = [faults.warning("timeout", "%s: timeout", "inv", now_s=t)
                  for t in range(0, 1300, 100)]          # every 100 s for 1200 s
    # t = 0 at once; t = 600 and t = 1200 carry the 5 left out in between
    assert logged == [True] + [False] * 5 + [True] + [False] * 5 + [True]
    assert _lines(caplog) == [
        (logging.WARNING, "inv: timeout"),
        (logging.WARNING, "inv: timeout (5 more like this since the last message)"),
        (logging.WARNING, "inv: timeout (5 more like this since the last message)")]
    # the ones left out still reach DEBUG
    assert sum(1 for lvl, _ in _lines(caplog, logging.DEBUG) if lvl == logging.DEBUG) == 10
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=NAME):
        faults.warning("timeout", "%s: timeout", "inv", now_s=1250)     # one more, left out
        assert faults.repeats("timeout") == 1
        assert faults.clear("timeout", "%s: answers again", "inv")
        assert not faults.clear("timeout", "%s: answers again", "inv")  # only once
        assert faults.warning("timeout", "%s: timeout", "inv", now_s=1260)  # a new fault: at once
    assert _lines(caplog) == [
        (logging.INFO, "inv: answers again (1 more occurrence(s) since the last message)"),
        (logging.WARNING, "inv: timeout")]


def test_kinds_are_independent_and_a_clock_reset_lets_a_line_through(caplog):
    faults = RateLimitedLog(logging.getLogger(NAME), interval_s=60)
    with caplog.at_level(logging.WARNING, logger=NAME):
        assert faults.warning("timeout", "timeout", now_s=1000)
        assert faults.warning("exception2", "exception 2", now_s=1001)   # another kind
        assert not faults.warning("timeout", "timeout", now_s=1010)
        assert faults.warning("timeout", "timeout", now_s=5)   # simulated clock went back
    assert [m for _, m in _lines(caplog)] == [
        "timeout", "exception 2", "timeout (1 more like this since the last message)"]


def test_default_clock_is_monotonic_and_level_is_configurable(caplog):
    now = [0.0]
    faults = RateLimitedLog(logging.getLogger(NAME), 30, level=logging.ERROR,
                            clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger=NAME):
        for t in (0, 10, 20, 30):
            now[0] = t
            faults.warning("x", "broken %d", t)
    assert _lines(caplog) == [(logging.ERROR, "broken 0"),
                              (logging.ERROR, "broken 30 (2 more like this since the last message)")]
    assert RateLimitedLog(logging.getLogger(NAME), 1).clock.__name__ == "monotonic"
