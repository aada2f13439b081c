"""``pvshare meters``: check a device or a bridge before configuring it."""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import StrEnum
from pathlib import Path

import typer

from pvshare.errors import InputError

app = typer.Typer(help="Meters: listen to the MQTT bridges, decode payloads, probe a "
                  "Modbus device.", no_args_is_help=True)


class Role(StrEnum):
    production = "production"
    consumption = "consumption"


class Format(StrEnum):
    zlinky = "zlinky"
    teleinfo2mqtt = "teleinfo2mqtt"
    tasmota = "tasmota"


@app.command("listen")
def listen(config: Path = typer.Option(..., "--config", help="the site's TOML file"),
           seconds: float = typer.Option(10.0, help="how long to listen")) -> None:
    """Print what the config's MQTT meters receive for a while, then their counters (an
    on-site check; exit code 1 when nothing was decoded).
    """
    import logging

    from pvshare.config import load_config
    from pvshare.meters.tools import iso_utc
    from pvshare.meters.tools import listen as run

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    cfg = load_config(config)

    def show(r) -> None:
        print(f"{iso_utc(int(r.time_s))} {r.meter_id} import_wh={r.import_wh} "
              f"export_wh={r.export_wh} power_w={r.power_w}", flush=True)

    meters = run(cfg, seconds, show)
    for m in meters:
        print(f"{m.id}: {dict(sorted(m.counters.items()))}"
              + (f" last error: {m.last_error}" if m.last_error else ""))
    raise typer.Exit(0 if any(m.counters["decoded"] for m in meters) else 1)


@app.command("decode")
def decode(fmt: Format = typer.Option(..., "--format", help="the bridge that published"),
           file: str = typer.Argument(..., help="one MQTT payload per line, '-' for stdin"),
           received_at: str | None = typer.Option(
               None, help="ISO 8601 receive time of every payload (default: the payload's "
               "own time when trusted, else now)")) -> None:
    """Print one JSON object per payload: {"time", "import_wh", "export_wh", "power_w",
    "time_from_payload"} or {"rejected": reason}.
    """
    from pvshare.meters.tools import decode_lines

    received_s = None
    if received_at is not None:
        try:
            t = dt.datetime.fromisoformat(received_at.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{received_at!r} is not an ISO 8601 time",
                             field="--received-at") from None
        if t.tzinfo is None:
            raise InputError(f"{received_at!r} has no UTC offset (add Z or +01:00)",
                             field="--received-at")
        received_s = t.timestamp()
    if file == "-":
        stream = sys.stdin.buffer
    else:
        path = Path(file)
        if not path.is_file():
            raise InputError("no such file", source=file)
        stream = path.open("rb")
    with stream:
        for obj in decode_lines(fmt.value, stream, received_s,
                                on_detail=lambda d: print(d, file=sys.stderr)):
            print(json.dumps(obj), flush=True)


@app.command("probe")
def probe(host: str = typer.Option(..., help="IP address or host name"),
          port: int = typer.Option(502), unit: int = typer.Option(1, help="Modbus unit id"),
          role: Role = typer.Option(Role.production),
          profile: str | None = typer.Option(None, help="a device profile instead of SunSpec "
                                             "(see pvshare/meters/profiles)"),
          as_json: bool = typer.Option(False, "--json", help="one JSON object")) -> None:
    """Find the SunSpec models of a device (or read it with a profile) and one reading."""
    from pvshare.meters.tools import probe as run

    res = run(host, port, unit, role.value, profile)
    if as_json:
        print(json.dumps(res.as_json()))
        return
    for m in res.models:
        print("model " + ", ".join(f"{k}={v}" for k, v in m.items()))
    if res.device:
        print("device " + ", ".join(f"{k}={v}" for k, v in res.device.items()))
    r = res.reading
    print(f"reading power_w={r['power_w']} import_wh={r['import_wh']} "
          f"export_wh={r['export_wh']}")
    for name, why in res.refused.items():
        print(f"refused {name}: {why}")
