"""Starting the web application under uvicorn, safely.

It listens on the loopback address by default (a reverse proxy with HTTPS, such as Caddy,
faces the network: see ``docs/web.md``) and refuses any other address unless told
``allow_public``. uvicorn's access log is off (a link's token is in its path).
``X-Forwarded-For`` is believed only from the addresses of ``[web] trusted_proxies`` (none
by default: the client is the socket's peer), so behind Caddy the rate limiter sees each
client's own address and nobody else can choose theirs. Idle and slow clients are bounded
by :mod:`pvshare.web.guard`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from pvshare.errors import InputError

log = logging.getLogger("pvshare.web")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_public: bool) -> None:
    """Refuse a non-loopback address unless ``allow_public``.

    Raises
    ------
    InputError
        Naming the option and what to do instead.
    """
    if not is_loopback(host) and not allow_public:
        raise InputError(f"{host!r} is not a loopback address: the pages would be served "
                         "without HTTPS to the whole network. Serve on 127.0.0.1 behind a "
                         "reverse proxy with HTTPS (docs/web.md), or add --allow-public",
                         field="--host")


def build_app(cfg, *, clock: Callable[[], float] | None = None):
    """The application for a loaded config: its store (read-only) and its links file."""
    import time

    from pvshare.web.app import create_app
    from pvshare.web.data import open_readonly, site_from_config
    from pvshare.web.links import LinkStore, links_path

    store = cfg.relative(cfg.store.path)
    open_readonly(store).close()               # fail now, with the file's name
    links = LinkStore(links_path(store))
    if not links.links():
        log.warning("%s: no link issued yet (pvshare web links --config … --base-url …)",
                    links.path)
    return create_app(site_from_config(cfg), store, links, clock=clock or time.time)


def uvicorn_options(cfg) -> dict:
    """The uvicorn settings of ``pvshare web`` for a config (one place, tested)."""
    from pvshare.web.guard import ConnectionBudget, guarded_protocol

    web = cfg.web
    budget = ConnectionBudget(web.max_connections, web.max_connections_per_client,
                              web.header_timeout_s)
    trusted = list(web.trusted_proxies)
    return {"access_log": False, "server_header": False,
            "proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or [],
            "limit_concurrency": None, "timeout_keep_alive": 5,
            "h11_max_incomplete_event_size": 16384, "http": guarded_protocol(budget),
            "ws": "none", "lifespan": "off", "log_level": "info"}


def serve(cfg, host: str = "127.0.0.1", port: int = 8080, *, allow_public: bool = False,
          clock: Callable[[], float] | None = None) -> None:
    """Serve the pages until interrupted (one process, one worker)."""
    import uvicorn

    check_host(host, allow_public)
    app = build_app(cfg, clock=clock)
    uvicorn.run(app, host=host, port=port, **uvicorn_options(cfg))
