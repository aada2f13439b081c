"""``pvshare config check``: validate a site configuration file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pvshare.i18n import _

app = typer.Typer(help="Site configuration (TOML).", no_args_is_help=True)


@app.command("check")
def check(config: Path | None = typer.Option(None, "--config", "-c", envvar="PVSHARE_CONFIG",
                                             help="The site's TOML configuration file."),
          file: Path | None = typer.Argument(None, help="(deprecated: use --config)",
                                             show_default=False),
          as_json: bool = typer.Option(False, "--json", help="Print JSON instead.")) -> None:
    """Check a configuration file: prints every problem (exit code 2), or a short summary."""
    from pvshare.config import check_references, load_config
    from pvshare.errors import ConfigError, InputError
    from pvshare.secrets import plain_text_warnings
    path = file or config
    if path is None:
        raise InputError(_("give the configuration file with --config FILE"), field="--config")
    try:
        cfg = load_config(path)
        check_references(cfg)
    except ConfigError as exc:
        if as_json:
            typer.echo(json.dumps({"file": str(path), "ok": False, "problems": exc.problems},
                                  ensure_ascii=False, indent=1))
            raise typer.Exit(2) from None
        raise
    warnings = cfg.notes + plain_text_warnings(cfg)
    refused = _run_problems(cfg)
    if as_json:
        typer.echo(json.dumps({"file": str(path), "ok": True, "site": cfg.site.name,
                               "participants": len(cfg.participants), "key": cfg.key.type,
                               "step": cfg.site.step, "meters": len(cfg.meters),
                               "warnings": warnings, "run_would_refuse": refused},
                              ensure_ascii=False, indent=1))
        return
    for warning in warnings:
        typer.echo(_("warning: {file}: {warning}").format(file=path, warning=warning), err=True)
    if refused:                          # the first problem, and how many there are
        typer.echo(_("warning: {file}: `pvshare run` would refuse it ({n} problem(s)), the "
                     "first: {problem}").format(file=path, n=len(refused),
                                                problem=refused[0]), err=True)
    typer.echo(_("{file}: OK — site '{site}', {n} participants, key '{key}', step {step}, "
                 "{meters} meter section(s)").format(
        file=path, site=cfg.site.name, n=len(cfg.participants), key=cfg.key.type,
        step=cfg.site.step, meters=len(cfg.meters)))


def _run_problems(cfg) -> list[str]:
    """What ``pvshare run`` would refuse in a configuration that has ``[[meters]]`` (one
    without is for the file commands, ``allocate`` and ``bill``): a production meter, a
    meter for each participant, a key the daemon computes (issue 21: ``config check`` said
    OK where ``run`` refused).
    """
    if not cfg.meters:
        return []
    from pvshare.errors import ConfigError
    from pvshare.live.closing import plan_from_config
    try:
        plan_from_config(cfg)
    except ConfigError as exc:
        return list(exc.problems)
    return []
