"""The whole building with no hardware: the rooftop inverter (SunSpec over Modbus TCP) and
the tenants' Linky meters (MQTT), on one simulated clock, with a broker if none is given.

``pvshare simulate building`` runs it on its own; ``pvshare demo`` runs it beside the
daemon.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from pvshare_simulators.clock import SimClock, parse_start


@dataclass
class BuildingOptions:
    meter_interval_s: float = 1.0         # wall-clock seconds between two messages of a meter
    fmt: str = "zlinky"
    night_sleep: bool = True
    garbage: float = 0.0
    drop: float = 0.0
    seed: int = 0
    inverter_port: int = 0                # 0: any free port
    #: (participant id, UTC s): that flat's meter is replaced, its index restarts near 0
    replacements: tuple[tuple[str, float], ...] = ()


class Building:
    """Start with :meth:`start`, stop with :meth:`stop` (or use ``with``).

    Attributes after start: ``broker`` (host, port), ``inverter_port``, ``clock``.
    """

    def __init__(self, cfg, clock: SimClock, options: BuildingOptions | None = None,
                 broker: tuple[str, int] | None = None):
        self.cfg = cfg
        self.clock = clock
        self.options = options or BuildingOptions()
        self._broker_arg = broker
        self._own_broker = None
        self.broker: tuple[str, int] | None = None
        self.broker_kind = "external"
        self.inverter = None
        self._server = None
        self.meters = None

    def start(self, meters: bool = True) -> Building:
        """Start the broker (if none was given), the inverter and, unless ``meters`` is
        False (then call :meth:`start_meters` later), the meters.
        """
        from pvshare.demo.broker import DemoBroker
        from pvshare_simulators import inverter as inv
        if self._broker_arg is None:
            self._own_broker = DemoBroker().start()
            self.broker = (self._own_broker.host, self._own_broker.port)
            self.broker_kind = self._own_broker.kind
        else:
            self.broker = self._broker_arg
        o = self.options
        self.inverter = inv.build(self.cfg, self.clock,
                                  faults=inv.Faults(night_sleep=o.night_sleep))
        self._server = inv.ServerThread(self.inverter, port=o.inverter_port).start()
        if meters:
            self.start_meters()
        return self

    def start_meters(self) -> None:
        """Start the meters, publishing from the clock's current time."""
        import math

        from pvshare_simulators import meters as mt
        o = self.options
        # The inverter's energy counter only moves forward from the clock's time when it was
        # built; a clock reset back to the start after a slow set-up would leave it flat
        # (no energy counted) until the set-up's time came again: rejoin the clock.
        production = self.inverter.image.production if self.inverter is not None else None
        if production is not None and production._t > self.clock.now():
            production._t = self.clock.now()
        # Message times on a grid anchored at the clock's start (one message per meter every
        # interval × speed simulated seconds): two runs on the same timeline publish the same
        # payloads, whenever they were started.
        period = o.meter_interval_s * self.clock.speed
        anchor = self.clock._sim0          # the --start of the timeline (or its last reset)
        start_s = anchor + math.floor((self.clock.now() - anchor) / period) * period
        self.meters = mt.MeterSimulator(
            self.cfg, self.broker[0], self.broker[1], o.fmt, interval_s=o.meter_interval_s,
            start_s=start_s, speed=self.clock.speed, seed=o.seed,
            faults=mt.Faults(o.drop, o.garbage, 0.0, 0.0), replacements=list(o.replacements),
            clock=self.clock)
        self.meters.start()

    @property
    def inverter_port(self) -> int:
        return self._server.port

    def stop(self) -> None:
        if self.meters is not None:
            self.meters.stop()
        if self._server is not None:
            self._server.stop()
        if self._own_broker is not None:
            self._own_broker.stop()

    def __enter__(self) -> Building:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def cli_building(
    config: Path | None = typer.Option(None, "--config", "-c", help="site config (default: the "
                                          "bundled example building)"),
    start: str | None = typer.Option(None, "--start", help="simulated start, ISO 8601 "
                                        "(no offset = UTC; default: now)"),
    speed: float = typer.Option(600.0, "--speed", help="simulated seconds per second"),
    broker: str | None = typer.Option(None, "--broker", help="host:port of an MQTT broker "
                                         "(default: start one)"),
    fmt: str = typer.Option("zlinky", "--format", help="zlinky | teleinfo2mqtt"),
    interval: float = typer.Option(1.0, "--interval", help="wall-clock seconds between two "
                                   "messages of a meter"),
    duration: float = typer.Option(0.0, "--duration", help="simulated hours to run (0: until "
                                   "Ctrl-C)"),
    clock_origin: float | None = typer.Option(None, "--clock-origin", help="wall-clock Unix "
                                                 "time at which the simulated clock was --start "
                                                 "(to share it with `pvshare run`)"),
    clock_origin_file: Path | None = typer.Option(None, "--clock-origin-file",
                                                  help="a file that will hold that wall-clock "
                                                  "time: the simulated clock stands at --start "
                                                  "until it exists (tests: every process is up "
                                                  "before the clock runs)"),
    inverter_port: int = typer.Option(5020, "--inverter-port", help="Modbus TCP port of the "
                                      "inverter (0: any free port)"),
    night_sleep: bool = typer.Option(False, "--night-sleep", help="the inverter refuses "
                                     "connections while the sun is down"),
    garbage: float = typer.Option(0.0, "--garbage", help="probability that a meter message "
                                  "is garbage"),
    drop: float = typer.Option(0.0, "--drop", help="probability that a meter message is lost"),
    replace_meter: list[str] = typer.Option([], "--replace-meter", help="ID@ISO: that "
                                            "flat's meter is replaced at that time (index "
                                            "restarts near 0)"),
) -> None:
    """The inverter and every tenant's meter together, on one simulated clock. SIGUSR1
    makes the inverter unreachable (its port closed), and reachable again.
    """
    from pvshare.config import load_config
    from pvshare_simulators.meters import default_config_path
    cfg = load_config(config or default_config_path())
    tz = ZoneInfo(cfg.site.timezone)
    clock = SimClock(parse_start(start), speed, origin=clock_origin,
                     origin_file=clock_origin_file)
    b = None
    if broker:
        host, _, port = broker.rpartition(":")
        b = (host or "127.0.0.1", int(port))
    from pvshare_simulators.meters import _replacement
    options = BuildingOptions(meter_interval_s=interval, fmt=fmt, night_sleep=night_sleep,
                              garbage=garbage, drop=drop, inverter_port=inverter_port,
                              replacements=tuple(_replacement(v) for v in replace_meter))
    with Building(cfg, clock, options, broker=b) as building:
        building.start(meters=False)
        if clock_origin is None and clock_origin_file is None and start is not None:
            clock.reset(parse_start(start))      # set-up took real time: start the day now
        building.start_meters()

        def _toggle_reachable(signum, frame):        # a fault for tests: SIGUSR1
            f = building.inverter.faults
            f.unreachable = not f.unreachable
            typer.echo(f"inverter {'unreachable' if f.unreachable else 'reachable'} "
                       f"(SIGUSR1) at {dt.datetime.fromtimestamp(clock.now(), dt.UTC):%H:%M}")

        signal.signal(signal.SIGUSR1, _toggle_reachable)
        typer.echo(f"inverter (SunSpec, Modbus TCP): 127.0.0.1:{building.inverter_port}\n"
                   f"{len(cfg.participants)} Linky meters ({fmt}) → MQTT "
                   f"{building.broker[0]}:{building.broker[1]} ({building.broker_kind})\n"
                   f"simulated time x{speed:g}; Ctrl-C to stop")
        end = clock.now() + duration * 3600 if duration > 0 else float("inf")
        try:
            while clock.now() < end:
                time.sleep(min(1800.0 / speed, max(0.1, (end - clock.now()) / speed)))
                if building.meters is None:
                    continue
                t = clock.now()
                img = building.inverter.image
                img.update(t)
                cons_w = float(sum(building.meters.fleet.power_w(t)))
                local = dt.datetime.fromtimestamp(t, dt.UTC).astimezone(tz)
                prod_w = float(img.last.get("W") or 0.0)
                typer.echo(f"{local:%Y-%m-%d %H:%M} local   production {prod_w / 1000:5.1f} kW "
                           f"{'█' * int(prod_w / 1000):<30}  consumption {cons_w / 1000:5.1f} kW "
                           f"{'▒' * int(cons_w / 1000)}")
        except KeyboardInterrupt:
            pass
