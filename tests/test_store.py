"""The SQLite store: round trips, idempotence, retention, outbox cap, migrations, and what
happens with a corrupt, foreign or locked file (a clear error, and the file is untouched)."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pvshare.errors import PvshareError
from pvshare.meters.base import Quality, Reading
from pvshare.store import SCHEMA_VERSION, Store, StoreError
from pvshare.store import lineproto as P
from pvshare.store.schema import migrate

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, a step start


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def make_allocation(seed: int, T: int = 48, N: int = 6, t0: int = T0):
    """Random but plausible results: prorata of P over C, some consumption missing."""
    rng = np.random.default_rng(seed)
    t = t0 + 1800 * np.arange(T, dtype=np.int64)
    p = np.round(rng.uniform(0, 5000, T), 3)
    c = np.round(rng.uniform(0, 800, (T, N)), 3)
    c[rng.random((T, N)) < 0.05] = np.nan
    known = np.nan_to_num(c)
    tot = known.sum(axis=1)
    a = np.where(p[:, None] < tot[:, None], known * (p / np.where(tot > 0, tot, 1))[:, None],
                 known)
    a[np.isnan(c)] = 0.0
    return t, [f"P{i:02d}" for i in range(N)], p, c, a, np.isnan(c).any(axis=1)


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "pvshare.db")
    yield s
    s.close()


# -- readings -----------------------------------------------------------------------------
def test_readings_round_trip_and_idempotent(store):
    rs = [Reading("m1", T0 + 10 * i + 0.25, 1000.0 + i, None, 5.0 * i, Quality.GOOD)
          for i in range(100)]
    rs += [Reading("m2", T0 + 7.5, None, 42.0, None, Quality.DEGRADED)]
    assert store.write_readings(rs) == 101
    assert store.write_readings(rs[:50]) == 50  # again: replaced, not added
    r = store.readings("m1", T0, T0 + 10_000)
    assert len(r.time_s) == 100
    np.testing.assert_allclose(r.time_s, [x.time_s for x in rs[:100]])
    np.testing.assert_array_equal(r.import_wh, [x.import_wh for x in rs[:100]])
    assert np.isnan(r.export_wh).all()
    r2 = store.readings("m2", T0, T0 + 10)
    assert np.isnan(r2.import_wh[0]) and r2.export_wh[0] == 42.0 and np.isnan(r2.power_w[0])
    assert r2.quality.tolist() == [Quality.DEGRADED]
    assert store.stats()["rows"]["readings"] == 101
    # a corrected value for the same meter and time replaces the old one
    store.write_readings([Reading("m1", rs[3].time_s, 9999.0)])
    assert store.readings("m1", rs[3].time_s, rs[3].time_s + 1).import_wh.tolist() == [9999.0]
    # window is [from, to)
    assert len(store.readings("m1", rs[10].time_s, rs[20].time_s).time_s) == 10
    assert len(store.readings("unknown", 0, 2e9).time_s) == 0
    assert store.latest_reading_times() == {"m1": rs[99].time_s, "m2": rs[100].time_s}


def test_retention_purges_raw_readings_only(store):
    day = 86400
    rs = [Reading("m1", T0 + d * day, float(d)) for d in range(100)]
    store.write_readings(rs)
    store.write_step_energy("m1", T0 + 1800 * np.arange(10), np.arange(10.0))
    store.write_allocation(*make_allocation(1), "prorata")
    now = T0 + 99 * day + 1
    deleted = store.purge_readings(now_s=now, retention_days=90)
    kept = store.readings("m1", 0, 2e9).time_s
    assert deleted == 10 and len(kept) == 90
    assert kept.min() >= now - 90 * day
    # step results are kept forever
    assert len(store.step_energy("m1", 0, 2**40).energy_wh) == 10
    assert store.allocation(0, 2**40).consumption_wh.shape == (48, 6)
    # default retention comes from the store's setting
    s2 = Store.open(store.path, raw_retention_days=10)
    assert s2.purge_readings(now_s=now) == 80
    s2.close()


# -- step energies ------------------------------------------------------------------------
def test_step_energy_replace(store):
    t = T0 + 1800 * np.arange(5)
    store.write_step_energy("inverter", t, [1, 2, np.nan, 4, 5], [0, 0, 4, 0, 0])
    store.write_step_energy("inverter", t[2:4], [3.5, 4.5], [0, 1])
    e = store.step_energy("inverter", T0, T0 + 1800 * 5)
    assert e.step_starts_s.tolist() == t.tolist()
    np.testing.assert_array_equal(e.energy_wh, [1, 2, 3.5, 4.5, 5])
    assert e.flags.tolist() == [0, 0, 0, 1, 0]
    with pytest.raises(ValueError):
        store.write_step_energy("inverter", t, [1.0])


# -- allocation ---------------------------------------------------------------------------
def test_allocation_round_trip(store):
    t, ids, p, c, a, inc = make_allocation(7)
    assert store.write_allocation(t, ids, p, c, a, inc, "prorata") == len(t)
    got = store.allocation(int(t[0]), int(t[-1]) + 1)
    assert got.step_starts_s.tolist() == t.tolist()
    assert got.participant_ids == ids
    np.testing.assert_array_equal(got.production_wh, p)
    np.testing.assert_array_equal(got.consumption_wh, c)  # NaN where missing
    np.testing.assert_array_equal(got.allocated_wh, a)
    assert got.incomplete.tolist() == inc.tolist()
    assert set(got.key.tolist()) == {"prorata"}
    part = store.allocation(int(t[10]), int(t[20]))
    assert part.step_starts_s.tolist() == t[10:20].tolist()


def test_recompute_is_idempotent_and_replaces_pending_points(store):
    t, ids, p, c, a, inc = make_allocation(3)
    store.write_allocation(t, ids, p, c, a, inc, "prorata")
    depth = store.outbox_depth()
    # every step gives one pvshare_step point; every known (step, participant) one point
    assert depth == len(t) + np.count_nonzero(~(np.isnan(c) & np.isnan(a)))
    # same results again: nothing written, nothing queued
    assert store.write_allocation(t, ids, p, c, a, inc, "prorata") == 0
    assert store.outbox_depth() == depth
    # late data for step 5: only that step changes; its pending points are replaced
    c2 = c.copy()
    c2[5, 0] = 123.0
    a2 = a.copy()
    a2[5, 0] = 100.0
    assert store.write_allocation(t, ids, p, c2, a2, inc, "prorata") == 1
    assert store.outbox_depth() == depth
    rows = store.outbox_batch(10 ** 6)[2]
    mine = [r for r in rows if r[0] == P.PARTICIPANT and r[1] == "participant=P00"
            and r[2] == t[5]]
    assert len(mine) == 1 and "allocated_wh=100," in mine[0][3]
    assert store.allocation(0, 2**40).allocated_wh[5, 0] == 100.0
    # after delivery, a recompute queues the changed step again (it overwrites in InfluxDB)
    first, last, _ = store.outbox_batch(10 ** 6)
    store.outbox_ack(first, last)
    assert store.write_allocation(t, ids, p, c, a, inc, "prorata") == 1
    assert store.outbox_depth() == 1 + N_known(c[5], a[5])
    # force rewrites everything
    assert store.write_allocation(t, ids, p, c, a, inc, "prorata", force=True) == len(t)


def N_known(c_row, a_row) -> int:
    return int(np.count_nonzero(~(np.isnan(c_row) & np.isnan(a_row))))


def test_allocation_rejects_bad_shapes(store):
    t, ids, p, c, a, inc = make_allocation(1)
    with pytest.raises(ValueError, match="shapes"):
        store.write_allocation(t, ids, p, c[:, :2], a, inc, "prorata")
    with pytest.raises(ValueError, match="duplicate"):
        store.write_allocation(np.r_[t[:-1], t[0]], ids, p, c, a, inc, "prorata")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_allocation_round_trip_property(tmp_path, data):
    T = data.draw(st.integers(1, 12))
    N = data.draw(st.integers(1, 5))
    vals = hnp.arrays(np.float64, (T, N), elements=st.one_of(
        st.just(np.nan), st.floats(0, 1e7, allow_nan=False)))
    c = data.draw(vals)
    a = data.draw(vals)
    p = data.draw(hnp.arrays(np.float64, (T,), elements=st.floats(0, 1e7)))
    inc = np.isnan(c).any(axis=1)
    t = T0 + 900 * np.asarray(sorted(data.draw(st.sets(st.integers(0, 10_000), min_size=T,
                                                       max_size=T))), dtype=np.int64)
    ids = [f"id{i}" for i in range(N)]
    path = tmp_path / f"prop-{os.getpid()}-{time.monotonic_ns()}.db"
    with Store.open(path) as s:
        s.write_allocation(t, ids, p, c, a, inc, "static")
        got = s.allocation(0, 2**40)
        assert s.write_allocation(t, ids, p, c, a, inc, "static") == 0
    np.testing.assert_array_equal(got.step_starts_s, t)
    np.testing.assert_array_equal(got.consumption_wh, c)
    np.testing.assert_array_equal(got.allocated_wh, a)
    np.testing.assert_array_equal(got.production_wh, p)


# -- points (pure) ------------------------------------------------------------------------
def _parse_fields(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in (kv.split("=") for kv in text.split(","))} if text else {}


def test_allocation_points_match_a_per_cell_reference():
    t, ids, p, c, a, inc = make_allocation(11, T=20, N=4)
    c[3, :] = np.nan
    a[3, :] = np.nan
    p[4] = 0.0
    rows = P.allocation_points(t, ids, p, c, a, inc)
    got = {(m, tags, ts): _parse_fields(f) for m, tags, ts, f in rows}
    assert len(got) == len(rows)
    for i, ts in enumerate(t.tolist()):
        s = got[(P.STEP, "", ts)]
        auto = sum(x for x in a[i] if not np.isnan(x))
        assert s["production_wh"] == p[i]
        assert s["autoprod_wh"] == pytest.approx(auto, abs=1e-9)
        assert s["surplus_wh"] == pytest.approx(p[i] - auto, abs=1e-9)
        assert s["incomplete"] == float(inc[i])
        if np.isnan(c[i]).all():
            assert "consumption_wh" not in s
        for j, pid in enumerate(ids):
            key = (P.PARTICIPANT, f"participant={pid}", ts)
            if np.isnan(c[i, j]) and np.isnan(a[i, j]):
                assert key not in got  # nothing known: no point at all, never zeros
                continue
            f = got[key]
            if np.isnan(c[i, j]):
                assert "consumption_wh" not in f and "complement_wh" not in f
            else:
                assert f["consumption_wh"] == c[i, j]
                assert f["complement_wh"] == pytest.approx(c[i, j] - a[i, j])
            if p[i] > 0 and not np.isnan(a[i, j]):
                assert f["coefficient"] == pytest.approx(a[i, j] / p[i])
            else:
                assert "coefficient" not in f


@given(hnp.arrays(np.float64, st.integers(0, 30)))
def test_field_strings_round_trip_every_float(values):
    s = P.field_strings({"x_wh": values})
    for v, text in zip(values, s):
        if np.isfinite(v):
            got = _parse_fields(text)["x_wh"]
            assert got == float(f"{v:.12g}") and abs(got - v) <= 5e-12 * abs(v)
        else:
            assert text == ""


@given(st.text(min_size=1, max_size=20))
def test_escape_tag_has_no_bare_separators(value):
    esc = P.escape_tag(value)
    unescaped = esc.replace("\\\\", "").replace("\\,", "").replace("\\=", "").replace("\\ ", "")
    assert not any(ch in unescaped for ch in ", =")



def test_lines_of_outbox_rows_written_by_hand():
    # The InfluxDB line-protocol reference: "measurement,tag_set field_set timestamp", tag
    # values escape comma, equals and space with a backslash.
    tag = P.site_tag("Les Tilleuls, bât=A")
    assert tag == r"site=Les\ Tilleuls\,\ bât\=A"
    rows = [(P.STEP, "", 1748736000, "production_wh=900,incomplete=0"),
            (P.PARTICIPANT, "participant=A01", 1748736000, "allocated_wh=12.5")]
    assert P.to_lines(tag, rows) == [
        r"pvshare_step,site=Les\ Tilleuls\,\ bât\=A production_wh=900,incomplete=0 1748736000",
        r"pvshare_participant,site=Les\ Tilleuls\,\ bât\=A,participant=A01 allocated_wh=12.5 "
        "1748736000"]

# -- outbox cap ---------------------------------------------------------------------------
def test_outbox_cap_refuses_loudly_keeps_results_and_requeue_rebuilds(tmp_path, caplog):
    t, ids, p, c, a, inc = make_allocation(5, T=48, N=20)
    per_day = len(P.allocation_points(t, ids, p, c, a, inc))
    cap = int(per_day * 2.5)
    with Store.open(tmp_path / "cap.db", outbox_max_points=cap) as s:
        with caplog.at_level(logging.WARNING, logger="pvshare.store"):
            for d in range(3):
                s.write_allocation(t + 86400 * d, ids, p, c, a, inc, "prorata")
        assert s.outbox_depth() == 2 * per_day  # the third day did not fit
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert errors and "outbox full" in errors[0].getMessage()
        assert str(per_day) in errors[0].getMessage()
        assert any(r.levelno == logging.WARNING and "outbox at" in r.getMessage()
                   for r in caplog.records)  # 2 days = 80 % of the cap
        assert s.refused_points == per_day
        assert s.counters()["outbox_refused_points"] == per_day
        # the results of the refused day are in SQLite all the same
        day3 = s.allocation(int(t[0]) + 2 * 86400, int(t[0]) + 3 * 86400)
        np.testing.assert_array_equal(day3.allocated_wh, a)
        # drain (as after a successful push), then rebuild the missing day's points
        first, last, _ = s.outbox_batch(10 ** 6)
        s.outbox_ack(first, last)
        assert s.requeue(int(t[0]) + 2 * 86400, int(t[0]) + 3 * 86400) == per_day
        assert sorted(s.outbox_batch(10 ** 6)[2]) == sorted(
            P.allocation_points(t + 2 * 86400, ids, p, c, a, inc))


def test_power_and_forecast_points_are_queued(store):
    store.write_power(["m1", "m2", "m3"], [T0 + 0.9, T0 + 5.2, T0 + 7], [100.0, np.nan, -3.5])
    t = T0 + 1800 * np.arange(3)
    store.write_forecast(t, [10.0, 20.0, 30.0], p10_w=[5.0, np.nan, 15.0], kind="dayahead",
                         issued_s=T0 - 3600)
    f = store.forecast(T0, T0 + 86400, "dayahead")
    assert f.p50_w.tolist() == [10, 20, 30] and np.isnan(f.p10_w[1]) and np.isnan(f.p90_w).all()
    rows = sorted(store.outbox_batch(100)[2])
    assert rows == sorted([
        (P.POWER, "meter=m1", T0, "power_w=100"), (P.POWER, "meter=m3", T0 + 7, "power_w=-3.5"),
        (P.FORECAST, "kind=dayahead", int(t[0]), "p10_w=5,p50_w=10"),
        (P.FORECAST, "kind=dayahead", int(t[1]), "p50_w=20"),
        (P.FORECAST, "kind=dayahead", int(t[2]), "p10_w=15,p50_w=30")])
    store.write_power(["m1"], [T0 + 20.4], [250.0])           # time rounded down
    assert (P.POWER, "meter=m1", T0 + 20, "power_w=250") in store.outbox_batch(100)[2]


def test_ack_does_not_drop_a_point_replaced_in_flight(store):
    t, ids, p, c, a, inc = make_allocation(2, T=2, N=2)
    store.write_allocation(t, ids, p, c, a, inc, "prorata")
    first, last, rows = store.outbox_batch(100)
    a2 = a.copy()
    a2[0, 0] += 1.0
    store.write_allocation(t, ids, p, c, a2, inc, "prorata")  # while the batch is "sent"
    store.outbox_ack(first, last)
    left = store.outbox_batch(100)[2]
    assert {(m, tg, ts) for m, tg, ts, _ in left} == {
        (P.STEP, "", int(t[0])), (P.PARTICIPANT, "participant=P00", int(t[0])),
        (P.PARTICIPANT, "participant=P01", int(t[0]))}


# -- opening: migrations, bad files, locks ------------------------------------------------
def test_migration_from_an_older_schema_keeps_the_data(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, upto=1)  # a store written by the first release: no outbox, no forecast
    conn.execute("INSERT INTO meters VALUES (1, 'inverter')")
    conn.execute("INSERT INTO readings VALUES (1, ?, 1234.0, NULL, 500.0, 0)", (T0 * 1000,))
    conn.execute("INSERT INTO participants VALUES (1, 'A01')")
    conn.execute("INSERT INTO allocation_step VALUES (?, 10.0, 0, 'prorata', 0)", (T0,))
    conn.execute("INSERT INTO allocation VALUES (?, 1, 4.0, 3.0)", (T0,))
    conn.close()
    with Store.open(path) as s:
        assert s.schema_version == SCHEMA_VERSION == 4
        assert s.readings("inverter", T0, T0 + 1).import_wh.tolist() == [1234.0]
        got = s.allocation(T0, T0 + 1800)
        assert got.participant_ids == ["A01"] and got.allocated_wh.tolist() == [[3.0]]
        assert s.requeue(T0, T0 + 1800) == 2  # the new outbox works on the old results
        s.write_forecast([T0], [1.0])
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")] == [1, 2, 3, 4]
    conn.close()


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "new.db"
    Store.open(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_version VALUES (99, 0)")
    conn.close()
    before = sha(path)
    with pytest.raises(StoreError, match=r"new\.db.*newer pvshare \(schema version 99"):
        Store.open(path)
    assert sha(path) == before


def test_not_sqlite_file_gives_clear_error_and_is_untouched(tmp_path):
    path = tmp_path / "readings.csv"
    path.write_bytes(b"time,meter,import_wh\n2026-01-01T00:00:00+00:00,m1,12\n" * 100)
    before = sha(path)
    with pytest.raises(StoreError, match=r"readings\.csv: not an SQLite database") as e:
        Store.open(path)
    assert isinstance(e.value, PvshareError)
    assert sha(path) == before
    assert sorted(os.listdir(tmp_path)) == ["readings.csv"]  # no -wal/-shm left beside it


@pytest.mark.parametrize("damage", ["pages", "truncated"])
def test_corrupt_store_gives_clear_error_and_is_untouched(tmp_path, damage):
    path = tmp_path / "pvshare.db"
    with Store.open(path) as s:
        s.write_readings([Reading(f"m{i % 7}", T0 + i, float(i)) for i in range(20_000)])
        s.write_allocation(*make_allocation(1), "prorata")
        s.checkpoint()
    data = bytearray(path.read_bytes())
    if damage == "pages":
        rng = np.random.default_rng(0)
        for page in range(2, len(data) // 4096):  # keep page 1 (header + schema) valid
            off = page * 4096
            data[off:off + 4096] = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    else:
        data = data[: len(data) // 3]
    path.write_bytes(bytes(data))
    before = sha(path)
    with pytest.raises(StoreError, match=r"pvshare\.db.*(corrupt|malformed|not a database)"):
        with Store.open(path) as s:
            s.readings("m1", 0, 2e9)
            s.allocation(0, 2**40)
            s.write_readings([Reading("m1", T0 + 10**6, 1.0)])
    assert sha(path) == before


LOCKER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
c.execute("INSERT INTO meters (meter_id) VALUES ('held')")
print("locked", flush=True)
time.sleep(60)
"""


def _hold_lock(path):
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_locked_store_gives_clear_error_and_loses_nothing(tmp_path):
    path = tmp_path / "pvshare.db"
    with Store.open(path) as s:
        s.write_readings([Reading("m1", T0, 1.0)])
    proc = _hold_lock(path)  # another process is writing and does not let go
    try:
        with Store.open(path, busy_timeout_s=0.3) as s:
            assert s.readings("m1", 0, 2e9).import_wh.tolist() == [1.0]  # WAL: reads go on
            t = time.monotonic()
            with pytest.raises(StoreError, match=r"pvshare\.db: the database is locked by "
                                                 r"another process \(waited 0\.3 s\)"):
                s.write_readings([Reading("m1", T0 + 10, 2.0)])
            assert time.monotonic() - t >= 0.25
    finally:
        proc.kill()
        proc.wait()
    with Store.open(path) as s:  # the lock is gone: nothing lost, and writing works again
        s.write_readings([Reading("m1", T0 + 10, 2.0)])
        assert s.readings("m1", 0, 2e9).import_wh.tolist() == [1.0, 2.0]


def test_locked_foreign_journal_database_cannot_be_opened(tmp_path):
    # a rollback-journal SQLite file held exclusively by another program: even reading the
    # schema is refused, and pvshare must say so without touching it
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE meters (meter INTEGER PRIMARY KEY, meter_id TEXT)")
    conn.close()
    before = sha(path)
    proc = _hold_lock(path)
    try:
        with pytest.raises(StoreError, match=r"other\.db: the database is locked"):
            Store.open(path, busy_timeout_s=0.2)
    finally:
        proc.kill()
        proc.wait()
    assert sha(path) == before


def test_missing_store_without_create(tmp_path):
    with pytest.raises(StoreError, match="no pvshare store here"):
        Store.open(tmp_path / "nope.db", create=False)
    assert not (tmp_path / "nope.db").exists()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), edits=st.lists(
    st.tuples(st.integers(0, 11), st.integers(0, 3), st.sampled_from(["c", "a", "p", "nan"])),
    max_size=8))
def test_only_changed_steps_are_rewritten_property(tmp_path, seed, edits):
    t, ids, p, c, a, inc = make_allocation(seed, T=12, N=4)
    path = tmp_path / f"chg-{time.monotonic_ns()}.db"
    with Store.open(path) as s:
        s.write_allocation(t, ids, p, c, a, inc, "prorata")
        first, last, _ = s.outbox_batch(10 ** 6)
        s.outbox_ack(first, last)
        p2, c2, a2 = p.copy(), c.copy(), a.copy()
        for i, j, what in edits:
            if what == "c":
                c2[i, j] = (0 if np.isnan(c2[i, j]) else c2[i, j]) + 1.5
            elif what == "a":
                a2[i, j] += 0.25
            elif what == "p":
                p2[i] += 2.0
            else:
                c2[i, j] = np.nan
        differs = ~((p2 == p) & ((c2 == c) | (np.isnan(c2) & np.isnan(c))).all(axis=1)
                    & (a2 == a).all(axis=1))
        # a changed step is written (and its points queued), an unchanged one is left alone
        assert s.write_allocation(t, ids, p2, c2, a2, inc, "prorata") == differs.sum()
        assert {r[2] for r in s.outbox_batch(10 ** 6)[2]} == set(t[differs].tolist())
        got = s.allocation(0, 2**40)
        np.testing.assert_array_equal(got.consumption_wh, c2)
        np.testing.assert_array_equal(got.allocated_wh, a2)
