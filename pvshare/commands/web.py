"""``pvshare web [serve]|links|revoke``: the tenants' pages and their private links."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from pvshare.errors import InputError

app = typer.Typer(help="The tenants' web pages (private links), served from the building's "
                  "computer. `pvshare web --config F` serves them.")

HOST = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback unless "
                    "--allow-public).")
PORT = typer.Option(8080, "--port", min=1, max=65535, help="TCP port.")
PUBLIC = typer.Option(False, "--allow-public", help="Accept a non-loopback --host (only "
                      "behind a firewall: use a reverse proxy with HTTPS instead).")
AT = typer.Option(None, "--at", help="Show the pages as at this time (ISO 8601, site's local "
                  "time without an offset), e.g. for the demo's simulated day.")


def _serve(config: Path, host: str, port: int, allow_public: bool, at: str | None) -> None:
    import logging

    from pvshare.config import load_config
    from pvshare.web.serve import serve

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(config)
    clock = None
    if at:
        try:
            t = dt.datetime.fromisoformat(at.strip())
        except ValueError:
            raise InputError(f"not an ISO 8601 time: {at!r}", field="--at") from None
        if t.tzinfo is None:
            from zoneinfo import ZoneInfo
            t = t.replace(tzinfo=ZoneInfo(cfg.site.timezone))
        fixed = t.timestamp()
        clock = lambda: fixed  # noqa: E731
    serve(cfg, host, port, allow_public=allow_public, clock=clock)


@app.callback(invoke_without_command=True)
def web(ctx: typer.Context,
        config: Path | None = typer.Option(None, "--config", help="The site's TOML "
                                           "configuration file."),
        host: str = HOST, port: int = PORT, allow_public: bool = PUBLIC,
        at: str | None = AT) -> None:
    """Serve the tenants' pages (same as `pvshare web serve`)."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        raise InputError("missing --config FILE (the site's configuration)", field="--config")
    _serve(config, host, port, allow_public, at)


@app.command("serve")
def serve_cmd(config: Path = typer.Option(..., "--config", help="The site's TOML "
                                          "configuration file."),
              host: str = HOST, port: int = PORT, allow_public: bool = PUBLIC,
              at: str | None = AT) -> None:
    """Serve the tenants' pages (read-only on the store; never blocks the daemon)."""
    _serve(config, host, port, allow_public, at)


@app.command("links")
def links(config: Path = typer.Option(..., "--config", help="The site's TOML configuration."),
          base_url: str = typer.Option(..., "--base-url", help="Public address of the pages, "
                                       "e.g. https://solaire.example.org"),
          participant: list[str] = typer.Option(None, "--participant", help="Only this "
                                                "participant (repeatable; @building and @pmo "
                                                "for the building's links). Default: every "
                                                "current participant and both building links."),
          out: Path = typer.Option(..., "--out", help="CSV file participant,url (mode 0600)."),
          sheet: Path | None = typer.Option(None, "--sheet", help="Printable HTML sheet with "
                                            "a QR code per flat (default: OUT with .html)."),
          replace: bool = typer.Option(False, "--replace", help="Also for the participants "
                                       "who have a valid link: cancel it and issue a new one "
                                       "(without this option their link is kept).")
          ) -> None:
    """Issue private links to the participants who have none (--replace: new links for
    all those asked for, the previous ones stop working).
    """
    from pvshare.config import load_config
    from pvshare.i18n import _
    from pvshare.web.data import site_from_config
    from pvshare.web.links import LinkStore, issue_links, links_path

    cfg = load_config(config)
    store = LinkStore(links_path(cfg.relative(cfg.store.path) or cfg.store.path))
    done = issue_links(site_from_config(cfg), store, base_url, participant or None, out, sheet,
                       replace=replace)
    typer.echo(_("{out}: {n} link(s); printable sheet: {sheet}; hashes kept in {store}").format(
        out=out, n=len(done.rows), sheet=sheet or out.with_suffix(".html"), store=store.path))
    if done.kept:
        typer.echo(_("kept (a valid link each, not in {out}): {ids}; --replace cancels them and "
                     "issues new ones").format(out=out, ids=", ".join(done.kept)))


@app.command("revoke")
def revoke(config: Path = typer.Option(..., "--config", help="The site's TOML configuration."),
           participant: str = typer.Option(..., "--participant", help="Participant id (or "
                                           "@building, @pmo).")) -> None:
    """Revoke a participant's link at once (also in a running server)."""
    from pvshare.config import load_config
    from pvshare.web.links import LinkStore, links_path

    cfg = load_config(config)
    store = LinkStore(links_path(cfg.relative(cfg.store.path) or cfg.store.path))
    n = store.revoke(participant)
    if n == 0:
        raise InputError(f"no valid link for {participant!r} in {store.path}",
                         field="--participant")
    typer.echo(f"{participant}: {n} link(s) revoked")
