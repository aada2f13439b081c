"""What a person does to the store from the command line (``pvshare store stats|requeue|push``),
one function each; the CLI only parses options and prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from pvshare.errors import InputError, PvshareError
from pvshare.i18n import _
from pvshare.store.export import parse_time


def parse_window(cfg, from_: str, to: str) -> tuple[int, int]:
    """``--from`` / ``--to`` (ISO 8601; without an offset: the site's local time) as UTC Unix
    seconds ``[from_s, to_s)``.

    Raises
    ------
    InputError
        A time that cannot be read, or ``to`` not after ``from_`` (naming the option).
    """
    from_s = parse_time(from_, cfg.site.timezone, "--from")
    to_s = parse_time(to, cfg.site.timezone, "--to")
    if to_s <= from_s:
        raise InputError(_("--to ({to}) must be after --from ({from_})").format(
            to=to, from_=from_), field="--to")
    return from_s, to_s


def store_stats(config: str | os.PathLike) -> tuple[object, dict]:
    """The site configuration and :meth:`pvshare.store.Store.stats` of its store."""
    from pvshare.config import load_config
    from pvshare.store import Store
    cfg = load_config(config)
    with Store.from_config(cfg, create=False, readonly=True) as store:
        return cfg, store.stats()


def requeue(config: str | os.PathLike, from_: str, to: str) -> tuple[int, int]:
    """Queue again the InfluxDB points of the stored results of ``[from_, to)``.

    Returns
    -------
    (int, int)
        Points queued, and the outbox depth after.

    Raises
    ------
    PvshareError
        When nothing could be queued because the outbox is full.
    """
    from pvshare.config import load_config
    from pvshare.store import Store
    cfg = load_config(config)
    from_s, to_s = parse_window(cfg, from_, to)
    with Store.from_config(cfg, create=False) as store:
        n = store.requeue(from_s, to_s)
        depth = store.outbox_depth()
    if n == 0 and store.refused_points:
        raise PvshareError(_("{path}: the outbox is full ({depth:,} points): push it "
                             "first (`pvshare store push`), then requeue").format(
                                 path=store.path, depth=depth))
    return n, depth


@dataclass(frozen=True)
class PushResult:
    """What :func:`push` delivered, and where."""

    delivered: int
    url: str
    bucket: str


def push(config: str | os.PathLike, attempts: int = 4, *,
         progress: Callable[[int, int], None] | None = None,
         on_retry: Callable[[int, int, str, float], None] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> PushResult:
    """Deliver the outbox to InfluxDB now, until it is empty.

    Parameters
    ----------
    config : str or os.PathLike
        The site's TOML configuration (its store and ``[influxdb]``).
    attempts : int
        Tries per batch before giving up.
    progress : callable, optional
        ``progress(delivered, total)``, first with ``(0, depth)``, then after each batch
        (``total`` grows when new points come in meanwhile).
    on_retry : callable, optional
        ``on_retry(failures, attempts, reason, wait_s)`` after a failed attempt, before
        waiting ``wait_s``.
    sleep : callable
        How to wait (tests may pass their own).

    Returns
    -------
    PushResult

    Raises
    ------
    PvshareError
        No ``[influxdb]`` section, an unreadable token file, or ``attempts`` failures in a
        row (the points stay queued: nothing is lost).
    """
    from pvshare.config import load_config
    from pvshare.store import Store
    from pvshare.store.forwarder import Forwarder

    cfg = load_config(config)
    if cfg.influxdb is None:
        raise PvshareError(_("{config}: no [influxdb] section, so there is nowhere to push "
                             "to (add url, org and bucket; the token goes in "
                             "PVSHARE_INFLUX_TOKEN)").format(config=config))
    try:
        cfg.influxdb.resolved_token()
    except OSError as exc:
        raise PvshareError(_("{config}: [influxdb] token_file: cannot read {file}: {why}")
                           .format(config=config, file=cfg.influxdb.token_file,
                                   why=exc.strerror)) from None
    report = progress or (lambda done, total: None)
    with Store.from_config(cfg, create=False) as store, \
            Forwarder(store, cfg.influxdb, cfg.site.name, backoff_initial_s=0.5,
                      backoff_max_s=8.0) as fw:
        done, total = 0, store.outbox_depth()
        report(done, total)
        while True:
            n = fw.deliver(max_batches=1)
            if n:
                done += n
                report(done, total)
                continue
            if fw.failures == 0:
                left = store.outbox_depth()
                if left == 0:
                    break
                total = done + left                     # new points came in
                report(done, total)
                continue
            if fw.failures >= attempts:
                left = store.outbox_depth()
                raise PvshareError(_("{error}; gave up after {attempts} attempts. {left:,} "
                                     "points are still queued in {path} (nothing is lost; "
                                     "they go out once InfluxDB answers)").format(
                                         error=fw.last_error, attempts=fw.failures,
                                         left=left, path=store.path))
            if on_retry is not None:
                on_retry(fw.failures, attempts, fw.last_error or "", fw.backoff_s)
            sleep(fw.backoff_s)
    return PushResult(fw.delivered, cfg.influxdb.url, cfg.influxdb.bucket)
