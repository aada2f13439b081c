"""``pvshare config check``: validate a site configuration file."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Site configuration (TOML).", no_args_is_help=True)


@app.command("check")
def check(file: Path = typer.Argument(..., help="The site's TOML configuration file.")) -> None:
    """Check a configuration file: prints every problem (exit code 2), or a short summary."""
    from pvshare.config import load_config
    cfg = load_config(file)
    typer.echo(f"{file}: OK — site '{cfg.site.name}', {len(cfg.participants)} participants, "
               f"key '{cfg.key.type}', step {cfg.site.step}, {len(cfg.meters)} meter section(s)")
