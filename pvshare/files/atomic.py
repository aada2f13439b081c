"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every output pvshare writes (allocation CSVs, Enedis key files, exports, reports, the
daemon's status file) goes through this module: the data is written to a temporary file
beside the target (``.<name>.<random>.tmp``, same folder so the rename stays on one file
system), which is renamed onto the target (:func:`os.replace`) only once it is complete.
On any error the temporary file is deleted and the target keeps its old content.

Permissions (``mode``)
----------------------
``mode`` is the permission of the new file, set exactly (the umask does not apply). The
default :data:`PRIVATE` (``0o600``, the owner only) is for every file holding per-tenant
data: allocation CSVs, Enedis key files, exports, reports, bills, the status file. With a
``group`` (the config's ``[store] group``) such files are ``0o640`` and belong to that group
(:func:`private_mode`). ``mode=None`` gives the permissions a plain :func:`open` would
(``0o666`` minus the process umask, usually ``0o644``), for files that hold nobody's data.

The data is not ``fsync``-ed: an atomic rename protects against a crash of pvshare, not a
power cut (a Raspberry Pi's SD card would wear out under a status file synced every poll).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

#: Owner read/write only: the default, for files holding per-tenant data.
PRIVATE = 0o600


def private_mode(group: str | None) -> int:
    """``0o640`` when the files are shared with ``group``, else ``0o600``."""
    return 0o640 if group else PRIVATE


def _create_temp(target: Path, mode: int | None, group: str | None = None) -> tuple[int, Path]:
    """Create (exclusively) and open a new temporary file beside ``target``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            # 0o666: the kernel applies the umask, exactly as open() does.
            fd = os.open(tmp, flags, 0o666 if mode is None else mode)
        except FileExistsError:   # pragma: no cover - 32 random bits already taken
            continue
        if mode is not None or group:
            try:
                if group:
                    import grp
                    os.fchown(fd, -1, grp.getgrnam(group).gr_gid)
                if mode is not None:
                    os.fchmod(fd, mode)   # exactly ``mode``, whatever the umask
            except BaseException:
                os.close(fd)
                tmp.unlink(missing_ok=True)
                raise
        return fd, tmp


@contextlib.contextmanager
def atomic_writes(*paths: str | os.PathLike, mode: int | None = PRIVATE,
                  group: str | None = None) -> Iterator[list[Path]]:
    r"""Write several files all or nothing.

    Yields one temporary path beside each target (created empty, with ``mode``); the block
    writes them. When the block succeeds they are renamed onto their targets; when it
    raises, they are deleted and every target keeps its old content.

    Parameters
    ----------
    *paths : str or os.PathLike
        The target files; their folders are created if needed.
    mode : int or None
        Permissions of the new files (default :data:`PRIVATE`); ``None``: as :func:`open`
        would create them (``0o666`` minus the umask). See the module docstring.
    group : str, optional
        A group name the new files are given to (``[store] group``).

    Yields
    ------
    list of pathlib.Path
        The temporary paths, in the order of ``paths``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_writes(folder / "a.csv", folder / "b.csv") as (a, b):
    ...     _ = a.write_text("x\n1\n"); _ = b.write_text("y\n2\n")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.csv', 'b.csv']
    """
    targets = [Path(p) for p in paths]
    temps: list[Path] = []
    try:
        for p in targets:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = _create_temp(p, mode, group)
            os.close(fd)
            temps.append(tmp)
        yield temps
        for tmp, p in zip(temps, targets):
            os.replace(tmp, p)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_atomic(path: str | os.PathLike, data: bytes | str, *,
                 mode: int | None = PRIVATE, group: str | None = None,
                 parents: bool = True) -> Path:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_writes`).

    Parameters
    ----------
    path : str or os.PathLike
        The target file; its folder is created if needed.
    data : bytes or str
        The whole new content; ``str`` is written as UTF-8.
    mode : int or None
        Permissions of the new file (default :data:`PRIVATE`); ``None``: as :func:`open`
        would create it.
    group : str, optional
        A group name the new file is given to.
    parents : bool
        Create the folder if it is missing (default). False: a missing folder is an error
        (:class:`FileNotFoundError`), e.g. for the files beside a store, whose folder must
        never be made again once it has gone (docs/store.md).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        When the file cannot be written (disk full, no permission...); the old file, if
        any, is left as it was and no temporary file remains.
    """
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(target, mode, group)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
