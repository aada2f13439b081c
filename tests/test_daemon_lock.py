"""One daemon per store: a second ``pvshare run`` on the same store exits at once with code
2 naming the running one's pid; two daemons on two stores get different MQTT client ids; a
SIGTERM at any moment of the start-up stops the daemon cleanly."""

from __future__ import annotations

import subprocess
import time

from pvshare.config import load_config
from tests import daemon_support as ds


def test_second_daemon_on_the_same_store_exits_2_naming_the_first(mosquitto, tmp_path):
    path = ds.write_config(tmp_path, broker_port=mosquitto.port, inverter_port=ds.free_port(),
                           participants=2, poll_interval_s=3600, flush_interval_s=3600)
    ds.init_store(path)
    first = ds.Proc(ds.pvshare_cmd("run", "--config", path, "--no-forecast"),
                    tmp_path / "first.log")
    try:
        ds.wait_for(lambda: "started:" in first.log(), 60, what="the first daemon")
        t0 = time.monotonic()
        second = subprocess.run(ds.pvshare_cmd("run", "--config", path, "--no-forecast"),
                                capture_output=True, text=True, timeout=60, env=ds._env())
        took = time.monotonic() - t0
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert took < 30
        assert first.alive()
        lock = (tmp_path / "pvshare.db.lock")
        assert lock.stat().st_mode & 0o777 == 0o600
        assert first.terminate() == 0
        # the store, its side files, the lock and the status file: private
        for name in ("pvshare.db", "pvshare.db.lock", "pvshare.db.status.json"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    finally:
        first.kill()
    # the lock went with the first daemon: a new one starts
    third = ds.Proc(ds.pvshare_cmd("run", "--config", path, "--no-forecast"),
                    tmp_path / "third.log")
    try:
        ds.wait_for(lambda: "started:" in third.log(), 60, what="the third daemon")
        assert third.terminate() == 0
    finally:
        third.kill()


def test_sigterm_at_any_moment_of_the_start_up_stops_the_daemon(mosquitto, tmp_path):
    """A signal that lands while the scheduler starts used to be lost (the handler saw a
    scheduler not yet running, the scheduler then ran for ever: CI, under load). Four
    daemons on four stores, signalled at four moments after ``started:``: each exits 0,
    having flushed and released its lock.
    """
    delays = (0.0, 0.02, 0.1, 0.4)
    procs = []
    try:
        for i, _ in enumerate(delays):
            path = ds.write_config(tmp_path / f"d{i}", broker_port=mosquitto.port,
                                   inverter_port=ds.free_port(), participants=2,
                                   client_id=f"pvshare-sigterm-{i}", poll_interval_s=3600, flush_interval_s=3600)
            ds.init_store(path)
            procs.append(ds.Proc(ds.pvshare_cmd("run", "--config", path, "--no-forecast"),
                                 tmp_path / f"d{i}.log"))
        for proc, delay in zip(procs, delays, strict=True):
            ds.wait_for(lambda p=proc: "started:" in p.log(), 90, every_s=0.002,
                        what="a daemon to start")
            time.sleep(delay)
            assert proc.terminate() == 0, proc.log()
            assert "INFO pvshare.live.daemon: stopped" in proc.log()
            assert "Traceback" not in proc.log()
        for i, _ in enumerate(delays):
            assert _lock_free(tmp_path / f"d{i}" / "pvshare.db.lock")
    finally:
        for proc in procs:
            proc.kill()


def _lock_free(path) -> bool:
    import fcntl
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def test_mqtt_client_id_is_unique_per_store_unless_set(tmp_path):
    a = ds.write_config(tmp_path / "a", broker_port=1883, inverter_port=1502, client_id="x")
    b = ds.write_config(tmp_path / "b", broker_port=1883, inverter_port=1502, client_id="x")
    for p in (a, b):            # without client_id in the file
        p.write_text(p.read_text().replace('client_id = "x"\n', ""))
    ida, idb = load_config(a).mqtt.client_id, load_config(b).mqtt.client_id
    assert ida != idb and ida.startswith("pvshare-") and idb.startswith("pvshare-")
    assert load_config(a).mqtt.client_id == ida            # stable across loads
    c = ds.write_config(tmp_path / "c", broker_port=1883, inverter_port=1502,
                        client_id="mine")
    assert load_config(c).mqtt.client_id == "mine"
