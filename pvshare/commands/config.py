"""``pvshare config check``: validate a site configuration file."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Site configuration (TOML).", no_args_is_help=True)


@app.command("check")
def check(file: Path = typer.Argument(..., help="The site's TOML configuration file.")) -> None:
    """Check a configuration file: prints every problem (exit code 2), or a short summary."""
    from pvshare.config import check_references, load_config
    from pvshare.secrets import plain_text_warnings
    cfg = load_config(file)
    check_references(cfg)
    for warning in plain_text_warnings(cfg):
        typer.echo(f"warning: {file}: {warning}", err=True)
    typer.echo(f"{file}: OK — site '{cfg.site.name}', {len(cfg.participants)} participants, "
               f"key '{cfg.key.type}', step {cfg.site.step}, {len(cfg.meters)} meter section(s)")
