"""``pvshare run``, ``pvshare status`` and ``pvshare demo``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer


def run(config: Path = typer.Option(..., "--config", "-c", envvar="PVSHARE_CONFIG", help="The site's TOML configuration."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs."),
        no_forecast: bool = typer.Option(False, "--no-forecast",
                                         help="Do not run the hourly forecast."),
        start: str | None = typer.Option(None, "--start", help="Simulated clock: start "
                                            "time, ISO 8601 (tests and demos)"),
        speed: float = typer.Option(1.0, "--speed", help="Simulated clock: simulated seconds "
                                    "per second"),
        clock_origin: float | None = typer.Option(None, "--clock-origin",
                                                     help="Simulated clock: the wall-clock "
                                                     "Unix time at which it was --start "
                                                     "(shared with the simulators, kept "
                                                     "across restarts)"),
        clock_origin_file: Path | None = typer.Option(
            None, "--clock-origin-file", help="Simulated clock: a file that will hold that "
            "wall-clock time; the clock stands at --start until it exists (tests)"),
        until: str | None = typer.Option(None, "--until", help="Simulated clock: stop at "
                                            "this simulated time, ISO 8601")) -> None:
    """Run the daemon: poll the meters, close each step, allocate, store, forward."""
    from pvshare.config import load_config
    from pvshare.live.daemon import Daemon, run_simulated
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from pvshare.secrets import install_log_redaction
    install_log_redaction()
    for noisy in ("pymodbus", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    cfg = load_config(config)
    if start is None and speed == 1.0 and clock_origin is None and clock_origin_file is None \
            and until is None:
        daemon = Daemon(cfg, forecast=not no_forecast)
        daemon.run_forever()
        if daemon.fatal is not None:
            raise daemon.fatal
        return
    from pvshare_simulators.clock import SimClock, parse_start
    clock = SimClock(parse_start(start), speed, origin=clock_origin,
                     origin_file=clock_origin_file)
    daemon = Daemon(cfg, clock=clock.now, forecast=not no_forecast)
    run_simulated(daemon, clock, until_s=parse_start(until) if until else None)
    if daemon.fatal is not None:
        raise daemon.fatal


def status(config: Path = typer.Option(..., "--config", "-c", envvar="PVSHARE_CONFIG",
                                       help="The site's TOML configuration."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON instead.")) -> None:
    """How the daemon is doing: meters' last readings, steps closed, outbox, last error.

    Exit code: 0 all well, 3 a meter is stale, 4 steps pending past their grace, 5 the
    outbox is backing up (see docs/troubleshooting.md).
    """
    import json

    from rich.console import Console

    from pvshare.config import load_config
    from pvshare.live.status import collect, exit_code, render
    cfg = load_config(config)
    s = collect(cfg)
    code, reason = exit_code(cfg, s)
    if as_json:
        typer.echo(json.dumps({**s, "exit_code": code, "reason": reason}, indent=1))
    else:
        Console().print(render(cfg, s))
        from pvshare.i18n import _
        Console(stderr=True).print(_("status: {reason} (exit code {code})").format(
            reason=reason, code=code), highlight=False)
    raise typer.Exit(code)


def demo(speed: float = typer.Option(1440.0, "--speed", help="Simulated seconds per second."),
         duration: str = typer.Option("1d", "--duration", help="Simulated duration: 1d, 12h…"),
         start: str | None = typer.Option(None, "--start",
                                             help="Simulated start, ISO 8601 (default: "
                                             "2025-06-21 00:00, Paris)"),
         data_dir: Path = typer.Option(Path("demo-data"), "--data-dir",
                                       help="Where the demo's config and store go."),
         config: Path | None = typer.Option(None, "--config", "-c",
                                               help="A site config (default: the example "
                                               "building)")) -> None:
    """Run the building's simulators and the daemon at high speed, with a live view."""
    from pvshare.demo.run import parse_duration, run_demo
    from pvshare.errors import InputError
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise InputError(str(exc), field="--duration") from None
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PVSHARE_DEMO", "1")
    run_demo(data_dir, speed=speed, duration_s=seconds, start=start, config=config)
