"""Installing the daemon as a systemd service (``pvshare service install``).

Writes, under ``root`` (``/`` on the Pi; a temporary tree for tests and packaging):

* ``etc/systemd/system/pvshare.service``: the unit shipped beside this module
  (``pvshare/live/pvshare.service``, also ``config/pvshare.service``) with this install's
  ``pvshare`` executable, configuration path and user; and ``pvshare-web.service``, the
  tenants' pages, run as the same user (enabled by hand: it needs the ``web`` extra);
* ``etc/pvshare/pvshare.toml``: the site configuration, if one is given (an existing one is
  kept as ``pvshare.toml.<UTC time>.bak``), its ``[store] path`` made absolute in the state
  directory ``/var/lib/pvshare`` so that ``sudo pvshare status`` finds the same store. A
  configuration holding a secret (``[mqtt] password``, ``[influxdb] token``) is written
  0640 ``root:pvshare`` (the service's group; ``root:<the user's group>`` with ``--user``),
  any other 0644; the installer warns when the file given holds a secret others may read.

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
WEB_UNIT_TEMPLATE = Path(__file__).with_name("pvshare-web.service")
UNIT_PATH = Path("etc/systemd/system/pvshare.service")
WEB_UNIT_PATH = Path("etc/systemd/system/pvshare-web.service")
#: The service's group: it may read a configuration that holds a secret.
GROUP = "pvshare"
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
    web_unit_path: Path | None = None
    web_unit_text: str = ""
    secrets: list[str] = field(default_factory=list)   # the secrets the config holds
    group: str = GROUP                                   # its group when it holds one
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


def render_unit(executable: Path, config_path: Path, user: str | None = None,
                template: Path = UNIT_TEMPLATE, command: str = "run") -> str:
    """The unit text for this executable, configuration and user.

    ``user`` = ``None``: a dynamic user made up by systemd (the default, recommended);
    otherwise an existing account (it must be in the ``dialout`` group for serial meters).
    ``template`` and ``command``: the daemon's unit (``run``) or the web page's (``web``).
    """
    text = template.read_text(encoding="utf-8")
    text = _EXEC_RE.sub(f"ExecStart={executable} {command} --config {config_path}", text,
                        count=1)
    if user is not None:
        if not re.fullmatch(r"[a-z_][a-z0-9_-]*\$?", user):
            raise ServiceError(f"--user: {user!r} is not a valid user name")
        text = text.replace(f"DynamicUser=yes\nUser=pvshare\nGroup={GROUP}\n",
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
                       config_path=root / CONFIG_PATH, config_text=None,
                       web_unit_path=root / WEB_UNIT_PATH,
                       web_unit_text=render_unit(exe, config_abs, user, WEB_UNIT_TEMPLATE,
                                                 "web"))
    if user is not None:
        plan.group = _primary_group(user) or user
    if config is not None:
        config = Path(config)
        load_config(config)                           # a bad config fails here, clearly
        try:
            text = config.read_text(encoding="utf-8")
        except OSError as exc:
            raise ServiceError(f"{config}: cannot read: {exc.strerror}") from None
        plan.config_text = _store_absolute(text, str(config))
        plan.secrets = config_secrets(tomllib.loads(text))
        if plan.secrets and config.stat().st_mode & 0o004:
            plan.notes.append(
                f"{config} holds a secret ({', '.join(plan.secrets)}) and every user of this "
                f"computer may read it: chmod 600 it, or better move the secret to a file "
                f"(password_file, token_file) or to the environment")
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
    if plan.config_text is None and plan.config_path.exists():
        plan.secrets = config_secrets(tomllib.loads(plan.config_path.read_text("utf-8")))
    if plan.secrets:
        plan.notes.append(f"{config_abs} holds a secret ({', '.join(plan.secrets)}): it is "
                          f"readable by root and the group {plan.group} only (0640)")
    if root == Path("/"):
        plan.commands = [["systemctl", "daemon-reload"], ["systemctl", "enable", "pvshare"]]
        if user is None:
            plan.commands.insert(0, ["groupadd", "--system", "-f", GROUP])
    return plan


def config_secrets(data: dict) -> list[str]:
    """The secrets a configuration's TOML holds in plain text (their places, not values)."""
    found = []
    if data.get("mqtt", {}).get("password"):
        found.append("[mqtt] password")
    if data.get("influxdb", {}).get("token"):
        found.append("[influxdb] token")
    return found


def _primary_group(user: str) -> str | None:
    import grp
    import pwd
    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError:
        return None


def _private_to_group(path: Path, group: str) -> None:
    """``path`` 0640 ``root:group`` (the group when it exists here: not under ``--root``
    before ``groupadd`` ran).
    """
    import grp
    os.chmod(path, 0o640)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return
    if os.geteuid() == 0:
        os.chown(path, 0, gid)


def install(plan: InstallPlan, run=None) -> list[str]:
    """Write the plan's files (atomically) and run its commands; returns what was done."""
    from pvshare.files.atomic import write_atomic

    def atomic_write_text(path: Path, text: str) -> None:
        write_atomic(path, text, mode=0o644)     # read by the service's dynamic user

    done = []
    import subprocess
    run = run or (lambda cmd: subprocess.run(cmd, check=True))
    for cmd in [c for c in plan.commands if c[0] == "groupadd"]:
        try:
            run(cmd)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ServiceError(f"`{' '.join(cmd)}` failed: {exc}") from None
        done.append("ran " + " ".join(cmd))
    if plan.config_text is not None:
        plan.config_path.parent.mkdir(parents=True, exist_ok=True)
        if plan.backup_path is not None:
            shutil.copy2(plan.config_path, plan.backup_path)
            done.append(f"kept the previous configuration as {plan.backup_path}")
        # a secret is never readable by others, not even for a moment
        write_atomic(plan.config_path, plan.config_text, mode=0o640 if plan.secrets else 0o644)
        os.chmod(plan.config_path, 0o640 if plan.secrets else 0o644)
        done.append(f"wrote {plan.config_path}")
    if plan.secrets and plan.config_path.exists():
        _private_to_group(plan.config_path, plan.group)
    plan.unit_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(plan.unit_path, plan.unit_text)
    os.chmod(plan.unit_path, 0o644)
    done.append(f"wrote {plan.unit_path}")
    if plan.web_unit_path is not None:
        atomic_write_text(plan.web_unit_path, plan.web_unit_text)
        os.chmod(plan.web_unit_path, 0o644)
        done.append(f"wrote {plan.web_unit_path}")
    if plan.commands:
        for cmd in [c for c in plan.commands if c[0] != "groupadd"]:
            try:
                run(cmd)
            except (OSError, subprocess.CalledProcessError) as exc:
                raise ServiceError(f"`{' '.join(cmd)}` failed: {exc}") from None
            done.append("ran " + " ".join(cmd))
    return done
