"""``pvshare store stats|push``: look into the store, deliver its outbox to InfluxDB now."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from pvshare.errors import PvshareError

app = typer.Typer(help="The embedded store (SQLite) and its outbox towards InfluxDB.",
                  no_args_is_help=True)

CONFIG = typer.Option(..., "--config", "-c", envvar="PVSHARE_CONFIG", help="The site's TOML configuration file.")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


@app.command("stats")
def stats(config: Path = CONFIG,
          as_json: bool = typer.Option(False, "--json", help="Print JSON instead.")) -> None:
    """Rows per table, outbox depth, the oldest unsent point and the size of the store."""
    from rich.console import Console
    from rich.table import Table

    from pvshare.config import load_config
    from pvshare.store import Store
    from pvshare.timegrid import format_utc

    cfg = load_config(config)
    with Store.from_config(cfg, create=False) as store:
        s = store.stats()
    if as_json:
        import json
        typer.echo(json.dumps({**s, "influxdb": cfg.influxdb.url if cfg.influxdb else None},
                              indent=1, default=str))
        return
    table = Table(title="rows per table", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in s["rows"].items():
        table.add_row(name, f"{n:,}")
    console = Console()
    console.print(f"store: {s['path']} (schema version {s['schema_version']})")
    console.print(table)
    depth, cap = s["outbox_depth"], s["outbox_max_points"]
    oldest = "—" if s["outbox_oldest_s"] is None else format_utc(
        [s["outbox_oldest_s"]])[0]
    per = ", ".join(f"{m} {n:,}" for m, n in sorted(s["outbox_by_measurement"].items()))
    console.print(f"outbox: {depth:,} points waiting ({100 * depth / cap:.1f} % of the cap "
                  f"{cap:,}){': ' + per if per else ''}")
    console.print(f"oldest unsent point: {oldest}")
    refused = s["counters"].get("outbox_refused_points", 0)
    if refused:
        console.print(f"[bold red]points refused because the outbox was full: {refused:,}[/] "
                      "(the results are in the store: `pvshare store push`, then requeue)")
    sizes = s["size_bytes"]
    console.print(f"size on disk: {_size(sum(sizes.values()))} ("
                  + ", ".join(f"{k} {_size(v)}" for k, v in sizes.items()) + ")")
    # markup=False: "[influxdb]" is text, not a rich style tag (it used to vanish)
    console.print("InfluxDB: " + (f"{cfg.influxdb.url}, bucket {cfg.influxdb.bucket!r}"
                                  if cfg.influxdb else "not configured (no [influxdb] section)"),
                  markup=False)


@app.command("requeue")
def requeue(config: Path = CONFIG,
            from_: str = typer.Option(..., "--from", help="Start (ISO 8601; without an offset "
                                      "= the site's local time), included."),
            to: str = typer.Option(..., "--to", help="End (ISO 8601), excluded."),
            ) -> None:
    """Queue again the InfluxDB points of the stored results of a window (after points were
    refused because the outbox was full, or to fill a new InfluxDB). A point sent again
    overwrites itself in InfluxDB: never a double.
    """
    from pvshare.commands.export import parse_time
    from pvshare.config import load_config
    from pvshare.errors import InputError
    from pvshare.store import Store

    cfg = load_config(config)
    from_s = parse_time(from_, cfg.site.timezone, "--from")
    to_s = parse_time(to, cfg.site.timezone, "--to")
    if to_s <= from_s:
        raise InputError(f"--to ({to}) must be after --from ({from_})", field="--to")
    with Store.from_config(cfg, create=False) as store:
        n = store.requeue(from_s, to_s)
        depth = store.outbox_depth()
    if n == 0 and store.refused_points:
        raise PvshareError(f"{store.path}: the outbox is full ({depth:,} points): push it "
                           "first (`pvshare store push`), then requeue")
    typer.echo(f"queued {n:,} points; the outbox now holds {depth:,} "
               "(`pvshare store push` sends them now, the daemon does it by itself)")


@app.command("push")
def push(config: Path = CONFIG,
         attempts: int = typer.Option(4, "--attempts", min=1,
                                      help="Tries per batch before giving up."),
         ) -> None:
    """Deliver the outbox to InfluxDB now; exit code 0 only once it is empty."""
    import logging

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from pvshare.config import load_config
    from pvshare.store import Store
    from pvshare.store.forwarder import Forwarder

    cfg = load_config(config)
    if cfg.influxdb is None:
        raise PvshareError(f"{config}: no [influxdb] section, so there is nowhere to push to "
                           "(add url, org and bucket; the token goes in PVSHARE_INFLUX_TOKEN)")
    try:
        cfg.influxdb.resolved_token()
    except OSError as exc:
        raise PvshareError(f"{config}: [influxdb] token_file: cannot read "
                           f"{cfg.influxdb.token_file}: {exc.strerror}") from None
    # This command reports each failed attempt itself (below), on stderr.
    logging.getLogger("pvshare.store.forwarder").setLevel(logging.CRITICAL)
    err = Console(stderr=True)
    with Store.from_config(cfg, create=False) as store, \
            Forwarder(store, cfg.influxdb, cfg.site.name, backoff_initial_s=0.5,
                      backoff_max_s=8.0) as fw:
        depth = store.outbox_depth()
        with Progress(TextColumn("pushing to InfluxDB"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("points"), transient=True) as bar:
            task = bar.add_task("push", total=depth)
            while True:
                n = fw.deliver(max_batches=1)
                if n:
                    bar.advance(task, n)
                    continue
                if fw.failures == 0:
                    left = store.outbox_depth()
                    if left == 0:
                        break
                    bar.update(task, total=bar.tasks[0].completed + left)  # new points came in
                    continue
                if fw.failures >= attempts:
                    left = store.outbox_depth()
                    raise PvshareError(f"{fw.last_error}; gave up after {fw.failures} attempts. "
                                       f"{left:,} points are still queued in {store.path} "
                                       "(nothing is lost; they go out once InfluxDB answers)")
                err.print(f"attempt {fw.failures} of {attempts} failed: {fw.last_error}; "
                          f"trying again in {fw.backoff_s:.1f} s", highlight=False)
                time.sleep(fw.backoff_s)
    typer.echo(f"delivered {fw.delivered:,} points to {cfg.influxdb.url} "
               f"(bucket {cfg.influxdb.bucket!r}); the outbox is empty")
