"""``pvshare store init|stats|push|check|salvage``: create the store of a first run, look
into it, deliver its outbox to InfluxDB now, check it, copy out what is readable.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pvshare.i18n import _
from pvshare.secrets import redact_url

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

    from pvshare.store.admin import store_stats
    from pvshare.timegrid import format_utc

    cfg, s = store_stats(config)
    if as_json:
        import json
        typer.echo(json.dumps({**s, "influxdb": redact_url(cfg.influxdb.url) if cfg.influxdb
                               else None}, indent=1, default=str))
        return
    table = Table(title=_("rows per table"), title_justify="left")
    table.add_column(_("table"))
    table.add_column(_("rows"), justify="right")
    for name, n in s["rows"].items():
        table.add_row(name, f"{n:,}")
    console = Console()
    console.print(_("store: {path} (schema version {version})").format(
        path=s["path"], version=s["schema_version"]))
    console.print(table)
    depth, cap = s["outbox_depth"], s["outbox_max_points"]
    oldest = "—" if s["outbox_oldest_s"] is None else format_utc(
        [s["outbox_oldest_s"]])[0]
    per = ", ".join(f"{m} {n:,}" for m, n in sorted(s["outbox_by_measurement"].items()))
    console.print(_("outbox: {depth} points waiting ({pct} of the cap {cap})").format(
        depth=f"{depth:,}", pct=f"{100 * depth / cap:.1f} %", cap=f"{cap:,}")
        + (": " + per if per else ""))
    console.print(_("oldest unsent point: {time}").format(time=oldest))
    refused = s["counters"].get("outbox_refused_points", 0)
    if refused:
        console.print("[bold red]" + _("points refused because the outbox was full: {n}").format(
            n=f"{refused:,}") + "[/] " + _("(the results are in the store: `pvshare store "
                                           "push`, then requeue)"))
    sizes = s["size_bytes"]
    console.print(_("size on disk: {size}").format(size=_size(sum(sizes.values()))) + " ("
                  + ", ".join(f"{k} {_size(v)}" for k, v in sizes.items()) + ")")
    # markup=False: "[influxdb]" is text, not a rich style tag (it used to vanish)
    console.print(_("InfluxDB: {where}").format(where=_("{url}, bucket {bucket}").format(
        url=redact_url(cfg.influxdb.url), bucket=repr(cfg.influxdb.bucket))
        if cfg.influxdb else _("not configured (no [influxdb] section)")), markup=False)


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
    from pvshare.store.admin import requeue as requeue_window
    n, depth = requeue_window(config, from_, to)
    typer.echo(_("queued {n} points; the outbox now holds {depth} (`pvshare store push` "
                 "sends them now, the daemon does it by itself)").format(
        n=f"{n:,}", depth=f"{depth:,}"))


@app.command("push")
def push(config: Path = CONFIG,
         attempts: int = typer.Option(4, "--attempts", min=1,
                                      help="Tries per batch before giving up."),
         ) -> None:
    """Deliver the outbox to InfluxDB now; exit code 0 only once it is empty."""
    import logging

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from pvshare.store.admin import push as push_outbox

    # This command reports each failed attempt itself (below), on stderr.
    logging.getLogger("pvshare.store.forwarder").setLevel(logging.CRITICAL)
    err = Console(stderr=True)
    with Progress(TextColumn(_("pushing to InfluxDB")), BarColumn(), MofNCompleteColumn(),
                  TextColumn(_("points")), transient=True) as bar:
        task = bar.add_task("push", total=None)

        def retry(failures: int, attempts: int, reason: str, wait_s: float) -> None:
            err.print(_("attempt {k} of {n} failed: {reason}; trying again in {s} s").format(
                k=failures, n=attempts, reason=reason, s=f"{wait_s:.1f}"), highlight=False)

        done = push_outbox(config, attempts,
                           progress=lambda n, total: bar.update(task, completed=n, total=total),
                           on_retry=retry)
    typer.echo(_("delivered {n} points to {url} (bucket {bucket}); the outbox is empty").format(
        n=f"{done.delivered:,}", url=redact_url(done.url), bucket=repr(done.bucket)))


def _store_path(config: Path) -> Path:
    from pvshare.config import load_config
    cfg = load_config(config)
    return cfg.relative(cfg.store.path)


@app.command("init")
def init(config: Path = CONFIG) -> None:
    """Create the store of a first run (empty, private). The daemon never creates one by
    itself, so that a store removed by mistake is never silently replaced by an empty one;
    an existing store is left as it is.
    """
    from pvshare.config import load_config
    from pvshare.i18n import _
    from pvshare.store import Store, StoreError
    cfg = load_config(config)
    path = cfg.relative(cfg.store.path)
    if path.exists():
        with Store.from_config(cfg, create=False):     # checks it and migrates its schema
            pass
        typer.echo(_("{path}: a store is already here; left as it is").format(path=path))
        return
    if not path.parent.exists():
        try:                                           # e.g. /var/lib/pvshare before the
            path.parent.mkdir(mode=0o750, parents=True)   # service's first start
        except OSError as exc:
            raise StoreError(_("{folder}: cannot create the folder: {why}").format(
                folder=path.parent, why=exc.strerror)) from None
    with Store.from_config(cfg, create=True):
        pass
    typer.echo(_("{path}: new empty store created; `pvshare run` can start").format(path=path))


@app.command("check")
def check(config: Path = CONFIG) -> None:
    """Check the whole store (read-only, never changes it): exit code 0 when sound, 2 when
    damaged, naming the damaged tables and the rows each still gives.
    """
    from pvshare.store import StoreError
    from pvshare.store.integrity import full_check
    path = _store_path(config)
    if not path.is_file():
        raise StoreError(_("{path}: no pvshare store here").format(path=path))
    rep = full_check(path)
    rows = ", ".join(f"{t} {_('unreadable') if n is None else f'{n:,}'}"
                     for t, n in rep.rows.items())
    if rep.ok:
        typer.echo(_("{path}: sound (checked in {s} s); rows: {rows}").format(
            path=path, s=f"{rep.seconds:.1f}", rows=rows))
        return
    where = ", ".join(rep.damaged_tables) or _("unknown tables")
    typer.echo(_("{path}: DAMAGED ({n} problem(s), in: {where})").format(
        path=path, n=len(rep.problems), where=where))
    for p in rep.problems[:10]:
        typer.echo(f"  {p[:200]}")
    if not rows:
        raise StoreError(_("{path}: the store is damaged and nothing in it can be read (its "
                           "list of tables is damaged); nothing was changed. Restore the last "
                           "backup (docs/troubleshooting.md)").format(path=path))
    typer.echo(_("rows still readable: {rows}").format(rows=rows))
    raise StoreError(_("{path}: the store is damaged; nothing was changed. Copy out what is "
                       "readable with `pvshare store salvage --config {config} --out NEW.db`"
                       ).format(path=path, config=config))


@app.command("salvage")
def salvage(config: Path = CONFIG,
            out: Path = typer.Option(..., "--out", help="The new store file to write (must "
                                     "not exist).")) -> None:
    """Copy everything readable of the store (readings, results, outbox…) into a new store
    file; the original is opened read-only and never changed.
    """
    from pvshare.store import StoreError
    from pvshare.store.salvage import salvage as do_salvage
    path = _store_path(config)
    if not path.is_file():
        raise StoreError(_("{path}: no pvshare store here").format(path=path))
    rep = do_salvage(path, out)
    typer.echo(f"{out}: " + ", ".join(f"{t} {n:,}" for t, n in rep.copied.items()))
    for t, why in rep.incomplete.items():
        typer.echo("  " + _("{table}: read from both ends up to the damage ({why})").format(
            table=t, why=why[:120]))
    typer.echo(_("the original {path} was not changed; check the copy with `pvshare store "
                 "check`, then point [store] path at it").format(path=path))


@app.command("import")
def import_(config: Path = CONFIG,
            production: Path = typer.Option(..., "--production",
                                            help="CSV: time,production_wh (Wh per step)"),
            consumption: Path = typer.Option(..., "--consumption",
                                             help="CSV: time,<participant or PRM>,… (Wh per "
                                             "step; empty = missing)"),
            replace: bool = typer.Option(False, "--replace", help="Replace the steps the "
                                         "store already holds (refused without it).")) -> None:
    """Fill the store from production and consumption curves, allocated with the config's
    key and participants' periods, as the daemon would have (an operation without a daemon,
    or the example of docs/pmo-month.md).
    """
    from pvshare.i18n import _
    from pvshare.store.imports import import_curves
    from pvshare.timegrid import format_local
    done = import_curves(config, production, consumption, replace=replace)
    import_summary = _(
        "{steps} steps from {first} to {end}, {n} participants, key '{key}': "
        "production {prod:.3f} kWh, consumption {cons:.3f} kWh, self-consumed {auto:.3f} kWh; "
        "{incomplete} step(s) with a consumption missing; {replaced} step(s) replaced")
    import numpy as np

    from pvshare.config import load_config
    tz = load_config(config).site.timezone
    first, end = format_local(np.array([done.first_s, done.end_s], dtype="datetime64[s]"), tz)
    typer.echo(import_summary.format(
        steps=done.steps, first=first, end=end, n=len(done.participants), key=done.key,
        prod=done.production_wh / 1000, cons=done.consumption_wh / 1000,
        auto=done.allocated_wh / 1000, incomplete=done.incomplete_steps,
        replaced=done.replaced_steps))
    typer.echo(_("written: {files}").format(files=done.store))
