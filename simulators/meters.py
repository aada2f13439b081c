"""``pvshare simulate meters``: the building's Linky meters publishing to MQTT.

Each participant's Linky publishes its cumulative index (EAST, in Wh) every ``--interval``
wall-clock seconds, as a zigbee2mqtt ZLinky_TIC or a teleinfo2mqtt bridge would. The index
follows the tenants' consumption in the bundled sample year (:mod:`pvshare.data.sample`: one
real household resampled, not 48 real ones), interpolated at the simulated time of the shared
clock (``--start``, ``--speed``); a simulated time outside the sample year wraps around it,
each full year adding the year's consumption. The apparent power is the mean power of the
current step.

Faults, each a probability per message, drawn from ``--seed``: ``--drop`` (never sent),
``--garbage`` (bytes that are not JSON, a truncated payload, a non-numeric or negative index,
an implausible power, or an unknown topic), ``--duplicate`` (sent twice), ``--reorder`` (held
back and sent after the meter's next message); and ``--replace-meter ID@ISO``: at that time
the meter is replaced by a new one whose index starts again near zero.

The messages of a tick are computed for all meters at once (numpy) and formatted with
f-strings: 48 meters at one message per second cost well under 1 % of a core.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import typer

from pvshare_simulators.clock import parse_start

FORMATS = ("zlinky", "teleinfo2mqtt")
DEFAULT_TOPICS = {"zlinky": "zigbee2mqtt/linky-{participant}", "teleinfo2mqtt": "teleinfo/{adsc}"}
GARBAGE_KINDS = ("not_json", "truncated", "non_numeric", "negative_index", "implausible_power",
                 "unknown_topic")
_PARIS = ZoneInfo("Europe/Paris")


def default_config_path() -> Path:
    """The bundled example building: ``pvshare/data/example.toml`` when it is shipped in the
    package, else ``config/example.toml`` of the source checkout.
    """
    import pvshare.config  # a module's __file__ is always set (a package's may be None)
    pkg = Path(pvshare.config.__file__).resolve().parent
    for candidate in (pkg / "data" / "example.toml", pkg.parent / "config" / "example.toml",
                      Path(__file__).resolve().parent.parent / "config" / "example.toml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("the bundled example building (config/example.toml) was not "
                            "found: pass --config FILE")


def adsc_of(prm: str) -> str:
    """The simulated meter serial number (ADSC, 12 digits) of a PRM: ``0217`` + its last 8."""
    return "0217" + prm[-8:]


# -- the fleet: cumulative indices at any simulated time (pure) -------------------------------
@dataclass
class LinkyFleet:
    """Cumulative indices of N meters following a sample year of consumption.

    Parameters
    ----------
    year_start_s : float
        UTC Unix seconds of the sample year's first step start.
    step_s : int
        Step length, s.
    consumption_wh : numpy.ndarray
        (T, N) consumption per step and meter, Wh.
    initial_wh : numpy.ndarray
        (N,) index at ``year_start_s``, Wh.
    """

    year_start_s: float
    step_s: int
    consumption_wh: np.ndarray
    initial_wh: np.ndarray
    #: (meter index, UTC s, index right after the replacement in Wh)
    replacements: list[tuple[int, float, float]] = field(default_factory=list)

    def __post_init__(self):
        c = np.nan_to_num(np.asarray(self.consumption_wh, dtype=float), nan=0.0).clip(min=0)
        self.consumption_wh = c
        self._cum_wh = np.vstack([np.zeros((1, c.shape[1])), np.cumsum(c, axis=0)])
        self._year_s = c.shape[0] * self.step_s
        self._year_wh = self._cum_wh[-1]

    @property
    def n(self) -> int:
        return self.consumption_wh.shape[1]

    def _raw_wh(self, t_s: float) -> np.ndarray:
        years, r = divmod(t_s - self.year_start_s, self._year_s)
        pos = r / self.step_s
        k = min(int(pos), self.consumption_wh.shape[0] - 1)
        f = pos - k
        cum = self._cum_wh[k] + f * (self._cum_wh[k + 1] - self._cum_wh[k])
        return self.initial_wh + years * self._year_wh + cum

    def index_wh(self, t_s: float) -> np.ndarray:
        """(N,) cumulative index at ``t_s`` (UTC s), whole Wh as a meter shows it."""
        raw = self._raw_wh(t_s)
        for i, t_rep, start_wh in self.replacements:
            if t_s >= t_rep:
                raw[i] = start_wh + raw[i] - self._raw_wh(t_rep)[i]
        return np.floor(np.maximum(raw, 0.0))

    def power_w(self, t_s: float) -> np.ndarray:
        """(N,) mean power of the step holding ``t_s``, W."""
        r = (t_s - self.year_start_s) % self._year_s
        k = min(int(r / self.step_s), self.consumption_wh.shape[0] - 1)
        return self.consumption_wh[k] * (3600.0 / self.step_s)


def fleet_from_sample_year(participants, seed: int = 0, sample=None) -> LinkyFleet:
    """A fleet for the config's participants: each follows the sample-year column of the same
    id (else the columns in turn); initial indices drawn from ``seed`` (5 to 30 MWh).
    """
    if sample is None:
        from pvshare.data.sample import load_sample_year
        sample = load_sample_year()
    cols = {pid: i for i, pid in enumerate(sample.participants)}
    idx = [cols.get(p.id, i % len(sample.participants)) for i, p in enumerate(participants)]
    rng = np.random.default_rng([seed, 1])
    return LinkyFleet(
        year_start_s=float(sample.times[0].astype("datetime64[s]").astype(np.int64)),
        step_s=sample.step_s,
        consumption_wh=sample.consumption_wh[:, idx],
        initial_wh=np.round(rng.uniform(5e6, 3e7, len(idx))),
    )


# -- payloads ------------------------------------------------------------------------------------
def _iso_ms(t_s: float) -> str:
    return dt.datetime.fromtimestamp(t_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int(t_s * 1000) % 1000:03d}Z"


def zlinky_payloads(t_s: float, index_wh, power_w, prms, adscs) -> list[bytes]:
    """ZLinky_TIC states as zigbee2mqtt publishes them (kWh_precision 3, last_seen ISO)."""
    seen = _iso_ms(t_s)
    return [(f'{{"apparent_power":{round(p)},"current_summ_delivered":{e / 1000:.3f},'
             f'"current_summ_received":0,"current_tarif":"BASE",'
             f'"current_tier1_summ_delivered":{e / 1000:.3f},"linkquality":{120 + i % 60},'
             f'"meter_serial_number":"{a}","site_id":"{prm}","last_seen":"{seen}"}}').encode()
            for i, (e, p, prm, a) in enumerate(zip(index_wh.tolist(), power_w.tolist(), prms,
                                                   adscs))]


def teleinfo_payloads(t_s: float, index_wh, power_w, prms, adscs) -> list[bytes]:
    """Standard-mode frames as teleinfo2mqtt publishes them (``raw`` and ``value``).

    Its DATE is the meter's **local** horodate (whole seconds) written with a ``Z`` as if it
    were UTC, and ``dst`` the season (teleinfo2mqtt app/teleinfo/TicMode.js, Date.UTC).
    """
    local = dt.datetime.fromtimestamp(int(t_s), _PARIS)
    date = local.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    dst = "summer" if local.dst() else "winter"
    out = []
    for e, p, prm, a in zip(index_wh.tolist(), power_w.tolist(), prms, adscs):
        e, p = int(e), round(p)
        out.append((
            f'{{"ADSC":{{"raw":"{a}","value":{int(a)}}},"VTIC":{{"raw":"02","value":2}},'
            f'"DATE":{{"raw":"","value":"","timestamp":{{"date":"{date}","dst":"{dst}"}}}},'
            f'"NGTF":{{"raw":"      BASE      ","value":"BASE"}},'
            f'"EAST":{{"raw":"{e:09d}","value":{e}}},"EASF01":{{"raw":"{e:09d}","value":{e}}},'
            f'"EAIT":{{"raw":"000000000","value":0}},'
            f'"SINSTS":{{"raw":"{p:05d}","value":{p}}},'
            f'"PRM":{{"raw":"{prm}","value":{int(prm)}}}}}').encode())
    return out


PAYLOADS = {"zlinky": zlinky_payloads, "teleinfo2mqtt": teleinfo_payloads}


def _garbage(kind: str, fmt: str, payload: bytes, rng: np.random.Generator) -> bytes:
    if kind == "not_json":
        return rng.bytes(int(rng.integers(1, 64)))
    if kind == "truncated":
        return payload[: len(payload) // 2]
    obj = json.loads(payload)
    key = "current_summ_delivered" if fmt == "zlinky" else "EAST"
    pkey = "apparent_power" if fmt == "zlinky" else "SINSTS"
    if kind == "non_numeric":
        obj[key] = "n/a" if fmt == "zlinky" else {"raw": "0A12B4567", "value": "0A12B4567"}
    elif kind == "negative_index":
        obj[key] = -12.5 if fmt == "zlinky" else {"raw": "-00012345", "value": -12345}
    elif kind == "implausible_power":
        obj[pkey] = 250000 if fmt == "zlinky" else {"raw": "250000", "value": 250000}
    return json.dumps(obj).encode()


# -- faults --------------------------------------------------------------------------------------
@dataclass
class Faults:
    """Probabilities per message (0..1) of each fault."""

    drop: float = 0.0
    garbage: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0

    def __post_init__(self):
        for name in ("drop", "garbage", "duplicate", "reorder"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"--{name} must be a probability between 0 and 1, got {v}")


class FaultInjector:
    """Turns one tick's messages (one per meter) into what is actually published."""

    def __init__(self, faults: Faults, fmt: str, seed: int, unknown_topic: str):
        self.f = faults
        self.fmt = fmt
        self.rng = np.random.default_rng([seed, 2])
        self.unknown_topic = unknown_topic
        self.held: dict[int, tuple[str, bytes]] = {}
        self.stats: Counter = Counter()

    def apply(self, messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        f, n = self.f, len(messages)
        if not (f.drop or f.garbage or f.duplicate or f.reorder or self.held):
            return messages
        u = self.rng.random((n, 4))
        out = []
        for i, (topic, payload) in enumerate(messages):
            late = self.held.pop(i, None)  # held back at an earlier tick
            if u[i, 0] < f.drop:
                self.stats["dropped"] += 1
            else:
                if u[i, 1] < f.garbage:
                    kind = GARBAGE_KINDS[int(self.rng.integers(len(GARBAGE_KINDS)))]
                    self.stats[f"garbage.{kind}"] += 1
                    if kind == "unknown_topic":  # and a PRM of no participant
                        topic = self.unknown_topic
                        payload = payload.replace(b'"PRM":{"raw":"', b'"PRM":{"raw":"9') \
                            .replace(b'"site_id":"', b'"site_id":"9')
                    else:
                        payload = _garbage(kind, self.fmt, payload, self.rng)
                if u[i, 3] < f.reorder and late is None:
                    self.held[i] = (topic, payload)  # sent after this meter's next message
                    self.stats["reordered"] += 1
                else:
                    out.append((topic, payload))
                    if u[i, 2] < f.duplicate:
                        out.append((topic, payload))
                        self.stats["duplicated"] += 1
            if late is not None:
                out.append(late)
        return out

    def flush(self) -> list[tuple[str, bytes]]:
        out = list(self.held.values())
        self.held.clear()
        return out


# -- the running simulator ------------------------------------------------------------------------
class MeterSimulator:
    """N Linky meters publishing to one broker on a simulated clock.

    Parameters
    ----------
    config : pvshare.config.Config
        The building: its participants (and ``[mqtt]`` user name/password, if any).
    host, port : str, int
        The broker.
    fmt : {"zlinky", "teleinfo2mqtt"}
    topic : str, optional
        Topic pattern with ``{participant}``, ``{prm}`` or ``{adsc}``.
    interval_s : float
        Wall-clock seconds between two messages of one meter.
    start_s : float, optional
        Simulated UTC Unix time of the first tick (default: now).
    speed : float
        Simulated seconds per wall-clock second.
    clock : SimClock, optional
        A shared simulated clock (``pvshare simulate building``): tick ``k`` goes out when the
        clock reaches its simulated time, and while the clock waits for its origin file the
        first tick is published again every ``interval_s`` (a subscriber that comes later
        still gets a reading before simulated time runs).
    """

    def __init__(self, config, host: str = "127.0.0.1", port: int = 1883, fmt: str = "zlinky",
                 topic: str | None = None, interval_s: float = 1.0,
                 start_s: float | None = None, speed: float = 1.0, seed: int = 0,
                 faults: Faults | None = None, replacements: list[tuple[str, float]] = (),
                 n_meters: int | None = None, qos: int = 1, sample=None,
                 client_id: str | None = None, clock=None):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if interval_s <= 0 or speed <= 0:
            raise ValueError("interval and speed must be > 0")
        participants = list(config.participants)[:n_meters]
        self.participants = participants
        self.ids = [p.id for p in participants]
        self.prms = [p.prm for p in participants]
        self.adscs = [adsc_of(p.prm) for p in participants]
        self.fmt = fmt
        pattern = topic or DEFAULT_TOPICS[fmt]
        self.topics = [pattern.replace("{participant}", p.id).replace("{prm}", p.prm)
                       .replace("{adsc}", a).replace("{meter}", p.meter or p.id)
                       for p, a in zip(participants, self.adscs)]
        unknown = pattern.replace("{participant}", "UNKNOWN").replace("{prm}", "0" * 14) \
            .replace("{adsc}", "0" * 12).replace("{meter}", "UNKNOWN")
        self.fleet = fleet_from_sample_year(participants, seed, sample)
        for pid, t_rep in replacements:
            if pid not in self.ids:
                raise ValueError(f"--replace-meter: unknown participant {pid!r}")
            rng = np.random.default_rng([seed, 3, self.ids.index(pid)])
            self.fleet.replacements.append((self.ids.index(pid), float(t_rep),
                                            float(rng.integers(0, 50))))
        self.faults = FaultInjector(faults or Faults(), fmt, seed, unknown)
        self.host, self.port, self.qos = host, int(port), qos
        self.interval_s, self.speed = float(interval_s), float(speed)
        self.start_s = time.time() if start_s is None else float(start_s)
        self.stats: Counter = Counter()
        self._pending: list = []
        self.ticks = 0
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"pvshare-sim-meters-{id(self):x}",
                                  protocol=mqtt.MQTTv311, clean_session=True)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        mq = getattr(config, "mqtt", None)
        if mq is not None and mq.username:
            self.client.username_pw_set(mq.username, mq.password.get_secret_value()
                                        if mq.password else None)

    def sim_time(self, tick: int) -> float:
        """Simulated UTC time of a tick, s (fixed by the tick number: reproducible)."""
        return self.start_s + tick * self.interval_s * self.speed

    def messages(self, t_s: float) -> list[tuple[str, bytes]]:
        """The messages of all meters at simulated time ``t_s``, before faults."""
        payloads = PAYLOADS[self.fmt](t_s, self.fleet.index_wh(t_s), self.fleet.power_w(t_s),
                                      self.prms, self.adscs)
        return list(zip(self.topics, payloads))

    def connect(self, timeout_s: float = 10.0) -> None:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        deadline = time.monotonic() + timeout_s
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise ConnectionError(f"no answer from the MQTT broker {self.host}:{self.port}")
            time.sleep(0.01)

    def publish(self, messages) -> None:
        self._pending = [self.client.publish(topic, payload, qos=self.qos)
                         for topic, payload in messages] or self._pending
        self.stats["published"] += len(messages)

    def run(self, count: int | None = None,
            on_tick: Callable[[int, float], None] | None = None) -> Counter:
        """Publish a tick every ``interval_s`` until ``count`` ticks (None: until stopped)."""
        t0 = time.monotonic()
        while not self._stop.is_set() and (count is None or self.ticks < count):
            t_s = self.sim_time(self.ticks)
            if self.clock is not None:
                if self.clock.waiting:                 # the clock stands at its start
                    self.publish(self.faults.apply(self.messages(self.sim_time(0))))
                    self._stop.wait(self.interval_s)
                    continue
                ahead_s = t_s - self.clock.now()
                if ahead_s > 0:
                    self._stop.wait(ahead_s / self.speed)
                    continue
            self.publish(self.faults.apply(self.messages(t_s)))
            self.ticks += 1
            if on_tick:
                on_tick(self.ticks, t_s)
            if count is not None and self.ticks >= count:
                break
            delay = t0 + self.ticks * self.interval_s - time.monotonic()
            if delay > 0 and self.clock is None:
                self._stop.wait(delay)
        self.publish(self.faults.flush())
        self.stats.update(self.faults.stats)
        return self.stats

    def close(self, timeout_s: float = 10.0) -> None:
        """Wait until the last tick's messages are acknowledged (QoS > 0), then disconnect."""
        deadline = time.monotonic() + timeout_s
        for info in self._pending:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):  # not queued, or the timeout ran out
                break
        self.client.disconnect()
        self.client.loop_stop()

    # thread interface for `pvshare simulate building`
    def start(self) -> None:
        self.connect()
        self._thread = threading.Thread(target=self.run, name="meter-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        self.close()


# -- CLI -----------------------------------------------------------------------------------------
def _broker(value: str | None, config) -> tuple[str, int]:
    if value is None:
        mq = config.mqtt
        return (mq.host, mq.port) if mq else ("localhost", 1883)
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, 1883
    if not port.isdigit():
        raise typer.BadParameter(f"expected host:port, got {value!r}", param_hint="--broker")
    return host or "localhost", int(port)


def _replacement(value: str) -> tuple[str, float]:
    pid, sep, when = value.partition("@")
    if not sep or not pid:
        raise typer.BadParameter(f"expected ID@ISO-TIME, got {value!r}",
                                 param_hint="--replace-meter")
    try:
        return pid, parse_start(when)
    except ValueError:
        raise typer.BadParameter(f"bad time {when!r} in {value!r}",
                                 param_hint="--replace-meter") from None


def cli_meters(
    config: Path | None = typer.Option(None, "--config", "-c", help="site config (default: the "
                                          "bundled example building)"),
    broker: str | None = typer.Option(None, "--broker", help="host:port (default: the "
                                         "config's mqtt section, else localhost:1883)"),
    fmt: str = typer.Option("zlinky", "--format", help="zlinky | teleinfo2mqtt"),
    topic: str | None = typer.Option(None, "--topic", help="topic pattern (default "
                                        "zigbee2mqtt/linky-{participant} or teleinfo/{adsc})"),
    interval: float = typer.Option(1.0, "--interval", help="seconds (wall clock) between two "
                                   "messages of a meter"),
    start: str | None = typer.Option(None, "--start", help="simulated start, ISO 8601 "
                                        "(no offset = UTC; default: now)"),
    speed: float = typer.Option(1.0, "--speed", help="simulated seconds per second"),
    count: int = typer.Option(0, "--count", help="stop after this many ticks (0: run until "
                              "Ctrl-C)"),
    meters: int | None = typer.Option(None, "--meters", help="only the first N participants"),
    seed: int = typer.Option(0, "--seed", help="random seed of the initial indices and faults"),
    drop: float = typer.Option(0.0, "--drop", help="probability that a message is lost"),
    garbage: float = typer.Option(0.0, "--garbage", help="probability that a message is garbage"),
    duplicate: float = typer.Option(0.0, "--duplicate", help="probability of a duplicate"),
    reorder: float = typer.Option(0.0, "--reorder", help="probability of a late message"),
    replace_meter: list[str] = typer.Option([], "--replace-meter", help="ID@ISO: the meter is "
                                            "replaced at that time (index restarts near 0)"),
    qos: int = typer.Option(1, "--qos", min=0, max=2),
) -> None:
    """N Linky meters (default: every participant of the config) publishing their index."""
    from pvshare.config import load_config

    if fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    cfg = load_config(config or default_config_path())
    host, port = _broker(broker, cfg)
    try:
        sim = MeterSimulator(
            cfg, host, port, fmt, topic, interval, parse_start(start), speed, seed,
            Faults(drop, garbage, duplicate, reorder), [_replacement(r) for r in replace_meter],
            meters, qos)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        sim.connect()
    except (OSError, ConnectionError) as exc:
        typer.echo(f"error: cannot reach the MQTT broker {host}:{port}: {exc}", err=True)
        raise typer.Exit(2) from None
    n = len(sim.ids)
    typer.echo(f"publishing {n} Linky meters ({fmt}) to {host}:{port} every {interval:g} s, "
               f"simulated time from {_iso_ms(sim.start_s)[:19]}Z at x{speed:g}; "
               f"topics like {sim.topics[0]}", err=True)
    last = [time.monotonic()]

    def status(tick: int, t_s: float) -> None:
        if time.monotonic() - last[0] >= 10 or (count and tick == count):
            last[0] = time.monotonic()
            typer.echo(f"{_iso_ms(t_s)[:19]}Z tick {tick}: {sim.stats['published']} messages",
                       err=True)

    try:
        stats = sim.run(count or None, on_tick=status)
    except KeyboardInterrupt:
        stats = sim.stats
    finally:
        sim.close()
    typer.echo(json.dumps({"ticks": sim.ticks, **dict(sorted(stats.items()))}))
    sys.stdout.flush()
