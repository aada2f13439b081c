"""The forwarder against a real server (VictoriaMetrics speaking the InfluxDB v2 write API):
every point arrives with its original timestamp, exactly once, through outages and kill -9.

VictoriaMetrics keeps two samples with the same series and timestamp (InfluxDB overwrites),
so the server's export shows any double: the tests count them.

Run as a script (``python -m tests.test_influx writer DB URL DAYS BATCH``) this module is the
writer process that the kill -9 test kills and restarts.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pvshare.config import InfluxDB
from pvshare.store import Store
from pvshare.store import lineproto as P
from pvshare.store.forwarder import Forwarder
from tests.test_store import T0, make_allocation

SITE = "residence-test"
ROOT = Path(__file__).resolve().parents[1]


def cfg(url: str, batch_size: int = 1000, **kw) -> InfluxDB:
    return InfluxDB(url=url, org=kw.pop("org", ""), bucket=kw.pop("bucket", "pvshare"),
                    batch_size=batch_size, **kw)


def expected_samples(rows) -> dict:
    """What VictoriaMetrics should hold for outbox rows: {(series name, labels, time_s):
    value}, parsed here independently of the forwarder."""
    out = {}
    for m, tags, ts, fields in rows:
        labels = [("site", SITE)] + [tuple(kv.split("=")) for kv in tags.split(",") if kv]
        for kv in fields.split(","):
            k, v = kv.split("=")
            out[(f"{m}_{k}", tuple(sorted(labels)), ts)] = float(v)
    return out


def pending(store) -> list:
    return store.outbox_batch(10 ** 9)[2]


def assert_exactly_once(vm, expected: dict) -> None:
    got = vm.samples()
    assert set(got) == set(expected), (
        f"missing {len(set(expected) - set(got))}, unexpected {len(set(got) - set(expected))}")
    doubles = {k: v for k, v in got.items() if len(v) != 1}
    assert not doubles, f"{len(doubles)} doubled samples, e.g. {next(iter(doubles.items()))}"
    bad = {k: (got[k][0], v) for k, v in expected.items() if not same(got[k][0], v)}
    assert not bad, f"{len(bad)} values differ, e.g. {next(iter(bad.items()))}"


def same(stored: float, sent: float) -> bool:
    """VictoriaMetrics keeps about 12 significant digits of a float."""
    return abs(stored - sent) <= 1e-11 * abs(sent) + 1e-9


def write_days(store, days, N=8, first=0) -> None:
    for d in range(first, first + days):
        store.write_allocation(*make_allocation(d, T=48, N=N, t0=T0 + 86400 * d), "prorata")


def test_delivers_every_point_once_with_original_timestamps(tmp_path, victoriametrics):
    with Store.open(tmp_path / "s.db") as store:
        write_days(store, 3)
        store.write_forecast(T0 + 1800 * np.arange(48), np.linspace(0, 9000, 48),
                             p10_w=np.linspace(0, 7000, 48), kind="dayahead")
        store.write_power(["inverter", "A01"], [T0 + 12.7, T0 + 13.2], [2500.0, 310.5])
        rows = pending(store)
        with Forwarder(store, cfg(victoriametrics.url, 500), SITE) as fw:
            n = fw.deliver()
        assert n == len(rows) and store.outbox_depth() == 0
        expected = expected_samples(rows)
        assert_exactly_once(victoriametrics, expected)
        # cross-check against the results in SQLite, not only the outbox
        a = store.allocation(0, 2**40)
        got = victoriametrics.samples()
        for j in (0, 5):
            for i in (0, 17, 100):
                key = ("pvshare_participant_allocated_wh",
                       (("participant", a.participant_ids[j]), ("site", SITE)),
                       int(a.step_starts_s[i]))
                assert len(got[key]) == 1 and same(got[key][0], a.allocated_wh[i, j])
        key = ("pvshare_step_production_wh", (("site", SITE),), int(a.step_starts_s[40]))
        assert len(got[key]) == 1 and same(got[key][0], a.production_wh[40])
        assert got[("pvshare_power_power_w", (("meter", "inverter"), ("site", SITE)),
                    T0 + 12)] == [2500.0]


def test_influxdb_18_style_settings(tmp_path, victoriametrics):
    # InfluxDB 1.8: no org, bucket "database/retention_policy", token "user:password"
    with Store.open(tmp_path / "s.db") as store:
        write_days(store, 1, N=3)
        rows = pending(store)
        c = cfg(victoriametrics.url, org="", bucket="pvshare/autogen", token="writer:secret")
        with Forwarder(store, c, SITE) as fw:
            assert fw.deliver() == len(rows)
        assert_exactly_once(victoriametrics, expected_samples(rows))


def test_server_down_while_points_are_written_then_back(tmp_path, victoriametrics, caplog):
    vm = victoriametrics
    store = Store.open(tmp_path / "s.db")
    now = [0.0]                            # the backoff's clock, moved by hand below
    fw = Forwarder(store, cfg(vm.url, 700), SITE, backoff_initial_s=0.05, backoff_max_s=0.2,
                   clock=lambda: now[0])
    write_days(store, 2)
    assert fw.deliver(max_batches=1) == 700  # part of it goes out, then the server dies
    vm.stop()
    caplog.set_level(logging.WARNING, logger="pvshare.store.forwarder")
    write_days(store, 2, first=2)  # written while the server is down
    depth = store.outbox_depth()
    assert fw.deliver() == 0 and fw.failures == 1
    assert store.outbox_depth() == depth  # nothing left the outbox
    assert fw.deliver() == 0 and fw.failures == 1  # in backoff: no new attempt yet
    assert "points stay queued" in caplog.text and "connection refused" in caplog.text
    now[0] += 0.06
    assert fw.deliver() == 0 and fw.failures == 2 and 0 < fw.backoff_s <= 0.1
    write_days(store, 1, first=4)
    vm.start()  # back, same port, same data
    now[0] += fw.backoff_s
    fw.deliver()
    assert store.outbox_depth() == 0 and fw.failures == 0
    # every result of the 5 days is on the server exactly once
    a = store.allocation(0, 2**40)
    expected = expected_samples(P.allocation_points(a.step_starts_s, a.participant_ids,
                                                    a.production_wh, a.consumption_wh,
                                                    a.allocated_wh, a.incomplete))
    assert len({k[2] for k in expected}) == 5 * 48
    assert_exactly_once(vm, expected)
    fw.close()
    store.close()


def test_token_is_never_logged(tmp_path, victoriametrics, caplog, monkeypatch):
    secret = "s3cret-T0KEN-do-not-print"
    monkeypatch.setenv("PVSHARE_INFLUX_TOKEN", secret)
    caplog.set_level(logging.DEBUG)
    with Store.open(tmp_path / "s.db") as store:
        write_days(store, 1, N=2)
        victoriametrics.stop()
        with Forwarder(store, cfg(victoriametrics.url), SITE, backoff_initial_s=0) as fw:
            assert fw.deliver() == 0
            assert fw.last_error and secret not in fw.last_error
            victoriametrics.start()
            assert fw.deliver() > 0
    assert caplog.records and secret not in caplog.text


# -- kill -9 in the middle of a batch -----------------------------------------------------
DAYS, N_KILL, BATCH = 12, 16, 400


def writer_main(db: str, url: str, days: int, batch: int, pause_s: float) -> None:
    """The writer process: store each day's results, and forward after each day. It prints
    "acked" (and pauses a little) between the server's acknowledgement of a batch and the
    removal of that batch from the outbox (the worst moment to be killed), and pauses there
    ``pause_s``."""
    def acked(n):
        print("acked", flush=True)
        time.sleep(pause_s)

    with Store.open(db) as store, Forwarder(store, cfg(url, batch), SITE, on_acked=acked,
                                            backoff_initial_s=0.05, backoff_max_s=0.2) as fw:
        for d in range(days):
            store.write_allocation(*make_allocation(d, T=48, N=N_KILL, t0=T0 + 86400 * d),
                                   "prorata")
            print("wrote", d, flush=True)
            while fw.deliver(max_batches=1):
                print("sent", flush=True)
        while store.outbox_depth():
            fw.deliver(wait=True)
    print("done", flush=True)


def _run_writer(db, url, kill_after: int | None, delay_s: float, on: str = "sent",
                pause_s: float = 0.01) -> str:
    """Run the writer; kill -9 it ``delay_s`` after its ``kill_after``-th line ``on``."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.test_influx", "writer", str(db), url,
                             str(DAYS), str(BATCH), str(pause_s)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    seen = 0
    try:
        for line in proc.stdout:
            if line.startswith(on):
                seen += 1
                if kill_after is not None and seen >= kill_after:
                    time.sleep(delay_s)
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return "killed"
            if line.startswith("done"):
                break
    finally:
        if proc.poll() is None:
            proc.wait(60)
    assert proc.returncode == 0
    return "done"


def test_writer_killed_mid_batch_loses_and_doubles_nothing(tmp_path, victoriametrics):
    db = tmp_path / "s.db"
    rng = np.random.default_rng(4)
    kills = 0
    # the worst moment: the server acknowledged a batch, the outbox still holds it
    kills += _run_writer(db, victoriametrics.url, 2, 0.05, on="acked", pause_s=1) == "killed"
    # anywhere: in the middle of a send, of a write, of an ack (a random delay after a batch)
    for k in (2, 3, 4):
        kills += _run_writer(db, victoriametrics.url, k, float(rng.uniform(0, 0.03))) == "killed"
    assert kills == 4
    assert _run_writer(db, victoriametrics.url, None, 0) == "done"

    per_day = [make_allocation(d, T=48, N=N_KILL, t0=T0 + 86400 * d) for d in range(DAYS)]
    with Store.open(db) as store:
        assert store.outbox_depth() == 0
        s = store.stats()["rows"]
        assert s["allocation_step"] == DAYS * 48 and s["allocation"] == DAYS * 48 * N_KILL
        a = store.allocation(0, 2**40)
    t = np.concatenate([x[0] for x in per_day])
    np.testing.assert_array_equal(a.step_starts_s, t)
    np.testing.assert_array_equal(a.consumption_wh, np.concatenate([x[3] for x in per_day]))
    np.testing.assert_array_equal(a.allocated_wh, np.concatenate([x[4] for x in per_day]))

    expected = {}
    for x in per_day:
        expected.update(expected_samples(P.allocation_points(x[0], x[1], x[2], x[3], x[4],
                                                             x[5])))
    got = victoriametrics.samples()
    assert set(got) == set(expected)  # nothing lost
    assert all(same(x, expected[k]) for k, v in got.items() for x in v)  # every copy is right
    # A batch acknowledged by the server just before the kill, but not yet removed from the
    # outbox, is sent again: InfluxDB overwrites the same series and timestamp, so it holds
    # exactly one value. At most one batch per kill may be re-sent.
    extra_points = {(k[0].split("_")[1], k[1], k[2]) for k, v in got.items() if len(v) > 1}
    assert 1 <= len(extra_points) <= kills * BATCH  # the batch acknowledged before a kill
    assert max(len(v) for v in got.values()) <= 2


if __name__ == "__main__" and len(sys.argv) == 7 and sys.argv[1] == "writer":
    writer_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))


def test_grafana_dashboard_uses_only_measurements_and_fields_we_send():
    import json
    import re
    dash = json.loads((ROOT / "config" / "grafana" / "pvshare.json").read_text())
    t, ids, p, c, a, inc = make_allocation(0, T=4, N=2)
    rows = (P.allocation_points(t, ids, p, c, a, inc) + P.power_points(["m"], [T0], [1.0])
            + P.forecast_points("intraday", t, p, p, p))
    sent = {(m, kv.split("=")[0]) for m, _, _, f in rows for kv in f.split(",")}
    tags = {(m, kv.split("=")[0]) for m, tg, _, _ in rows for kv in tg.split(",") if kv}
    queries = [tg["query"] for panel in dash["panels"] for tg in panel["targets"]]
    assert len(queries) >= 10
    for q in queries:
        m = re.search(r'FROM "(\w+)"', q).group(1)
        for field in re.findall(r'(?:sum|mean)\("(\w+)"\)', q):
            assert (m, field) in sent, (m, field, q)
        for tag in re.findall(r'GROUP BY [^;]*?"(\w+)"', q):
            assert (m, tag) in tags, (m, tag, q)


def test_grafana_dashboard_works_imported_and_provisioned():
    """A provisioned dashboard cannot resolve ``${DS_...}`` import inputs: every panel and
    variable uses the ``datasource`` template variable (type datasource, InfluxDB), which
    Grafana fills with the provisioned (or any) InfluxDB data source.
    """
    import json

    import yaml
    text = (ROOT / "config" / "grafana" / "pvshare.json").read_text()
    assert "${DS_" not in text and "__inputs" not in text
    dash = json.loads(text)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "influxdb"
    refs = [p["datasource"] for p in dash["panels"] if "datasource" in p]
    refs += [t["datasource"] for p in dash["panels"] for t in p.get("targets", [])
             if "datasource" in t]
    refs += [v["datasource"] for v in dash["templating"]["list"] if "datasource" in v]
    assert len(refs) >= len(dash["panels"])
    assert all(r == {"type": "influxdb", "uid": "${datasource}"} for r in refs), refs
    prov = ROOT / "config" / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "pvshare.yaml").read_text())
    assert ds["apiVersion"] == 1 and ds["datasources"][0]["type"] == "influxdb"
    assert "password" not in ds["datasources"][0]                 # secrets stay out
    boards = yaml.safe_load((prov / "dashboards" / "pvshare.yaml").read_text())
    assert boards["providers"][0]["type"] == "file"
    assert boards["providers"][0]["options"]["path"].startswith("/var/lib/grafana/")
