"""``pvshare simulate inverter``: a SunSpec inverter on Modbus TCP (a pymodbus server).

The map: "SunS" at the base address (40000 by default; 0 or 50000 with ``--base``), model 1
(common: manufacturer "pvshare", model "SimInverter", the serial, the unit id), model 103
(three-phase inverter, integers with scale factors), then the end marker 0xFFFF.

Physics: the AC power ``W`` is the pvlib model of the configured array
(:func:`pvshare.forecast.model.ac_power_w`) driven by the bundled weather (the PVGIS typical
year, with the 1-min variability of the measured BSRN June) at the simulated time of the
shared :class:`~simulators.clock.SimClock`. A day's power curve (one value a minute) is
computed once, so a request costs an interpolation. The lifetime energy ``WH`` (acc32, Wh)
accumulates ∫P dt over simulated time. ``St`` is MPPT while producing, THROTTLED at the AC
limit, SLEEPING while the sun is down.

Faults (each a flag, and each can be switched at run time on :class:`Faults`):

- ``night_sleep``: the inverter sleeps at night like a real one: the listening socket is
  closed from sunset to sunrise (clients get "connection refused"), reopened in the morning.
- ``slow_reply_s``: every reply is delayed by that many real seconds.
- ``sf_change``: the scale factors of W, WH and A change at every read of model 103
  (alternating 10^0 and 10^1): a client that caches scale factors reads values 10x off.
- ``unreachable``: the port is closed (connection refused) while it is set; the counter
  runs on (``pvshare simulate building`` toggles it on SIGUSR1).

Every request is counted by function code; write requests (functions 5, 6, 15, 16, 22, 23)
are refused with exception 1 and counted in :attr:`SimStats.writes`, so tests can check
that a reader never writes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import typer

from pvshare.meters import sunspec_models as sm

log = logging.getLogger(__name__)

DEFAULT_PORT = 5020
DAY_S = 86400
MINUTE_S = 60
WRITE_FUNCTIONS = frozenset({5, 6, 15, 16, 22, 23})
#: Apparent solar elevation (degrees) below which a sleeping inverter closes its port.
NIGHT_ELEVATION_DEG = 0.0
MODEL_103 = sm.MODELS[103]


def default_config_path() -> Path:
    """The bundled example building (``config/example.toml``)."""
    return Path(__file__).resolve().parent.parent / "config" / "example.toml"


# --- the sun: one day's power curve at a time -------------------------------------------
@dataclass(frozen=True)
class DayCurve:
    """One UTC day on a 1-min grid (1441 points, both midnights included).

    Attributes
    ----------
    start_s : float
        Unix time of the day's 00:00 UTC.
    power_w : numpy.ndarray
        AC power, W.
    energy_wh : numpy.ndarray
        ∫P dt from the day's start, Wh (trapezoids).
    up : numpy.ndarray of bool
        Whether the sun is up (the inverter is awake).
    """

    start_s: float
    power_w: np.ndarray
    energy_wh: np.ndarray
    up: np.ndarray

    @classmethod
    def from_power(cls, start_s: float, power_w: np.ndarray, up: np.ndarray) -> DayCurve:
        p = np.nan_to_num(np.asarray(power_w, dtype=float), nan=0.0)
        e = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) * (MINUTE_S / 2 / 3600))])
        return cls(float(start_s), p, e, np.asarray(up, dtype=bool))

    def _x(self, t_s: float) -> float:
        return (t_s - self.start_s) / MINUTE_S

    def power_at(self, t_s: float) -> float:
        x = self._x(t_s)
        i = min(int(x), len(self.power_w) - 2)
        f = x - i
        return float(self.power_w[i] * (1 - f) + self.power_w[i + 1] * f)

    def energy_at(self, t_s: float) -> float:
        """∫P dt from the day's start to ``t_s`` (exact for the piecewise-linear power)."""
        x = self._x(t_s)
        i = min(int(x), len(self.power_w) - 2)
        f = x - i
        p0, p1 = self.power_w[i], self.power_w[i + 1]
        return float(self.energy_wh[i] + (p0 * f + (p1 - p0) * f * f / 2) * MINUTE_S / 3600)

    def is_up(self, t_s: float) -> bool:
        return bool(self.up[min(int(round(self._x(t_s))), len(self.up) - 1)])


def model_day(cfg) -> Callable[[float], DayCurve]:
    """A function giving the :class:`DayCurve` of the UTC day starting at ``start_s``.

    The bundled PVGIS typical year is put on the day's calendar year
    (:func:`pvshare.data.bundled.tmy_for_year`), moved to the site and to 1-min resolution through
    clear-sky indices (:func:`pvshare.forecast.model.interpolate_weather`), given the
    minute-by-minute cloud variability of a real BSRN June day
    (:func:`pvshare.data.bundled.variability_at`), then turned into AC power by the pvlib model
    of ``cfg``'s array (:func:`pvshare.forecast.model.ac_power_w`).
    """
    import pandas as pd

    from pvshare.data import bundled as weather
    from pvshare.forecast import model

    tmy = weather.read_tmy()
    source = (tmy.attrs["latitude"], tmy.attrs["longitude"], tmy.attrs["elevation_m"])
    factor = weather.read_bsrn_variability()
    years: dict[int, pd.DataFrame] = {}

    def samples_around(t0: pd.Timestamp) -> pd.DataFrame:
        parts = []
        for y in sorted({(t0 - pd.Timedelta(days=1)).year, (t0 + pd.Timedelta(days=2)).year}):
            if y not in years:
                hourly = weather.tmy_for_year(tmy, y)
                years[y] = hourly.set_axis(weather.irradiance_instants(hourly))
            parts.append(years[y])
        allh = pd.concat(parts) if len(parts) > 1 else parts[0]
        window = (allh.index >= t0 - pd.Timedelta(hours=6)) & \
            (allh.index <= t0 + pd.Timedelta(hours=30))
        return allh[window]

    def day(start_s: float) -> DayCurve:
        t0 = pd.Timestamp(start_s, unit="s", tz="UTC")
        times = pd.date_range(t0, periods=DAY_S // MINUTE_S + 1, freq="1min")
        w = model.interpolate_weather(cfg, samples_around(t0), times, source=source)
        k = weather.variability_at(factor, times)
        for c in ("ghi", "dni", "dhi"):
            w[c] = w[c].to_numpy() * k
        p = model.ac_power_w(cfg, w).to_numpy(dtype=float)
        elev = model.solar_position(cfg, times)["apparent_elevation"].to_numpy()
        return DayCurve.from_power(start_s, p, elev > NIGHT_ELEVATION_DEG)

    return day


class Production:
    """AC power and the energy counter over simulated time (days computed lazily, cached).

    Parameters
    ----------
    day : callable
        ``day(start_s) -> DayCurve`` for a UTC day start.
    energy0_wh : float
        The counter at ``t0_s``.
    t0_s : float
        Simulated time at which the counter reads ``energy0_wh``.
    """

    def __init__(self, day: Callable[[float], DayCurve], energy0_wh: float, t0_s: float):
        self._day = day
        self._cache: dict[float, DayCurve] = {}
        self._t = float(t0_s)
        self._wh = float(energy0_wh)

    def curve(self, t_s: float) -> DayCurve:
        start = math.floor(t_s / DAY_S) * DAY_S
        c = self._cache.get(start)
        if c is None:
            c = self._day(start)
            if len(self._cache) >= 3:
                self._cache.pop(min(self._cache))
            self._cache[start] = c
        return c

    def power_w(self, t_s: float) -> float:
        return self.curve(t_s).power_at(t_s)

    def is_up(self, t_s: float) -> bool:
        return self.curve(t_s).is_up(t_s)

    def energy_wh(self, t_s: float) -> float:
        """The counter at ``t_s``: it only moves forward (a clock going back is ignored)."""
        t_s = float(t_s)
        while t_s > self._t:
            c = self.curve(self._t)
            end = min(t_s, c.start_s + DAY_S)
            self._wh += c.energy_at(end) - c.energy_at(self._t)
            self._t = end
        return self._wh


# --- the register image ------------------------------------------------------------------
@dataclass
class Faults:
    night_sleep: bool = False
    slow_reply_s: float = 0.0
    sf_change: bool = False
    #: the inverter is unreachable (port closed) until this is set False again
    unreachable: bool = False


@dataclass
class SimStats:
    requests: Counter = field(default_factory=Counter)   # by function code
    writes: int = 0
    exceptions: int = 0
    model_reads: int = 0


class SunSpecImage:
    """The inverter's registers: "SunS", model 1, model 103, end marker, from ``base``.

    :meth:`update` writes the state at a simulated time into the registers in place.
    """

    def __init__(self, production: Production, *, base: int = 40000, unit: int = 1,
                 serial: str = "PVS-0001", ac_limit_w: float = 30000.0):
        if base + 124 > 0x10000:
            raise ValueError(f"base address {base} leaves no room for the map")
        self.production = production
        self.base = base
        self.unit = unit
        self.ac_limit_w = ac_limit_w
        # Scale factor of powers so that the AC limit fits an int16.
        self._w_sf0 = max(0, math.ceil(math.log10(ac_limit_w / 32767)))
        common = sm.encode_model(sm.COMMON, {"Mn": "pvshare", "Md": "SimInverter",
                                             "Vr": "1.0", "SN": serial, "DA": unit})
        self.m103_address = base + 2 + len(common)
        inv = sm.encode_model(MODEL_103, {})
        self.words: list[int] = [*sm.SUNS_MARKER, *common, *inv, sm.END_MODEL_ID, 0]
        self._body = self.m103_address + 2 - base     # index of model 103 offset 0
        self.sf_flip = False
        #: The true values written by the last update (for tests).
        self.last: dict[str, float] = {}

    def covers_model(self, address: int, count: int) -> bool:
        body = self.m103_address + 2
        return address < body + MODEL_103.length and address + count > body

    def update(self, t_s: float, regs: list[int] | None = None, *, sf_change: bool = False):
        """Write the state at simulated time ``t_s`` into ``regs`` (default: own words)."""
        regs = self.words if regs is None else regs
        p = max(0.0, self.production.power_w(t_s))
        wh = self.production.energy_wh(t_s)
        up = self.production.is_up(t_s)
        if sf_change:
            self.sf_flip = not self.sf_flip
        k = 1 if self.sf_flip else 0
        w_sf, wh_sf, a_sf = self._w_sf0 + k, k, self._w_sf0 - 2 + k
        if p > 0:
            st = 5 if p >= self.ac_limit_w * 0.999 else 4
        else:
            st = 3 if up else 2
        amps = p / (3 * 230.0)
        raw = {
            "A": round(amps / 10 ** a_sf), "AphA": round(amps / 3 / 10 ** a_sf),
            "AphB": round(amps / 3 / 10 ** a_sf), "AphC": round(amps / 3 / 10 ** a_sf),
            "A_SF": a_sf,
            "PhVphA": 2300, "PhVphB": 2301, "PhVphC": 2299, "V_SF": -1,
            "W": round(p / 10 ** w_sf), "W_SF": w_sf,
            "Hz": 5000, "Hz_SF": -2,
            "WH": int(wh / 10 ** wh_sf) % sm.ACC32_MODULUS, "WH_SF": wh_sf,
            "DCW": round(p / 0.96 / 10 ** self._w_sf0), "DCW_SF": self._w_sf0,
            "TmpCab": round((25.0 + p / 1000.0) * 10), "Tmp_SF": -1,
            "St": st, "Evt1": 0, "Evt2": 0,
        }
        for name, value in raw.items():
            pt = MODEL_103.point(name)
            i = self._body + pt.offset
            regs[i:i + pt.words] = pt.encode(value)
        self.last = {"W": p, "WH": wh, "St": st, "W_SF": w_sf, "WH_SF": wh_sf,
                     "W_raw": raw["W"], "WH_raw": raw["WH"]}
        return regs


class StaticImage:
    """A register image that does not move with time (e.g. a sub-meter's map in tests):
    ``words`` from ``base``; change ``words`` at any time, the next reply shows it.
    """

    def __init__(self, words: list[int], *, base: int = 0, unit: int = 1):
        self.words, self.base, self.unit = list(words), base, unit
        self.production = None

    def covers_model(self, address: int, count: int) -> bool:
        return False

    def update(self, t_s: float, regs: list[int] | None = None, *, sf_change: bool = False):
        if regs is not None:
            regs[:len(self.words)] = self.words
        return regs


class InverterSimulator:
    """The simulated inverter: a register image served by a pymodbus TCP server.

    Parameters
    ----------
    image : SunSpecImage or StaticImage
        The registers served, updated at every request.
    clock : object with ``now() -> float``
        Simulated UTC time (a :class:`~simulators.clock.SimClock`).
    faults : Faults, optional
    more : list of images, optional
        Further devices behind the same address (a gateway), each under its own ``unit``.
    """

    def __init__(self, image: SunSpecImage, clock, faults: Faults | None = None,
                 more: list | tuple = ()):
        self.image = image
        self.more = list(more)
        self.clock = clock
        self.faults = faults or Faults()
        self.stats = SimStats()
        self.server = None
        self.host = "127.0.0.1"
        self.port = 0
        self.listening = False
        self._stop: asyncio.Event | None = None

    # -- pymodbus hooks --------------------------------------------------------------------
    def _trace_pdu(self, sending: bool, pdu):
        if sending:
            if pdu.function_code & 0x80:
                self.stats.exceptions += 1
        else:
            self.stats.requests[pdu.function_code] += 1
            if pdu.function_code in WRITE_FUNCTIONS:
                self.stats.writes += 1
        return pdu

    async def _action(self, function_code, start_address, address, count, registers,
                      set_values, image=None):
        from pymodbus.constants import ExcCodes
        image = self.image if image is None else image
        if self.faults.slow_reply_s > 0:
            await asyncio.sleep(self.faults.slow_reply_s)
        if set_values is not None or function_code in WRITE_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION     # read-only device
        covers = image.covers_model(address, count)
        if covers:
            self.stats.model_reads += 1
        image.update(self.clock.now(), registers, sf_change=covers and self.faults.sf_change)
        return None

    def _device(self):
        from functools import partial

        from pymodbus.simulator import DataType, SimData, SimDevice
        devices = []
        for image in [self.image, *self.more]:
            image.update(self.clock.now())
            devices.append(SimDevice(
                id=image.unit, action=partial(self._action, image=image),
                simdata=[SimData(image.base, values=list(image.words),
                                 datatype=DataType.REGISTERS)]))
        return devices[0] if len(devices) == 1 else devices

    # -- serving ---------------------------------------------------------------------------
    async def _listen(self) -> bool:
        self.listening = bool(await self.server.listen())
        return self.listening

    def _sleep_now(self) -> None:
        self.server.close()
        self.listening = False

    async def serve(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                    ready: threading.Event | None = None, check_every_s: float = 0.1) -> None:
        """Serve until :meth:`stop`; sleeps at night when ``faults.night_sleep`` is set."""
        from pymodbus.server import ModbusTcpServer
        if port == 0:   # a free port, kept across the nights
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.server = ModbusTcpServer(self._device(), address=(host, port),
                                      trace_pdu=self._trace_pdu)
        try:
            if not self._asleep():
                if not await self._listen():
                    raise OSError(f"cannot listen on {host}:{port} (is another program "
                                  f"using this port?)")
            if ready is not None:
                ready.set()
            while not self._stop.is_set():
                asleep = self._asleep()
                if asleep and self.listening:
                    log.info("inverter %s: port %d closed", "unreachable (fault)"
                             if self.faults.unreachable else "asleep (sun down)", self.port)
                    self._sleep_now()
                elif not asleep and not self.listening:
                    log.info("inverter awake: listening on %s:%d", host, self.port)
                    await self._listen()
                try:
                    await asyncio.wait_for(self._stop.wait(), check_every_s)
                except TimeoutError:
                    pass
        finally:
            if self.server is not None:
                await self.server.shutdown()
            self.listening = False

    def _asleep(self) -> bool:
        return self.faults.unreachable or (
            self.faults.night_sleep and self.image.production is not None
            and not self.image.production.is_up(self.clock.now()))

    def stop(self) -> None:
        """Stop serving (thread-safe)."""
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


class ServerThread:
    """Run an :class:`InverterSimulator` in a background thread (tests, the building demo).

    ``with ServerThread(sim) as srv: ... srv.port ...``
    """

    def __init__(self, sim: InverterSimulator, host: str = "127.0.0.1", port: int = 0):
        self.sim, self.host, self._port = sim, host, port
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="inverter-sim", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.sim.serve(self.host, self._port, self._ready))
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    @property
    def port(self) -> int:
        return self.sim.port

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(str(self._error or "inverter simulator did not start"))
        return self

    def stop(self) -> None:
        self.sim.stop()
        self._thread.join(10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def build(cfg, clock, *, unit: int = 1, base: int = 40000, faults: Faults | None = None,
          energy0_wh: float | None = None, day=None) -> InverterSimulator:
    """An inverter simulator for the site ``cfg`` (its array, its weather)."""
    from pvshare.forecast.model import ac_limit_w
    limit = ac_limit_w(cfg)
    if energy0_wh is None:   # about three years of production
        energy0_wh = cfg.array.kwp * 1100.0 * 3 * 1000.0
    production = Production(day or model_day(cfg), energy0_wh, clock.now())
    image = SunSpecImage(production, base=base, unit=unit, ac_limit_w=limit,
                         serial=f"PVS-{cfg.site.name[:12]}")
    return InverterSimulator(image, clock, faults)


# --- command line ------------------------------------------------------------------------
def _iso(t_s: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(t_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cli_inverter(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535,
                             help="TCP port (Modbus' usual 502 needs root)"),
    unit: int = typer.Option(1, "--unit", min=1, max=247, help="Modbus device id (unit id)"),
    config: Path | None = typer.Option(None, "--config", "-c", help="site config (default: the "
                                          "bundled example building)"),
    start: str | None = typer.Option(None, "--start", help="simulated start, ISO 8601 "
                                        "(no offset = UTC; default: now)"),
    speed: float = typer.Option(1.0, "--speed", help="simulated seconds per second"),
    base: int = typer.Option(40000, "--base", help="SunSpec base address: 40000, 0 or 50000"),
    energy_wh: float | None = typer.Option(None, "--energy-wh", help="lifetime energy "
                                              "counter at the start, Wh (default: ~3 years)"),
    night_sleep: bool = typer.Option(False, "--night-sleep", help="fault: asleep from sunset to "
                                     "sunrise (port closed: connection refused)"),
    slow_reply_s: float = typer.Option(0.0, "--slow-reply-s", min=0.0, help="fault: delay "
                                       "every reply by this many seconds"),
    sf_change: bool = typer.Option(False, "--sf-change", help="fault: the scale factors of W, "
                                   "WH and A change at every read"),
    duration_s: float = typer.Option(0.0, "--duration", min=0.0, help="stop after this many "
                                     "seconds (0: run until Ctrl-C)"),
    status_every_s: float = typer.Option(10.0, "--status-every", min=0.1,
                                         help="seconds between two status lines"),
) -> None:
    """A SunSpec inverter (models 1 and 103) on Modbus TCP, producing what the configured
    array would produce in the bundled weather at the simulated time.
    """
    from pvshare.config import load_config
    from pvshare_simulators.clock import SimClock, parse_start

    if base not in sm.BASE_ADDRESSES:
        raise typer.BadParameter("use 40000, 0 or 50000", param_hint="--base")
    if speed <= 0:
        raise typer.BadParameter("must be > 0", param_hint="--speed")
    try:
        start_s = parse_start(start)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {start!r}", param_hint="--start") \
            from None
    cfg = load_config(config or default_config_path())
    day = model_day(cfg)            # reads the weather once (about a second)
    clock = SimClock(start_s, speed)
    sim = build(cfg, clock, unit=unit, base=base, energy0_wh=energy_wh, day=day,
                faults=Faults(night_sleep, slow_reply_s, sf_change))
    srv = ServerThread(sim, host, port)
    try:
        srv.start()
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    faults = [f for f, on in (("night sleep", night_sleep), (f"slow replies {slow_reply_s:g} s",
                                                              slow_reply_s > 0),
                              ("changing scale factors", sf_change)) if on]
    typer.echo(f"SunSpec inverter on {host}:{sim.port} unit {unit}, map at {base} (models 1, 103), "
               f"{cfg.array.kwp:g} kWp of site '{cfg.site.name}', simulated time from "
               f"{_iso(clock.now())} at x{speed:g}; faults: {', '.join(faults) or 'none'}",
               err=True)
    t_end = time.monotonic() + duration_s if duration_s else None
    try:
        while t_end is None or time.monotonic() < t_end:
            time.sleep(min(status_every_s, max(0.05, (t_end or math.inf) - time.monotonic())))
            t = clock.now()
            sim.image.update(t)
            last = sim.image.last
            state = "asleep (port closed)" if not sim.listening else \
                sm.INVERTER_STATES.get(last["St"], "?")
            typer.echo(f"{_iso(t)} W={last['W']:7.0f} WH={last['WH']:12.0f} {state:<20} "
                       f"requests={sum(sim.stats.requests.values())} "
                       f"writes={sim.stats.writes}", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
