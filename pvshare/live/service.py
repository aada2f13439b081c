"""Installing the daemon as a systemd service (``pvshare service install``).

Writes, under ``root`` (``/`` on the Pi; a temporary tree for tests and packaging):

* ``etc/systemd/system/pvshare.service``: the unit shipped beside this module
  (``pvshare/live/pvshare.service``, also ``config/pvshare.service``) with this install's
  ``pvshare`` executable, configuration path and user;
* ``etc/pvshare/pvshare.toml``: the site configuration, if one is given (an existing one is
  kept as ``pvshare.toml.<UTC time>.bak``), its ``[store] path`` made absolute in the state
  directory ``/var/lib/pvshare`` so that ``sudo pvshare status`` finds the same store.

The state directory itself is created by systemd (``StateDirectory=pvshare``) at the first
start, owned by the service's user; an install never touches it, so installing again after
an upgrade keeps the store (its schema is migrated by the daemon when it opens it).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pvshare.errors import PvshareError

UNIT_TEMPLATE = Path(__file__).with_name("pvshare.service")
UNIT_PATH = Path("etc/systemd/system/pvshare.service")
CONFIG_PATH = Path("etc/pvshare/pvshare.toml")
STATE_DIR = Path("/var/lib/pvshare")
_EXEC_RE = re.compile(r"^ExecStart=.*$", re.M)


class ServiceError(PvshareError):
    """The service cannot be installed as asked (names the file or the option)."""


@dataclass
class InstallPlan:
    """What :func:`install` writes (or, with ``dry_run``, would write)."""

    unit_path: Path
    unit_text: str
    config_path: Path
    config_text: str | None            # None: the existing configuration is kept
    backup_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)


def pvshare_executable() -> Path:
    """The ``pvshare`` script of the running installation (the venv's ``bin``)."""
    here = Path(sys.executable).parent / "pvshare"
    if here.exists():
        return here
    found = shutil.which("pvshare")
    if found:
        return Path(found)
    raise ServiceError("cannot find the 'pvshare' executable of this installation")


def render_unit(executable: Path, config_path: Path, user: str | None = None) -> str:
    """The unit text for this executable, configuration and user.

    ``user`` = ``None``: a dynamic user made up by systemd (the default, recommended);
    otherwise an existing account (it must be in the ``dialout`` group for serial meters).
    """
    text = UNIT_TEMPLATE.read_text(encoding="utf-8")
    text = _EXEC_RE.sub(f"ExecStart={executable} run --config {config_path}", text, count=1)
    if user is not None:
        if not re.fullmatch(r"[a-z_][a-z0-9_-]*\$?", user):
            raise ServiceError(f"--user: {user!r} is not a valid user name")
        text = text.replace("DynamicUser=yes\nUser=pvshare\n",
                            f"DynamicUser=no\nUser={user}\n", 1)
    home = ("/home/", "/root/")
    if str(executable).startswith(home):
        # pipx and `pip install --user` put programs in a home directory, which
        # ProtectHome=yes hides: let the service read homes (docs/install.md says why
        # /opt/pvshare is better).
        text = text.replace("ProtectHome=yes", "ProtectHome=read-only", 1)
    return text


def _store_absolute(text: str, source: str) -> str:
    """The configuration text with ``[store] path`` inside :data:`STATE_DIR`."""
    data = tomllib.loads(text)
    store = data.get("store", {})
    path = store.get("path", "pvshare.db")
    if Path(path).is_absolute():
        return text
    target = (STATE_DIR / path).as_posix()
    line = f'path = "{target}"  # set by pvshare service install (was "{path}")'
    section = re.search(r"^\[store\][ \t]*(#.*)?$", text, re.M)
    if section is None:
        new = text.rstrip("\n") + f"\n\n[store]\n{line}\n"
    else:
        end = re.search(r"^\[", text[section.end():], re.M)
        stop = section.end() + (end.start() if end else len(text) - section.end())
        body = text[section.end():stop]
        body, n = re.subn(r"^path[ \t]*=.*$", line, body, count=1, flags=re.M)
        if n == 0:
            body = "\n" + line + body
        new = text[:section.end()] + body + text[stop:]
    if tomllib.loads(new).get("store", {}).get("path") != target:
        raise ServiceError(f"{source}: could not set [store] path to {target}; set it by hand")
    return new


def plan_install(config: Path | None = None, user: str | None = None, root: Path = Path("/"),
                 executable: Path | None = None) -> InstallPlan:
    """Work out what to write (nothing is written: see :func:`install`).

    Parameters
    ----------
    config : Path, optional
        A site configuration to install as ``/etc/pvshare/pvshare.toml`` (checked first);
        ``None`` keeps the one there (it must exist).
    user : str, optional
        Run as this existing user instead of a dynamic one.
    root : Path
        Write under this directory instead of ``/`` (tests, packaging).
    executable : Path, optional
        The ``pvshare`` script (default: this installation's).
    """
    from pvshare.config import load_config
    root = Path(root)
    exe = executable or pvshare_executable()
    config_abs = Path("/") / CONFIG_PATH
    plan = InstallPlan(unit_path=root / UNIT_PATH,
                       unit_text=render_unit(exe, config_abs, user),
                       config_path=root / CONFIG_PATH, config_text=None)
    if config is not None:
        config = Path(config)
        load_config(config)                           # a bad config fails here, clearly
        try:
            text = config.read_text(encoding="utf-8")
        except OSError as exc:
            raise ServiceError(f"{config}: cannot read: {exc.strerror}") from None
        plan.config_text = _store_absolute(text, str(config))
        if plan.config_path.exists():
            if plan.config_path.read_text(encoding="utf-8") == plan.config_text:
                plan.config_text = None
            else:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                plan.backup_path = plan.config_path.with_name(f"pvshare.toml.{stamp}.bak")
        if plan.config_text is not None:
            data = tomllib.loads(plan.config_text)
            for key in ("ca_file",):
                rel = data.get("mqtt", {}).get(key)
                if rel and not Path(rel).is_absolute():
                    plan.notes.append(f"[mqtt] {key} = {rel!r} is relative: copy that file "
                                      f"to {config_abs.parent} too")
    elif not plan.config_path.exists():
        raise ServiceError(f"{config_abs} does not exist yet: give the site's configuration "
                           f"with --config FILE")
    old_store = config_abs.parent / "pvshare.db"
    if (root / old_store.relative_to("/")).exists():
        plan.notes.append(f"a store was found at {old_store} (the old layout): stop the "
                          f"service, then move it with `sudo mv {old_store}* {STATE_DIR}/` "
                          f"(see docs/install.md, Upgrade)")
    if root == Path("/"):
        plan.commands = [["systemctl", "daemon-reload"], ["systemctl", "enable", "pvshare"]]
    return plan


def install(plan: InstallPlan, run=None) -> list[str]:
    """Write the plan's files (atomically) and run its commands; returns what was done."""
    from pvshare.files.atomic import write_atomic

    def atomic_write_text(path: Path, text: str) -> None:
        write_atomic(path, text, mode=0o644)     # read by the service's dynamic user

    done = []
    if plan.config_text is not None:
        plan.config_path.parent.mkdir(parents=True, exist_ok=True)
        if plan.backup_path is not None:
            shutil.copy2(plan.config_path, plan.backup_path)
            done.append(f"kept the previous configuration as {plan.backup_path}")
        atomic_write_text(plan.config_path, plan.config_text)
        os.chmod(plan.config_path, 0o644)
        done.append(f"wrote {plan.config_path}")
    plan.unit_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(plan.unit_path, plan.unit_text)
    os.chmod(plan.unit_path, 0o644)
    done.append(f"wrote {plan.unit_path}")
    if plan.commands:
        import subprocess
        run = run or (lambda cmd: subprocess.run(cmd, check=True))
        for cmd in plan.commands:
            try:
                run(cmd)
            except (OSError, subprocess.CalledProcessError) as exc:
                raise ServiceError(f"`{' '.join(cmd)}` failed: {exc}") from None
            done.append("ran " + " ".join(cmd))
    return done
