"""The ``tic`` meter type over a real pseudo-terminal, fed by the TIC simulator."""

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pvshare.config import MeterSection
from pvshare.meters import registry
from pvshare.meters.base import Meter, Quality
from pvshare.meters.tic import horodate_to_utc_s
from pvshare.meters.tic_serial import TicMeter, TicOptions, TicReader
from pvshare_simulators.clock import SimClock
from pvshare_simulators.tic import TicSimulator, open_pty, replay

CAPTURE = Path(__file__).parent / "fixtures" / "tic" / "standard_mode_capture_2025-03-07.log"
T0 = 1_741_351_429.0  # 2025-03-07T12:43:49Z


@pytest.fixture
def pty():
    master, slave, path = open_pty()
    yield master, path
    os.close(master)
    os.close(slave)


def poll(meter, until, timeout_s=60.0):
    out, t0 = [], time.monotonic()
    while not until(out) and time.monotonic() - t0 < timeout_s:
        out += meter.read(time.time())
        time.sleep(0.005)
    return out


def count_bytes_read(meter) -> list[int]:
    """The sizes of what ``meter`` reads from its (open) serial port from now on."""
    port, sizes = meter._serial, []
    read = port.read

    def counted(n):
        data = read(n)
        sizes.append(len(data))
        return data
    port.read = counted
    return sizes


def test_real_capture_through_a_pseudo_terminal(pty):
    master, path = pty
    meter = TicMeter("A01", path, mode="standard")
    assert isinstance(meter, Meter)
    assert meter.read(time.time()) == []  # opens the port; nothing sent yet
    consumed = count_bytes_read(meter)
    writer = threading.Thread(target=replay, args=(master, CAPTURE.read_bytes(), 0))
    writer.start()
    # until the meter has read every byte of the capture (its tail is an unfinished frame)
    readings = poll(meter, lambda out: sum(consumed) >= len(CAPTURE.read_bytes()))
    writer.join()
    meter.close()
    c = meter.counters
    assert (c["frames"], c["groups"], c["rejected"]) == (9, 429, 4)
    assert meter.reader.decoder.finish() == [] and meter.counters["incomplete"] == 1
    assert len(readings) == 9
    assert {r.meter_id for r in readings} == {"A01"}
    assert meter.reader.last_meter_serial == "041876543210"
    # DATE groups of the capture, H = UTC+1: 13:43:49 .. 13:43:58 local
    assert readings[0].time_s == T0 and readings[-1].time_s == T0 + 9
    eait = [int(x) for x in re.findall(rb"\nEAIT\t(\d{9})\t.\r", CAPTURE.read_bytes())]
    assert [r.export_wh for r in readings] == eait[:9]
    assert all(r.import_wh == 80490250 for r in readings)
    assert readings[0].power_w == -1675  # injecting: SINSTS 0, SINSTI 1675 VA


def test_simulated_standard_meter_on_the_shared_clock(pty):
    master, path = pty
    clock = SimClock(T0, speed=600)
    sim = TicSimulator(clock, index_wh=lambda t: 1_000_000 + (t - T0) * 0.5,
                       power_va=lambda t: 1800.0, adsc="021712345678", prm="25460000000001")
    meter = TicMeter("A01", path, mode="auto")
    meter.read(time.time())
    writer = threading.Thread(target=sim.run, args=(master, 6), kwargs={"pace": True})
    t_start = clock.now()
    writer.start()
    readings = poll(meter, lambda out: len(out) >= 6)
    writer.join()
    meter.close()
    assert len(readings) == 6 and meter.counters["rejected"] == 0
    times = [r.time_s for r in readings]
    assert times == sorted(times) and times[0] >= int(t_start)
    # paced at the line rate: a frame takes len * 10 bits / 9600 baud of real time
    assert times[1] - times[0] >= int(len(sim.frame(T0)) * 10 / 9600 * 600 * 0.9)
    for r in readings:  # the index is the simulator's at the frame's DATE (whole seconds)
        assert r.import_wh == pytest.approx(1_000_000 + (r.time_s - T0) * 0.5, abs=1.0)
        assert r.power_w == 1800 and r.quality == Quality.GOOD


def test_simulated_historique_meter_and_corrupted_line(pty):
    master, path = pty
    sim = TicSimulator(SimClock(T0, 1.0), lambda t: 123456, lambda t: 450, adsc="021528603314",
                       mode="historique", corrupt=0.3, seed=7)
    meter = TicMeter("B02", path, mode="historique")
    meter.read(time.time())
    writer = threading.Thread(target=sim.run, args=(master, 40), kwargs={"pace": False})
    writer.start()
    readings = poll(meter, lambda out: meter.counters["frames"] + meter.counters["incomplete"] >= 39)
    writer.join()
    time.sleep(0.1)
    readings += meter.read(time.time())
    meter.close()
    c = meter.counters
    assert c["rejected"] > 0 and c["frames"] > 0  # the corrupted groups went, the frames stayed
    for r in readings:  # never a wrong value from a corrupted frame
        assert r.meter_id == "B02" and r.import_wh in (123456, None)
        assert r.power_w in (450, None)


def test_missing_port_is_retried_with_backoff(tmp_path):
    link = tmp_path / "ttyTIC"
    meter = TicMeter("A01", str(link), mode="standard", reconnect_max_s=4)
    now = 1000.0
    assert meter.read(now) == [] and meter.errors["cannot open " + str(link)] == 1
    assert meter.read(now + 0.5) == []          # within the backoff: not even tried
    assert sum(meter.errors.values()) == 1
    master, slave, path = open_pty(link)
    try:
        assert meter.read(now + 1.5) == []      # retried, opened
        os.write(master, (CAPTURE.read_bytes()[:2300]))
        readings, deadline = [], time.monotonic() + 60
        while len(readings) < 2 and time.monotonic() < deadline:   # the pty passes it on
            readings += meter.read(now + 2)
            time.sleep(0.005)
        assert len(readings) == 2 and readings[0].import_wh == 80490250
    finally:
        meter.close()
        os.close(master)
        os.close(slave)


def test_implausible_power_is_rejected_and_counted():
    from pvshare_simulators.tic_encode import encode_frame
    reader = TicReader("A01", max_power_va=12_000)
    frame = encode_frame([("ADSC", "041876543210"), ("EAST", "000001000"),
                          ("SINSTS", "99999")])
    assert reader.feed(frame, 0.0) == []
    assert sum(reader.rejected.values()) == 1
    frame = encode_frame([("ADSC", "041876543210"), ("VTIC", "02")])
    assert reader.feed(frame, 0.0) == [] and reader.rejected["no index or power in frame"] == 1


def test_registry_builds_a_tic_meter_and_checks_its_options():
    ok = MeterSection(id="A01", type="tic", port="/dev/ttyUSB0", mode="historique")
    assert registry.validate_meter_options(ok, "meters[0]") == []
    meter = registry.create(ok, None)
    assert isinstance(meter, TicMeter) and meter.baudrate == 1200 and meter.id == "A01"
    bad = MeterSection(id="A01", type="tic", mode="fast", speed=3)
    problems = registry.validate_meter_options(bad, "meters[2]")
    text = "\n".join(problems)
    assert "meters[2].port" in text and "meters[2].mode" in text and "meters[2].speed" in text
    assert TicOptions(port="x").mode == "standard"


def test_simulate_tic_command_feeds_a_reader(tmp_path):
    link = tmp_path / "ttyTIC"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pvshare.cli", "simulate", "tic", "--link", str(link),
         "--frames", "5", "--start", "2025-03-07T12:00:00", "--speed", "60",
         "--participant", "A02"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode()
        assert "TIC standard (9600 baud) of A02" in line and str(link) in line
        meter = TicMeter("A02", str(link))
        readings = poll(meter, lambda out: len(out) >= 2)
        meter.close()
        assert len(readings) >= 2
        t_first = readings[0].time_s
        assert 1741348800 <= t_first < 1741348800 + 600
        assert readings[1].import_wh >= readings[0].import_wh > 0
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.wait()
    assert not link.exists()  # the simulator removes its symlink


def test_degraded_clock_flag_reaches_the_readings(pty):
    master, path = pty
    sim = TicSimulator(SimClock(T0, 1.0), lambda t: 5000, lambda t: 100, degraded_clock=True)
    meter = TicMeter("A01", path)
    meter.read(time.time())
    os.write(master, sim.frame(T0))
    (r,) = poll(meter, lambda out: out)
    meter.close()
    assert r.quality == Quality.DEGRADED and r.time_s == T0
    assert horodate_to_utc_s("h250307134349") == (T0, True)
