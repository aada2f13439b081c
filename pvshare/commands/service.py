"""``pvshare service install``: the daemon as a systemd service (docs/install.md)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The daemon as a systemd service (Raspberry Pi).", no_args_is_help=True)


@app.command("install")
def install(config: Path | None = typer.Option(None, "--config", "-c",  # not $PVSHARE_CONFIG: explicit
                                               help="The site's configuration, installed as "
                                               "/etc/pvshare/pvshare.toml (default: keep the "
                                               "one there)."),
            user: str | None = typer.Option(None, "--user", help="Run as this existing user "
                                            "(default: a dynamic user made by systemd)."),
            root: Path = typer.Option(Path("/"), "--root", help="Write under this directory "
                                      "instead of / (packaging, tests); runs no systemctl."),
            dry_run: bool = typer.Option(False, "--dry-run",
                                         help="Show what would be written, write nothing.")
            ) -> None:
    """Write the systemd unit (and the configuration), then `systemctl enable pvshare`.
    Installing again after an upgrade keeps the configuration and the store.
    """
    from pvshare.live.service import install as do_install
    from pvshare.live.service import plan_install
    plan = plan_install(config, user, root)
    if dry_run:
        typer.echo(f"# {plan.unit_path}\n{plan.unit_text}")
        if plan.config_text is not None:
            typer.echo(f"# {plan.config_path}"
                       + (f" (the current one kept as {plan.backup_path})"
                          if plan.backup_path else "") + f"\n{plan.config_text}")
        for cmd in plan.commands:
            typer.echo("would run: " + " ".join(cmd))
    else:
        for line in do_install(plan):
            typer.echo(line)
    for note in plan.notes:
        typer.echo(f"note: {note}", err=True)
    if not dry_run and plan.commands:
        typer.echo("start it with: sudo systemctl start pvshare; "
                   "follow it with: journalctl -u pvshare -f")
